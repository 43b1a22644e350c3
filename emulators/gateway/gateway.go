// Package gateway is the edge gateway, the patent's "remote communications
// manager": a local MPS on the LAN that admits a vMC only with a one-time
// pairing token (or, for failover, with credentials the server vouches for),
// a control channel to the server (package control), a console listener on
// the WAN speaking Noise KK (package p2p) whose streams it forwards into APF
// channels to the paired vMC, and the LAN announcement (packages dhcpd and
// dnssd).
package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oobtb/oobtb/emulators/backoff"
	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/gateway/control"
	"github.com/oobtb/oobtb/emulators/gateway/dhcpd"
	"github.com/oobtb/oobtb/emulators/gateway/dnssd"
	"github.com/oobtb/oobtb/emulators/gateway/p2p"
	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/sim/clock"
)

// Config configures a Gateway.
type Config struct {
	Network netx.Network
	Clock   clock.Clock
	Logger  *slog.Logger
	// Metrics registers the gateway's collectors; nil → a private registry
	// (see Gateway.Metrics).
	Metrics *prometheus.Registry

	// DataDir keeps the identity (gateway id, secret, static key) and, when
	// LANCert is nil, the LAN certificate authority. "" keeps everything in
	// memory (tests).
	DataDir string

	// Server is the control channel's host:port; ServerCAs verify it;
	// ServerName overrides the name checked (default: Server's host).
	Server     string
	ServerCAs  *x509.CertPool
	ServerName string
	// EnrolToken enrols a gateway without a stored identity.
	EnrolToken string

	// LANMPS is the local MPS listen address (e.g. "198.18.1.1:4433").
	LANMPS string
	// LANCert is the local MPS certificate; nil → issued by a CA kept in
	// DataDir/lan (the vMC's GatewayRootCAs must trust it).
	LANCert *tls.Certificate
	// WANListen is the console listener address; WANEndpoints what consoles
	// are told (default: the listener's address).
	WANListen    string
	WANEndpoints []string

	// Identifiers announced and registered. LANAddr defaults to the LAN MPS
	// listener's address.
	LANAddr netip.Addr
	MAC     net.HardwareAddr
	Domain  string
	UDI     string
	URL     string
	// Capability the gateway supports; 0 → pairing|failover.
	Capability gwext.Capability

	// DHCP and mDNS announcement, each off when its Listen is "".
	DHCP  *dhcpd.Config
	MDNS  *dnssd.ResponderConfig
	CIRA  cira.ServerConfig
	Seed  uint64
	Retry backoff.Config // control reconnect schedule; zero → backoff.Default()

	// HandshakeTimeout bounds a console's preamble + Noise handshake;
	// 0 → 10 s.
	HandshakeTimeout time.Duration
	// MaxSessions bounds the pairing table; 0 → 1024.
	MaxSessions int
	// MaxLANConns and MaxConsoleConns bound connections being served at
	// once on each listener (more are closed at accept); 0 → 1024 and 256.
	MaxLANConns     int
	MaxConsoleConns int
}

// Status is a snapshot of the gateway.
type Status struct {
	GatewayID       string
	Control         control.ClientStatus
	Sessions        int
	PairedDevices   int
	FailoverDevices []string
	Consoles        int
	LANMPS          string
	WAN             string
}

// Gateway is one edge gateway.
type Gateway struct {
	cfg     Config
	log     *slog.Logger
	clk     clock.Clock
	static  p2p.Key
	lanTLS  *tls.Config
	metrics *metrics
	ident   *identityStore

	ctl *control.Client

	mu         sync.Mutex
	started    bool
	closed     bool
	pairings   map[gwext.SessionID]*pairing
	failover   map[string]*cira.Conn // uuid → tunnel of a failover device
	lanConns   map[*cira.Conn]struct{}
	consoles   map[*p2p.Conn]struct{}
	lanLn      net.Listener
	wanLn      net.Listener
	dhcp       *dhcpd.Server
	mdns       *dnssd.Responder
	sweepT     clock.Timer
	cancel     context.CancelFunc
	runCtx     context.Context // cancelled by Close
	wg         sync.WaitGroup
	serverHost string
}

