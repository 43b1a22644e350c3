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
// format, encodings, compression and first request, each message sent once
// the server's previous one arrived.
func (c *Client) rfbOpen() error {
	conn, to := c.conn, c.cfg.Timeout
	if err := conn.SetReadDeadline(time.Now().Add(to)); err != nil {
		return err
	}
	defer conn.SetReadDeadline(time.Time{})
	sv, err := c.readBanner()
	if err != nil {
		return err
	}
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
	if err := c.readSecurityTypes(v); err != nil {
		return err
	}
	if v.AtLeast(rfb.V37) {
		if err := writeDeadline(conn, to, []byte{rfb.SecNone}); err != nil {
			return fmt.Errorf("kvm: choosing security None: %w", err)
		}
	}
	if err := c.readSecurityResult(v); err != nil {
		return err
	}
	if err := writeDeadline(conn, to, rfb.ClientInit{Shared: true}.Append(nil)); err != nil {
		return fmt.Errorf("kvm: sending ClientInit: %w", err)
	}
	if err := c.readServerInit(); err != nil {
		return err
	}
	pf := c.si.Format
	sendPF := false
	if c.cfg.Format != (rfb.PixelFormat{}) && c.cfg.Format != pf {
		pf, sendPF = c.cfg.Format, true
	}
	if err := c.setFormat(pf); err != nil {
		return err
	}
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
	return c.request(true, int(c.si.Width), int(c.si.Height))
}

// appendPipelinedOpen appends the client's whole RFB opening, sent right
// after the KVM start without waiting for the server: version 3.8 (what
// the consoles answer AMT's 4.0), security None, ClientInit shared, the
// pixel format if one is asked for, the encodings, the compression command
// and, when the screen size is known from SizeHint, the first update
// request. AMT and the vMC read the client's messages from the stream in
// order, so they see the same bytes as from a sequential console.
func (c *Client) appendPipelinedOpen(b []byte) []byte {
	b = rfb.V38.Append(b)
	b = append(b, rfb.SecNone)
	b = rfb.ClientInit{Shared: true}.Append(b)
	if c.cfg.Format != (rfb.PixelFormat{}) {
		b = (&rfb.SetPixelFormat{Format: c.cfg.Format}).Append(b)
	}
	b = (&rfb.SetEncodings{Encodings: c.cfg.Encodings}).Append(b)
	if c.cfg.Deflate {
		b = (&rfb.ClientCutText{Text: rfb.AppendExtCmd(nil, rfb.ExtCmdSetCompression, 1)}).Append(b)
	}
	if h := c.cfg.SizeHint; h.X > 0 && h.Y > 0 && h.X <= framebuf.MaxSide && h.Y <= framebuf.MaxSide {
		b = (&rfb.FramebufferUpdateRequest{Incremental: true, Rect: rfb.Rect{W: uint16(h.X), H: uint16(h.Y)}}).Append(b)
		c.hinted = true
	}
	return b
}

// rfbOpenPipelined reads the server's side of an opening whose client
// side appendPipelinedOpen already sent.
func (c *Client) rfbOpenPipelined() error {
	conn := c.conn
	if err := conn.SetReadDeadline(time.Now().Add(c.cfg.Timeout)); err != nil {
		return err
	}
	defer conn.SetReadDeadline(time.Time{})
	sv, err := c.readBanner()
	if err != nil {
		return err
	}
	if !sv.AtLeast(rfb.V38) {
		return fmt.Errorf("kvm: server speaks RFB %s, but the pipelined opening already answered 3.8 (AMT announces 4.0); open with Sequential for this server", sv)
	}
	if err := c.readSecurityTypes(rfb.V38); err != nil {
		return err
	}
	if err := c.readSecurityResult(rfb.V38); err != nil {
		return err
	}
	if err := c.readServerInit(); err != nil {
		return err
	}
	pf := c.si.Format
	if c.cfg.Format != (rfb.PixelFormat{}) {
		pf = c.cfg.Format
	}
	if err := c.setFormat(pf); err != nil {
		return err
	}
	c.st.start = c.clk.Now()
	w, h := int(c.si.Width), int(c.si.Height)
	switch {
	case !c.hinted:
		return c.request(true, w, h)
	case c.cfg.SizeHint.X != w || c.cfg.SizeHint.Y != h:
		// The hint was stale: ask for the whole real screen as well.
		return c.request(false, w, h)
	}
	return nil
}

