package redirsrv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/redir"
)

// maxFrame bounds one console message: a SOL data message of 64 KiB is the
// largest the codec accepts.
const maxFrame = 10 + redir.MaxSOLData

// framer cuts redirection messages from a connection.
type framer struct {
	conn net.Conn
	buf  []byte
}

// next reads one message, waiting at most until deadline.
func (f *framer) next(deadline time.Time) (redir.Msg, error) {
	for {
		if len(f.buf) > 0 {
			m, n, err := redir.Decode(f.buf, redir.ToAMT)
			if err == nil {
				f.buf = f.buf[n:]
				return m, nil
			}
			if !errors.Is(err, redir.ErrShort) {
				return nil, fmt.Errorf("redirection: %w", err)
			}
			if len(f.buf) >= maxFrame {
				return nil, fmt.Errorf("redirection: message larger than %d bytes", maxFrame)
			}
		}
		if err := f.conn.SetReadDeadline(deadline); err != nil {
			return nil, err
		}
		var tmp [4096]byte
		n, err := f.conn.Read(tmp[:])
		f.buf = append(f.buf, tmp[:n]...)
		if err != nil && n == 0 {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, fmt.Errorf("redirection: no message from the console in time: %w", err)
			}
			if len(f.buf) > 0 {
				return nil, fmt.Errorf("redirection: console closed inside a message (%d bytes pending): %v", len(f.buf), err)
			}
			return nil, err
		}
	}
}

// prefixConn replays bytes the framer read past the last redirection
// message (already RFB) before reading from the connection.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
