package vmc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/sim/clock"
)

// Service serves one APF channel opened to a forwarded port. It returns when
// the conversation is over; the channel is closed after it.
type Service func(ch net.Conn)

// Config configures a Device.
type Config struct {
	Host   *host.Host
	Policy policy.Config
	// Services by forwarded port; CHANNEL_OPEN to a port without one is
	// refused with reason 2 (connect failed), as AMT does for unbound ports.
	Services map[uint32]Service
	// Ports forwarded after authentication; nil → AMT's seven in AMT's order.
	Ports []uint32

	// RootCAs verifies the MPS certificate; Insecure skips verification
	// (tests only).
	RootCAs  *x509.CertPool
	Insecure bool
	// GatewayRootCAs verifies the edge gateway's LAN MPS certificate;
	// nil falls back to RootCAs.
	GatewayRootCAs *x509.CertPool

	Network netx.Network
	Clock   clock.Clock
	Logger  *slog.Logger
	Seed    uint64

	// DialTimeout bounds TCP connect plus TLS plus APF handshake; 0 → 20 s.
	DialTimeout time.Duration
	// ProbeInterval is how often a device failed over to its gateway checks
	// whether the server is reachable again; 0 → 30 s.
	ProbeInterval time.Duration
}

// Status is a snapshot of the device's remote-access state.
type Status struct {
	Tunnel      policy.TunnelState
	MPS         string // name of the current or pending MPS
	Addr        string
	Trigger     policy.Trigger
	OnGateway   bool
	Environment policy.Environment
	Gateway     *policy.GatewayHint
	ServerExt   bool // the server answered with the oobtb capability block
	OOB         []string
	LastError   string
	Connects    int
	// RetryAttempts counts back-off delays since the last successful
	// connect (the policy's reconnect schedule).
	RetryAttempts int
}

// Device is one vMC.
type Device struct {
	cfg Config
	h   *host.Host
	pol *policy.Policy
	clk clock.Clock
	log *slog.Logger

	events chan policy.Event
	reconf chan policy.Config
	stop   chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup

	mu        sync.Mutex
	conn      *cira.Conn
	connMPS   string
	oob       map[string]*cira.Conn // session id → gateway connection
	timer     clock.Timer
	probe     clock.Timer // server-reachability check while failed over
	status    Status
	pendingGC []string // gateway-connect sessions awaiting their reply
	// extSeen marks tunnels whose server answered with the capability block
	// before the tunnel was ready; the policy hears of it after Connected.
	extSeen map[*cira.Conn]bool
	dialGen uint64 // generation of the newest Connect
	dialing bool   // a dial to an MPS is in flight
	// pendingConnect is the newest Connect that arrived during a dial.
	pendingConnect *policy.Connect
	started        bool
	ownsHost       bool         // Stop closes the host too (Build made it)
	initial        policy.Event // posted after Start (user-initiated or alert trigger)
}

