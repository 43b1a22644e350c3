package mux

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oobtb/oobtb/sim/clock"
)

// Transport carries whole messages in order: one Noise record, one
// length-prefixed TLS frame. Deadlines are wall-clock, as net.Conn's.
type Transport interface {
	ReadMsg() ([]byte, error)
	WriteMsg(p []byte) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	Close() error
}

// ErrClosed is returned by operations on a closed session or stream.
var ErrClosed = errors.New("mux: closed")

// OpenError is an OPEN_FAIL from the peer.
type OpenError struct {
	Target string
	Reason string
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("mux: peer refused stream to %q: %s", e.Target, e.Reason)
}

// Config configures a Session.
type Config struct {
	// Dialer says which end of the transport this is: the dialer opens odd
	// stream ids, the acceptor even ones.
	Dialer bool
	// MaxFrame bounds every frame (header included) both ways; it is the
	// transport's largest message. 0 → 65535 − 16 (one Noise record).
	MaxFrame int
	// MaxStreams bounds streams open at once; 0 → 64.
	MaxStreams int
	// HandleOpen serves a stream the peer opens: it returns the connection
	// to splice the stream to (closed with the stream), or an error whose
	// text is the OPEN_FAIL reason. nil refuses every open.
	HandleOpen func(ctx context.Context, target string) (net.Conn, error)
	// OnMessage receives MESSAGE frames in the reader goroutine, in order;
	// it must not block for long. nil drops them.
	OnMessage func(p []byte)
	// KeepaliveInterval sends a PING when nothing was sent for that long;
	// IdleTimeout ends a session that received nothing for that long.
	// 0 → 15 s and 45 s.
	KeepaliveInterval time.Duration
	IdleTimeout       time.Duration
	// WriteTimeout bounds each transport write; 0 → 30 s.
	WriteTimeout time.Duration
	// OpenTimeout bounds HandleOpen; 0 → 20 s.
	OpenTimeout time.Duration
	// EarlyData says the peer accepts DATA right after OPEN, before its
	// OPEN_OK ("0-RTT open", console-gateway.md §3). The transport's
	// handshake negotiates it (p2p: the gateway's capability byte in Noise
	// message 2); never set it for a peer that did not announce it. When
	// set, Open returns as soon as OPEN is sent. Every acceptor of this
	// package buffers early data, so it needs no setting to receive it.
	EarlyData bool
	Clock     clock.Clock
	Logger    *slog.Logger
}

// Session is one multiplexed transport.
type Session struct {
	t   Transport
	cfg Config
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	wmu sync.Mutex // serialises transport writes

	mu       sync.Mutex
	streams  map[uint32]*Stream
	nextID   uint32
	err      error
	closed   bool
	lastSend time.Time

	wg   sync.WaitGroup
	done chan struct{}
	ka   clock.Timer

	pongBusy atomic.Bool

	// counters
	bytesIn, bytesOut uint64
}

// New starts a session over t. Close, or a transport error, ends it; Done is
// closed when every goroutine it started has returned.
func New(t Transport, cfg Config) *Session {
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = 65535 - 16
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 64
	}
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = 15 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 45 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = 20 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Session{t: t, cfg: cfg, log: cfg.Logger, streams: map[uint32]*Stream{}, done: make(chan struct{})}
	s.nextID = 2
	if cfg.Dialer {
		s.nextID = 1
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.lastSend = cfg.Clock.Now()
	s.ka = cfg.Clock.AfterFunc(cfg.KeepaliveInterval, s.keepalive)
	s.wg.Add(1)
	go s.readLoop()
	go func() {
		s.wg.Wait()
		close(s.done)
	}()
	return s
}

// MaxData is the largest DATA payload this session sends.
func (s *Session) MaxData() int { return s.cfg.MaxFrame - HeaderLen }

// Done is closed when the session and all its goroutines have ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is why the session ended (nil while it runs).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the session and every stream.
func (s *Session) Close() error {
	s.fail(ErrClosed)
	return nil
}

