package mux

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

type streamState uint8

const (
	stateOpening streamState = iota // we sent OPEN, no answer yet
	stateOpen
	stateClosed
)

// Stream is one multiplexed stream, usable as a net.Conn. Close is a full
// close: the peer's reads end with io.EOF after the data already sent.
type Stream struct {
	s      *Session
	id     uint32
	target string

	openRes chan error

	mu        sync.Mutex
	state     streamState
	rbuf      []byte
	recvAvail uint32 // credit we granted and the peer has not used
	consumed  uint32 // bytes read since our last WINDOW
	sendCred  uint64
	eof       bool  // peer sent CLOSE
	err       error // session died or we closed
	sentClose bool
	rdeadline time.Time
	wdeadline time.Time
	readable  chan struct{}
	writable  chan struct{}
	wmu       sync.Mutex
}

func newStream(s *Session, id uint32, target string) *Stream {
	return &Stream{s: s, id: id, target: target, openRes: make(chan error, 1),
		recvAvail: InitialWindow, sendCred: InitialWindow,
		readable: make(chan struct{}, 1), writable: make(chan struct{}, 1)}
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// ID is the stream id; Target what the opener asked for.
func (st *Stream) ID() uint32     { return st.id }
func (st *Stream) Target() string { return st.target }

func (st *Stream) opened(err error) error {
	st.mu.Lock()
	if st.state != stateOpening {
		st.mu.Unlock()
		return fmt.Errorf("mux: unexpected open answer for stream %d", st.id)
	}
	if err == nil {
		st.state = stateOpen
	} else {
		st.state = stateClosed
		// An early-data opener already holds the stream: its reads and
		// writes end with the refusal.
		if st.err == nil {
			st.err = err
		}
		st.rbuf = nil
	}
	st.mu.Unlock()
	st.openRes <- err
	if err != nil {
		poke(st.readable)
		poke(st.writable)
		st.s.forget(st)
	}
	return nil
}

func (st *Stream) deliver(p []byte) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.state == stateOpening {
		return fmt.Errorf("mux: DATA on stream %d before OPEN_OK", st.id)
	}
	if uint32(len(p)) > st.recvAvail || len(p) > InitialWindow {
		return fmt.Errorf("mux: stream %d overran its window: %d bytes with %d of credit", st.id, len(p), st.recvAvail)
	}
	st.recvAvail -= uint32(len(p))
	if st.err != nil {
		return nil // we closed; drop
	}
	st.rbuf = append(st.rbuf, p...)
	poke(st.readable)
	return nil
}

func (st *Stream) credit(n uint32) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sendCred += uint64(n)
	if st.sendCred > 1<<31 {
		return fmt.Errorf("mux: stream %d credit grew past 2^31", st.id)
	}
	poke(st.writable)
	return nil
}

func (st *Stream) peerClosed(reason string) {
	st.mu.Lock()
	st.eof = true
	if st.state == stateOpening {
		st.state = stateClosed
		oe := &OpenError{Target: st.target, Reason: "closed: " + reason}
		if st.err == nil {
			st.err = oe
		}
		st.mu.Unlock()
		st.openRes <- oe
	} else {
		st.mu.Unlock()
	}
	poke(st.readable)
	poke(st.writable)
	st.s.forget(st)
	st.sendClose()
}

// terminate ends the stream when the session dies.
func (st *Stream) terminate(err error) {
	st.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	st.sentClose = true
	opening := st.state == stateOpening
	st.state = stateClosed
	st.mu.Unlock()
	if opening {
		select {
		case st.openRes <- err:
		default:
		}
	}
	poke(st.readable)
	poke(st.writable)
}

func (st *Stream) sendClose() {
	st.mu.Lock()
	if st.sentClose {
		st.mu.Unlock()
		return
	}
	st.sentClose = true
	st.mu.Unlock()
	_ = st.s.write(Frame{Type: FrameClose, Stream: st.id})
}