// New builds a gateway: it loads or creates its identity and static key.
func New(cfg Config) (*Gateway, error) {
	if cfg.Network == nil {
		cfg.Network = netx.Host{}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Server == "" || cfg.ServerCAs == nil {
		return nil, errors.New("gateway: Server and ServerCAs are required")
	}
	if cfg.LANMPS == "" || cfg.WANListen == "" {
		return nil, errors.New("gateway: LANMPS and WANListen are required")
	}
	if cfg.Capability == 0 {
		cfg.Capability = gwext.CapPairing | gwext.CapFailover
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 1024
	}
	if cfg.MaxLANConns <= 0 {
		cfg.MaxLANConns = 1024
	}
	if cfg.MaxConsoleConns <= 0 {
		cfg.MaxConsoleConns = 256
	}
	host, _, err := net.SplitHostPort(cfg.Server)
	if err != nil {
		return nil, fmt.Errorf("gateway: server address %q: %w", cfg.Server, err)
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	ident, err := openIdentity(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if ident.id == nil && cfg.EnrolToken == "" {
		return nil, errors.New("gateway: not enrolled yet and no enrolment token given")
	}
	g := &Gateway{cfg: cfg, log: cfg.Logger, clk: cfg.Clock, static: ident.key, ident: ident,
		pairings: map[gwext.SessionID]*pairing{}, failover: map[string]*cira.Conn{},
		lanConns: map[*cira.Conn]struct{}{}, consoles: map[*p2p.Conn]struct{}{}, serverHost: host}
	g.metrics = newMetrics(cfg.Metrics)
	cert := cfg.LANCert
	if cert == nil {
		c, err := lanCertificate(cfg.DataDir, cfg.LANMPS)
		if err != nil {
			return nil, err
		}
		cert = c
	}
	g.lanTLS = lanTLSConfig(*cert)
	return g, nil
}

// PublicKey is the gateway's static X25519 public key.
func (g *Gateway) PublicKey() [32]byte { return [32]byte(g.static.Public) }

// ID is the gateway id the server gave at enrolment ("" before it).
func (g *Gateway) ID() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.idLocked()
}

func (g *Gateway) idLocked() string {
	if g.ctl != nil {
		if id := g.ctl.GatewayID(); id != "" {
			return id
		}
	}
	if g.ident.id != nil {
		return g.ident.id.GatewayID
	}
	return ""
}

// Metrics is the registry holding the gateway's collectors.
func (g *Gateway) Metrics() *prometheus.Registry { return g.metrics.reg }

// LANMPSAddr is the local MPS listener's address (after Start).
func (g *Gateway) LANMPSAddr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lanLn == nil {
		return nil
	}
	return g.lanLn.Addr()
}

// WANAddr is the console listener's address (after Start).
func (g *Gateway) WANAddr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.wanLn == nil {
		return nil
	}
	return g.wanLn.Addr()
}

// DHCPAddr and MDNSAddr are the announcement sockets (nil when off).
func (g *Gateway) DHCPAddr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dhcp == nil {
		return nil
	}
	return g.dhcp.Addr()
}

func (g *Gateway) MDNSAddr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mdns == nil {
		return nil
	}
	return g.mdns.Addr()
}

