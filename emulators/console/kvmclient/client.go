// Package kvmclient is the console's KVM viewer for Intel AMT's redirection
// protocol: the redirection handshake (package redirclient), KVM start
// (0x40/0x41), RFB as AMT speaks it (reference §2.4–§2.5) decoded into a
// framebuf.Image by the rfb codec, keyboard and pointer injection, and the
// figures a benchmark wants: frames/s, Mbit/s, rectangles per encoding,
// input-to-pixel latency and frame integrity from the vMC's frame stamp.
//
// It runs over any byte stream: a TCP connection to a device's 16994,
// a relay WebSocket adapted with websocket.NetConn, or a channel of a Noise
// session.
package kvmclient

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/console/redirclient"
	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/redir"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
	"github.com/oobtb/oobtb/sim/clock"
)

// Defaults for Config fields left zero.
const (
	DefaultTimeout   = 30 * time.Second
	DefaultKeepAlive = 5 * time.Second
)

// maxPendingInputs bounds the input events awaiting their stamp.
const maxPendingInputs = 1 << 16

// ErrClosed is returned by input methods after the session ended.
var ErrClosed = errors.New("kvm: session closed")

// Config configures a Client.
type Config struct {
	// Credentials are the device's AMT user and password (may be empty
	// through a relay that injects them).
	Credentials redirclient.Credentials
	// Format is the pixel format to ask for; the zero value keeps the
	// server's (AMT: RGB565) and sends no SetPixelFormat.
	Format rfb.PixelFormat
	// Deflate asks for zlib compression of encoding 16 (KvmExtCmd 4 = 1).
	Deflate bool
	// Encodings is the SetEncodings list; nil → [16, 0, 1092, −223] as the
	// AMT consoles send it.
	Encodings []int32
	// Timeout bounds each handshake read and the silence of the running
	// session (the keep-alive makes AMT answer at least every KeepAlive);
	// 0 → 30 s.
	Timeout time.Duration
	// KeepAlive is the KVM data channel keep-alive period; 0 → 5 s,
	// negative → none.
	KeepAlive time.Duration
	// SkipRedirection starts at the RFB banner (a stream that is already
	// past the redirection handshake and KVM start).
	SkipRedirection bool
	// Sequential runs the redirection and RFB openings one message per
	// round trip, as the stock consoles do. By default the client
	// pipelines them (redirclient.Options.Pipeline; after the digest
	// succeeds, the KVM start and its whole RFB side in one flight), which
	// saves about five round trips and needs an RFB 3.8+ server (AMT: 4.0).
	// With SkipRedirection the RFB opening is always sequential.
	Sequential bool
	// SizeHint is the screen size expected (from an earlier session with
	// the device): with it, the pipelined flight also carries the first
	// update request, saving one more round trip. A wrong hint costs a
	// second, full request.
	SizeHint image.Point
	// Optimistic (with pipelining) sends the KVM start and the RFB
	// opening in the same flight as the digest response, before the
	// device's verdict, saving one more round trip. Only where the stream
	// reaches the device end to end (the gateway paths): the classic relay's
	// credential interceptor parses console bytes as redirection messages
	// until the device accepted. Off by default: a device that refuses the
	// digest then sees the KVM start as a protocol error and closes (the
	// client still reports the authentication failure).
	Optimistic bool
	Clock      clock.Clock  // nil → clock.Real{}
	Logger     *slog.Logger // nil → discard
}

// Client is one KVM session. Run reads the server's stream; the input
// methods, Screenshot and Stats may be called from other goroutines.
type Client struct {
	cfg    Config
	conn   net.Conn
	clk    clock.Clock
	log    *slog.Logger
	si     rfb.ServerInit
	banner rfb.Version
	info   redirclient.Info
	hinted bool // the pipelined flight carried the first update request

	wmu  sync.Mutex // writes and the input id sequence
	wbuf []byte

	mu      sync.Mutex // everything below
	dec     *rfb.Decoder
	st      stats
	updated chan struct{} // closed and replaced at each completed update
	first   chan struct{} // closed at the first completed update
	closed  bool
	runErr  error
	inputs  []pendingInput
	nextID  uint32 // id of the next input event (valid after the first frame)
	sentID  uint32 // id of the last input sent
	baseOK  bool
}

type pendingInput struct {
	id   uint32
	sent time.Time
}

