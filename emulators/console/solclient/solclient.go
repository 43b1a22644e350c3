// Package solclient is the console's serial-over-LAN client for Intel AMT's
// redirection protocol (reference §2.6): the redirection handshake, SOL
// start, data both ways and the heartbeat MeshCentral sends every 2 s.
package solclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/console/redirclient"
	"github.com/oobtb/oobtb/emulators/wire/redir"
	"github.com/oobtb/oobtb/sim/clock"
)

// Defaults for Config fields left zero.
const (
	DefaultTimeout   = 30 * time.Second
	DefaultHeartbeat = 2 * time.Second
	// MaxTxBuffer is what the console announces (MeshCentral's value) and
	// the largest data message it sends.
	MaxTxBuffer = 10000
)

// ErrClosed is returned by Write after the session ended.
var ErrClosed = errors.New("sol: session closed")

// Config configures a Client.
type Config struct {
	Credentials redirclient.Credentials
	// Timeout bounds each handshake read and the silence of the running
	// session (the device answers each heartbeat); 0 → 30 s.
	Timeout time.Duration
	// Heartbeat is the heartbeat period; 0 → 2 s, negative → none.
	Heartbeat time.Duration
	Clock     clock.Clock  // nil → clock.Real{}
	Logger    *slog.Logger // nil → discard
}

// Client is one SOL session.
type Client struct {
	cfg  Config
	conn net.Conn

	wmu    sync.Mutex
	seq    uint32
	closed bool

	mu       sync.Mutex
	control  redir.SOLControlsFromHost
	received uint64
	sent     uint64
}

// Open starts a SOL session on conn. On error the caller closes conn.
func Open(conn net.Conn, cfg Config) (*Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rc, _, err := redirclient.Open(conn, redir.SessionSOL, cfg.Credentials, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, conn: rc}
	if err := c.send(&redir.StartSOL{MaxTxBuffer: MaxTxBuffer, TxTimeout: 100, RxTimeout: 10000, RxFlushTimeout: 100}); err != nil {
		return nil, err
	}
	r := redirclient.NewReader(rc, cfg.Timeout)
	m, err := r.Next()
	if err != nil {
		return nil, fmt.Errorf("sol: waiting for the SOL start reply (0x21): %w", err)
	}
	sr, ok := m.(*redir.StartSOLReply)
	if !ok {
		return nil, fmt.Errorf("sol: expected the SOL start reply (0x21), got %s", m.Opcode())
	}
	if sr.Status != 0 {
		return nil, fmt.Errorf("%w: SOL start reply status %d", redirclient.ErrRefused, sr.Status)
	}
	c.conn = redirclient.WithPrefix(rc, r.Rest())
	if err := c.send(&redir.SOLControlSettings{Settings: redir.MeshCentralControlSettings}); err != nil {
		return nil, err
	}
	return c, nil
}

// send writes one message with the next sequence number.
func (c *Client) send(m redir.Msg) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return ErrClosed
	}
	switch m := m.(type) {
	case *redir.StartSOL:
		m.Seq = c.seq
	case *redir.SOLControlSettings:
		m.Seq = c.seq
	case *redir.SOLData:
		m.Seq = c.seq
	case *redir.SOLSeqMsg:
		m.Seq = c.seq
	}
	c.seq++
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.cfg.Timeout)); err != nil {
		return err
	}
	if _, err := c.conn.Write(m.Append(nil)); err != nil {
		return fmt.Errorf("sol: sending %s: %w", m.Opcode(), err)
	}
	return nil
}

// Write sends bytes to the host's serial port.
func (c *Client) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), MaxTxBuffer)
		if err := c.send(&redir.SOLData{Op: redir.OpSOLDataToHost, Data: p[:k]}); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
		c.mu.Lock()
		c.sent += uint64(k)
		c.mu.Unlock()
	}
	return n, nil
}

// Counts returns the serial bytes received from and sent to the host.
func (c *Client) Counts() (received, sent uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.received, c.sent
}

// Run copies the host's serial output to out and sends heartbeats until
// ctx ends (nil), the device ends the session (nil after EndSOL or a clean
// close) or something goes wrong.
func (c *Client) Run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	hbDone := make(chan struct{})
	if c.cfg.Heartbeat > 0 {
		go func() {
			defer close(hbDone)
			for {
				t := c.cfg.Clock.NewTimer(c.cfg.Heartbeat)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C():
				}
				if c.send(&redir.SOLSeqMsg{Op: redir.OpSOLHeartbeat}) != nil {
					return
				}
			}
		}()
	} else {
		close(hbDone)
	}
	defer func() { cancel(); <-hbDone }()

	r := redirclient.NewReader(c.conn, c.cfg.Timeout)
	for {
		m, err := r.Next()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, io.EOF):
				return nil
			case errors.Is(err, os.ErrDeadlineExceeded):
				return fmt.Errorf("sol: nothing from the device for %v: %w", c.cfg.Timeout, err)
			}
			return fmt.Errorf("sol: %w", err)
		}
		switch m := m.(type) {
		case *redir.SOLData:
			c.mu.Lock()
			c.received += uint64(len(m.Data))
			c.mu.Unlock()
			if _, err := out.Write(m.Data); err != nil {
				return fmt.Errorf("sol: writing host output: %w", err)
			}
		case *redir.SOLControlsFromHost:
			c.mu.Lock()
			c.control = *m
			c.mu.Unlock()
		case *redir.SOLSeqMsg:
			switch m.Op {
			case redir.OpSOLPing:
				if err := c.send(&redir.SOLSeqMsg{Op: redir.OpSOLPong}); err != nil {
					return err
				}
			case redir.OpEndSOLReply:
				return nil
			}
		case *redir.EndRedirectionSession:
			return nil
		default:
			c.cfg.Logger.Debug("sol: ignoring message", "op", m.Opcode())
		}
	}
}

// Close ends the SOL session (EndSOL, EndRedirectionSession) and closes
// the stream.
func (c *Client) Close() error {
	_ = c.send(&redir.SOLSeqMsg{Op: redir.OpEndSOL})
	c.wmu.Lock()
	if !c.closed {
		_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.conn.Write((&redir.EndRedirectionSession{}).Append(nil))
		c.closed = true
	}
	c.wmu.Unlock()
	return c.conn.Close()
}
