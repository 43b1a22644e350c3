package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/gateway/control"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// lanLogin is what one local-MPS connection authenticated as.
type lanLogin struct {
	mu       sync.Mutex
	caps     gwext.Capability // from the device's PROTOCOL_VERSION block
	pairing  *pairing         // set for a pairing login
	failover string           // device uuid for a failover login
	ready    chan struct{}    // closed when port 5900 is forwarded
	once     sync.Once
}

func (g *Gateway) serveLAN(ctx context.Context, ln net.Listener) {
	g.acceptLoop(ctx, ln, "local MPS", g.cfg.MaxLANConns, g.lanConn)
}

func (g *Gateway) lanConn(ctx context.Context, nc net.Conn) {
	log := g.log.With("part", "lan-mps", "remote", nc.RemoteAddr().String())
	tc := tls.Server(nc, g.lanTLS)
	hctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	err := tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		log.Info("local MPS TLS handshake failed", "err", err)
		nc.Close()
		return
	}
	st := &lanLogin{ready: make(chan struct{})}
	sc := g.cfg.CIRA
	c, err := cira.New(tc, cira.RoleServer, cira.Config{Server: &sc, Clock: g.clk, Logger: log,
		Verify:  func(vctx context.Context, req cira.EventAuthRequest) bool { return g.verifyLAN(vctx, st, req, log) },
		OnEvent: func(c *cira.Conn, ev cira.Event) { g.lanEvent(c, st, ev, log) },
	})
	if err != nil {
		log.Warn("local MPS session", "err", err)
		tc.Close()
		return
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		c.Close()
		<-c.Done()
		return
	}
	g.lanConns[c] = struct{}{}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.lanConns, c)
		g.mu.Unlock()
	}()
	select {
	case <-c.Ready():
	case <-c.Done():
		return
	}
	st.mu.Lock()
	p, uuid := st.pairing, st.failover
	st.mu.Unlock()
	switch {
	case p != nil:
		g.attachPaired(c, p, log)
	case uuid != "":
		g.attachFailover(c, st, uuid, log)
	default:
		c.Close() // cannot happen: Ready means Verify said yes
		<-c.Done()
	}
}

func (g *Gateway) lanEvent(c *cira.Conn, st *lanLogin, ev cira.Event, log interface {
	Warn(string, ...any)
}) {
	switch e := ev.(type) {
	case cira.EventPeerVersion:
		blk, presence, err := gwext.DecodeReserved(e.Msg.Reserved)
		if presence == gwext.Malformed {
			log.Warn("device sent a malformed extension block; treating it as stock", "err", err)
		}
		if presence == gwext.Present && blk.Role == gwext.RoleDevice {
			st.mu.Lock()
			st.caps = blk.Capability
			st.mu.Unlock()
		}
		if pv, _ := gwext.Answer(&e.Msg, gwext.RoleGateway, g.cfg.Capability); pv != nil {
			g.mu.Lock()
			if g.closed {
				g.mu.Unlock()
				return
			}
			g.wg.Add(1)
			g.mu.Unlock()
			go func() { defer g.wg.Done(); _ = c.Send(pv) }()
		}
	case cira.EventPortBound:
		// Port 5900 is the last of AMT's forwards: the "registration
		// finished" signal stock servers use (reference §1.5).
		if e.Port == 5900 {
			st.once.Do(func() { close(st.ready) })
		}
	case cira.EventGlobalRequest:
		go func() { _ = c.Reply(false) }() // the gateway's local MPS takes no extension requests
	}
}