// Open runs the redirection handshake, KVM start and the RFB opening on
// conn, sends the pixel format, encodings and (if asked) the compression
// command, and the first update request (incremental, as every console).
// Call Run next. On error the caller closes conn.
func Open(conn net.Conn, cfg Config) (*Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Encodings == nil {
		cfg.Encodings = rfb.AMTConsoleEncodings
	}
	c := &Client{cfg: cfg, clk: cfg.Clock, log: cfg.Logger, updated: make(chan struct{}), first: make(chan struct{})}
	stream := conn
	pipe := !cfg.Sequential && !cfg.SkipRedirection
	if !cfg.SkipRedirection {
		flight := (&redir.KVMStart{}).Append(nil)
		if pipe {
			flight = c.appendPipelinedOpen(flight)
		}
		o := redirclient.Options{Timeout: cfg.Timeout, Pipeline: pipe}
		if pipe && cfg.Optimistic {
			o.Then, flight = flight, nil
		}
		rc, info, err := redirclient.OpenWith(conn, redir.SessionKVM, cfg.Credentials, o)
		if err != nil {
			return nil, err
		}
		c.info = info
		if err := writeDeadline(rc, cfg.Timeout, flight); err != nil {
			return nil, fmt.Errorf("kvm: sending KVM start (0x40): %w", err)
		}
		r := redirclient.NewReader(rc, cfg.Timeout)
		m, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("kvm: waiting for the KVM start reply (0x41): %w", err)
		}
		if m.Opcode() != redir.OpKVMStartReply {
			return nil, fmt.Errorf("kvm: expected the KVM start reply (0x41) after 0x40, got %s", m.Opcode())
		}
		stream = redirclient.WithPrefix(rc, r.Rest())
	}
	c.conn = stream
	open := c.rfbOpen
	if pipe {
		open = c.rfbOpenPipelined
	}
	if err := open(); err != nil {
		return nil, err
	}
	return c, nil
}

func writeDeadline(conn net.Conn, d time.Duration, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := conn.SetWriteDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	_, err := conn.Write(b)
	return err
}

// ServerInit is what the server announced.
func (c *Client) ServerInit() rfb.ServerInit { return c.si }

// Banner is the RFB version the server announced (AMT: 4.0).
func (c *Client) Banner() rfb.Version { return c.banner }

// Redirection is what the device said during the redirection handshake.
func (c *Client) Redirection() redirclient.Info { return c.info }

// Format is the pixel format in use.
func (c *Client) Format() rfb.PixelFormat {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.format
}

// send writes one message; callers hold wmu.
func (c *Client) sendLocked(b []byte) error {
	if err := writeDeadline(c.conn, c.cfg.Timeout, b); err != nil {
		return fmt.Errorf("kvm: writing to the server: %w", err)
	}
	return nil
}

func (c *Client) send(m rfb.ClientMsg) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = m.Append(c.wbuf[:0])
	return c.sendLocked(c.wbuf)
}

func (c *Client) request(incremental bool, w, h int) error {
	return c.send(&rfb.FramebufferUpdateRequest{Incremental: incremental, Rect: rfb.Rect{W: uint16(w), H: uint16(h)}})
}

// Screenshot returns a copy of the current picture (0x00RRGGBB as
// reconstructed from the negotiated pixel format).
func (c *Client) Screenshot() *framebuf.Image {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dec.Image().Clone()
}

// CopyTo copies the current picture into dst when it has the same size
// (no allocation) and returns it, or returns a new copy.
func (c *Client) CopyTo(dst *framebuf.Image) *framebuf.Image {
	c.mu.Lock()
	defer c.mu.Unlock()
	src := c.dec.Image()
	if dst == nil || dst.W != src.W || dst.H != src.H || dst.Stride != dst.W {
		return src.Clone()
	}
	for y := 0; y < src.H; y++ {
		copy(dst.Pix[y*dst.Stride:y*dst.Stride+src.W], src.Pix[y*src.Stride:y*src.Stride+src.W])
	}
	return dst
}

// WritePNG writes the current picture as PNG.
func (c *Client) WritePNG(w io.Writer) error {
	return png.Encode(w, c.Screenshot().ToRGBA())
}

// Stamp is the frame stamp of the last completed update (ok false before
// the first valid one).
func (c *Client) Stamp() (screen.Stamp, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.lastStamp, c.st.stampOK
}

// Close ends the session by closing the stream.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.conn.Close()
}

// Updated returns a channel closed at the next completed update.
func (c *Client) Updated() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.updated
}

// WaitFirstFrame waits for the first complete update.
func (c *Client) WaitFirstFrame(ctx context.Context) error {
	select {
	case <-c.first:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kvm: waiting for the first frame: %w", ctx.Err())
	}
}

// WaitUntil waits, checking at each completed update, until cond holds for
// the frame's stamp, the session ends, or ctx ends.
func (c *Client) WaitUntil(ctx context.Context, cond func(st screen.Stamp, ok bool) bool) error {
	for {
		c.mu.Lock()
		ch, st, ok, done, rerr := c.updated, c.st.lastStamp, c.st.stampOK, c.closed, c.runErr
		c.mu.Unlock()
		if cond(st, ok) {
			return nil
		}
		if done {
			if rerr == nil {
				rerr = ErrClosed
			}
			return rerr
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitInputs waits until a frame's stamp shows the last input event sent:
// everything typed so far is on screen.
func (c *Client) WaitInputs(ctx context.Context) error {
	c.mu.Lock()
	want := c.sentID
	c.mu.Unlock()
	err := c.WaitUntil(ctx, func(st screen.Stamp, ok bool) bool { return ok && !idBefore(st.InputID, want) })
	if err != nil {
		return fmt.Errorf("kvm: waiting for input %d to show in the frame stamp: %w", want, err)
	}
	return nil
}

// idBefore compares input ids with wrap-around.
func idBefore(a, b uint32) bool { return int32(a-b) < 0 }
