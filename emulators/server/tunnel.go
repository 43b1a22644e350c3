package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/sim/clock"
)

// portQuiet is how long after the last forward a table without 5900 is
// written.
const portQuiet = 500 * time.Millisecond

// Tunnel is one device's CIRA connection as the server sees it. The pairing
// module reads the device's gateway-extension state from it and talks to the
// device through Conn.
type Tunnel struct {
	s      *Server
	nc     *notifyConn
	remote string

	mu          sync.Mutex
	conn        *cira.Conn
	uuid        string
	trigger     apf.TriggerReason
	ext         Extension
	gwInfo      *gwext.GatewayInfo
	authOK      bool
	authed      bool
	ready       bool
	connectedAt time.Time
	portTimer   clock.Timer
	gone        bool // the socket has closed
	refused     bool // unknown device, refused at PROTOCOL_VERSION
}

// Extension is what a device's PROTOCOL_VERSION said about the oobtb gateway
// extension.
type Extension struct {
	Presence gwext.Presence
	Block    gwext.Block // valid when Presence is Present
	Err      error       // why the block is Malformed
	Raw      [64]byte    // the reserved bytes as received
	Answered bool        // the server sent its capability PROTOCOL_VERSION
}

// Capability is the device's failover capability field (0 unless Present).
func (e Extension) Capability() gwext.Capability {
	if e.Presence != gwext.Present {
		return 0
	}
	return e.Block.Capability
}

// UUID is the device's canonical UUID ("" before PROTOCOL_VERSION).
func (t *Tunnel) UUID() string { t.mu.Lock(); defer t.mu.Unlock(); return t.uuid }

// Conn is the APF session (nil until it started).
func (t *Tunnel) Conn() *cira.Conn { t.mu.Lock(); defer t.mu.Unlock(); return t.conn }

// Extension returns the gateway-extension state of the device.
func (t *Tunnel) Extension() Extension { t.mu.Lock(); defer t.mu.Unlock(); return t.ext }

// GatewayInfo is the last gateway-info@oobtb the device sent (nil if none).
func (t *Tunnel) GatewayInfo() *gwext.GatewayInfo { t.mu.Lock(); defer t.mu.Unlock(); return t.gwInfo }

// Trigger is the PROTOCOL_VERSION trigger reason.
func (t *Tunnel) Trigger() apf.TriggerReason { t.mu.Lock(); defer t.mu.Unlock(); return t.trigger }

// RemoteAddr is the device's address as the server sees it.
func (t *Tunnel) RemoteAddr() string { return t.remote }

// ConnectedAt is when the device authenticated.
func (t *Tunnel) ConnectedAt() time.Time { t.mu.Lock(); defer t.mu.Unlock(); return t.connectedAt }

// Tunnel returns the live, authenticated tunnel of a device.
func (s *Server) Tunnel(uuid string) (*Tunnel, bool) {
	if u, err := registry.CanonicalUUID(uuid); err == nil {
		uuid = u
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.devices[uuid]
	return t, ok
}

// Connected lists the UUIDs with a live tunnel.
func (s *Server) Connected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.devices))
	for u := range s.devices {
		out = append(out, u)
	}
	return out
}

// Devices lists every registered device (all pages).
func (s *Server) Devices(ctx context.Context) ([]registry.Device, error) {
	var out []registry.Device
	after := ""
	for {
		page, next, err := s.store.ListDevices(ctx, registry.Page{After: after, Limit: registry.MaxPageLimit})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		after = next
	}
}

// startTunnel runs the APF server role on an established TLS socket.
func (s *Server) startTunnel(nc net.Conn) {
	t := &Tunnel{s: s, remote: nc.RemoteAddr().String()}
	t.nc = &notifyConn{Conn: nc, onClose: t.ended}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = nc.Close()
		s.socketClosed()
		return
	}
	s.all[t] = struct{}{}
	s.mu.Unlock()
	c, err := cira.New(t.nc, cira.RoleServer, cira.Config{
		Server:  &cira.ServerConfig{IdleTimeout: s.cfg.IdleTimeout},
		Clock:   s.clk,
		Logger:  s.log,
		Verify:  t.verify,
		OnEvent: t.event,
	})
	if err != nil {
		s.log.Warn("CIRA session did not start", "peer", t.remote, "err", err)
		_ = t.nc.Close()
		return
	}
	t.mu.Lock()
	if t.conn == nil {
		t.conn = c
	}
	t.mu.Unlock()
}

