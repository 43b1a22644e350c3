// Package kvmtest is an in-test RFB console for the vMC's KVM servers: the
// client half of AMT's and RFC 6143's handshakes and an update reader built
// on the rfb frame decoder. Tests and benchmarks of kvmstream, redirsrv and
// vncsrv share it.
package kvmtest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// Client is the console side of an RFB session after the handshake.
type Client struct {
	Conn    net.Conn
	Dec     *rfb.Decoder
	Timeout time.Duration // per read; 0 → 10 s
	buf     []byte
	off     int
	// Bytes counts bytes read from the server.
	Bytes int
}

// Update is one FramebufferUpdate as the client saw it.
type Update struct {
	Rects []rfb.Event
	Bytes int
}

// Tiles returns the set of rectangles as "x,y" keys.
func (u Update) Tiles() map[[2]int]bool {
	m := map[[2]int]bool{}
	for _, r := range u.Rects {
		m[[2]int{int(r.Rect.X), int(r.Rect.Y)}] = true
	}
	return m
}

// NewClient starts a client decoding pixel format pf into a w×h image.
func NewClient(conn net.Conn, pf rfb.PixelFormat, w, h int) (*Client, error) {
	img, err := framebuf.New(w, h)
	if err != nil {
		return nil, err
	}
	dec, err := rfb.NewDecoder(pf, img)
	if err != nil {
		return nil, err
	}
	return &Client{Conn: conn, Dec: dec, Timeout: 10 * time.Second, buf: make([]byte, 0, 1<<16)}, nil
}

// Send writes one client message.
func (c *Client) Send(m rfb.ClientMsg) error {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout()))
	_, err := c.Conn.Write(m.Append(nil))
	return err
}

// SetPixelFormat sends SetPixelFormat and switches the decoder.
func (c *Client) SetPixelFormat(pf rfb.PixelFormat) error {
	if err := c.Send(&rfb.SetPixelFormat{Format: pf}); err != nil {
		return err
	}
	return c.Dec.SetPixelFormat(pf)
}

// Request sends a FramebufferUpdateRequest for the whole image.
func (c *Client) Request(incremental bool) error {
	img := c.Dec.Image()
	return c.Send(&rfb.FramebufferUpdateRequest{Incremental: incremental,
		Rect: rfb.Rect{W: uint16(img.W), H: uint16(img.H)}})
}

func (c *Client) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 10 * time.Second
	}
	return c.Timeout
}

// Next returns the next server event.
func (c *Client) Next() (rfb.Event, error) {
	for {
		if c.off < len(c.buf) {
			ev, n, err := c.Dec.Next(c.buf[c.off:])
			if err == nil {
				if ev.Kind == rfb.EventCutText {
					ev.Text = append([]byte(nil), ev.Text...)
				}
				c.off += n
				return ev, nil
			}
			if !errors.Is(err, rfb.ErrShort) {
				return ev, err
			}
		}
		// Compact, then make room.
		c.buf = c.buf[:copy(c.buf, c.buf[c.off:])]
		c.off = 0
		if cap(c.buf)-len(c.buf) < 1<<15 {
			nb := make([]byte, len(c.buf), 2*cap(c.buf)+1<<16)
			copy(nb, c.buf)
			c.buf = nb
		}
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout()))
		n, err := c.Conn.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+n]
		c.Bytes += n
		if err != nil && n == 0 {
			return rfb.Event{}, err
		}
	}
}

// pending is the number of bytes read but not yet decoded.
func (c *Client) pending() int { return len(c.buf) - c.off }

// ReadUpdate reads up to the end of the next FramebufferUpdate; CutText
// messages before it are returned in cuts.
func (c *Client) ReadUpdate() (u Update, cuts [][]byte, err error) {
	start := c.Bytes - c.pending()
	for {
		ev, err := c.Next()
		if err != nil {
			return u, cuts, err
		}
		switch ev.Kind {
		case rfb.EventCutText:
			cuts = append(cuts, ev.Text)
		case rfb.EventUpdateBegin:
		case rfb.EventRect, rfb.EventDesktopSize:
			u.Rects = append(u.Rects, ev)
			if ev.Last {
				u.Bytes = c.Bytes - c.pending() - start
				return u, cuts, nil
			}
		default:
			return u, cuts, fmt.Errorf("kvmtest: unexpected server event %d", ev.Kind)
		}
	}
}

// ReadCutText reads the next server message, which must be a CutText.
func (c *Client) ReadCutText() (rfb.CutText, error) {
	ev, err := c.Next()
	if err != nil {
		return rfb.CutText{}, err
	}
	if ev.Kind != rfb.EventCutText {
		return rfb.CutText{}, fmt.Errorf("kvmtest: expected ServerCutText, got event %d", ev.Kind)
	}
	return rfb.ParseCutText(ev.Text)
}

func readFull(conn net.Conn, n int, d time.Duration) ([]byte, error) {
	b := make([]byte, n)
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.ReadFull(conn, b)
	return b, err
}

func readServerInit(conn net.Conn, d time.Duration) (rfb.ServerInit, error) {
	var b []byte
	for {
		si, _, err := rfb.DecodeServerInit(b)
		if err == nil {
			return si, nil
		}
		if !errors.Is(err, rfb.ErrShort) {
			return si, err
		}
		more, err := readFull(conn, 1, d)
		if err != nil {
			return si, fmt.Errorf("kvmtest: reading ServerInit: %w", err)
		}
		b = append(b, more...)
	}
}