// Stats are the DATA payload bytes received and sent.
func (s *Session) Stats() (in, out uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytesIn, s.bytesOut
}

func (s *Session) fail(err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.err = err
	streams := s.streams
	s.streams = map[uint32]*Stream{}
	s.mu.Unlock()
	s.ka.Stop()
	s.cancel()
	_ = s.t.Close()
	for _, st := range streams {
		st.terminate(err)
	}
}

// SendMessage sends one MESSAGE frame (stream 0).
func (s *Session) SendMessage(p []byte) error {
	if HeaderLen+len(p) > s.cfg.MaxFrame {
		return fmt.Errorf("mux: message of %d bytes exceeds the %d-byte frame bound", len(p), s.cfg.MaxFrame-HeaderLen)
	}
	return s.write(Frame{Type: FrameMessage, Payload: p})
}

func (s *Session) write(f Frame) error {
	buf := f.Append(make([]byte, 0, HeaderLen+len(f.Payload)))
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		err := s.err
		s.mu.Unlock()
		return err
	}
	s.lastSend = s.cfg.Clock.Now()
	s.mu.Unlock()
	_ = s.t.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if err := s.t.WriteMsg(buf); err != nil {
		err = fmt.Errorf("mux: write %s: %w", f.Type, err)
		go s.fail(err)
		return err
	}
	return nil
}

func (s *Session) keepalive() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	idle := s.cfg.Clock.Now().Sub(s.lastSend)
	s.mu.Unlock()
	next := s.cfg.KeepaliveInterval
	if idle >= s.cfg.KeepaliveInterval {
		var p [8]byte
		_, _ = rand.Read(p[:])
		_ = s.write(Frame{Type: FramePing, Payload: p[:]})
	} else {
		next -= idle
	}
	s.mu.Lock()
	if !s.closed {
		s.ka.Reset(next)
	}
	s.mu.Unlock()
}

func (s *Session) readLoop() {
	defer s.wg.Done()
	for {
		_ = s.t.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		p, err := s.t.ReadMsg()
		if err != nil {
			if errors.Is(err, io.EOF) {
				s.fail(io.EOF)
			} else {
				s.fail(fmt.Errorf("mux: read: %w", err))
			}
			return
		}
		f, err := Decode(p, s.cfg.MaxFrame)
		if err == nil {
			err = s.handle(f)
		}
		if err != nil {
			s.log.Warn("mux protocol error; closing the session", "err", err)
			s.fail(err)
			return
		}
	}
}

func (s *Session) handle(f Frame) error {
	switch f.Type {
	case FrameMessage:
		if s.cfg.OnMessage != nil {
			s.cfg.OnMessage(f.Payload)
		}
		return nil
	case FramePing:
		// One pong in flight at a time: a ping flood cannot pile up
		// writers; a peer that pings faster than we answer gets fewer pongs.
		if !s.pongBusy.CompareAndSwap(false, true) {
			return nil
		}
		pong := append([]byte(nil), f.Payload...)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.pongBusy.Store(false)
			_ = s.write(Frame{Type: FramePong, Payload: pong})
		}()
		return nil
	case FramePong:
		return nil
	case FrameOpen:
		return s.handleOpen(f)
	}
	s.mu.Lock()
	st := s.streams[f.Stream]
	s.mu.Unlock()
	if st == nil {
		// A frame that crossed our CLOSE (or an open we gave up on): ignore.
		// An OPEN_OK for one we gave up on is answered by the CLOSE already
		// sent.
		return nil
	}
	switch f.Type {
	case FrameOpenOK:
		return st.opened(nil)
	case FrameOpenFail:
		return st.opened(&OpenError{Target: st.target, Reason: string(f.Payload)})
	case FrameData:
		// Counted before the bytes become readable, so a reader that saw
		// them also sees them counted.
		s.mu.Lock()
		s.bytesIn += uint64(len(f.Payload))
		s.mu.Unlock()
		return st.deliver(f.Payload)
	case FrameWindow:
		return st.credit(binary.BigEndian.Uint32(f.Payload))
	case FrameClose:
		st.peerClosed(string(f.Payload))
		return nil
	}
	return nil
}

