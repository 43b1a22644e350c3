package cira

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/apf"
)

// Channel is one APF channel, usable as a net.Conn. Writes are cut into
// CHANNEL_DATA messages of at most MaxChunk bytes and never exceed the peer's
// credit; reads reopen our window as the application consumes data.
type Channel struct {
	c      *Conn
	local  uint32
	remote uint32
	port   uint32
	open   apf.ChannelOpen

	mu         sync.Mutex
	rbuf       []byte
	recv       recvWindow
	sendW      sendWindow
	readable   chan struct{} // signalled when rbuf grows or the channel ends
	writable   chan struct{} // signalled when credit arrives or the channel ends
	eof        bool          // peer sent CHANNEL_CLOSE
	sentClose  bool
	err        error // set when the tunnel died
	rdeadline  time.Time
	wdeadline  time.Time
	wmu        sync.Mutex // serialises Write calls so chunks are not interleaved
	bytesIn    uint64
	bytesOut   uint64
	closedOnce sync.Once
}

// Port is the target port of the channel (what the opener asked for).
func (ch *Channel) Port() uint32 { return ch.port }

// Open is the CHANNEL_OPEN that created the channel.
func (ch *Channel) Open() apf.ChannelOpen { return ch.open }

// IDs returns our id and the peer's id.
func (ch *Channel) IDs() (local, remote uint32) { return ch.local, ch.remote }

func newChannel(c *Conn, local, remote, port uint32, credit uint32) *Channel {
	return &Channel{c: c, local: local, remote: remote, port: port,
		recv: newRecvWindow(c.cfg.Window), sendW: sendWindow{credit: uint64(credit)},
		readable: make(chan struct{}, 1), writable: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Read implements net.Conn.
func (ch *Channel) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		ch.mu.Lock()
		if len(ch.rbuf) > 0 {
			n := copy(p, ch.rbuf)
			ch.rbuf = ch.rbuf[n:]
			if len(ch.rbuf) == 0 {
				ch.rbuf = nil // let an idle channel drop its buffer
			}
			adj := ch.recv.consume(n)
			ch.mu.Unlock()
			if adj > 0 {
				_ = ch.c.send(&apf.ChannelWindowAdjust{Recipient: ch.remote, BytesToAdd: adj})
			}
			return n, nil
		}
		if ch.eof {
			ch.mu.Unlock()
			return 0, io.EOF
		}
		if ch.err != nil {
			err := ch.err
			ch.mu.Unlock()
			return 0, err
		}
		dl := ch.rdeadline
		ch.mu.Unlock()
		if err := wait(ch.readable, dl, ch.c); err != nil {
			return 0, err
		}
	}
}

// wait blocks until sig fires, the deadline passes or the tunnel ends.
func wait(sig chan struct{}, deadline time.Time, c *Conn) error {
	if deadline.IsZero() {
		select {
		case <-sig:
			return nil
		case <-c.done:
			return nil // the caller re-checks state and finds the error
		}
	}
	d := time.Until(deadline)
	if d <= 0 {
		return os.ErrDeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-sig:
		return nil
	case <-t.C:
		return os.ErrDeadlineExceeded
	case <-c.done:
		return nil
	}
}

// Write implements net.Conn.
func (ch *Channel) Write(p []byte) (int, error) {
	ch.wmu.Lock()
	defer ch.wmu.Unlock()
	written := 0
	hdr := make([]byte, 0, 9+ch.c.cfg.MaxChunk)
	for written < len(p) {
		ch.mu.Lock()
		if ch.err != nil || ch.sentClose || ch.eof {
			err := ch.err
			if err == nil {
				err = net.ErrClosed
			}
			ch.mu.Unlock()
			return written, err
		}
		n := ch.sendW.take(len(p)-written, ch.c.cfg.MaxChunk)
		dl := ch.wdeadline
		ch.mu.Unlock()
		if n == 0 {
			if err := wait(ch.writable, dl, ch.c); err != nil {
				return written, err
			}
			continue
		}
		msg := apf.AppendChannelDataHeader(hdr[:0], ch.remote, n)
		msg = append(msg, p[written:written+n]...)
		ch.c.wmu.Lock()
		err := ch.c.writeRaw(msg)
		ch.c.wmu.Unlock()
		if err != nil {
			return written, err
		}
		written += n
		ch.mu.Lock()
		ch.bytesOut += uint64(n)
		ch.mu.Unlock()
		ch.c.mu.Lock()
		ch.c.stats.MessagesOut++
		ch.c.stats.BytesOut += uint64(n)
		ch.c.mu.Unlock()
	}
	return written, nil
}

// Close sends CHANNEL_CLOSE once; the channel is forgotten when both sides
// have closed (reference §1.6 close handshake).
func (ch *Channel) Close() error {
	ch.mu.Lock()
	if ch.sentClose {
		ch.mu.Unlock()
		return nil
	}
	ch.sentClose = true
	both := ch.eof
	dead := ch.err != nil
	ch.mu.Unlock()
	signal(ch.writable)
	if !dead {
		_ = ch.c.send(&apf.ChannelClose{Recipient: ch.remote})
	}
	if both || dead {
		ch.c.forget(ch.local)
	}
	return nil
}

func (ch *Channel) abort(err error) {
	ch.mu.Lock()
	if ch.err == nil {
		ch.err = err
	}
	ch.mu.Unlock()
	signal(ch.readable)
	signal(ch.writable)
}

func (ch *Channel) LocalAddr() net.Addr  { return chanAddr{ch.local, ch.port} }
func (ch *Channel) RemoteAddr() net.Addr { return chanAddr{ch.remote, ch.port} }

func (ch *Channel) SetDeadline(t time.Time) error {
	ch.SetReadDeadline(t)
	return ch.SetWriteDeadline(t)
}