// New builds a device; Run starts it.
func New(cfg Config) (*Device, error) {
	if cfg.Host == nil {
		return nil, errors.New("vmc: Config.Host is required")
	}
	if cfg.Network == nil {
		cfg.Network = netx.Host{}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 20 * time.Second
	}
	if cfg.RootCAs == nil && !cfg.Insecure {
		return nil, errors.New("vmc: a CA to verify the MPS (RootCAs) is required unless Insecure is set")
	}
	pol, err := policy.New(cfg.Policy, rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	if err != nil {
		return nil, fmt.Errorf("vmc: remote-access policy: %w", err)
	}
	id := cfg.Host.Identity()
	d := &Device{cfg: cfg, h: cfg.Host, pol: pol, clk: cfg.Clock,
		log:    cfg.Logger.With("uuid", id.UUID),
		events: make(chan policy.Event, 64), reconf: make(chan policy.Config), stop: make(chan struct{}), done: make(chan struct{}),
		oob: map[string]*cira.Conn{}, extSeen: map[*cira.Conn]bool{}}
	cfg.Host.OnRemoteAccess(cfg.Policy, d.applyRemoteAccess)
	return d, nil
}

// Host is the device's managed PC.
func (d *Device) Host() *host.Host { return d.h }

// Start runs the device until Stop.
func (d *Device) Start() {
	d.mu.Lock()
	if d.started {
		d.mu.Unlock()
		return
	}
	d.started = true
	d.mu.Unlock()
	d.wg.Add(1)
	go d.loop()
	go func() { d.wg.Wait(); close(d.done) }()
	d.Post(policy.Start{})
	if d.initial != nil {
		d.Post(d.initial)
	}
	d.armProbe()
}

// armProbe schedules the check, while the device is failed over to its
// gateway, of whether the server is reachable again; when it is, the device
// returns to it (policy.DirectPathRestored).
func (d *Device) armProbe() {
	every := d.cfg.ProbeInterval
	if every <= 0 {
		every = 30 * time.Second
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.stop:
		return
	default:
	}
	d.probe = d.clk.AfterFunc(every, func() {
		d.probeServer()
		d.armProbe()
	})
}

func (d *Device) probeServer() {
	d.mu.Lock()
	onGW := d.pol.OnGateway()
	d.mu.Unlock()
	ra := d.h.RemoteAccess()
	if !onGW || len(ra.MPS) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	nc, err := d.cfg.Network.Dial(ctx, "tcp", ra.MPS[0].Addr())
	if err != nil {
		return
	}
	nc.Close()
	d.log.Info("server reachable again; leaving the gateway", "mps", ra.MPS[0].Addr())
	d.Post(policy.DirectPathRestored{})
}

// Stop closes every tunnel and waits for the device's goroutines.
func (d *Device) Stop() {
	d.mu.Lock()
	if !d.started {
		d.mu.Unlock()
		return
	}
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	d.mu.Unlock()
	<-d.done
	if d.ownsHost {
		d.h.Close()
	}
}

// Post delivers an event (UserRequest, Alert, GatewayLearned, DHCPDomain,
// DirectPathLost, …) to the policy.
func (d *Device) Post(ev policy.Event) {
	select {
	case d.events <- ev:
	case <-d.stop:
	}
}

// Status returns a snapshot.
func (d *Device) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.status
	s.Tunnel = d.pol.Tunnel()
	if m, ok := d.pol.Target(); ok {
		s.MPS, s.Addr = m.Name, m.Addr()
	}
	if t, ok := d.pol.Owner(); ok {
		s.Trigger = t
	}
	s.OnGateway = d.pol.OnGateway()
	s.Environment = d.pol.Environment()
	s.RetryAttempts = d.pol.RetryAttempts()
	if g, ok := d.pol.Gateway(); ok {
		s.Gateway = &g
	}
	for k := range d.oob {
		s.OOB = append(s.OOB, k)
	}
	return s
}

// Conn is the current CIRA tunnel, if up.
func (d *Device) Conn() *cira.Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conn
}

func (d *Device) loop() {
	defer d.wg.Done()
	defer d.shutdown()
	for {
		select {
		case <-d.stop:
			return
		case ev := <-d.events:
			d.mu.Lock()
			acts := d.pol.Handle(d.clk.Now(), ev)
			d.mu.Unlock()
			for _, a := range acts {
				d.do(a)
			}
		case cfg := <-d.reconf:
			d.adopt(cfg)
		}
	}
}

// applyRemoteAccess hands a configuration changed over WS-MAN to the loop.
func (d *Device) applyRemoteAccess(cfg policy.Config) error {
	d.mu.Lock()
	started := d.started
	d.mu.Unlock()
	if !started {
		pol, err := policy.New(cfg, rand.NewPCG(d.cfg.Seed, d.cfg.Seed^0x9e3779b97f4a7c15))
		if err != nil {
			return err
		}
		d.mu.Lock()
		d.pol = pol
		d.mu.Unlock()
		return nil
	}
	select {
	case d.reconf <- cfg:
		return nil
	case <-d.stop:
		return errors.New("vmc: device stopped")
	}
}

