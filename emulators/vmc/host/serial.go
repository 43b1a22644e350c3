package host

import (
	"bytes"
	"sync"
)

// SerialConsole is the host's COM port as SOL sees it: what the "OS" prints
// and a login-prompt style echo of what a console types, so a SOL round trip
// is observable end to end.
type SerialConsole struct {
	mu     sync.Mutex
	out    []byte // host → console, not yet read
	line   []byte
	notify chan struct{}
	closed bool
	name   string
}

// maxSerialBacklog bounds unread host output; older bytes are dropped as a
// real UART's FIFO would overrun.
const maxSerialBacklog = 64 << 10

func newSerialConsole(name string) *SerialConsole {
	if name == "" {
		name = "host"
	}
	return &SerialConsole{notify: make(chan struct{}), name: name}
}

func (s *SerialConsole) write(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendLocked([]byte(text))
}

func (s *SerialConsole) appendLocked(b []byte) {
	s.out = append(s.out, b...)
	if over := len(s.out) - maxSerialBacklog; over > 0 {
		s.out = s.out[over:]
	}
	close(s.notify)
	s.notify = make(chan struct{})
}

// Input is what a SOL console typed: echoed, and each completed line is
// answered as a shell would.
func (s *SerialConsole) Input(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range b {
		switch c {
		case '\r', '\n':
			line := string(bytes.TrimSpace(s.line))
			s.line = s.line[:0]
			s.appendLocked([]byte("\r\n"))
			if line != "" {
				s.appendLocked([]byte(s.name + ": " + line + "\r\n"))
			}
			s.appendLocked([]byte(s.name + "$ "))
		case 0x7f, 0x08:
			if len(s.line) > 0 {
				s.line = s.line[:len(s.line)-1]
				s.appendLocked([]byte("\b \b"))
			}
		default:
			if len(s.line) < 4096 {
				s.line = append(s.line, c)
			}
			s.appendLocked([]byte{c})
		}
	}
}

// Output takes up to max bytes of pending host output and a channel closed
// when more arrives; closed reports that the host has gone away.
func (s *SerialConsole) Output(max int) (b []byte, more <-chan struct{}, closed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(max, len(s.out))
	b = append([]byte(nil), s.out[:n]...)
	s.out = s.out[n:]
	return b, s.notify, s.closed
}

func (s *SerialConsole) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.notify)
		s.notify = make(chan struct{})
	}
}
