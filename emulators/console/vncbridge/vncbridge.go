// Package vncbridge serves a device's screen, as the console's KVM client
// decodes it, as a plain RFB endpoint (RFC 6143) so a standard VNC viewer
// works through the oobtb path: RFB 3.3, 3.7 and 3.8 viewers, security None
// on a loopback listener or VNC authentication with a password, any
// true-colour pixel format the viewer sets, Raw rectangles re-encoded from
// the decoded framebuffer (only the 64×64 tiles that changed since the
// viewer's last update), DesktopSize when the device changes mode, and the
// viewer's keys and pointer forwarded to the AMT session.
package vncbridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// Defaults for Config fields left zero.
const (
	DefaultTimeout = 60 * time.Second
	DefaultName    = "oobtb console"
)

// Source is the picture and input sink the bridge serves; a
// *kvmclient.Client is one.
type Source interface {
	// CopyTo copies the current picture into dst (same size) or returns a
	// new copy.
	CopyTo(dst *framebuf.Image) *framebuf.Image
	// Updated returns a channel closed when the picture next changes.
	Updated() <-chan struct{}
	Key(ctx context.Context, down bool, keysym uint32) error
	Pointer(ctx context.Context, mask uint8, x, y int) error
}

// Config configures a Bridge.
type Config struct {
	Source Source
	// Password, when set, makes every viewer use VNC authentication. Without
	// it only a loopback listener is served (security None).
	Password string
	// Name is the desktop name in ServerInit.
	Name string
	// Timeout bounds the handshake, each write and the silence of a viewer;
	// 0 → 60 s.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Bridge serves viewers on a listener.
type Bridge struct {
	cfg Config
	wg  sync.WaitGroup

	mu      sync.Mutex
	viewers int
	served  uint64
}

// New returns a bridge.
func New(cfg Config) (*Bridge, error) {
	if cfg.Source == nil {
		return nil, errors.New("vncbridge: no source")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Bridge{cfg: cfg}, nil
}

// Security returns the security type a listener on addr gets, or an error
// when a password is needed and none was given.
func (b *Bridge) Security(addr net.Addr) (uint8, error) {
	if b.cfg.Password != "" {
		return rfb.SecVNCAuth, nil
	}
	if isLoopback(addr) {
		return rfb.SecNone, nil
	}
	return 0, fmt.Errorf("vncbridge: listening on %s, which is not a loopback address, needs a VNC password", addr)
}

func isLoopback(a net.Addr) bool {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	return false
}

// Viewers is the number of viewers connected now and served in total.
func (b *Bridge) Viewers() (now int, total uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.viewers, b.served
}

// Serve accepts viewers on ln until ctx ends or ln fails, and waits for
// every viewer session to end. It closes ln.
func (b *Bridge) Serve(ctx context.Context, ln net.Listener) error {
	sec, err := b.Security(ln.Addr())
	if err != nil {
		_ = ln.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	defer b.wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				b.cfg.Logger.Warn("vncbridge: out of file descriptors; waiting", "err", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			return fmt.Errorf("vncbridge: accept: %w", err)
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.mu.Lock()
			b.viewers++
			b.served++
			b.mu.Unlock()
			err := b.ServeConn(ctx, conn, sec)
			b.mu.Lock()
			b.viewers--
			b.mu.Unlock()
			if err != nil {
				b.cfg.Logger.Info("vncbridge: viewer session ended", "peer", conn.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// ServeConn runs one viewer session on conn with security type sec and
// closes conn. It returns nil when the viewer leaves or ctx ends.
func (b *Bridge) ServeConn(ctx context.Context, conn net.Conn, sec uint8) error {
	defer conn.Close()
	img := b.cfg.Source.CopyTo(nil)
	_, err := kvmstream.ServerHandshake(conn, kvmstream.Handshake{
		Banner: rfb.V38, Security: sec, Password: b.cfg.Password, Timeout: b.cfg.Timeout,
		Init: rfb.ServerInit{Width: uint16(img.W), Height: uint16(img.H), Format: rfb.PF888, Name: b.cfg.Name},
	})
	if err != nil {
		return fmt.Errorf("vncbridge: handshake: %w", err)
	}
	enc, err := rfb.NewEncoder(rfb.PF888, rfb.Settings{Encoding: rfb.EncodingRaw})
	if err != nil {
		return err
	}
	v := &viewer{b: b, conn: conn, enc: enc, w: img.W, h: img.H, cur: img}
	return v.run(ctx)
}

// viewer is one connected VNC viewer.
type viewer struct {
	b    *Bridge
	conn net.Conn
	enc  *rfb.Encoder

	w, h        int             // size the viewer knows
	sent        *framebuf.Image // what the viewer shows (nil: nothing yet)
	cur         *framebuf.Image // scratch copy of the source
	desktopSize bool            // viewer listed −223
	pending     bool
	incremental bool
	req         rfb.Rect
	buf         []byte
	dirty       []rfb.Rect
}

type clientMsg struct {
	m   rfb.ClientMsg
	err error
}

func (v *viewer) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan clientMsg, 16)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		v.read(ctx, msgs)
	}()
	defer func() {
		cancel()
		_ = v.conn.SetReadDeadline(time.Unix(1, 0))
		<-readDone
	}()
	for {
		var updated <-chan struct{}
		if v.pending {
			updated = v.b.cfg.Source.Updated()
			sent, err := v.update()
			if err != nil {
				return err
			}
			if sent {
				v.pending = false
				updated = nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-updated:
		case cm, ok := <-msgs:
			if !ok {
				return nil
			}
			if cm.err != nil {
				return cm.err
			}
			if err := v.handle(cm.m); err != nil {
				return err
			}
		}
	}
}

// read decodes the viewer's messages; input goes straight to the source so
// it does not wait behind an update being written.
func (v *viewer) read(ctx context.Context, out chan<- clientMsg) {
	defer close(out)
	buf := make([]byte, 0, 4096)
	send := func(cm clientMsg) bool {
		select {
		case out <- cm:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		for len(buf) > 0 {
			m, n, err := rfb.DecodeClientMsg(buf)
			if errors.Is(err, rfb.ErrShort) {
				break
			}
			if err != nil {
				send(clientMsg{err: fmt.Errorf("vncbridge: viewer message: %w", err)})
				return
			}
			buf = buf[n:]
			switch m := m.(type) {
			case *rfb.KeyEvent:
				if err := v.b.cfg.Source.Key(ctx, m.Down, m.Key); err != nil {
					send(clientMsg{err: fmt.Errorf("vncbridge: forwarding a key: %w", err)})
					return
				}
			case *rfb.PointerEvent:
				if err := v.b.cfg.Source.Pointer(ctx, m.Mask, int(m.X), int(m.Y)); err != nil {
					v.b.cfg.Logger.Debug("vncbridge: pointer not forwarded", "err", err)
				}
			default:
				if !send(clientMsg{m: m}) {
					return
				}
			}
		}
		if len(buf) > 8+rfb.MaxCutText {
			send(clientMsg{err: fmt.Errorf("vncbridge: viewer message larger than %d bytes", 8+rfb.MaxCutText)})
			return
		}
		if cap(buf)-len(buf) < 1024 {
			nb := make([]byte, len(buf), 2*cap(buf)+4096)
			copy(nb, buf)
			buf = nb
		}
		_ = v.conn.SetReadDeadline(time.Now().Add(v.b.cfg.Timeout))
		n, err := v.conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil && n == 0 {
			switch {
			case ctx.Err() != nil:
			case errors.Is(err, os.ErrDeadlineExceeded):
				send(clientMsg{err: fmt.Errorf("vncbridge: no message from the viewer for %v", v.b.cfg.Timeout)})
			case len(buf) > 0:
				send(clientMsg{err: fmt.Errorf("vncbridge: viewer left inside a message (%d bytes pending)", len(buf))})
			}
			return
		}
	}
}

func (v *viewer) handle(m rfb.ClientMsg) error {
	switch m := m.(type) {
	case *rfb.SetPixelFormat:
		if !m.Format.TrueColour {
			return fmt.Errorf("vncbridge: the viewer asked for a colour-mapped format (%s); only true colour is served", m.Format)
		}
		if err := v.enc.SetPixelFormat(m.Format); err != nil {
			return fmt.Errorf("vncbridge: the viewer's pixel format %s: %w", m.Format, err)
		}
		v.sent = nil // everything must be sent again in the new format
	case *rfb.SetEncodings:
		v.desktopSize = m.Has(rfb.EncodingDesktopSize)
	case *rfb.FramebufferUpdateRequest:
		if v.pending {
			v.incremental = v.incremental && m.Incremental
			v.req = union(v.req, m.Rect)
		} else {
			v.pending, v.incremental, v.req = true, m.Incremental, m.Rect
		}
	}
	return nil
}

func union(a, b rfb.Rect) rfb.Rect {
	x0, y0 := min(a.X, b.X), min(a.Y, b.Y)
	x1 := max(int(a.X)+int(a.W), int(b.X)+int(b.W))
	y1 := max(int(a.Y)+int(a.H), int(b.Y)+int(b.H))
	return rfb.Rect{X: x0, Y: y0, W: uint16(x1 - int(x0)), H: uint16(y1 - int(y0))}
}

// update answers the pending request if there is something to send.
func (v *viewer) update() (bool, error) {
	v.cur = v.b.cfg.Source.CopyTo(v.cur)
	img := v.cur
	v.buf = v.buf[:0]
	if img.W != v.w || img.H != v.h {
		if !v.desktopSize {
			return false, fmt.Errorf("vncbridge: the device changed to %d×%d and the viewer does not take DesktopSize", img.W, img.H)
		}
		v.w, v.h, v.sent = img.W, img.H, nil
		v.buf = rfb.AppendDesktopSize(v.buf, uint16(img.W), uint16(img.H))
		return true, v.write()
	}
	v.dirty = v.dirty[:0]
	rx0, ry0 := int(v.req.X), int(v.req.Y)
	rx1, ry1 := min(rx0+int(v.req.W), img.W), min(ry0+int(v.req.H), img.H)
	full := !v.incremental || v.sent == nil
	for ty := 0; ty*rfb.TileSize < img.H; ty++ {
		for tx := 0; tx*rfb.TileSize < img.W; tx++ {
			x0, y0 := max(tx*rfb.TileSize, rx0), max(ty*rfb.TileSize, ry0)
			x1, y1 := min((tx+1)*rfb.TileSize, rx1), min((ty+1)*rfb.TileSize, ry1)
			if x1 <= x0 || y1 <= y0 {
				continue
			}
			if full || !sameArea(img, v.sent, x0, y0, x1, y1) {
				v.dirty = append(v.dirty, rfb.Rect{X: uint16(x0), Y: uint16(y0), W: uint16(x1 - x0), H: uint16(y1 - y0)})
			}
		}
	}
	if len(v.dirty) == 0 {
		return false, nil
	}
	var err error
	v.buf, err = v.enc.AppendUpdate(v.buf, img, v.dirty)
	if errors.Is(err, rfb.ErrEmptyUpdate) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if v.sent == nil || v.sent.W != img.W || v.sent.H != img.H {
		v.sent = img.Clone()
	} else {
		for _, r := range v.dirty {
			for y := int(r.Y); y < int(r.Y)+int(r.H); y++ {
				o := y*img.Stride + int(r.X)
				copy(v.sent.Pix[y*v.sent.Stride+int(r.X):], img.Pix[o:o+int(r.W)])
			}
		}
	}
	return true, v.write()
}

func sameArea(a, b *framebuf.Image, x0, y0, x1, y1 int) bool {
	for y := y0; y < y1; y++ {
		if !slices.Equal(a.Pix[y*a.Stride+x0:y*a.Stride+x1], b.Pix[y*b.Stride+x0:y*b.Stride+x1]) {
			return false
		}
	}
	return true
}

func (v *viewer) write() error {
	if err := v.conn.SetWriteDeadline(time.Now().Add(v.b.cfg.Timeout)); err != nil {
		return err
	}
	if _, err := v.conn.Write(v.buf); err != nil {
		return fmt.Errorf("vncbridge: writing to the viewer: %w", err)
	}
	return nil
}