// adopt replaces the policy with one built from cfg, as AMT re-reads its
// remote-access settings: the current tunnel is closed, what the device
// learned on its LAN is kept, and the remote-access feature starts again.
func (d *Device) adopt(cfg policy.Config) {
	pol, err := policy.New(cfg, rand.NewPCG(d.cfg.Seed+1, d.cfg.Seed^0x9e3779b97f4a7c15))
	if err != nil {
		d.log.Warn("remote-access configuration refused", "err", err)
		return
	}
	d.mu.Lock()
	old := d.pol
	d.pol = pol
	c := d.conn
	d.conn = nil
	d.mu.Unlock()
	d.log.Info("remote-access configuration changed over WS-MAN; restarting remote access", "mps", len(cfg.MPS), "rules", len(cfg.Rules))
	if c != nil {
		c.Shutdown() // gone from the server's view before the next dial
	}
	now := d.clk.Now()
	var carry []policy.Event
	if g, ok := old.Gateway(); ok {
		carry = append(carry, policy.GatewayLearned{Hint: g})
	}
	if id := d.h.Identity(); id.DHCP {
		carry = append(carry, policy.DHCPDomain{Domain: id.Domain})
	}
	carry = append(carry, policy.Start{})
	for _, ev := range carry {
		d.mu.Lock()
		acts := d.pol.Handle(now, ev)
		d.mu.Unlock()
		for _, a := range acts {
			d.do(a)
		}
	}
}

func (d *Device) shutdown() {
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
	}
	if d.probe != nil {
		d.probe.Stop()
	}
	conns := []*cira.Conn{}
	if d.conn != nil {
		conns = append(conns, d.conn)
		d.conn = nil // Conn reports no tunnel once the device has stopped
	}
	for _, c := range d.oob {
		conns = append(conns, c)
	}
	d.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// do performs one policy action.
func (d *Device) do(a policy.Action) {
	switch a := a.(type) {
	case policy.ScheduleWake:
		d.mu.Lock()
		if d.timer != nil {
			d.timer.Stop()
		}
		d.timer = d.clk.AfterFunc(max(a.At.Sub(d.clk.Now()), 0), func() { d.Post(policy.Tick{}) })
		d.mu.Unlock()
	case policy.Connect:
		d.connect(a)
	case policy.Disconnect:
		d.mu.Lock()
		c := d.conn
		d.mu.Unlock()
		if c != nil {
			d.log.Info("closing CIRA tunnel", "mps", a.MPS, "reason", a.Reason)
			// Synchronously, so a reconnect that follows (a higher-priority
			// trigger) never overlaps the old tunnel.
			c.Shutdown()
		}
	case policy.SendKeepalive:
		// The cira session keeps AMT's keep-alive schedule itself.
	case policy.SendGatewayInfo:
		d.sendGatewayInfo(a.Gateway)
	case policy.OpenGatewayConnection:
		d.openGateway(a)
	case policy.CloseGatewayConnection:
		d.mu.Lock()
		c := d.oob[a.Session]
		d.mu.Unlock()
		if c != nil {
			go c.Close()
		}
	case policy.ReportGatewayConnect:
		d.reportGatewayConnect(a)
	case policy.SendLocalEvent:
		d.log.Info("local event (CILA)", "event", a.EventID, "trigger", a.Trigger, "reason", a.Reason)
	case policy.Notice:
		d.log.Debug("policy", "notice", a.Text)
	default:
		d.log.Warn("unhandled policy action", "action", a.String())
	}
}

func (d *Device) tlsConfig(serverName string, roots *x509.CertPool) *tls.Config {
	return pki.ClientTLSConfig(roots, serverName, d.cfg.Insecure)
}

