package kvmstream

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// maxMsg bounds one client message: the largest is a ClientCutText.
const maxMsg = 8 + rfb.MaxCutText

// reader reads client messages. Keys and pointer moves go straight to the
// screen so input latency does not wait behind an update being written;
// everything else is handed to the session loop, which owns the encoder and
// the writes.
type reader struct {
	conn   net.Conn
	cfg    *Config
	msgs   chan<- rfb.ClientMsg
	done   <-chan struct{}
	nextID uint32
	ids    atomic.Uint32
}

// run returns nil when the client closed the connection between messages.
func (r *reader) run() error {
	buf := make([]byte, 0, 4096)
	for {
		for len(buf) > 0 {
			m, n, err := rfb.DecodeClientMsg(buf)
			if errors.Is(err, rfb.ErrShort) {
				break
			}
			if err != nil {
				return fmt.Errorf("kvm: client message: %w", err)
			}
			buf = buf[n:]
			if err := r.dispatch(m); err != nil {
				return err
			}
		}
		if cap(buf)-len(buf) < 512 {
			// Move the partial message to the front of a buffer with room.
			size := max(cap(buf), 4096)
			if len(buf) > size/2 {
				size *= 2
			}
			if len(buf) >= maxMsg {
				return fmt.Errorf("kvm: client message larger than %d bytes", maxMsg)
			}
			nb := make([]byte, len(buf), min(size, maxMsg+512))
			copy(nb, buf)
			buf = nb
		}
		if err := r.conn.SetReadDeadline(time.Now().Add(r.cfg.ReadTimeout)); err != nil {
			return fmt.Errorf("kvm: %w", err)
		}
		n, err := r.conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			select {
			case <-r.done:
				return nil
			default:
			}
			switch {
			case clientGone(err) && len(buf) == 0:
				return nil
			case clientGone(err):
				return fmt.Errorf("kvm: client closed the connection inside a message (%d bytes pending)", len(buf))
			case errors.Is(err, os.ErrDeadlineExceeded):
				return fmt.Errorf("kvm: no client message for %v (read deadline): %w", r.cfg.ReadTimeout, err)
			default:
				return fmt.Errorf("kvm: reading from the client: %w", err)
			}
		}
	}
}

func (r *reader) dispatch(m rfb.ClientMsg) error {
	switch m := m.(type) {
	case *rfb.KeyEvent:
		id := r.nextID + r.ids.Add(1)
		r.cfg.Host.WithScreen(func(s *screen.Screen) { s.KeyEvent(m.Down, m.Key, id) })
		r.cfg.Counters.Inputs.Add(1)
		return nil
	case *rfb.PointerEvent:
		id := r.nextID + r.ids.Add(1)
		r.cfg.Host.WithScreen(func(s *screen.Screen) { s.PointerEvent(m.Mask, int(m.X), int(m.Y), id) })
		r.cfg.Counters.Inputs.Add(1)
		return nil
	}
	select {
	case r.msgs <- m:
		return nil
	case <-r.done:
		return errors.New("kvm: session ended")
	}
}
