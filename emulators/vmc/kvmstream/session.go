package kvmstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// request is the update the client is owed; requests that arrive before it
// is answered are merged into it (one update per request, as consoles pace).
type request struct {
	incremental    bool
	x0, y0, x1, y1 int
}

func (r *request) merge(o request) {
	r.incremental = r.incremental && o.incremental
	r.x0, r.y0 = min(r.x0, o.x0), min(r.y0, o.y0)
	r.x1, r.y1 = max(r.x1, o.x1), max(r.y1, o.y1)
}

type session struct {
	cfg  Config
	conn net.Conn
	enc  *rfb.Encoder
	set  rfb.Settings

	listed16, listedDesktopSize bool
	compression                 uint8 // KvmExtCmd 4 value
	decimation                  uint8 // KvmExtCmd 2 mode

	w, h   int    // size the client knows
	tx, ty int    // tiles across and down
	owed   []bool // damaged tiles not yet sent, tx*ty row-major
	first  bool   // next update is the whole screen

	pending bool
	req     request

	buf   []byte
	rects []rfb.Rect

	readerGone bool
	readerErr  error
}

// Serve runs an RFB session on conn after the handshake: w×h is the size
// announced in ServerInit. It returns nil when the client goes away,
// an error wrapping ErrNotAllowed when KVM stops being allowed (power off),
// and a descriptive error for protocol violations and timeouts. It does not
// close conn.
func Serve(ctx context.Context, conn net.Conn, w, h int, cfg Config) error {
	cfg.defaults()
	if cfg.Host == nil {
		return errors.New("kvm: no host")
	}
	set := rfb.Settings{Encoding: rfb.EncodingRaw}
	enc, err := rfb.NewEncoder(cfg.Format, set)
	if err != nil {
		return fmt.Errorf("kvm: initial pixel format: %w", err)
	}
	s := &session{cfg: cfg, conn: conn, enc: enc, set: set, first: true}
	s.resize(w, h)

	var lastInput uint32
	cfg.Host.WithScreen(func(sc *screen.Screen) { lastInput = sc.LastInputID() })

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan rfb.ClientMsg, 16)
	rerr := make(chan error, 1)
	r := &reader{conn: conn, cfg: &s.cfg, msgs: msgs, done: ctx.Done(), nextID: lastInput}
	go func() { rerr <- r.run() }()
	err = s.loop(ctx, msgs, rerr)
	cancel()
	if s.readerGone {
		return s.readerErr
	}
	// Unblock the reader and wait for it, so no goroutine outlives Serve.
	_ = conn.SetReadDeadline(time.Unix(1, 0))
	<-rerr
	_ = conn.SetReadDeadline(time.Time{})
	return err
}

func (s *session) resize(w, h int) {
	s.w, s.h = w, h
	s.tx, s.ty = (w+screen.TileSize-1)/screen.TileSize, (h+screen.TileSize-1)/screen.TileSize
	if n := s.tx * s.ty; cap(s.owed) >= n {
		s.owed = s.owed[:n]
		clear(s.owed)
	} else {
		s.owed = make([]bool, n)
	}
	if cap(s.rects) < s.tx*s.ty {
		s.rects = make([]rfb.Rect, 0, s.tx*s.ty)
	}
}