// connect dials the MPS in the background and reports Connected or
// ConnectFailed to the policy.
func (d *Device) connect(a policy.Connect) {
	var reserved [64]byte
	if a.WithExtension {
		var hint *policy.GatewayHint
		d.mu.Lock()
		if g, ok := d.pol.Gateway(); ok {
			hint = &g
		}
		d.mu.Unlock()
		r, err := reservedBlock(a.Extension, hint)
		if err != nil {
			d.log.Warn("gateway extension block not encodable; sending none", "err", err)
		} else {
			reserved = r
		}
	}
	id := d.h.Identity()
	guid, err := apf.ParseGUID(id.UUID)
	if err != nil {
		d.Post(policy.ConnectFailed{MPS: a.MPS.Name, Reason: err.Error()})
		return
	}
	serverName := a.MPS.CN
	if serverName == "" {
		serverName = a.MPS.AccessInfo
	}
	dc := cira.DeviceConfig{UUID: guid, Trigger: apf.TriggerReason(a.Trigger.APFReason()), Reserved: reserved,
		Username: a.MPS.Username, Password: a.MPS.Password, Hostname: id.Hostname, Ports: d.cfg.Ports,
		KeepaliveInterval: d.pol.KeepaliveInterval()}
	d.mu.Lock()
	d.status.Connects++
	// Only the newest Connect counts, and dials never overlap: a Connect
	// that arrives while a dial is in flight (a call for help during a
	// periodic connect) waits for it; the superseded tunnel is closed before
	// the newer dial starts, so the server never sees two tunnels of this
	// device race and replace each other.
	d.dialGen++
	gen := d.dialGen
	if d.dialing {
		d.pendingConnect = &a
		d.mu.Unlock()
		return
	}
	d.dialing = true
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		c, err := d.dialTunnel(a.MPS.Addr(), serverName, d.cfg.RootCAs, dc, false)
		d.mu.Lock()
		stale := gen != d.dialGen
		next := d.pendingConnect
		d.pendingConnect = nil
		d.dialing = false
		if stale && c != nil {
			delete(d.extSeen, c)
		}
		d.mu.Unlock()
		if stale {
			if c != nil {
				c.Close()
			}
			if next != nil {
				d.connect(*next)
			}
			return
		}
		if err != nil {
			d.mu.Lock()
			d.status.LastError = err.Error()
			d.mu.Unlock()
			d.log.Info("CIRA connect failed", "mps", a.MPS.Name, "addr", a.MPS.Addr(), "err", err)
			d.Post(policy.ConnectFailed{MPS: a.MPS.Name, Reason: err.Error()})
			// The server cannot be reached: with a gateway on the LAN, a
			// capable device fails over to it (ARCHITECTURE F3); the policy
			// decides whether it may.
			d.mu.Lock()
			_, gwKnown := d.pol.Gateway()
			d.mu.Unlock()
			var pe *pathError
			if !a.ViaGateway && gwKnown && errors.As(err, &pe) {
				d.Post(policy.DirectPathLost{Reason: err.Error()})
			}
			return
		}
		d.mu.Lock()
		old := d.conn
		d.conn, d.connMPS = c, a.MPS.Name
		d.status.ServerExt = false
		d.mu.Unlock()
		if old != nil {
			old.Close()
		}
		d.log.Info("CIRA tunnel up", "mps", a.MPS.Name, "addr", a.MPS.Addr(), "trigger", a.Trigger, "via_gateway", a.ViaGateway)
		d.Post(policy.Connected{MPS: a.MPS.Name})
		d.mu.Lock()
		ext := d.extSeen[c]
		delete(d.extSeen, c)
		d.status.ServerExt = ext
		d.mu.Unlock()
		if ext {
			d.Post(policy.ServerSupportsExtension{})
		}
		select {
		case <-c.Done():
		case <-d.stop:
			c.Close()
			return
		}
		d.mu.Lock()
		current := d.conn == c
		if current {
			d.conn = nil
		}
		d.mu.Unlock()
		if !current {
			return // replaced or closed on purpose
		}
		err = c.Err()
		var de *cira.DisconnectError
		if errors.As(err, &de) && de.ByPeer {
			d.Post(policy.TunnelClosedByServer{Reason: err.Error()})
			return
		}
		if errors.As(err, &de) && de.Reason == apf.DisconnectByApplication {
			return // we closed it (policy Disconnect)
		}
		d.Post(policy.Disconnected{Reason: fmt.Sprint(err)})
	}()
}

