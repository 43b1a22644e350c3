package kvmclient

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// rfbOpen is the consoles' side of AMT's RFB opening (reference §2.5):
// banner, security None, ClientInit shared, ServerInit, then the client's
// format, encodings, compression and first request.
func (c *Client) rfbOpen() error {
	conn, to := c.conn, c.cfg.Timeout
	if err := conn.SetReadDeadline(time.Now().Add(to)); err != nil {
		return err
	}
	defer conn.SetReadDeadline(time.Time{})
	var vb [rfb.VersionLen]byte
	if _, err := io.ReadFull(conn, vb[:]); err != nil {
		return fmt.Errorf("kvm: reading the RFB banner: %w", err)
	}
	sv, _, err := rfb.ParseVersion(vb[:])
	if err != nil {
		return fmt.Errorf("kvm: RFB banner %q: %w", vb[:], err)
	}
	c.banner = sv
	// 3.8 semantics for AMT's 4.0 and anything from 3.8 on; an older server
	// gets its own version back (RFC 6143 §7.1.1).
	v := rfb.V38
	switch {
	case sv.Major == 3 && sv.Minor < 3, sv.Major < 3:
		return fmt.Errorf("kvm: server speaks RFB %s; expected 3.3 or later (AMT: 4.0)", sv)
	case sv.Major == 3 && sv.Minor < 7:
		v = rfb.V33
	case sv.Major == 3 && sv.Minor == 7:
		v = rfb.V37
	}
	if err := writeDeadline(conn, to, v.Append(nil)); err != nil {
		return fmt.Errorf("kvm: sending the RFB version: %w", err)
	}
	var sb []byte
	var types []uint8
	for {
		t, reason, _, err := rfb.DecodeSecurityTypes(sb, v)
		if err == nil {
			if len(t) == 0 {
				return fmt.Errorf("kvm: the server refused the RFB connection: %s", reason)
			}
			types = t
			break
		}
		if !errors.Is(err, rfb.ErrShort) {
			return fmt.Errorf("kvm: security types: %w", err)
		}
		var one [1]byte
		if _, err := io.ReadFull(conn, one[:]); err != nil {
			return fmt.Errorf("kvm: reading the security types: %w", err)
		}
		sb = append(sb, one[0])
	}
	hasNone := false
	for _, t := range types {
		hasNone = hasNone || t == rfb.SecNone
	}
	if !hasNone {
		return fmt.Errorf("kvm: the server offers security types %v; expected None (1), as AMT after redirection authentication", types)
	}
	if v.AtLeast(rfb.V37) {
		if err := writeDeadline(conn, to, []byte{rfb.SecNone}); err != nil {
			return fmt.Errorf("kvm: choosing security None: %w", err)
		}
	}
	if v.AtLeast(rfb.V38) {
		var rb []byte
		for {
			st, reason, _, err := rfb.DecodeSecurityResult(rb, v)
			if err == nil {
				if st != rfb.SecurityOK {
					return fmt.Errorf("kvm: SecurityResult %d: %s", st, reason)
				}
				break
			}
			if !errors.Is(err, rfb.ErrShort) {
				return fmt.Errorf("kvm: SecurityResult: %w", err)
			}
			var one [1]byte
			if _, err := io.ReadFull(conn, one[:]); err != nil {
				return fmt.Errorf("kvm: reading the SecurityResult (a disconnect here means the device cannot serve this session): %w", err)
			}
			rb = append(rb, one[0])
		}
	}
	if err := writeDeadline(conn, to, rfb.ClientInit{Shared: true}.Append(nil)); err != nil {
		return fmt.Errorf("kvm: sending ClientInit: %w", err)
	}
	ib := make([]byte, 24)
	if _, err := io.ReadFull(conn, ib); err != nil {
		return fmt.Errorf("kvm: reading ServerInit: %w", err)
	}
	nameLen := binary.BigEndian.Uint32(ib[20:24])
	if nameLen > rfb.MaxName {
		return fmt.Errorf("kvm: ServerInit name length %d; expected at most %d", nameLen, rfb.MaxName)
	}
	ib = append(ib, make([]byte, nameLen)...)
	if _, err := io.ReadFull(conn, ib[24:]); err != nil {
		return fmt.Errorf("kvm: reading the ServerInit name: %w", err)
	}
	si, _, err := rfb.DecodeServerInit(ib)
	if err != nil {
		return fmt.Errorf("kvm: ServerInit: %w", err)
	}
	c.si = si
	w, h := int(c.si.Width), int(c.si.Height)
	if w < 1 || h < 1 || w > framebuf.MaxSide || h > framebuf.MaxSide {
		return fmt.Errorf("kvm: ServerInit announces a %d×%d framebuffer; expected 1…%d a side", w, h, framebuf.MaxSide)
	}
	img, err := framebuf.New(w, h)
	if err != nil {
		return err
	}
	pf := c.si.Format
	sendPF := false
	if c.cfg.Format != (rfb.PixelFormat{}) && c.cfg.Format != pf {
		pf, sendPF = c.cfg.Format, true
	}
	dec, err := rfb.NewDecoder(pf, img)
	if err != nil {
		return fmt.Errorf("kvm: pixel format %s: %w", pf, err)
	}
	c.dec = dec
	c.st = newStats(pf, c.cfg.Deflate)

	if sendPF {
		if err := c.send(&rfb.SetPixelFormat{Format: pf}); err != nil {
			return err
		}
	}
	if err := c.send(&rfb.SetEncodings{Encodings: c.cfg.Encodings}); err != nil {
		return err
	}
	if c.cfg.Deflate {
		if err := c.send(&rfb.ClientCutText{Text: rfb.AppendExtCmd(nil, rfb.ExtCmdSetCompression, 1)}); err != nil {
			return err
		}
	}
	c.st.start = c.clk.Now()
	// Even the first request is incremental; AMT answers it with the whole
	// screen (reference §2.5).
	return c.request(true, w, h)
}