// close ends the tunnel and waits for its goroutines.
func (t *Tunnel) close() {
	if c := t.Conn(); c != nil {
		_ = c.Close()
		return
	}
	_ = t.nc.Close()
}

// ended runs once when the socket closes, whoever closed it.
func (t *Tunnel) ended() {
	s := t.s
	s.socketClosed()
	s.mu.Lock()
	delete(s.all, t)
	t.mu.Lock()
	t.gone = true
	uuid, authed := t.uuid, t.authed
	if t.portTimer != nil {
		t.portTimer.Stop()
		t.portTimer = nil
	}
	t.mu.Unlock()
	current := authed && s.devices[uuid] == t
	if current {
		delete(s.devices, uuid)
		s.met.devices.Dec()
	}
	s.mu.Unlock()
	if !current {
		return
	}
	s.log.Info("device disconnected", "uuid", uuid, "peer", t.remote)
	now := s.clk.Now()
	s.writer.enqueue(regOp{
		build: func() (registry.Write, bool) {
			// A replacement may have registered meanwhile; its "connected"
			// is queued after this, but skip the needless write.
			if _, again := s.Tunnel(uuid); again {
				return registry.Write{}, false
			}
			return registry.Write{UUID: uuid, Connection: &registry.ConnectionUpdate{Now: now, State: registry.StateDisconnected}}, true
		},
		onErr: func(err error) {
			if !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrClosed) {
				s.log.Warn("recording disconnect failed", "uuid", uuid, "err", err)
			}
		},
	})
}

