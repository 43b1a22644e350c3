package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/oobtb/oobtb/emulators/gateway/control"
	"github.com/oobtb/oobtb/emulators/gateway/p2p"
	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// commands serves the server's control commands.
type commands Gateway

func canonicalUUID(s string) (string, error) {
	if _, err := apf.ParseGUID(s); err != nil {
		return "", control.Errf(control.CodeBadRequest, "device uuid %q: %v", s, err)
	}
	return strings.ToLower(s), nil
}

// sessionAndDevice decodes the session id and device UUID every
// "expect" command carries.
func sessionAndDevice(session, device string) (gwext.SessionID, string, error) {
	sid, err := control.ParseSession(session)
	if err != nil {
		return sid, "", err
	}
	dev, err := canonicalUUID(device)
	return sid, dev, err
}

// pairingFor returns the pairing for sid, creating it; the device must match
// an earlier command for the same session.
func (g *Gateway) pairingFor(sid [16]byte, device string) (*pairing, error) {
	p := g.pairings[sid]
	if p == nil {
		if len(g.pairings) >= g.cfg.MaxSessions {
			return nil, control.Errf(control.CodeDenied, "pairing table full (%d sessions)", g.cfg.MaxSessions)
		}
		p = &pairing{id: sid, device: device}
		g.pairings[sid] = p
	}
	if p.device != device {
		return nil, control.Errf(control.CodeBadRequest, "session %x is for device %s, not %s", sid, p.device, device)
	}
	if p.cancelled != "" {
		return nil, control.Errf(control.CodeDenied, "session %x was cancelled", sid)
	}
	return p, nil
}

func (c *commands) ExpectDevice(_ context.Context, e control.ExpectDevice) error {
	g := (*Gateway)(c)
	sid, dev, err := sessionAndDevice(e.Session, e.DeviceUUID)
	if err != nil {
		return err
	}
	h, err := e.TokenHash()
	if err != nil {
		return err
	}
	exp := control.Unix(e.Expiry)
	if !g.clk.Now().Before(exp) {
		return control.Errf(control.CodeExpired, "expiry %d is already past", e.Expiry)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p, err := g.pairingFor(sid, dev)
	if err != nil {
		return err
	}
	if p.hasDevice {
		return control.Errf(control.CodeBadRequest, "session %s already expects its device", e.Session)
	}
	p.hasDevice, p.tokenHash, p.deviceExpiry = true, h, exp
	g.log.Info("expecting a paired device", "session", e.Session, "device", dev, "expiry", exp.UTC())
	return nil
}

func (c *commands) ExpectConsole(_ context.Context, e control.ExpectConsole) error {
	g := (*Gateway)(c)
	sid, dev, err := sessionAndDevice(e.Session, e.DeviceUUID)
	if err != nil {
		return err
	}
	key, err := e.ConsoleKeyBytes()
	if err != nil {
		return control.Errf(control.CodeBadRequest, "console_%v", err)
	}
	if e.ConsoleID == "" || len(e.ConsoleID) > 255 {
		return control.Errf(control.CodeBadRequest, "console_id: want 1–255 bytes")
	}
	exp := control.Unix(e.Expiry)
	if !g.clk.Now().Before(exp) {
		return control.Errf(control.CodeExpired, "expiry %d is already past", e.Expiry)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p, err := g.pairingFor(sid, dev)
	if err != nil {
		return err
	}
	if p.hasConsole {
		return control.Errf(control.CodeBadRequest, "session %s already expects a console", e.Session)
	}
	p.hasConsole, p.consoleID, p.consoleKey, p.consoleExpiry = true, e.ConsoleID, key, exp
	g.log.Info("expecting a console", "session", e.Session, "console", e.ConsoleID, "expiry", exp.UTC())
	return nil
}

func (c *commands) CancelSession(_ context.Context, e control.CancelSession) error {
	g := (*Gateway)(c)
	sid, err := control.ParseSession(e.Session)
	if err != nil {
		return err
	}
	g.mu.Lock()
	p := g.pairings[sid]
	if p == nil {
		g.mu.Unlock()
		return control.Errf(control.CodeUnknownSession, "no session %s", e.Session)
	}
	reason := e.Reason
	if reason == "" {
		reason = "cancelled by the server"
	}
	p.cancelled = reason
	dev, cons := p.conn, append([]*p2p.Conn(nil), p.consoles...)
	g.mu.Unlock()
	g.log.Info("session cancelled", "session", e.Session, "reason", reason)
	for _, cc := range cons {
		cc.Close()
	}
	if dev != nil {
		dev.Close()
	}
	return nil
}

func (c *commands) OpenDeviceChannel(ctx context.Context, uuid string, port uint32) (net.Conn, error) {
	g := (*Gateway)(c)
	g.mu.Lock()
	conn := g.failover[strings.ToLower(uuid)]
	g.mu.Unlock()
	if conn == nil {
		return nil, fmt.Errorf("device %s is not connected to this gateway for failover", uuid)
	}
	ch, err := conn.OpenChannel(ctx, port, g.serverHost, 0)
	if err != nil {
		return nil, fmt.Errorf("device %s port %d: %w", uuid, port, err)
	}
	g.log.Debug("failover channel opened for the server", "device", uuid, "port", port)
	return &countConn{Conn: ch, done: func(in, out uint64) {
		g.metrics.relayBytes.WithLabelValues("to_server").Add(float64(in))
		g.metrics.relayBytes.WithLabelValues("to_device").Add(float64(out))
	}}, nil
}

func (c *commands) AcceptRelay(ctx context.Context, sid gwext.SessionID) (net.Conn, error) {
	g := (*Gateway)(c)
	if _, err := g.expectation(sid); err != nil {
		return nil, err // refused before any byte flows: the server's relay reports it
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, errors.New("gateway closing")
	}
	g.wg.Add(1)
	rctx := g.runCtx
	g.mu.Unlock()
	a, b := net.Pipe()
	go func() {
		defer g.wg.Done()
		g.consoleConn(rctx, relayConn{Conn: b, sid: sid})
	}()
	g.log.Info("relayed console arriving over the control channel", "session", sid.String())
	return a, nil
}

// relayConn names a relayed console in logs and APF originator fields.
type relayConn struct {
	net.Conn
	sid gwext.SessionID
}

func (r relayConn) RemoteAddr() net.Addr { return relayAddr(r.sid.String()) }

type relayAddr string

func (a relayAddr) Network() string { return "oobtb-relay" }
func (a relayAddr) String() string  { return "relay/" + string(a) }

// countConn counts bytes read and written and reports them once on Close.
type countConn struct {
	net.Conn
	in, out atomic.Uint64
	once    sync.Once
	done    func(in, out uint64)
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.Add(uint64(n))
	return n, err
}

func (c *countConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(uint64(n))
	return n, err
}

func (c *countConn) Close() error {
	c.once.Do(func() { c.done(c.in.Load(), c.out.Load()) })
	return c.Conn.Close()
}
