package control

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/backoff"
	"github.com/oobtb/oobtb/emulators/gateway/mux"
	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/sim/clock"
)

// Identity is what enrolment gives a gateway; it persists it.
type Identity struct {
	GatewayID string `json:"gateway_id"`
	Secret    string `json:"secret"`
}

// GatewayHandler serves the server's commands on the gateway.
type GatewayHandler interface {
	ExpectDevice(ctx context.Context, e ExpectDevice) error
	ExpectConsole(ctx context.Context, e ExpectConsole) error
	CancelSession(ctx context.Context, c CancelSession) error
	// OpenDeviceChannel opens a channel to a failover device's port.
	OpenDeviceChannel(ctx context.Context, uuid string, port uint32) (net.Conn, error)
	// AcceptRelay takes a relayed console for a session: the returned conn
	// is spliced to the server's stream, whose bytes are exactly what the
	// console sends (console-gateway.md).
	AcceptRelay(ctx context.Context, sid gwext.SessionID) (net.Conn, error)
}

// ClientConfig configures the gateway's side.
type ClientConfig struct {
	Network netx.Network
	Addr    string      // server host:port
	TLS     *tls.Config // verifies the server against the CA
	// Identity from an earlier enrolment; nil → enrol with EnrolToken.
	Identity   *Identity
	EnrolToken string
	// SaveIdentity persists a new identity; enrolment fails if it does.
	SaveIdentity func(Identity) error
	// Registration is called on every connect (endpoints may change).
	Registration func() Registration
	Handler      GatewayHandler
	// Stats fill heartbeats; nil → zeros.
	Stats func() (sessions, devices int)

	Backoff     backoff.Config // zero → backoff.Default()
	Seed        uint64
	DialTimeout time.Duration // TCP+TLS+hello+register; 0 → 20 s
	Software    string
	Clock       clock.Clock
	Logger      *slog.Logger
	// OnConnected / OnDisconnected observe the connection (optional).
	OnConnected    func(gatewayID string)
	OnDisconnected func(err error)
}

// ClientStatus is a snapshot.
type ClientStatus struct {
	Connected bool
	GatewayID string
	Connects  int
	LastError string
}

// Client keeps the control channel up.
type Client struct {
	cfg ClientConfig
	log *slog.Logger
	bo  *backoff.Backoff

	mu     sync.Mutex
	id     *Identity
	cur    *peer
	status ClientStatus
	change chan struct{} // closed and replaced on every connect/disconnect
}

// NewClient checks cfg.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Network == nil {
		cfg.Network = netx.Host{}
	}
	if cfg.Addr == "" || cfg.TLS == nil || cfg.Handler == nil || cfg.Registration == nil {
		return nil, errors.New("control: ClientConfig needs Addr, TLS, Handler and Registration")
	}
	if cfg.Identity == nil && cfg.EnrolToken == "" {
		return nil, errors.New("control: no identity and no enrolment token: the gateway cannot authenticate")
	}
	if cfg.Backoff == (backoff.Config{}) {
		cfg.Backoff = backoff.Default()
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 20 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	bo, err := backoff.New(cfg.Backoff, rand.NewPCG(cfg.Seed, cfg.Seed^0x5851f42d4c957f2d))
	if err != nil {
		return nil, fmt.Errorf("control: back-off: %w", err)
	}
	c := &Client{cfg: cfg, log: cfg.Logger, bo: bo, change: make(chan struct{})}
	if cfg.Identity != nil {
		id := *cfg.Identity
		c.id = &id
		c.status.GatewayID = id.GatewayID
	}
	return c, nil
}

// Status is a snapshot.
func (c *Client) Status() ClientStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// GatewayID is the enrolled id ("" before enrolment).
func (c *Client) GatewayID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.id == nil {
		return ""
	}
	return c.id.GatewayID
}

// ErrNotConnected is returned by requests while the channel is down.
var ErrNotConnected = errors.New("control: not connected to the server")

func (c *Client) peer() *peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// SessionEvent reports a pairing event.
func (c *Client) SessionEvent(ctx context.Context, ev SessionEvent) error {
	return c.request(ctx, TypeSessionEvent, ev)
}

// VerifyDevice asks the server about a failover device.
func (c *Client) VerifyDevice(ctx context.Context, v VerifyDevice) error {
	return c.request(ctx, TypeVerifyDevice, v)
}

// DeviceOnline / DeviceOffline report failover devices.
func (c *Client) DeviceOnline(ctx context.Context, d DeviceOnline) error {
	return c.request(ctx, TypeDeviceOnline, d)
}
func (c *Client) DeviceOffline(ctx context.Context, d DeviceOffline) error {
	return c.request(ctx, TypeDeviceOffline, d)
}

func (c *Client) request(ctx context.Context, typ string, body any) error {
	p := c.peer()
	if p == nil {
		return ErrNotConnected
	}
	return p.call(ctx, typ, body, nil)
}