// offStack runs f on a fresh goroutine and waits for it. The registry calls
// behind session events (SQLite, PBKDF2) need deep stacks; run on the
// tunnel's reader goroutine they would grow its stack for good, and an idle
// tunnel would keep paying for it.
func offStack(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

// verify checks USERAUTH credentials against the registry.
func (t *Tunnel) verify(ctx context.Context, req cira.EventAuthRequest) (ok bool) {
	offStack(func() { ok = t.verifyNow(ctx, req) })
	return ok
}

func (t *Tunnel) verifyNow(ctx context.Context, req cira.EventAuthRequest) bool {
	s := t.s
	t.mu.Lock()
	refused := t.refused
	t.mu.Unlock()
	if refused {
		return false // already refused at PROTOCOL_VERSION and audited there
	}
	uuid := req.UUID.String()
	err := s.store.VerifyCIRA(ctx, uuid, req.Username, req.Password)
	t.mu.Lock()
	t.authOK = err == nil
	t.mu.Unlock()
	if err == nil {
		return true
	}
	s.met.authFailures.WithLabelValues("cira").Inc()
	reason := "bad credentials"
	if errors.Is(err, registry.ErrUnknownDevice) {
		reason = "unknown device"
	} else if !errors.Is(err, registry.ErrBadCredentials) {
		reason = "registry error"
		s.log.Warn("CIRA credential check failed", "uuid", uuid, "err", err)
	}
	s.log.Warn("CIRA authentication refused", "uuid", uuid, "user", req.Username, "peer", t.remote, "reason", reason)
	s.auditAsync("device", "cira.auth", uuid, "refused", reason, map[string]any{"user": req.Username, "peer": t.remote})
	return false
}

// event handles the session's events; it is called in the tunnel's reader
// goroutine and works off its stack.
func (t *Tunnel) event(c *cira.Conn, ev cira.Event) {
	switch ev.(type) {
	case cira.EventKeepaliveOptions:
		return
	}
	// Events can arrive before cira.New has returned to startTunnel.
	t.mu.Lock()
	if t.conn == nil {
		t.conn = c
	}
	t.mu.Unlock()
	offStack(func() { t.handleEvent(c, ev) })
}

func (t *Tunnel) handleEvent(c *cira.Conn, ev cira.Event) {
	switch e := ev.(type) {
	case cira.EventPeerVersion:
		t.peerVersion(c, e.Msg)
	case cira.EventAuthRequest:
		t.mu.Lock()
		ok := t.authOK
		t.mu.Unlock()
		if !ok {
			// MeshCentral and the DMT console close after a failure.
			_ = t.nc.Conn.Close()
			return
		}
		t.authenticated(c)
	case cira.EventPortBound:
		t.portsChanged(c, e.Port == apf.PortVNC)
	case cira.EventPortUnbound:
		t.portsChanged(c, false)
	case cira.EventGlobalRequest:
		t.globalRequest(c, e.Req)
	}
}

// peerVersion refuses unknown devices (DMT MPS ends the socket) and answers
// the gateway extension to devices that carried a well-formed block.
func (t *Tunnel) peerVersion(c *cira.Conn, pv apf.ProtocolVersion) {
	s := t.s
	uuid := pv.UUID.String()
	ext := Extension{Raw: pv.Reserved}
	ext.Block, ext.Presence, ext.Err = gwext.DecodeReserved(pv.Reserved)
	t.mu.Lock()
	t.uuid, t.trigger, t.ext = uuid, pv.Trigger, ext
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if known, err := s.store.DeviceExists(ctx, uuid); !known {
		reason := "unknown device"
		if err != nil {
			reason = "registry error"
		}
		s.met.refused.WithLabelValues("unknown_device").Inc()
		if s.refusalLog.allow("unknown:"+uuid, time.Now()) {
			s.log.Warn("CIRA connection refused", "uuid", uuid, "peer", t.remote, "reason", reason)
		}
		s.auditAsync("device", "cira.connect", uuid, "refused", reason, map[string]any{"peer": t.remote})
		t.mu.Lock()
		t.refused = true
		t.mu.Unlock()
		_ = t.nc.Conn.Close()
		return
	}
	if ext.Presence == gwext.Malformed {
		s.log.Info("device sent a malformed gateway-extension block", "uuid", uuid, "err", ext.Err)
	}
	ans, err := gwext.Answer(&pv, gwext.RoleServer, ServerCapabilities)
	if err != nil || ans == nil {
		return
	}
	if err := c.Send(ans); err == nil {
		t.mu.Lock()
		t.ext.Answered = true
		t.mu.Unlock()
	}
}

// authenticated registers the tunnel, replacing an older one of the device.
func (t *Tunnel) authenticated(c *cira.Conn) {
	s := t.s
	now := s.clk.Now()
	// Lock order s.mu → t.mu, as in ended: a socket that closed while the
	// credentials were checked must not be registered as live.
	s.mu.Lock()
	t.mu.Lock()
	if t.gone {
		t.mu.Unlock()
		s.mu.Unlock()
		return
	}
	t.authed, t.connectedAt = true, now
	uuid, trig, ext := t.uuid, t.trigger, t.ext
	t.mu.Unlock()
	old := s.devices[uuid]
	s.devices[uuid] = t
	if old == nil {
		s.met.devices.Inc()
	}
	s.mu.Unlock()
	if old != nil {
		s.log.Info("new connection replaces the old one", "uuid", uuid, "old", old.remote, "new", t.remote)
		go old.close()
	}
	trigger := trig.String()
	path := registry.PathDirect
	u := registry.ConnectionUpdate{Now: now, State: registry.StateConnected, Trigger: &trigger,
		Failover: ptr(failoverRecord(ext)), Path: &path, RemoteAddr: &t.remote}
	if ids := registryIDs(ext.Block.Gateways); ext.Presence == gwext.Present && len(ids) > 0 {
		u.GatewayIDs = &ids
	}
	s.updateAsync(uuid, u, "connect")
	s.log.Info("device connected", "uuid", uuid, "peer", t.remote, "trigger", trigger, "extension", ext.Presence.String())
	s.auditAsync("device", "cira.connect", uuid, "ok", "", map[string]any{"peer": t.remote, "trigger": trigger,
		"extension": ext.Presence.String(), "replaced": old != nil})
	s.pm.deviceConnected(t)
	_ = c
}

// portsChanged records the port table. The forward of 5900 ends AMT's
// registration (stock servers send KEEPALIVE_OPTIONS then), so the table is
// written once there and on every later change; a device that never
// forwards 5900 gets its table written after a short quiet period, so a
// registration costs one registry write, not seven.
func (t *Tunnel) portsChanged(c *cira.Conn, last bool) {
	t.mu.Lock()
	if last {
		t.ready = true
	}
	if t.ready {
		if t.portTimer != nil {
			t.portTimer.Stop()
			t.portTimer = nil
		}
		t.mu.Unlock()
		t.recordPorts(c)
		return
	}
	if t.portTimer == nil {
		t.portTimer = t.s.clk.AfterFunc(portQuiet, func() {
			t.mu.Lock()
			t.portTimer = nil
			t.mu.Unlock()
			if t.s.ctx.Err() == nil {
				t.recordPorts(c)
			}
		})
	}
	t.mu.Unlock()
}

// recordPorts stores the device's port table.
func (t *Tunnel) recordPorts(c *cira.Conn) {
	s := t.s
	ports := c.BoundPorts()
	bp := make([]registry.BoundPort, 0, len(ports))
	for _, p := range ports {
		bp = append(bp, registry.BoundPort{Port: p})
	}
	s.updateAsync(t.UUID(), registry.ConnectionUpdate{Now: s.clk.Now(), BoundPorts: &bp}, "ports")
}

// globalRequest answers the oobtb extension requests.
func (t *Tunnel) globalRequest(c *cira.Conn, req *apf.ExtensionRequest) {
	s := t.s
	if req.Name != gwext.RequestGatewayInfo {
		s.log.Info("unknown extension request refused", "uuid", t.UUID(), "name", req.Name)
		if req.WantReply {
			_ = c.Reply(false)
		}
		return
	}
	gi, err := gwext.ParseGatewayInfo(req)
	if err != nil {
		s.log.Warn("malformed gateway-info", "uuid", t.UUID(), "err", err)
		if req.WantReply {
			_ = c.Reply(false)
		}
		return
	}
	t.mu.Lock()
	t.gwInfo = &gi
	t.mu.Unlock()
	ids := registryIDs(gi.IDs)
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	_, err = s.store.UpdateConnection(ctx, t.UUID(), registry.ConnectionUpdate{Now: s.clk.Now(), GatewayIDs: &ids})
	if err != nil {
		s.log.Warn("recording gateway identifiers failed", "uuid", t.UUID(), "err", err)
	}
	if req.WantReply {
		_ = c.Reply(err == nil)
	}
}

// failoverRecord is the registry form of the extension state.
func failoverRecord(e Extension) registry.Failover {
	switch e.Presence {
	case gwext.Present:
		return registry.Failover{Raw: append([]byte(nil), e.Raw[:]...),
			Summary: fmt.Sprintf("present: role %s, capability %s", e.Block.Role, e.Block.Capability)}
	case gwext.Malformed:
		return registry.Failover{Raw: append([]byte(nil), e.Raw[:]...), Summary: "malformed: " + e.Err.Error()}
	}
	return registry.Failover{Summary: "absent"}
}

// registryIDs converts wire identifiers to the registry's typed text form.
// Keys and hashes are not identifiers the registry stores (a hash is
// resolved against the gateway table by the pairing module); endpoints
// become an address and a port.
func registryIDs(ids []gwext.Identifier) []registry.Identifier {
	var out []registry.Identifier
	add := func(t registry.IdentifierType, v string) {
		if len(out) >= registry.MaxGatewayIDs {
			return
		}
		if id, err := registry.NormalizeIdentifier(registry.Identifier{Type: t, Value: v}); err == nil {
			out = append(out, id)
		}
	}
	for _, id := range ids {
		switch id.Type {
		case gwext.IDIPv4, gwext.IDIPv6:
			if a, ok := id.Addr(); ok {
				add(ipType(a), a.String())
			}
		case gwext.IDIPv4Endpoint, gwext.IDIPv6Endpoint:
			if a, ok := id.Addr(); ok {
				add(ipType(a), a.String())
			}
			if p, ok := id.PortValue(); ok {
				add(registry.IDPort, strconv.Itoa(int(p)))
			}
		case gwext.IDPort:
			if p, ok := id.PortValue(); ok {
				add(registry.IDPort, strconv.Itoa(int(p)))
			}
		case gwext.IDMAC:
			if len(id.Value) == 6 {
				add(registry.IDMAC, net.HardwareAddr(id.Value).String())
			}
		case gwext.IDDomain:
			add(registry.IDDomain, string(id.Value))
		case gwext.IDUDI:
			add(registry.IDUDI, string(id.Value))
		case gwext.IDURL:
			add(registry.IDURL, string(id.Value))
		}
	}
	return out
}

func ipType(a netip.Addr) registry.IdentifierType {
	if a.Is4() || a.Is4In6() {
		return registry.IDIPv4
	}
	return registry.IDIPv6
}

func ptr[T any](v T) *T { return &v }

// notifyConn calls onClose once when the socket is first closed, so a tunnel
// is deregistered without a goroutine parked per connection.
type notifyConn struct {
	net.Conn
	once    sync.Once
	onClose func()
}

func (n *notifyConn) Close() error {
	err := n.Conn.Close()
	n.once.Do(n.onClose)
	return err
}