// pathError marks a failure to reach the server at all (no TCP connection),
// as opposed to a server that answered and refused: only the former means
// the direct path is lost and a gateway should take over.
type pathError struct{ err error }

func (e *pathError) Error() string { return e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// dialTunnel opens TCP, TLS and a device-role APF session, and waits until
// every port is forwarded.
func (d *Device) dialTunnel(addr, serverName string, roots *x509.CertPool, dc cira.DeviceConfig, oob bool) (*cira.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.DialTimeout)
	defer cancel()
	go func() {
		select {
		case <-d.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	nc, err := d.cfg.Network.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, &pathError{fmt.Errorf("connect to %s: %w", addr, err)}
	}
	tc := tls.Client(nc, d.tlsConfig(serverName, roots))
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS with %s: %w", addr, err)
	}
	c, err := cira.New(tc, cira.RoleDevice, cira.Config{
		Device: &dc, Clock: d.clk, Logger: d.log,
		AcceptChannel: d.acceptChannel, ServeChannel: d.serveChannel,
		OnEvent: func(c *cira.Conn, ev cira.Event) { d.tunnelEvent(c, ev, oob) },
	})
	if err != nil {
		tc.Close()
		return nil, err
	}
	select {
	case <-c.Ready():
		return c, nil
	case <-c.Done():
		return nil, fmt.Errorf("APF session with %s: %w", addr, c.Err())
	case <-ctx.Done():
		c.Close()
		return nil, fmt.Errorf("APF session with %s: %w", addr, ctx.Err())
	}
}

func (d *Device) acceptChannel(o *apf.ChannelOpen) (bool, apf.OpenFailureReason) {
	if _, ok := d.cfg.Services[o.TargetPort]; ok {
		return true, 0
	}
	return false, apf.OpenConnectFailed
}

func (d *Device) serveChannel(ch *cira.Channel) {
	if svc := d.cfg.Services[ch.Port()]; svc != nil {
		svc(ch)
	}
}

// tunnelEvent runs in a tunnel's reader goroutine.
func (d *Device) tunnelEvent(c *cira.Conn, ev cira.Event, oob bool) {
	switch e := ev.(type) {
	case cira.EventPeerVersion:
		caps, ok, err := gwext.ServerSupport(&e.Msg)
		if err != nil {
			d.log.Warn("server sent a malformed capability block; treating it as stock", "err", err)
			return
		}
		if ok && !oob {
			d.log.Debug("server supports the gateway extension", "caps", caps)
			d.mu.Lock()
			current := d.conn == c
			if current {
				d.status.ServerExt = true
			} else {
				d.extSeen[c] = true
			}
			d.mu.Unlock()
			if current {
				d.Post(policy.ServerSupportsExtension{})
			}
		}
	case cira.EventGlobalRequest:
		if oob || e.Req.Name != "gateway-connect@oobtb" {
			_ = c.Reply(false)
			return
		}
		gc, err := gwext.ParseGatewayConnect(e.Req)
		if err != nil {
			d.log.Warn("malformed gateway-connect refused", "err", err)
			_ = c.Reply(false)
			return
		}
		ap, err := gc.TargetAddrPort()
		if err != nil {
			d.log.Warn("gateway-connect without a usable LAN address refused", "err", err)
			_ = c.Reply(false)
			return
		}
		sid := gc.SessionID.String()
		d.mu.Lock()
		d.pendingGC = append(d.pendingGC, sid)
		d.mu.Unlock()
		gwID := ""
		if len(gc.Gateway) > 0 {
			gwID = gc.Gateway[0].String()
		}
		d.Post(policy.GatewayConnect{Request: policy.GatewayConnectRequest{Session: sid, GatewayID: gwID, Addr: ap,
			Token: gc.Token[:], Expiry: gc.Expiry, PublicKey: gc.Key}})
	}
}