// Status is a snapshot.
func (g *Gateway) Status() Status {
	var cs control.ClientStatus
	if g.ctl != nil {
		cs = g.ctl.Status()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s := Status{GatewayID: g.idLocked(), Control: cs, Sessions: len(g.pairings), Consoles: len(g.consoles)}
	for _, p := range g.pairings {
		if p.conn != nil {
			s.PairedDevices++
		}
	}
	for u := range g.failover {
		s.FailoverDevices = append(s.FailoverDevices, u)
	}
	if g.lanLn != nil {
		s.LANMPS = g.lanLn.Addr().String()
	}
	if g.wanLn != nil {
		s.WAN = g.wanLn.Addr().String()
	}
	return s
}

// Start opens the listeners and the control channel. It returns once the
// sockets are bound; the control channel connects in the background
// (WaitControl waits for it).
func (g *Gateway) Start(ctx context.Context) error {
	g.mu.Lock()
	if g.started || g.closed {
		g.mu.Unlock()
		return errors.New("gateway: already started or closed")
	}
	g.started = true
	g.mu.Unlock()
	lan, err := g.cfg.Network.Listen(ctx, "tcp", g.cfg.LANMPS)
	if err != nil {
		return fmt.Errorf("gateway: local MPS listen %s: %w", g.cfg.LANMPS, err)
	}
	wan, err := g.cfg.Network.Listen(ctx, "tcp", g.cfg.WANListen)
	if err != nil {
		lan.Close()
		return fmt.Errorf("gateway: console listen %s: %w", g.cfg.WANListen, err)
	}
	g.mu.Lock()
	g.lanLn, g.wanLn = lan, wan
	g.mu.Unlock()
	ids, err := g.Identifiers()
	if err != nil {
		lan.Close()
		wan.Close()
		return err
	}
	if g.cfg.DHCP != nil {
		dc := *g.cfg.DHCP
		dc.Network, dc.Clock, dc.Logger = g.cfg.Network, g.clk, g.log.With("part", "dhcpd")
		dc.Gateway = gwext.GatewayInfo{IDs: ids, Key: g.PublicKey()}
		if dc.Domain == "" {
			dc.Domain = g.cfg.Domain
		}
		srv, err := dhcpd.Listen(ctx, dc)
		if err != nil {
			lan.Close()
			wan.Close()
			return fmt.Errorf("gateway: %w", err)
		}
		g.mu.Lock()
		g.dhcp = srv
		g.mu.Unlock()
	}
	if g.cfg.MDNS != nil {
		mc := *g.cfg.MDNS
		mc.Network, mc.Logger = g.cfg.Network, g.log.With("part", "mdns")
		mc.Gateway = gwext.GatewayInfo{IDs: ids, Key: g.PublicKey()}
		if mc.Instance == "" {
			mc.Instance = g.cfg.UDI
		}
		r, err := dnssd.Listen(ctx, mc)
		if err != nil {
			g.closeAnnouncers()
			lan.Close()
			wan.Close()
			return fmt.Errorf("gateway: %w", err)
		}
		g.mu.Lock()
		g.mdns = r
		g.mu.Unlock()
	}
	ctl, err := control.NewClient(control.ClientConfig{
		Network: g.cfg.Network, Addr: g.cfg.Server,
		TLS:      &tls.Config{RootCAs: g.cfg.ServerCAs, ServerName: g.cfg.ServerName, MinVersion: tls.VersionTLS12},
		Identity: g.ident.id, EnrolToken: g.cfg.EnrolToken, SaveIdentity: g.ident.save,
		Registration: g.registration, Handler: (*commands)(g),
		Stats: g.stats, Backoff: g.cfg.Retry, Seed: g.cfg.Seed, Software: "oobtb-gateway",
		Clock: g.clk, Logger: g.log.With("part", "control"),
		OnConnected:    func(string) { g.metrics.controlUp.Set(1) },
		OnDisconnected: func(error) { g.metrics.controlUp.Set(0) },
	})
	if err != nil {
		g.closeAnnouncers()
		lan.Close()
		wan.Close()
		return err
	}
	rctx, cancel := context.WithCancel(context.Background())
	g.mu.Lock()
	g.ctl = ctl
	g.cancel = cancel
	g.runCtx = rctx
	g.sweepT = g.clk.AfterFunc(30*time.Second, g.sweepTick)
	g.mu.Unlock()
	g.wg.Add(3)
	go func() {
		defer g.wg.Done()
		if err := ctl.Run(rctx); err != nil {
			g.log.Error("control channel stopped for good", "err", err)
		}
	}()
	go func() { defer g.wg.Done(); g.serveLAN(rctx, lan) }()
	go func() { defer g.wg.Done(); g.serveWAN(rctx, wan) }()
	g.log.Info("gateway started", "lan_mps", lan.Addr(), "wan", wan.Addr(), "server", g.cfg.Server)
	return nil
}

func (g *Gateway) sweepTick() {
	g.sweep(g.clk.Now())
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.sweepT.Reset(30 * time.Second)
	}
}

// WaitControl blocks until the control channel is up.
func (g *Gateway) WaitControl(ctx context.Context) error {
	g.mu.Lock()
	ctl := g.ctl
	g.mu.Unlock()
	if ctl == nil {
		return errors.New("gateway: not started")
	}
	return ctl.WaitConnected(ctx)
}

