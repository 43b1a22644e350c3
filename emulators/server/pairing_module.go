package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oobtb/oobtb/emulators/gateway/control"
	"github.com/oobtb/oobtb/emulators/server/authtoken"
)

// Pairing-module defaults.
const (
	// DefaultPairingTTL is a pairing's life: time enough to set the session
	// up, short enough that a leaked token is worthless soon.
	DefaultPairingTTL = 60 * time.Second
	// DefaultGatewayHeartbeat is the interval gateways are told; a gateway
	// whose last heartbeat is older than three of them is offline.
	DefaultGatewayHeartbeat = 10 * time.Second
	// deviceReadyWait bounds the wait for the vMC's out-of-band login at
	// the gateway before the console is answered.
	deviceReadyWait = 15 * time.Second
	// invokeTimeout bounds one command to a gateway or a device.
	invokeTimeout = 10 * time.Second
	// helpRequestTTL is how long a user's help request stays open.
	helpRequestTTL = 30 * time.Minute
)

// pairingModule is the driver of package pairing, the gateway host
// (control channel), the help-request queue and the P2P relay.
type pairingModule struct {
	s       *Server
	ttl     time.Duration
	hbEvery time.Duration

	ctl   *control.ServerHandler
	ctlLn net.Listener
	gws   *gatewayHost
	relay *p2pRelay

	relayBytes *prometheus.CounterVec
	relayLive  prometheus.Gauge
	pairings   *prometheus.CounterVec

	mu      sync.Mutex
	waiters map[string][]chan control.SessionEvent // session → device/console event waiters

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newPairingModule(s *Server) (*pairingModule, error) {
	pm := &pairingModule{s: s, ttl: s.cfg.PairingTTL, hbEvery: s.cfg.GatewayHeartbeat,
		waiters: map[string][]chan control.SessionEvent{}}
	if pm.ttl <= 0 {
		pm.ttl = DefaultPairingTTL
	}
	if pm.hbEvery <= 0 {
		pm.hbEvery = DefaultGatewayHeartbeat
	}
	pm.ctx, pm.cancel = context.WithCancel(context.Background())
	pm.relay = newP2PRelay(pm)
	pm.relayBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "oobtb_server", Name: "p2p_relay_bytes_total",
		Help: "Ciphertext bytes the P2P relay forwarded between consoles and gateways, by direction (to_gateway, to_console)."},
		[]string{"direction"})
	pm.relayLive = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "oobtb_server", Name: "p2p_relay_sessions",
		Help: "Console↔gateway pairs the P2P relay forwards now."})
	pm.pairings = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "oobtb_server", Name: "pairings_total",
		Help: "Session requests answered by the pairing module, by path (direct, classic) or refused."}, []string{"outcome"})
	for _, c := range []prometheus.Collector{pm.relayBytes, pm.relayLive, pm.pairings} {
		if err := s.met.reg.Register(c); err != nil {
			return nil, fmt.Errorf("server: pairing metrics: %w", err)
		}
	}
	var err error
	if pm.gws, err = newGatewayHost(pm); err != nil {
		return nil, err
	}
	pm.ctl, err = control.NewServerHandler(control.ServerConfig{Registry: pm.gws, HeartbeatInterval: pm.hbEvery,
		Clock: s.clk, Logger: s.log.With("component", "gateway-control")})
	if err != nil {
		return nil, fmt.Errorf("server: gateway control: %w", err)
	}
	switch {
	case s.cfg.GatewayListener != nil:
		pm.ctlLn = s.cfg.GatewayListener
	case s.cfg.GatewayListen != "":
		if pm.ctlLn, err = s.net.Listen(context.Background(), "tcp", s.cfg.GatewayListen); err != nil {
			return nil, fmt.Errorf("server: gateway control listener on %s: %w", s.cfg.GatewayListen, err)
		}
	}
	return pm, nil
}

// routes are the module's API routes (documented in openapi.json).
func (pm *pairingModule) routes() []route {
	return []route{
		{"POST", "/api/v1/pairings", authtoken.ScopeAdmin, pm.handleCreatePairing},
		{"GET", "/api/v1/pairings/{id}", authtoken.ScopeAdmin, pm.handleGetPairing},
		{"POST", "/api/v1/gateways", authtoken.ScopeAdmin, pm.handleCreateGateway},
		{"GET", "/api/v1/gateways", authtoken.ScopeAdmin, pm.handleListGateways},
		{"GET", "/api/v1/help-requests", authtoken.ScopeAdmin, pm.handleListHelp},
		{"POST", "/api/v1/help-requests/{id}/accept", authtoken.ScopeAdmin, pm.handleAcceptHelp},
		{"GET", "/api/v1/p2p-relay", "", pm.relay.handle},
	}
}

// start serves the gateway control listener (TLS with the server's
// certificate) and expires pairings.
func (pm *pairingModule) start() {
	if pm.ctlLn != nil {
		ln := tls.NewListener(pm.ctlLn, pm.s.tlsCfg)
		pm.wg.Add(1)
		go func() {
			defer pm.wg.Done()
			if err := pm.ctl.Serve(ln); err != nil && pm.ctx.Err() == nil {
				pm.s.log.Warn("gateway control listener stopped", "err", err)
			}
		}()
		pm.s.log.Info("gateway control channel listening", "addr", pm.ctlLn.Addr().String())
	}
	pm.wg.Add(1)
	go func() {
		defer pm.wg.Done()
		for {
			t := pm.s.clk.NewTimer(5 * time.Second)
			select {
			case <-pm.ctx.Done():
				t.Stop()
				return
			case <-t.C():
				ctx, cancel := context.WithTimeout(pm.ctx, 5*time.Second)
				if n, err := pm.s.store.ExpirePairings(ctx, pm.s.clk.Now()); err == nil && n > 0 {
					pm.s.log.Info("pairings expired", "count", n)
				}
				cancel()
			}
		}
	}()
}

// close stops the control channel, the relay and the expiry loop.
func (pm *pairingModule) close() {
	pm.cancel()
	if pm.ctlLn != nil {
		_ = pm.ctlLn.Close()
	}
	_ = pm.ctl.Close()
	pm.relay.close()
	pm.wg.Wait()
}

// GatewayControlAddr is the gateway control channel's listen address (nil
// when Config.GatewayListen and GatewayListener are both unset).
func (s *Server) GatewayControlAddr() net.Addr {
	if s.pm == nil || s.pm.ctlLn == nil {
		return nil
	}
	return s.pm.ctlLn.Addr()
}

// waitSession returns a channel receiving the gateway's session events for
// sid, and a function that stops the wait.
func (pm *pairingModule) waitSession(sid string) (<-chan control.SessionEvent, func()) {
	ch := make(chan control.SessionEvent, 8)
	pm.mu.Lock()
	pm.waiters[sid] = append(pm.waiters[sid], ch)
	pm.mu.Unlock()
	return ch, func() {
		pm.mu.Lock()
		defer pm.mu.Unlock()
		ws := pm.waiters[sid]
		for i, w := range ws {
			if w == ch {
				pm.waiters[sid] = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(pm.waiters[sid]) == 0 {
			delete(pm.waiters, sid)
		}
	}
}

func (pm *pairingModule) notifySession(ev control.SessionEvent) {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	for _, ch := range pm.waiters[ev.Session] {
		select {
		case ch <- ev:
		default:
		}
	}
}