func (d *Device) sendGatewayInfo(h policy.GatewayHint) {
	ids, err := gatewayIdentifiers(h)
	if err != nil || len(ids) == 0 {
		d.log.Warn("no gateway identifiers to report", "err", err)
		return
	}
	req, err := gwext.GatewayInfo{IDs: ids, Key: h.PublicKey}.Request()
	if err != nil {
		d.log.Warn("gateway-info not encodable", "err", err)
		return
	}
	c := d.Conn()
	if c == nil {
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ok, err := c.Request(ctx, req)
		d.log.Debug("gateway-info sent", "accepted", ok, "err", err)
	}()
}

func (d *Device) openGateway(a policy.OpenGatewayConnection) {
	id := d.h.Identity()
	guid, _ := apf.ParseGUID(id.UUID)
	var sid gwext.SessionID
	var tok gwext.Token
	if s, err := parseSession(a.Session); err == nil {
		sid = s
	}
	copy(tok[:], a.Token)
	dc := cira.DeviceConfig{UUID: guid, Trigger: apf.TriggerUserInitiated, Username: sid.Username(), Password: tok.Password(),
		Hostname: id.Hostname, Ports: d.cfg.Ports, KeepaliveInterval: d.pol.KeepaliveInterval()}
	roots := d.cfg.GatewayRootCAs
	if roots == nil {
		roots = d.cfg.RootCAs
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		c, err := d.dialTunnel(a.Addr.String(), a.Addr.Addr().String(), roots, dc, true)
		if err != nil {
			d.Post(policy.GatewayFailed{Session: a.Session, Reason: err.Error()})
			return
		}
		d.mu.Lock()
		d.oob[a.Session] = c
		d.mu.Unlock()
		d.log.Info("out-of-band connection to the gateway up", "gateway", a.GatewayID, "addr", a.Addr)
		d.Post(policy.GatewayConnected{Session: a.Session})
		select {
		case <-c.Done():
		case <-d.stop:
			c.Close()
		}
		d.mu.Lock()
		delete(d.oob, a.Session)
		d.mu.Unlock()
		d.Post(policy.GatewayFailed{Session: a.Session, Reason: fmt.Sprintf("gateway connection ended: %v", c.Err())})
	}()
}

func (d *Device) reportGatewayConnect(a policy.ReportGatewayConnect) {
	d.mu.Lock()
	idx := -1
	for i, s := range d.pendingGC {
		if s == a.Session {
			idx = i
			break
		}
	}
	if idx >= 0 {
		d.pendingGC = append(d.pendingGC[:idx], d.pendingGC[idx+1:]...)
	}
	c := d.conn
	d.mu.Unlock()
	if idx < 0 || c == nil {
		return // not a request we owe an answer to, or the tunnel is gone
	}
	if !a.OK {
		d.log.Info("gateway-connect refused", "session", a.Session, "reason", a.Reason)
	}
	_ = c.Reply(a.OK)
}

func parseSession(s string) (gwext.SessionID, error) {
	var sid gwext.SessionID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(sid) {
		return sid, fmt.Errorf("session id %q is not %d hex bytes", s, len(sid))
	}
	copy(sid[:], b)
	return sid, nil
}

func secondsDuration(s int) time.Duration { return time.Duration(s) * time.Second }