// AMTHandshake is the consoles' side of AMT's RFB opening (reference §2.5):
// read the banner, answer 3.8, take security None, ClientInit shared.
func AMTHandshake(conn net.Conn) (banner rfb.Version, si rfb.ServerInit, err error) {
	d := 10 * time.Second
	b, err := readFull(conn, rfb.VersionLen, d)
	if err != nil {
		return banner, si, err
	}
	if banner, _, err = rfb.ParseVersion(b); err != nil {
		return banner, si, err
	}
	if _, err = conn.Write(rfb.V38.Append(nil)); err != nil {
		return
	}
	sec, err := readFull(conn, 2, d)
	if err != nil {
		return
	}
	if sec[0] != 1 || sec[1] != rfb.SecNone {
		return banner, si, fmt.Errorf("kvmtest: security types % x, want 01 01", sec)
	}
	if _, err = conn.Write([]byte{rfb.SecNone}); err != nil {
		return
	}
	res, err := readFull(conn, 4, d)
	if err != nil {
		return
	}
	if string(res) != "\x00\x00\x00\x00" {
		return banner, si, fmt.Errorf("kvmtest: SecurityResult % x", res)
	}
	if _, err = conn.Write(rfb.ClientInit{Shared: true}.Append(nil)); err != nil {
		return
	}
	si, err = readServerInit(conn, d)
	return
}

// VNCHandshake is a stock viewer's opening on 5900 speaking version v with
// VNC authentication. A refusal or failed authentication is an error that
// carries the server's reason.
func VNCHandshake(conn net.Conn, v rfb.Version, password string) (rfb.ServerInit, error) {
	d := 10 * time.Second
	var si rfb.ServerInit
	b, err := readFull(conn, rfb.VersionLen, d)
	if err != nil {
		return si, err
	}
	if _, _, err := rfb.ParseVersion(b); err != nil {
		return si, err
	}
	if _, err := conn.Write(v.Append(nil)); err != nil {
		return si, err
	}
	// Security types: read byte by byte until they decode.
	var sb []byte
	var types []uint8
	for {
		t, reason, _, err := rfb.DecodeSecurityTypes(sb, v)
		if err == nil {
			if len(t) == 0 {
				return si, fmt.Errorf("kvmtest: refused: %s", reason)
			}
			types = t
			break
		}
		if !errors.Is(err, rfb.ErrShort) {
			return si, err
		}
		more, err := readFull(conn, 1, d)
		if err != nil {
			return si, err
		}
		sb = append(sb, more...)
	}
	if types[0] != rfb.SecVNCAuth {
		return si, fmt.Errorf("kvmtest: security type %d, want VNC auth", types[0])
	}
	if v.AtLeast(rfb.V37) {
		if _, err := conn.Write([]byte{rfb.SecVNCAuth}); err != nil {
			return si, err
		}
	}
	chb, err := readFull(conn, 16, d)
	if err != nil {
		return si, err
	}
	var ch [16]byte
	copy(ch[:], chb)
	resp := rfb.VNCAuthResponse(password, ch)
	if _, err := conn.Write(resp[:]); err != nil {
		return si, err
	}
	var rb []byte
	for {
		st, reason, _, err := rfb.DecodeSecurityResult(rb, v)
		if err == nil {
			if st != rfb.SecurityOK {
				return si, fmt.Errorf("kvmtest: authentication failed: %q", reason)
			}
			break
		}
		if !errors.Is(err, rfb.ErrShort) {
			return si, err
		}
		more, err := readFull(conn, 1, d)
		if err != nil {
			return si, fmt.Errorf("kvmtest: reading SecurityResult: %w", err)
		}
		rb = append(rb, more...)
	}
	if _, err := conn.Write(rfb.ClientInit{Shared: true}.Append(nil)); err != nil {
		return si, err
	}
	return readServerInit(conn, d)
}

// Expected returns img as a client of format pf reconstructs it.
func Expected(img *framebuf.Image, pf rfb.PixelFormat) (*framebuf.Image, error) {
	conv, err := rfb.NewConverter(pf)
	if err != nil {
		return nil, err
	}
	out := img.Clone()
	for i, p := range out.Pix {
		out.Pix[i] = conv.ToRGB(conv.ToWire(p))
	}
	return out, nil
}

// FirstDiff returns the first pixel where a and b differ, or ok.
func FirstDiff(a, b *framebuf.Image) (x, y int, ok bool) {
	if a.W != b.W || a.H != b.H {
		return -1, -1, false
	}
	for y := 0; y < a.H; y++ {
		for x := 0; x < a.W; x++ {
			if a.At(x, y) != b.At(x, y) {
				return x, y, false
			}
		}
	}
	return 0, 0, true
}

// DiffTiles returns the 64×64 tiles where a and b differ.
func DiffTiles(a, b *framebuf.Image) map[[2]int]bool {
	m := map[[2]int]bool{}
	for y := 0; y < a.H; y++ {
		for x := 0; x < a.W; x++ {
			if a.At(x, y) != b.At(x, y) {
				m[[2]int{x / 64 * 64, y / 64 * 64}] = true
			}
		}
	}
	return m
}