func (c *Client) readBanner() (rfb.Version, error) {
	var vb [rfb.VersionLen]byte
	if _, err := io.ReadFull(c.conn, vb[:]); err != nil {
		return rfb.Version{}, fmt.Errorf("kvm: reading the RFB banner: %w", err)
	}
	sv, _, err := rfb.ParseVersion(vb[:])
	if err != nil {
		return rfb.Version{}, fmt.Errorf("kvm: RFB banner %q: %w", vb[:], err)
	}
	c.banner = sv
	return sv, nil
}

// readSecurityTypes reads the server's security types and checks that None
// is among them.
func (c *Client) readSecurityTypes(v rfb.Version) error {
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
		if _, err := io.ReadFull(c.conn, one[:]); err != nil {
			return fmt.Errorf("kvm: reading the security types: %w", err)
		}
		sb = append(sb, one[0])
	}
	for _, t := range types {
		if t == rfb.SecNone {
			return nil
		}
	}
	return fmt.Errorf("kvm: the server offers security types %v; expected None (1), as AMT after redirection authentication", types)
}

// readSecurityResult reads the 3.8 SecurityResult (none before 3.8).
func (c *Client) readSecurityResult(v rfb.Version) error {
	if !v.AtLeast(rfb.V38) {
		return nil
	}
	var rb []byte
	for {
		st, reason, _, err := rfb.DecodeSecurityResult(rb, v)
		if err == nil {
			if st != rfb.SecurityOK {
				return fmt.Errorf("kvm: SecurityResult %d: %s", st, reason)
			}
			return nil
		}
		if !errors.Is(err, rfb.ErrShort) {
			return fmt.Errorf("kvm: SecurityResult: %w", err)
		}
		var one [1]byte
		if _, err := io.ReadFull(c.conn, one[:]); err != nil {
			return fmt.Errorf("kvm: reading the SecurityResult (a disconnect here means the device cannot serve this session): %w", err)
		}
		rb = append(rb, one[0])
	}
}

func (c *Client) readServerInit() error {
	ib := make([]byte, 24)
	if _, err := io.ReadFull(c.conn, ib); err != nil {
		return fmt.Errorf("kvm: reading ServerInit: %w", err)
	}
	nameLen := binary.BigEndian.Uint32(ib[20:24])
	if nameLen > rfb.MaxName {
		return fmt.Errorf("kvm: ServerInit name length %d; expected at most %d", nameLen, rfb.MaxName)
	}
	ib = append(ib, make([]byte, nameLen)...)
	if _, err := io.ReadFull(c.conn, ib[24:]); err != nil {
		return fmt.Errorf("kvm: reading the ServerInit name: %w", err)
	}
	si, _, err := rfb.DecodeServerInit(ib)
	if err != nil {
		return fmt.Errorf("kvm: ServerInit: %w", err)
	}
	w, h := int(si.Width), int(si.Height)
	if w < 1 || h < 1 || w > framebuf.MaxSide || h > framebuf.MaxSide {
		return fmt.Errorf("kvm: ServerInit announces a %d×%d framebuffer; expected 1…%d a side", w, h, framebuf.MaxSide)
	}
	c.si = si
	return nil
}

// setFormat makes the picture and the decoder for pixel format pf.
func (c *Client) setFormat(pf rfb.PixelFormat) error {
	img, err := framebuf.New(int(c.si.Width), int(c.si.Height))
	if err != nil {
		return err
	}
	dec, err := rfb.NewDecoder(pf, img)
	if err != nil {
		return fmt.Errorf("kvm: pixel format %s: %w", pf, err)
	}
	c.dec = dec
	c.st = newStats(pf, c.cfg.Deflate)
	return nil
}