func (s *Session) ownID(id uint32) bool { return (id%2 == 1) == s.cfg.Dialer }

func (s *Session) handleOpen(f Frame) error {
	target := string(f.Payload)
	if s.ownID(f.Stream) {
		return fmt.Errorf("mux: peer opened stream %d with our parity", f.Stream)
	}
	s.mu.Lock()
	if _, dup := s.streams[f.Stream]; dup {
		s.mu.Unlock()
		return fmt.Errorf("mux: peer reopened live stream %d", f.Stream)
	}
	if s.cfg.HandleOpen == nil || len(s.streams) >= s.cfg.MaxStreams {
		s.mu.Unlock()
		reason := "streams are not accepted here"
		if s.cfg.HandleOpen != nil {
			reason = fmt.Sprintf("too many streams (limit %d)", s.cfg.MaxStreams)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = s.write(Frame{Type: FrameOpenFail, Stream: f.Stream, Payload: []byte(reason)})
		}()
		return nil
	}
	st := newStream(s, f.Stream, target)
	st.state = stateOpen
	s.streams[f.Stream] = st
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.OpenTimeout)
		nc, err := s.cfg.HandleOpen(ctx, target)
		cancel()
		if err != nil {
			s.forget(st)
			reason := err.Error()
			if len(reason) > MaxReason {
				reason = reason[:MaxReason]
			}
			s.log.Info("stream open refused", "stream", f.Stream, "target", target, "reason", reason)
			_ = s.write(Frame{Type: FrameOpenFail, Stream: f.Stream, Payload: []byte(reason)})
			return
		}
		if err := s.write(Frame{Type: FrameOpenOK, Stream: f.Stream}); err != nil {
			nc.Close()
			st.terminate(err)
			return
		}
		// A dying session must also unblock a splice stuck writing to nc.
		stop := context.AfterFunc(s.ctx, func() { _ = nc.Close() })
		Splice(st, nc)
		stop()
	}()
	return nil
}

// EarlyData reports whether Open returns before the peer's answer.
func (s *Session) EarlyData() bool { return s.cfg.EarlyData }

// Open opens a stream to target. Without Config.EarlyData it waits for the
// peer's answer. With it, it returns once OPEN is sent: the stream may be
// written at once (up to the initial window until the peer returns credit),
// and when the peer refuses, reads and writes fail with the *OpenError.
func (s *Session) Open(ctx context.Context, target string) (*Stream, error) {
	if len(target) < 1 || len(target) > MaxTarget {
		return nil, fmt.Errorf("mux: target %q: want 1–%d bytes", target, MaxTarget)
	}
	s.mu.Lock()
	if s.closed {
		err := s.err
		s.mu.Unlock()
		return nil, err
	}
	if len(s.streams) >= s.cfg.MaxStreams {
		s.mu.Unlock()
		return nil, fmt.Errorf("mux: too many streams (limit %d)", s.cfg.MaxStreams)
	}
	id := s.nextID
	s.nextID += 2
	st := newStream(s, id, target)
	s.streams[id] = st
	s.mu.Unlock()
	if err := s.write(Frame{Type: FrameOpen, Stream: id, Payload: []byte(target)}); err != nil {
		s.forget(st)
		return nil, err
	}
	if s.cfg.EarlyData {
		return st, nil
	}
	select {
	case err := <-st.openRes:
		if err != nil {
			s.forget(st)
			return nil, err
		}
		return st, nil
	case <-ctx.Done():
		// The peer may still answer; closing tells it we gave up.
		_ = st.Close()
		return nil, fmt.Errorf("mux: open %q: %w", target, ctx.Err())
	case <-s.ctx.Done():
		return nil, s.Err()
	}
}

func (s *Session) forget(st *Stream) {
	s.mu.Lock()
	if s.streams[st.id] == st {
		delete(s.streams, st.id)
	}
	s.mu.Unlock()
}

// Splice copies between a and b until either side ends, then closes both.
func Splice(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
	}
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
}