// Read implements net.Conn.
func (st *Stream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		st.mu.Lock()
		if len(st.rbuf) > 0 {
			n := copy(p, st.rbuf)
			st.rbuf = st.rbuf[n:]
			if len(st.rbuf) == 0 {
				st.rbuf = nil
			}
			st.consumed += uint32(n)
			var adj uint32
			if st.consumed >= InitialWindow/2 && !st.eof && st.err == nil {
				adj = st.consumed
				st.recvAvail += adj
				st.consumed = 0
			}
			st.mu.Unlock()
			if adj > 0 {
				var b [4]byte
				binary.BigEndian.PutUint32(b[:], adj)
				_ = st.s.write(Frame{Type: FrameWindow, Stream: st.id, Payload: b[:]})
			}
			return n, nil
		}
		if st.err != nil {
			err := st.err
			st.mu.Unlock()
			return 0, err
		}
		if st.eof {
			st.mu.Unlock()
			return 0, io.EOF
		}
		dl := st.rdeadline
		st.mu.Unlock()
		if err := wait(st.readable, dl); err != nil {
			return 0, err
		}
	}
}

// wait blocks until c is poked or the deadline passes.
func wait(c chan struct{}, dl time.Time) error {
	if dl.IsZero() {
		<-c
		return nil
	}
	d := time.Until(dl)
	if d <= 0 {
		return os.ErrDeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c:
		return nil
	case <-t.C:
		return os.ErrDeadlineExceeded
	}
}

// Write implements net.Conn; it blocks while the peer's window is full.
func (st *Stream) Write(p []byte) (int, error) {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	total := 0
	for len(p) > 0 {
		st.mu.Lock()
		if st.err != nil {
			err := st.err
			st.mu.Unlock()
			return total, err
		}
		if st.eof {
			st.mu.Unlock()
			return total, fmt.Errorf("mux: stream %d closed by peer: %w", st.id, net.ErrClosed)
		}
		if st.sendCred == 0 {
			dl := st.wdeadline
			st.mu.Unlock()
			if err := wait(st.writable, dl); err != nil {
				return total, err
			}
			continue
		}
		n := min(len(p), st.s.MaxData(), int(min(st.sendCred, uint64(InitialWindow))))
		st.sendCred -= uint64(n)
		st.mu.Unlock()
		// Counted before sending, so the peer's answer is never seen first.
		st.s.mu.Lock()
		st.s.bytesOut += uint64(n)
		st.s.mu.Unlock()
		if err := st.s.write(Frame{Type: FrameData, Stream: st.id, Payload: p[:n]}); err != nil {
			return total, err
		}
		total += n
		p = p[n:]
	}
	return total, nil
}

// Close implements net.Conn: it sends CLOSE once.
func (st *Stream) Close() error {
	st.mu.Lock()
	if st.err == nil {
		st.err = fmt.Errorf("mux: stream %d: %w", st.id, net.ErrClosed)
	}
	st.rbuf = nil
	st.mu.Unlock()
	poke(st.readable)
	poke(st.writable)
	st.s.forget(st)
	st.sendClose()
	return nil
}

type addr string

func (a addr) Network() string { return "oobtb-mux" }
func (a addr) String() string  { return string(a) }

func (st *Stream) LocalAddr() net.Addr  { return addr(fmt.Sprintf("stream/%d", st.id)) }
func (st *Stream) RemoteAddr() net.Addr { return addr(st.target) }

func (st *Stream) SetDeadline(t time.Time) error {
	_ = st.SetReadDeadline(t)
	return st.SetWriteDeadline(t)
}

func (st *Stream) SetReadDeadline(t time.Time) error {
	st.mu.Lock()
	st.rdeadline = t
	st.mu.Unlock()
	poke(st.readable)
	return nil
}

func (st *Stream) SetWriteDeadline(t time.Time) error {
	st.mu.Lock()
	st.wdeadline = t
	st.mu.Unlock()
	poke(st.writable)
	return nil
}