func (g *Gateway) closeAnnouncers() {
	g.mu.Lock()
	d, m := g.dhcp, g.mdns
	g.mu.Unlock()
	if d != nil {
		d.Close()
	}
	if m != nil {
		m.Close()
	}
}

// Close stops everything and waits for every goroutine.
func (g *Gateway) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	if g.cancel != nil {
		g.cancel()
	}
	if g.sweepT != nil {
		g.sweepT.Stop()
	}
	lns := []net.Listener{g.lanLn, g.wanLn}
	var conns []*cira.Conn
	for c := range g.lanConns {
		conns = append(conns, c)
	}
	var cons []*p2p.Conn
	for c := range g.consoles {
		cons = append(cons, c)
	}
	g.mu.Unlock()
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
	}
	for _, c := range cons {
		c.Close()
	}
	for _, c := range conns {
		c.Close()
	}
	g.closeAnnouncers()
	g.wg.Wait()
	return nil
}

// Identifiers are every identifier the gateway announces and registers
// (not the key).
func (g *Gateway) Identifiers() ([]gwext.Identifier, error) {
	var ids []gwext.Identifier
	add := func(id gwext.Identifier, err error) error {
		if err != nil {
			return fmt.Errorf("gateway: identifier: %w", err)
		}
		ids = append(ids, id)
		return nil
	}
	lan := g.LANMPSAddr()
	if lan == nil {
		return nil, errors.New("gateway: not started")
	}
	ap, err := netip.ParseAddrPort(lan.String())
	if err != nil {
		return nil, fmt.Errorf("gateway: local MPS address %s: %w", lan, err)
	}
	addr := g.cfg.LANAddr
	if !addr.IsValid() || addr.IsUnspecified() {
		addr = ap.Addr().Unmap()
	}
	ep := netip.AddrPortFrom(addr, ap.Port())
	if err := add(gwext.Endpoint(ep)); err != nil {
		return nil, err
	}
	if err := add(gwext.IP(addr)); err != nil {
		return nil, err
	}
	if err := add(gwext.Port(ap.Port())); err != nil {
		return nil, err
	}
	if len(g.cfg.MAC) > 0 {
		if err := add(gwext.MAC(g.cfg.MAC)); err != nil {
			return nil, err
		}
	}
	if g.cfg.Domain != "" {
		if err := add(gwext.Domain(g.cfg.Domain)); err != nil {
			return nil, err
		}
	}
	if g.cfg.UDI != "" {
		if err := add(gwext.UDI(g.cfg.UDI)); err != nil {
			return nil, err
		}
	}
	if g.cfg.URL != "" {
		if err := add(gwext.URL(g.cfg.URL)); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func (g *Gateway) registration() control.Registration {
	ids, err := g.Identifiers()
	if err != nil {
		g.log.Error("identifiers", "err", err)
	}
	key := g.PublicKey()
	wan := g.cfg.WANEndpoints
	if len(wan) == 0 {
		if a := g.WANAddr(); a != nil {
			wan = []string{a.String()}
		}
	}
	lan := ""
	if a := g.LANMPSAddr(); a != nil {
		lan = a.String()
	}
	return control.Registration{Key: fmt.Sprintf("%x", key[:]), Identifiers: control.FromGWExt(ids),
		WANEndpoints: wan, LANMPS: lan, Capability: uint16(g.cfg.Capability)}
}

func (g *Gateway) stats() (sessions, devices int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pairings), len(g.lanConns)
}

// sessionEvent reports to the server in the background (best effort: the
// control channel may be down).
func (g *Gateway) sessionEvent(ev control.SessionEvent) {
	g.mu.Lock()
	ctl, closed := g.ctl, g.closed
	if !closed {
		g.wg.Add(1)
	}
	g.mu.Unlock()
	if closed || ctl == nil {
		if !closed {
			g.wg.Done()
		}
		return
	}
	go func() {
		defer g.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ctl.SessionEvent(ctx, ev); err != nil {
			g.log.Debug("session event not delivered", "event", ev.Event, "session", ev.Session, "err", err)
		}
	}()
}
