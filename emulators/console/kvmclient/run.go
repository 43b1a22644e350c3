package kvmclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// maxReadBuf bounds the receive buffer: one rectangle is at most a 64×64
// tile's encoding, a Raw rectangle of any size the server dares, or a cut
// text.
const maxReadBuf = 64<<20 + 1<<16

// Run reads and decodes the server's stream, requesting the next update as
// soon as each one completes (reference §2.5), until ctx ends (nil), the
// server closes the stream (io.EOF wrapped) or something goes wrong. It
// sends the KVM data channel keep-alive while it runs. Run does not close
// the stream; Close does.
func (c *Client) Run(ctx context.Context) (err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	kaDone := make(chan struct{})
	if c.cfg.KeepAlive > 0 {
		go c.keepAlive(ctx, kaDone)
	} else {
		close(kaDone)
	}
	defer func() {
		cancel()
		<-kaDone
		c.mu.Lock()
		c.st.end = c.clk.Now()
		c.closed = true
		c.runErr = err
		close(c.updated)
		c.updated = make(chan struct{})
		c.mu.Unlock()
	}()
	err = c.readLoop(ctx)
	c.mu.Lock()
	closedByUs := c.closed
	c.mu.Unlock()
	if ctx.Err() != nil || closedByUs {
		return nil
	}
	return err
}

func (c *Client) keepAlive(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	ka := &rfb.ClientCutText{Text: rfb.AppendDataChannel(nil, nil)}
	for {
		t := c.clk.NewTimer(c.cfg.KeepAlive)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		if err := c.send(ka); err != nil {
			return
		}
	}
}

func (c *Client) readLoop(ctx context.Context) error {
	buf := make([]byte, 0, 1<<17)
	off := 0
	desktopSize := false
	for {
		for off < len(buf) {
			c.mu.Lock()
			ev, n, err := c.dec.Next(buf[off:])
			if err == nil {
				c.st.bytes += uint64(n)
				err = c.event(ev, &desktopSize)
			}
			c.mu.Unlock()
			if errors.Is(err, rfb.ErrShort) {
				break
			}
			if err != nil {
				return fmt.Errorf("kvm: server stream at byte %d: %w", c.st.bytes, err)
			}
			off += n
			if ev.Kind == rfb.EventCutText {
				if err := c.cutText(ev.Text); err != nil {
					return err
				}
			}
			if ev.Last && (ev.Kind == rfb.EventRect || ev.Kind == rfb.EventDesktopSize) ||
				ev.Kind == rfb.EventUpdateBegin && ev.NumRects == 0 {
				img := c.dec.Image() // only this goroutine replaces it
				if err := c.request(!desktopSize, img.W, img.H); err != nil {
					return err
				}
				desktopSize = false
			}
		}
		// Compact, then make room.
		buf = buf[:copy(buf, buf[off:])]
		off = 0
		if cap(buf)-len(buf) < 1<<15 {
			if cap(buf) >= maxReadBuf {
				return fmt.Errorf("kvm: a server message larger than %d bytes", maxReadBuf)
			}
			nb := make([]byte, len(buf), min(2*cap(buf), maxReadBuf))
			copy(nb, buf)
			buf = nb
		}
		// Socket deadlines are wall-clock time whatever clock measures figures.
		if err := c.conn.SetReadDeadline(time.Now().Add(c.cfg.Timeout)); err != nil {
			return fmt.Errorf("kvm: %w", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		n, err := c.conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil && n == 0 {
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
				if len(buf) > 0 {
					return fmt.Errorf("kvm: the server closed the stream inside a message (%d bytes pending): %w", len(buf), io.ErrUnexpectedEOF)
				}
				return fmt.Errorf("kvm: the server closed the session: %w", io.EOF)
			case errors.Is(err, os.ErrDeadlineExceeded):
				return fmt.Errorf("kvm: nothing from the server for %v: %w", c.cfg.Timeout, err)
			default:
				return fmt.Errorf("kvm: reading from the server: %w", err)
			}
		}
	}
}

// event books one decoded unit; c.mu is held.
func (c *Client) event(ev rfb.Event, desktopSize *bool) error {
	s := &c.st
	switch ev.Kind {
	case rfb.EventRect:
		s.rects[encodingName(ev.Encoding, ev.Stored)]++
	case rfb.EventDesktopSize:
		s.rects[encodingName(rfb.EncodingDesktopSize, false)]++
		*desktopSize = true
	case rfb.EventUpdateBegin:
		if ev.NumRects == 0 { // not from AMT, but an empty update is complete
			c.completed()
		}
		return nil
	case rfb.EventBell:
		s.bells++
		return nil
	case rfb.EventCutText:
		s.cutTexts++
		return nil
	default:
		return nil
	}
	if !ev.Last {
		return nil
	}
	c.completed()
	return nil
}

// completed books a finished update: stamp, integrity, latency; c.mu held.
func (c *Client) completed() {
	s := &c.st
	now := c.clk.Now()
	s.updates++
	if !s.lastUpdateAt.IsZero() {
		s.maxUpdateGap = max(s.maxUpdateGap, now.Sub(s.lastUpdateAt))
	}
	s.lastUpdateAt = now
	s.checked++
	st, err := screen.DecodeStamp(c.dec.Image())
	if err != nil {
		s.failures++
		if s.firstFailure == "" {
			s.firstFailure = fmt.Sprintf("update %d: %v", s.updates, err)
		}
	} else {
		s.valid++
		if s.stampOK && idBefore(st.Frame, s.lastStamp.Frame) {
			s.regressions++
			if s.firstFailure == "" {
				s.firstFailure = fmt.Sprintf("update %d: frame counter went back from %d to %d", s.updates, s.lastStamp.Frame, st.Frame)
			}
		}
		if !s.haveFirst {
			s.firstStamp, s.haveFirst = st, true
		}
		s.lastStamp, s.stampOK = st, true
		n := 0
		for _, in := range c.inputs {
			if idBefore(st.InputID, in.id) {
				break
			}
			if len(s.latencies) < maxLatencySamples {
				s.latencies = append(s.latencies, now.Sub(in.sent))
			}
			s.inputsSeen++
			n++
		}
		c.inputs = c.inputs[:copy(c.inputs, c.inputs[n:])]
	}
	if !c.baseOK {
		// The vMC numbers input events per session from the last id applied
		// before it, which the first frame's stamp shows.
		c.baseOK = true
		if err == nil {
			c.nextID = st.InputID + 1
		} else {
			c.nextID = 1
		}
		close(c.first)
	}
	close(c.updated)
	c.updated = make(chan struct{})
}

// cutText answers the server's CutText extensions.
func (c *Client) cutText(t []byte) error {
	ct, err := rfb.ParseCutText(t)
	if err != nil {
		c.log.Debug("ignoring a malformed ServerCutText", "err", err)
		return nil
	}
	if ct.Kind != rfb.CutExtCmd {
		return nil
	}
	switch ct.Cmd {
	case rfb.ExtCmdSetCompression:
		// As MeshCentral: the echo of cmd 4 is followed by a query (cmd 3).
		return c.send(&rfb.ClientCutText{Text: rfb.AppendExtCmd(nil, rfb.ExtCmdGetCompression, 0)})
	case rfb.ExtCmdGetCompression:
		c.mu.Lock()
		c.st.compression = int(ct.Value)
		c.mu.Unlock()
	}
	return nil
}