func (ch *Channel) SetReadDeadline(t time.Time) error {
	ch.mu.Lock()
	ch.rdeadline = t
	ch.mu.Unlock()
	signal(ch.readable)
	return nil
}

func (ch *Channel) SetWriteDeadline(t time.Time) error {
	ch.mu.Lock()
	ch.wdeadline = t
	ch.mu.Unlock()
	signal(ch.writable)
	return nil
}

type chanAddr struct{ id, port uint32 }

func (chanAddr) Network() string  { return "apf" }
func (a chanAddr) String() string { return fmt.Sprintf("apf-channel-%d:%d", a.id, a.port) }

// channelMessage handles one channel-level message; called with c.mu held,
// releases it.
func (c *Conn) channelMessage(m apf.Message) error {
	switch m := m.(type) {
	case *apf.ChannelOpen:
		return c.peerOpen(m)
	case *apf.ChannelOpenConfirmation:
		w, ok := c.opens[m.Recipient]
		delete(c.opens, m.Recipient)
		if !ok {
			// Nobody waits (the opener gave up): close it at once.
			c.mu.Unlock()
			return c.send(&apf.ChannelClose{Recipient: m.Sender})
		}
		ch := newChannel(c, m.Recipient, m.Sender, w.port, m.Window)
		c.channels[m.Recipient] = ch
		c.stats.ChannelsOpened++
		c.mu.Unlock()
		w.res <- openResult{ch: ch}
		return nil
	case *apf.ChannelOpenFailure:
		w, ok := c.opens[m.Recipient]
		delete(c.opens, m.Recipient)
		c.mu.Unlock()
		if ok {
			w.res <- openResult{err: &OpenError{Reason: m.Reason}}
		}
		return nil
	case *apf.ChannelWindowAdjust:
		ch := c.channels[m.Recipient]
		c.mu.Unlock()
		if ch == nil {
			return nil // raced with a close
		}
		ch.mu.Lock()
		err := ch.sendW.add(m.BytesToAdd)
		ch.mu.Unlock()
		if err != nil {
			return fmt.Errorf("channel %d: %w", m.Recipient, err)
		}
		signal(ch.writable)
		return nil
	case *apf.ChannelData:
		ch := c.channels[m.Recipient]
		c.stats.BytesIn += uint64(len(m.Data))
		if ch == nil {
			c.mu.Unlock()
			return nil
		}
		ch.mu.Lock()
		if err := ch.recv.received(len(m.Data)); err != nil {
			ch.mu.Unlock()
			c.mu.Unlock()
			return fmt.Errorf("channel %d: %w", m.Recipient, err)
		}
		// Data aliases the framer's buffer, which c.mu guards: copy now.
		ch.rbuf = append(ch.rbuf, m.Data...)
		ch.bytesIn += uint64(len(m.Data))
		ch.mu.Unlock()
		c.mu.Unlock()
		signal(ch.readable)
		return nil
	case *apf.ChannelClose:
		ch := c.channels[m.Recipient]
		c.mu.Unlock()
		if ch == nil {
			return nil // the echo of our own close, already forgotten
		}
		ch.mu.Lock()
		ch.eof = true
		echo := !ch.sentClose
		ch.sentClose = true
		ch.mu.Unlock()
		signal(ch.readable)
		signal(ch.writable)
		if echo {
			_ = c.send(&apf.ChannelClose{Recipient: ch.remote})
		}
		c.forget(ch.local)
		return nil
	}
	c.mu.Unlock()
	return nil
}

func (c *Conn) peerOpen(m *apf.ChannelOpen) error {
	accept, reason := false, apf.OpenUnknownChannelType
	if c.cfg.AcceptChannel != nil {
		if m.ChannelType != apf.ChannelForwardedTCPIP && m.ChannelType != apf.ChannelDirectTCPIP {
			accept, reason = false, apf.OpenUnknownChannelType
		} else if len(c.channels)+len(c.opens) >= c.cfg.MaxChannels {
			accept, reason = false, apf.OpenResourceShortage
		} else {
			accept, reason = c.cfg.AcceptChannel(m)
		}
	}
	if !accept {
		c.mu.Unlock()
		return c.send(&apf.ChannelOpenFailure{Recipient: m.Sender, Reason: reason})
	}
	id := c.allocID()
	ch := newChannel(c, id, m.Sender, m.TargetPort, m.Window)
	ch.open = *m
	c.channels[id] = ch
	c.stats.ChannelsOpened++
	c.mu.Unlock()
	if err := c.send(&apf.ChannelOpenConfirmation{Recipient: m.Sender, Sender: id, Window: c.cfg.Window, Reserved: apf.ReservedMaxPacket}); err != nil {
		return err
	}
	if c.cfg.ServeChannel != nil {
		c.enter()
		go func() {
			defer c.leave()
			defer ch.Close()
			c.cfg.ServeChannel(ch)
		}()
	}
	return nil
}

func (c *Conn) forget(id uint32) {
	c.mu.Lock()
	delete(c.channels, id)
	c.mu.Unlock()
}

// OpenError is a CHANNEL_OPEN_FAILURE from the peer.
type OpenError struct{ Reason apf.OpenFailureReason }

func (e *OpenError) Error() string {
	names := map[apf.OpenFailureReason]string{1: "administratively prohibited", 2: "connect failed", 3: "unknown channel type", 4: "resource shortage"}
	return fmt.Sprintf("cira: channel open refused: reason %d (%s)", e.Reason, names[e.Reason])
}

// IsOpenRefused reports whether err is a refused channel open.
func IsOpenRefused(err error) bool {
	var oe *OpenError
	return errors.As(err, &oe)
}