func (s *session) loop(ctx context.Context, msgs <-chan rfb.ClientMsg, rerr <-chan error) error {
	hst := s.cfg.Host
	for {
		// Take the notification channels before looking, so a frame or a
		// power change that lands in between is not missed.
		powerCh := hst.PowerChanged()
		var frameCh <-chan struct{}
		if ok, why := hst.KVMAllowed(); !ok {
			return fmt.Errorf("%w: %s", ErrNotAllowed, why)
		}
		if s.pending {
			frameCh = hst.NextFrame()
			sent, err := s.update()
			if err != nil {
				return err
			}
			if sent {
				s.pending = false
				frameCh = nil
			}
		}
		select {
		case m := <-msgs:
			if err := s.handle(m); err != nil {
				return err
			}
		case <-frameCh:
		case <-powerCh:
		case err := <-rerr:
			s.readerGone, s.readerErr = true, err
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *session) handle(m rfb.ClientMsg) error {
	switch m := m.(type) {
	case *rfb.SetPixelFormat:
		if err := m.Format.Validate(); err != nil {
			return fmt.Errorf("kvm: SetPixelFormat: %w", err)
		}
		if err := s.enc.SetPixelFormat(m.Format); err != nil {
			return fmt.Errorf("kvm: SetPixelFormat: %w", err)
		}
		s.cfg.Logger.Debug("pixel format set", "format", m.Format.String())
	case *rfb.SetEncodings:
		s.listed16 = m.Has(rfb.EncodingAMT16)
		s.listedDesktopSize = m.Has(rfb.EncodingDesktopSize)
		return s.applySettings()
	case *rfb.FramebufferUpdateRequest:
		s.cfg.Counters.Requests.Add(1)
		r := request{incremental: m.Incremental, x0: int(m.Rect.X), y0: int(m.Rect.Y),
			x1: int(m.Rect.X) + int(m.Rect.W), y1: int(m.Rect.Y) + int(m.Rect.H)}
		if s.pending {
			s.req.merge(r)
		} else {
			s.req, s.pending = r, true
		}
	case *rfb.ClientCutText:
		return s.cutText(m.Text)
	default:
		return fmt.Errorf("kvm: unexpected client message type %d", m.Type())
	}
	return nil
}

// applySettings picks the encoding: 16 when listed (AMT's tiles; for a
// stock viewer ZRLE, sent only when every tile width is a multiple of 8
// because AMT's packed palettes have no row padding), else Raw.
func (s *session) applySettings() error {
	set := rfb.Settings{Encoding: rfb.EncodingRaw}
	if s.listed16 {
		switch s.cfg.Dialect {
		case DialectAMT:
			set = rfb.Settings{Encoding: rfb.EncodingAMT16, Deflate: s.compression != 0}
		case DialectStandard:
			if s.w%8 == 0 {
				set = rfb.Settings{Encoding: rfb.EncodingAMT16, Deflate: true}
			}
		}
	}
	if err := s.enc.SetSettings(set); err != nil {
		return fmt.Errorf("kvm: %w", err)
	}
	s.set = set
	return nil
}

// cutText answers Intel's CutText extensions; clipboard text is ignored (the
// emulated host has no clipboard).
func (s *session) cutText(t []byte) error {
	ct, err := rfb.ParseCutText(t)
	if err != nil {
		return fmt.Errorf("kvm: ClientCutText: %w", err)
	}
	var reply []byte
	switch ct.Kind {
	case rfb.CutDataChannel:
		// No host agent consumes the data; acknowledge so the client sends
		// its next message.
		reply = rfb.AppendDataChannel(nil, nil)
	case rfb.CutExtCmd:
		switch ct.Cmd {
		case rfb.ExtCmdSetCompression:
			s.compression = min(ct.Value, 1)
			if err := s.applySettings(); err != nil {
				return err
			}
			reply = rfb.AppendExtCmd(nil, rfb.ExtCmdSetCompression, s.compression)
		case rfb.ExtCmdGetCompression:
			reply = rfb.AppendExtCmd(nil, rfb.ExtCmdGetCompression, s.compression)
		case rfb.ExtCmdSetDecimation:
			if ct.Value != 0 {
				s.decimation = ct.Value
			}
			reply = rfb.AppendExtCmd(nil, rfb.ExtCmdSetDecimation, ct.Value)
		case rfb.ExtCmdGetDecimation:
			// mode, state: decimation is never active here.
			reply = rfb.AppendExtCmd(nil, rfb.ExtCmdGetDecimation, s.decimation, 0)
		default:
			s.cfg.Logger.Debug("ignoring unknown KvmExtCmd", "cmd", ct.Cmd, "value", ct.Value)
			return nil
		}
	default:
		return nil
	}
	s.buf = (&rfb.ServerCutText{Text: reply}).Append(s.buf[:0])
	return s.write(s.buf)
}

// update sends the owed update if there is anything to send.
func (s *session) update() (bool, error) {
	var err error
	sent := false
	start := time.Now()
	s.cfg.Host.WithScreen(func(sc *screen.Screen) {
		if w, h := sc.Size(); w != s.w || h != s.h {
			if !s.listedDesktopSize {
				err = fmt.Errorf("kvm: the screen changed to %dx%d and the client did not list DesktopSize (%d)", w, h, rfb.EncodingDesktopSize)
				return
			}
			s.buf = rfb.AppendDesktopSize(s.buf[:0], uint16(w), uint16(h))
			s.resize(w, h)
			s.first, sent = true, true
			s.cfg.Counters.RectsDesktopSize.Add(1)
			return
		}
		d := sc.TakeDamage()
		for ty := 0; ty < s.ty; ty++ {
			for tx := 0; tx < s.tx; tx++ {
				if d.Has(tx, ty) {
					s.owed[ty*s.tx+tx] = true
				}
			}
		}
		s.collect()
		if len(s.rects) == 0 {
			return
		}
		s.buf, err = s.enc.AppendUpdate(s.buf[:0], sc.Image(), s.rects)
		if err != nil {
			err = fmt.Errorf("kvm: encoding: %w", err)
			return
		}
		sent = true
		if s.set.Encoding == rfb.EncodingAMT16 {
			s.cfg.Counters.RectsAMT16.Add(uint64(len(s.rects)))
		} else {
			s.cfg.Counters.RectsRaw.Add(uint64(len(s.rects)))
		}
	})
	s.cfg.Counters.EncodeNanos.Add(uint64(time.Since(start)))
	if err != nil || !sent {
		return false, err
	}
	s.first = false
	s.cfg.Counters.Updates.Add(1)
	return true, s.write(s.buf)
}

// collect fills s.rects with the tiles to send for the owed request and
// clears them from s.owed: every tile for the first request, every tile of
// the region for a non-incremental one, else the damaged tiles of the region.
func (s *session) collect() {
	s.rects = s.rects[:0]
	r := s.req
	tx0, ty0, tx1, ty1 := 0, 0, s.tx, s.ty
	if !s.first {
		x0, y0 := max(r.x0, 0), max(r.y0, 0)
		x1, y1 := min(r.x1, s.w), min(r.y1, s.h)
		if x0 >= x1 || y0 >= y1 {
			return
		}
		ts := screen.TileSize
		tx0, ty0, tx1, ty1 = x0/ts, y0/ts, (x1+ts-1)/ts, (y1+ts-1)/ts
	}
	all := s.first || !r.incremental
	for ty := ty0; ty < ty1; ty++ {
		for tx := tx0; tx < tx1; tx++ {
			i := ty*s.tx + tx
			if !all && !s.owed[i] {
				continue
			}
			s.owed[i] = false
			x, y := tx*screen.TileSize, ty*screen.TileSize
			s.rects = append(s.rects, rfb.Rect{X: uint16(x), Y: uint16(y),
				W: uint16(min(screen.TileSize, s.w-x)), H: uint16(min(screen.TileSize, s.h-y))})
		}
	}
}

func (s *session) write(b []byte) error {
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil {
		return fmt.Errorf("kvm: %w", err)
	}
	n, err := s.conn.Write(b)
	s.cfg.Counters.Bytes.Add(uint64(n))
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("kvm: the client read nothing for %v (write deadline): %w", s.cfg.WriteTimeout, err)
		}
		if clientGone(err) {
			return nil
		}
		return fmt.Errorf("kvm: writing to the client: %w", err)
	}
	return nil
}

// clientGone reports errors that mean the client closed the connection.
func clientGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}
