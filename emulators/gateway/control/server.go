package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/gateway/mux"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/sim/clock"
)

// Registry is what a server implements to host gateways. Methods return an
// *Error to choose the code the gateway sees; any other error is "internal".
type Registry interface {
	// Enrol consumes a one-time enrolment token and returns the new
	// gateway's id and its secret (the gateway presents both afterwards).
	Enrol(ctx context.Context, token string, h Hello) (gatewayID, secret string, err error)
	// Authenticate checks a returning gateway.
	Authenticate(ctx context.Context, gatewayID, secret string) error
	// Register records every identifier, WAN endpoint and the static key.
	Register(ctx context.Context, gatewayID string, reg Registration) error
	// Online: the gateway is registered and gw reaches it; Offline: that
	// connection ended (err says why).
	Online(gatewayID string, gw *Gateway)
	Offline(gatewayID string, gw *Gateway, err error)
	Heartbeat(gatewayID string, hb Heartbeat, now time.Time)
	SessionEvent(gatewayID string, ev SessionEvent)
	// VerifyDevice decides whether a device may fail over through this
	// gateway with these CIRA credentials.
	VerifyDevice(ctx context.Context, gatewayID string, req VerifyDevice) error
	DeviceOnline(gatewayID string, d DeviceOnline, gw *Gateway)
	DeviceOffline(gatewayID string, d DeviceOffline)
}

// ServerConfig configures a ServerHandler.
type ServerConfig struct {
	Registry Registry
	// HeartbeatInterval is what gateways are told; 0 → 10 s. A gateway
	// silent for three intervals is dropped.
	HeartbeatInterval time.Duration
	// HelloTimeout bounds the time from accept to a registered gateway;
	// 0 → 20 s.
	HelloTimeout time.Duration
	Clock        clock.Clock
	Logger       *slog.Logger
}

// ServerHandler is the server's side of the control channel. Mount it on a
// TLS listener (Serve) or hand it connections (ServeConn).
type ServerHandler struct {
	cfg ServerConfig
	log *slog.Logger

	mu     sync.Mutex
	conns  map[*Gateway]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewServerHandler returns a handler.
func NewServerHandler(cfg ServerConfig) (*ServerHandler, error) {
	if cfg.Registry == nil {
		return nil, errors.New("control: ServerConfig.Registry is required")
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 10 * time.Second
	}
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = 20 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &ServerHandler{cfg: cfg, log: cfg.Logger, conns: map[*Gateway]struct{}{}}, nil
}

// Serve accepts gateway connections from ln (already TLS) until ln fails.
func (h *ServerHandler) Serve(ln net.Listener) error {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			_ = h.ServeConn(nc)
		}()
	}
}

// Close ends every gateway connection and waits for them.
func (h *ServerHandler) Close() error {
	h.mu.Lock()
	h.closed = true
	gws := make([]*Gateway, 0, len(h.conns))
	for g := range h.conns {
		gws = append(gws, g)
	}
	h.mu.Unlock()
	for _, g := range gws {
		g.Close()
	}
	h.wg.Wait()
	return nil
}

// Gateway is the server's handle on one connected gateway.
type Gateway struct {
	h    *ServerHandler
	p    *peer
	mu   sync.Mutex
	id   string
	reg  Registration
	live bool // hello and register done
}

// ID is the gateway id (empty before hello).
func (g *Gateway) ID() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.id
}

// Registration is what the gateway registered.
func (g *Gateway) Registration() Registration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reg
}

// RemoteAddr is the gateway's address as the server sees it.
func (g *Gateway) RemoteAddr() net.Addr { return g.p.remote }

// Close drops the connection.
func (g *Gateway) Close() error { g.p.close(); return nil }

// Done is closed when the connection has ended.
func (g *Gateway) Done() <-chan struct{} { return g.p.sess.Done() }

// ExpectDevice tells the gateway a paired device will log in.
func (g *Gateway) ExpectDevice(ctx context.Context, e ExpectDevice) error {
	return g.p.call(ctx, TypeExpectDevice, e, nil)
}

// ExpectConsole tells the gateway a console will connect.
func (g *Gateway) ExpectConsole(ctx context.Context, e ExpectConsole) error {
	return g.p.call(ctx, TypeExpectConsole, e, nil)
}

// CancelSession withdraws a pairing.
func (g *Gateway) CancelSession(ctx context.Context, c CancelSession) error {
	return g.p.call(ctx, TypeCancelSession, c, nil)
}

// OpenDeviceChannel opens a stream to a failover device's port through the
// gateway (which opens an APF channel to it); the result is a net.Conn.
func (g *Gateway) OpenDeviceChannel(ctx context.Context, uuid string, port uint32) (net.Conn, error) {
	return g.p.sess.Open(ctx, DeviceTarget(uuid, port))
}

// OpenRelay opens a stream that carries a relayed console's bytes to the
// gateway for session sid; the server's relay splices the console socket
// (from its first byte, the preamble) to it and sees only ciphertext.
func (g *Gateway) OpenRelay(ctx context.Context, sid gwext.SessionID) (net.Conn, error) {
	return g.p.sess.Open(ctx, RelayTarget(sid))
}