// verifyLAN decides a USERAUTH on the local MPS: a pairing login by the
// one-time token, any other login as a failover device the server vouches for.
func (g *Gateway) verifyLAN(ctx context.Context, st *lanLogin, req cira.EventAuthRequest, log interface {
	Info(string, ...any)
}) bool {
	uuid := strings.ToLower(req.UUID.String())
	if gwext.IsPairingUsername(req.Username) {
		g.mu.Lock()
		p, err := g.admitDevice(req.Username, req.Password, uuid, g.clk.Now())
		g.mu.Unlock()
		if err != nil {
			g.metrics.lanLogins.WithLabelValues("refused").Inc()
			log.Info("local MPS refused a pairing login", "device", uuid, "reason", err.Error())
			if sid, perr := gwext.ParseUsername(req.Username); perr == nil {
				g.sessionEvent(control.SessionEvent{Session: sid.String(), Event: control.EventDeviceFailed,
					Reason: err.Error(), DeviceUUID: uuid})
			}
			return false
		}
		st.mu.Lock()
		st.pairing = p
		st.mu.Unlock()
		g.metrics.lanLogins.WithLabelValues("paired").Inc()
		log.Info("local MPS admitted a paired device", "device", uuid, "session", p.id.String())
		return true
	}
	refuse := func(reason string) bool {
		g.metrics.lanLogins.WithLabelValues("refused").Inc()
		log.Info("local MPS refused a failover login", "device", uuid, "reason", reason)
		return false
	}
	st.mu.Lock()
	caps := st.caps
	st.mu.Unlock()
	if !g.cfg.Capability.Has(gwext.CapFailover) {
		return refuse("this gateway does not offer failover")
	}
	if !caps.Has(gwext.CapFailover) {
		return refuse("the device did not advertise the failover capability in PROTOCOL_VERSION")
	}
	g.mu.Lock()
	ctl := g.ctl
	g.mu.Unlock()
	if ctl == nil {
		return refuse("control channel not started")
	}
	err := ctl.VerifyDevice(ctx, control.VerifyDevice{UUID: uuid, Username: req.Username, Password: req.Password,
		Capability: uint16(caps)})
	if err != nil {
		return refuse(fmt.Sprintf("server did not authorise the device: %v", err))
	}
	st.mu.Lock()
	st.failover = uuid
	st.mu.Unlock()
	g.metrics.lanLogins.WithLabelValues("failover").Inc()
	log.Info("local MPS admitted a failover device", "device", uuid)
	return true
}

func (g *Gateway) attachPaired(c *cira.Conn, p *pairing, log interface{ Info(string, ...any) }) {
	g.mu.Lock()
	p.conn = c
	g.mu.Unlock()
	sid := p.id.String()
	g.sessionEvent(control.SessionEvent{Session: sid, Event: control.EventDeviceConnected, DeviceUUID: p.device})
	<-c.Done()
	g.mu.Lock()
	if p.conn == c {
		p.conn = nil
	}
	cons := p.consoles
	p.consoles = nil
	g.mu.Unlock()
	for _, cc := range cons {
		cc.Close()
	}
	reason := fmt.Sprintf("device tunnel ended: %v", c.Err())
	log.Info("paired device gone", "session", sid, "reason", reason)
	g.sessionEvent(control.SessionEvent{Session: sid, Event: control.EventSessionEnded, Reason: reason, DeviceUUID: p.device})
}

func (g *Gateway) attachFailover(c *cira.Conn, st *lanLogin, uuid string, log interface{ Info(string, ...any) }) {
	g.mu.Lock()
	old := g.failover[uuid]
	g.failover[uuid] = c
	ctl := g.ctl
	g.mu.Unlock()
	if old != nil {
		old.Close() // a newer tunnel replaces the old one, as at an MPS
	}
	// A device that never forwards 5900 is reported after a short wait.
	t := g.clk.NewTimer(3 * time.Second)
	select {
	case <-st.ready:
	case <-t.C():
	case <-c.Done():
	}
	t.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := ctl.DeviceOnline(ctx, control.DeviceOnline{UUID: uuid, Ports: c.BoundPorts()}); err != nil {
		log.Info("device-online not delivered", "device", uuid, "err", err)
	}
	cancel()
	<-c.Done()
	g.mu.Lock()
	current := g.failover[uuid] == c
	if current {
		delete(g.failover, uuid)
	}
	g.mu.Unlock()
	if current {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = ctl.DeviceOffline(ctx, control.DeviceOffline{UUID: uuid, Reason: fmt.Sprint(c.Err())})
		cancel()
	}
	log.Info("failover device gone", "device", uuid, "err", c.Err())
}
