package control

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/gateway/mux"
)

// MaxFrame bounds one control frame (the mux frame, without the length).
const MaxFrame = 65536

// frameTransport carries mux frames over TLS as u32 length ‖ frame.
type frameTransport struct {
	nc   net.Conn
	br   *bufio.Reader
	wmu  sync.Mutex
	wbuf []byte
}

func newFrameTransport(nc net.Conn) *frameTransport {
	return &frameTransport{nc: nc, br: bufio.NewReaderSize(nc, 16<<10)}
}

func (t *frameTransport) ReadMsg() ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(t.br, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n < mux.HeaderLen || n > MaxFrame {
		return nil, fmt.Errorf("control: frame length %d: want %d–%d", n, mux.HeaderLen, MaxFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(t.br, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

func (t *frameTransport) WriteMsg(p []byte) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	b := binary.BigEndian.AppendUint32(t.wbuf[:0], uint32(len(p)))
	b = append(b, p...)
	t.wbuf = b[:0]
	_, err := t.nc.Write(b)
	return err
}

func (t *frameTransport) SetReadDeadline(d time.Time) error  { return t.nc.SetReadDeadline(d) }
func (t *frameTransport) SetWriteDeadline(d time.Time) error { return t.nc.SetWriteDeadline(d) }
func (t *frameTransport) Close() error                       { return t.nc.Close() }