// ServeConn runs one gateway connection (nc already TLS) until it ends.
func (h *ServerHandler) ServeConn(nc net.Conn) error {
	hb := h.cfg.HeartbeatInterval
	p := newPeer(nc, false, mux.Config{Clock: h.cfg.Clock, KeepaliveInterval: hb, IdleTimeout: 3 * hb,
		HandleOpen: func(context.Context, string) (net.Conn, error) {
			return nil, errors.New("the server accepts no streams from gateways")
		}}, h.log.With("gateway_addr", nc.RemoteAddr().String()))
	p.remote = nc.RemoteAddr()
	g := &Gateway{h: h, p: p}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		p.close()
		p.wait()
		return errors.New("control: handler closed")
	}
	h.conns[g] = struct{}{}
	h.mu.Unlock()
	helloTimer := h.cfg.Clock.AfterFunc(h.cfg.HelloTimeout, func() {
		g.mu.Lock()
		live := g.live
		g.mu.Unlock()
		if !live {
			h.log.Info("control: gateway did not register in time; closing", "addr", nc.RemoteAddr())
			p.close()
		}
	})
	p.serve(g.handle)
	<-p.sess.Done()
	helloTimer.Stop()
	p.wait()
	h.mu.Lock()
	delete(h.conns, g)
	h.mu.Unlock()
	g.mu.Lock()
	id, live := g.id, g.live
	g.mu.Unlock()
	err := p.sess.Err()
	if live {
		h.log.Info("control: gateway offline", "gateway", id, "err", err)
		h.cfg.Registry.Offline(id, g, err)
	}
	return err
}

func (g *Gateway) handle(ctx context.Context, typ string, body json.RawMessage) (any, error) {
	h := g.h
	g.mu.Lock()
	id, live := g.id, g.live
	g.mu.Unlock()
	if typ == TypeHello {
		if id != "" {
			return nil, Errf(CodeBadRequest, "hello sent twice")
		}
		var m Hello
		if err := decode(body, &m); err != nil {
			return nil, err
		}
		return g.hello(ctx, m)
	}
	if id == "" {
		return nil, Errf(CodeUnauthorised, "%s before hello", typ)
	}
	if typ == TypeRegister {
		var m Registration
		if err := decode(body, &m); err != nil {
			return nil, err
		}
		if _, err := m.KeyBytes(); err != nil {
			return nil, Errf(CodeBadRequest, "register: %v", err)
		}
		if _, err := m.GWExt(); err != nil {
			return nil, Errf(CodeBadRequest, "register: %v", err)
		}
		if len(m.WANEndpoints) == 0 {
			return nil, Errf(CodeBadRequest, "register: no WAN endpoint")
		}
		for i, ep := range m.WANEndpoints {
			if _, _, err := net.SplitHostPort(ep); err != nil {
				return nil, Errf(CodeBadRequest, "register: wan_endpoints[%d]: %v", i, err)
			}
		}
		if err := h.cfg.Registry.Register(ctx, id, m); err != nil {
			return nil, err
		}
		g.mu.Lock()
		g.reg = m
		first := !g.live
		g.live = true
		g.mu.Unlock()
		if first {
			h.log.Info("control: gateway online", "gateway", id, "identifiers", len(m.Identifiers), "wan", m.WANEndpoints)
			h.cfg.Registry.Online(id, g)
		}
		return nil, nil
	}
	if !live {
		return nil, Errf(CodeNotRegistered, "%s before register", typ)
	}
	switch typ {
	case TypeHeartbeat:
		var m Heartbeat
		if err := decode(body, &m); err != nil {
			return nil, err
		}
		h.cfg.Registry.Heartbeat(id, m, h.cfg.Clock.Now())
		return nil, nil
	case TypeSessionEvent:
		var m SessionEvent
		if err := decode(body, &m); err != nil {
			return nil, err
		}
		if _, err := ParseSession(m.Session); err != nil {
			return nil, err
		}
		h.cfg.Registry.SessionEvent(id, m)
		return nil, nil
	case TypeVerifyDevice:
		var m VerifyDevice
		if err := decode(body, &m); err != nil {
			return nil, err
		}
		return nil, h.cfg.Registry.VerifyDevice(ctx, id, m)
	case TypeDeviceOnline:
		var m DeviceOnline
		if err := decode(body, &m); err != nil {
			return nil, err
		}
		h.cfg.Registry.DeviceOnline(id, m, g)
		return nil, nil
	case TypeDeviceOffline:
		var m DeviceOffline
		if err := decode(body, &m); err != nil {
			return nil, err
		}
		h.cfg.Registry.DeviceOffline(id, m)
		return nil, nil
	}
	return nil, Errf(CodeUnknownType, "unknown request type %q", typ)
}

func (g *Gateway) hello(ctx context.Context, m Hello) (any, error) {
	h := g.h
	if m.Version != Version {
		return nil, Errf(CodeVersion, "protocol version %d not supported (want %d)", m.Version, Version)
	}
	w := Welcome{HeartbeatSeconds: int(h.cfg.HeartbeatInterval / time.Second)}
	if w.HeartbeatSeconds < 1 {
		w.HeartbeatSeconds = 1
	}
	switch {
	case m.GatewayID != "":
		if err := h.cfg.Registry.Authenticate(ctx, m.GatewayID, m.Secret); err != nil {
			h.log.Info("control: gateway authentication refused", "gateway", m.GatewayID, "err", err)
			return nil, err
		}
		w.GatewayID = m.GatewayID
	case m.EnrolToken != "":
		id, secret, err := h.cfg.Registry.Enrol(ctx, m.EnrolToken, m)
		if err != nil {
			h.log.Info("control: enrolment refused", "err", err)
			return nil, err
		}
		w.GatewayID, w.Secret = id, secret
		h.log.Info("control: gateway enrolled", "gateway", id)
	default:
		return nil, Errf(CodeUnauthorised, "hello carries neither a gateway id nor an enrolment token")
	}
	g.mu.Lock()
	g.id = w.GatewayID
	g.mu.Unlock()
	return w, nil
}

// String is for logs.
func (g *Gateway) String() string { return fmt.Sprintf("gateway %s at %s", g.ID(), g.RemoteAddr()) }