// WaitConnected blocks until the channel is up or ctx ends.
func (c *Client) WaitConnected(ctx context.Context) error {
	for {
		c.mu.Lock()
		up, ch := c.cur != nil, c.change
		c.mu.Unlock()
		if up {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *Client) setPeer(p *peer, err error) {
	c.mu.Lock()
	c.cur = p
	c.status.Connected = p != nil
	if p != nil {
		c.status.Connects++
	}
	if err != nil {
		c.status.LastError = err.Error()
	}
	close(c.change)
	c.change = make(chan struct{})
	c.mu.Unlock()
}

// Run connects, serves and reconnects with bounded jittered back-off until
// ctx ends (nil error) or the server refuses the gateway for good (an
// *Error with Fatal()).
func (c *Client) Run(ctx context.Context) error {
	for {
		p, err := c.connect(ctx)
		if err == nil {
			c.bo.Reset()
			c.setPeer(p, nil)
			if c.cfg.OnConnected != nil {
				c.cfg.OnConnected(c.GatewayID())
			}
			err = c.serve(ctx, p)
			c.setPeer(nil, err)
			if c.cfg.OnDisconnected != nil {
				c.cfg.OnDisconnected(err)
			}
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("control channel lost; reconnecting", "err", err)
		} else {
			if ctx.Err() != nil {
				return nil
			}
			c.mu.Lock()
			c.status.LastError = err.Error()
			c.mu.Unlock()
			var ce *Error
			if errors.As(err, &ce) && ce.Fatal() {
				c.log.Error("the server refused the gateway; giving up", "err", err)
				return err
			}
		}
		d := c.bo.NextDelay()
		c.log.Info("control channel retry scheduled", "in", d, "attempt", c.bo.Attempts(), "err", err)
		t := c.cfg.Clock.NewTimer(d)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}

func (c *Client) connect(ctx context.Context) (*peer, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	nc, err := c.cfg.Network.Dial(dctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.cfg.Addr, err)
	}
	tc := tls.Client(nc, c.cfg.TLS)
	if err := tc.HandshakeContext(dctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS with %s: %w", c.cfg.Addr, err)
	}
	// The heartbeat interval is unknown until welcome; a generous idle
	// bound covers the hello exchange, serve tightens nothing further.
	p := newPeer(tc, true, mux.Config{Clock: c.cfg.Clock, HandleOpen: c.openStream}, c.log)
	p.serve(c.handle)
	fail := func(err error) (*peer, error) {
		p.close()
		p.wait()
		return nil, err
	}
	c.mu.Lock()
	id := c.id
	c.mu.Unlock()
	hello := Hello{Version: Version, Software: c.cfg.Software}
	if id != nil {
		hello.GatewayID, hello.Secret = id.GatewayID, id.Secret
	} else {
		hello.EnrolToken = c.cfg.EnrolToken
	}
	var w Welcome
	if err := p.call(dctx, TypeHello, hello, &w); err != nil {
		return fail(fmt.Errorf("hello: %w", err))
	}
	if id == nil {
		if w.GatewayID == "" || w.Secret == "" {
			return fail(errors.New("hello: enrolment answer without gateway id or secret"))
		}
		nid := Identity{GatewayID: w.GatewayID, Secret: w.Secret}
		if c.cfg.SaveIdentity != nil {
			if err := c.cfg.SaveIdentity(nid); err != nil {
				return fail(fmt.Errorf("persist identity: %w", err))
			}
		}
		c.mu.Lock()
		c.id = &nid
		c.status.GatewayID = nid.GatewayID
		c.mu.Unlock()
		c.log.Info("enrolled with the server", "gateway", nid.GatewayID)
	} else if w.GatewayID != id.GatewayID {
		return fail(fmt.Errorf("hello: server answered for gateway %q, we are %q", w.GatewayID, id.GatewayID))
	}
	if err := p.call(dctx, TypeRegister, c.cfg.Registration(), nil); err != nil {
		return fail(fmt.Errorf("register: %w", err))
	}
	p.heartbeat = time.Duration(max(w.HeartbeatSeconds, 1)) * time.Second
	return p, nil
}

// serve sends heartbeats until the connection ends.
func (c *Client) serve(ctx context.Context, p *peer) error {
	defer p.wait()
	seq := uint64(0)
	miss := 0
	for {
		t := c.cfg.Clock.NewTimer(p.heartbeat)
		select {
		case <-ctx.Done():
			t.Stop()
			p.close()
			return ctx.Err()
		case <-p.sess.Done():
			t.Stop()
			return p.sess.Err()
		case <-t.C():
		}
		seq++
		hb := Heartbeat{Seq: seq}
		if c.cfg.Stats != nil {
			hb.Sessions, hb.Devices = c.cfg.Stats()
		}
		hctx, cancel := context.WithTimeout(ctx, p.heartbeat)
		err := p.call(hctx, TypeHeartbeat, hb, nil)
		cancel()
		if err != nil {
			miss++
			c.log.Warn("heartbeat failed", "seq", seq, "err", err, "missed", miss)
			if miss >= 3 {
				p.close()
				<-p.sess.Done()
				return fmt.Errorf("control: three heartbeats unanswered: %w", err)
			}
			continue
		}
		miss = 0
	}
}

func (c *Client) handle(ctx context.Context, typ string, body json.RawMessage) (any, error) {
	h := c.cfg.Handler
	switch typ {
	case TypeExpectDevice:
		var m ExpectDevice
		if err := decode(body, &m); err != nil {
			return nil, err
		}
		return nil, h.ExpectDevice(ctx, m)
	case TypeExpectConsole:
		var m ExpectConsole
		if err := decode(body, &m); err != nil {
			return nil, err
		}
		return nil, h.ExpectConsole(ctx, m)
	case TypeCancelSession:
		var m CancelSession
		if err := decode(body, &m); err != nil {
			return nil, err
		}
		return nil, h.CancelSession(ctx, m)
	}
	return nil, Errf(CodeUnknownType, "unknown request type %q", typ)
}

func (c *Client) openStream(ctx context.Context, target string) (net.Conn, error) {
	if strings.HasPrefix(target, "relay/") {
		sid, err := ParseRelayTarget(target)
		if err != nil {
			return nil, err
		}
		return c.cfg.Handler.AcceptRelay(ctx, sid)
	}
	uuid, port, err := ParseDeviceTarget(target)
	if err != nil {
		return nil, err
	}
	return c.cfg.Handler.OpenDeviceChannel(ctx, uuid, port)
}
