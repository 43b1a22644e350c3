package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/gateway/control"
	"github.com/oobtb/oobtb/emulators/server/authtoken"
	"github.com/oobtb/oobtb/emulators/server/registry"
)

// P2PUpgrade is the Upgrade token of the P2P relay: after the 101 answer
// the socket carries the console↔gateway channel's bytes unchanged.
const P2PUpgrade = "oobtb-p2p"

// P2P relay bounds.
const (
	// RelayPeerWait bounds how long a gateway leg waits for its console.
	RelayPeerWait = 10 * time.Second
	// relayDialTimeout bounds the relay's own dial of a gateway's WAN
	// endpoint (when the gateway did not come to the relay itself).
	relayDialTimeout = 5 * time.Second
	// relayIdle cuts a pair whose both directions are silent this long
	// (the channel's mux keeps a live session talking).
	relayIdle = 10 * time.Minute
)

// p2pRelay pairs a console socket and a gateway socket by session id and
// forwards their bytes. It holds no key: what it forwards is the Noise
// channel's preamble (the session id, in clear by design) and ciphertext.
type p2pRelay struct {
	pm *pairingModule

	mu      sync.Mutex
	waiting map[string]net.Conn // gateway legs waiting for their console
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

func newP2PRelay(pm *pairingModule) *p2pRelay {
	return &p2pRelay{pm: pm, waiting: map[string]net.Conn{}, conns: map[net.Conn]struct{}{}}
}

// handle is GET /api/v1/p2p-relay?session=S&role=console|gateway with
// "Upgrade: oobtb-p2p" and the role's one-time pairing token as bearer.
func (rl *p2pRelay) handle(w http.ResponseWriter, r *http.Request) {
	s := rl.pm.s
	q := r.URL.Query()
	sid, role := q.Get("session"), registry.TokenRole(q.Get("role"))
	if _, err := control.ParseSession(sid); err != nil {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("session=%q: expected the pairing's session id (32 hex digits)", sid))
		return
	}
	if role != registry.RoleConsole && role != registry.RoleGateway {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("role=%q: expected console or gateway", role))
		return
	}
	if !headerHas(r.Header, "Connection", "upgrade") || !headerHas(r.Header, "Upgrade", P2PUpgrade) {
		w.Header().Set("Upgrade", P2PUpgrade)
		writeError(w, http.StatusUpgradeRequired, "upgrade_required", "send Connection: Upgrade and Upgrade: "+P2PUpgrade)
		return
	}
	tok, ok := authtoken.ParseBearer(r.Header.Get("Authorization"))
	if !ok {
		s.met.authFailures.WithLabelValues("p2p_relay").Inc()
		writeError(w, http.StatusUnauthorized, "unauthorized", "no token: send the pairing's one-time relay token as Authorization: Bearer")
		return
	}
	p, err := s.store.ConsumeToken(r.Context(), sid, role, tok, s.clk.Now())
	var te *registry.TokenError
	if errors.As(err, &te) {
		s.met.authFailures.WithLabelValues("p2p_relay").Inc()
		s.auditAsync(string(role), "pairing.relay", sid, "refused", te.Reason, nil)
		writeError(w, http.StatusForbidden, "token", "relay refused: "+te.Reason)
		return
	}
	if err != nil {
		s.writeErr(w, err)
		return
	}
	if role == registry.RoleGateway {
		nc, err := rl.hijack(w)
		if err != nil {
			return
		}
		rl.park(sid, nc)
		return
	}
	gw := rl.take(sid)
	if gw == nil {
		if gw, err = rl.reachGateway(r.Context(), sid, p.GatewayID); err != nil {
			s.auditAsync("console:"+p.ConsoleID, "pairing.relay", sid, "failed", err.Error(), nil)
			writeError(w, http.StatusBadGateway, "gateway_unreachable", err.Error())
			return
		}
	}
	nc, err := rl.hijack(w)
	if err != nil {
		_ = gw.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	_, _ = s.store.UpdatePairing(ctx, sid, registry.PairingUpdate{State: registry.PairingActive, Path: registry.SessionRelay,
		Reason: "console came through the relay"}, s.clk.Now())
	cancel()
	s.auditAsync("console:"+p.ConsoleID, "pairing.relay", sid, "ok", "", map[string]any{"gateway": p.GatewayID, "device": p.DeviceUUID})
	rl.pipe(nc, gw)
}

// reachGateway opens the gateway's leg when the gateway did not come to the
// relay itself: a relay/<session> stream on its control connection
// (gateway-control.md §6a), which reaches a gateway behind NAT; without a
// control connection, a dial of its WAN endpoints from the server.
func (rl *p2pRelay) reachGateway(ctx context.Context, sid, id string) (net.Conn, error) {
	if c, ok := rl.pm.gws.conn(id); ok {
		s, err := control.ParseSession(sid)
		if err != nil {
			return nil, err
		}
		octx, cancel := context.WithTimeout(ctx, relayDialTimeout)
		defer cancel()
		nc, err := c.OpenRelay(octx, s)
		if err != nil {
			return nil, fmt.Errorf("gateway %s refused the relayed console: %w", id, err)
		}
		return nc, nil
	}
	return rl.dialGateway(ctx, id)
}

// dialGateway reaches a gateway's WAN endpoint from the server.
func (rl *p2pRelay) dialGateway(ctx context.Context, id string) (net.Conn, error) {
	g, err := rl.pm.s.store.GetGateway(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", id, err)
	}
	var errs []error
	for _, ep := range g.WANEndpoints {
		dctx, cancel := context.WithTimeout(ctx, relayDialTimeout)
		nc, err := rl.pm.s.net.Dial(dctx, "tcp", ep)
		cancel()
		if err == nil {
			return nc, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("gateway %s is unreachable from the relay: %w", id, errors.Join(errs...))
}

// hijack answers 101 and takes the socket over.
func (rl *p2pRelay) hijack(w http.ResponseWriter) (net.Conn, error) {
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "the connection cannot be upgraded: "+err.Error())
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	if _, err := io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: "+P2PUpgrade+"\r\nConnection: Upgrade\r\n\r\n"); err != nil {
		_ = nc.Close()
		return nil, err
	}
	var c net.Conn = nc
	if brw != nil && brw.Reader.Buffered() > 0 {
		c = &bufferedConn{Conn: nc, r: brw.Reader}
	}
	rl.mu.Lock()
	if rl.closed {
		rl.mu.Unlock()
		_ = nc.Close()
		return nil, errors.New("relay closed")
	}
	rl.conns[c] = struct{}{}
	rl.mu.Unlock()
	return c, nil
}

// park keeps a gateway leg until its console takes it, at most
// RelayPeerWait; one leg per session (a second replaces nothing: the token
// is one-time).
func (rl *p2pRelay) park(sid string, nc net.Conn) {
	rl.mu.Lock()
	rl.waiting[sid] = nc
	rl.mu.Unlock()
	rl.pm.s.clk.AfterFunc(RelayPeerWait, func() {
		rl.mu.Lock()
		cur, ok := rl.waiting[sid]
		if ok && cur == nc {
			delete(rl.waiting, sid)
		}
		rl.mu.Unlock()
		if ok && cur == nc {
			rl.drop(nc)
		}
	})
}

func (rl *p2pRelay) take(sid string) net.Conn {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	nc := rl.waiting[sid]
	delete(rl.waiting, sid)
	return nc
}

func (rl *p2pRelay) drop(nc net.Conn) {
	_ = nc.Close()
	rl.mu.Lock()
	delete(rl.conns, nc)
	rl.mu.Unlock()
}

// pipe forwards both ways, counts the bytes, and closes both sockets when
// either side ends.
func (rl *p2pRelay) pipe(console, gateway net.Conn) {
	rl.mu.Lock()
	rl.conns[gateway] = struct{}{}
	rl.mu.Unlock()
	rl.pm.relayLive.Inc()
	var once sync.Once
	done := func() {
		once.Do(func() {
			rl.drop(console)
			rl.drop(gateway)
			rl.pm.relayLive.Dec()
		})
	}
	toGW, toConsole := rl.pm.relayBytes.WithLabelValues("to_gateway"), rl.pm.relayBytes.WithLabelValues("to_console")
	rl.wg.Add(2)
	go func() { defer rl.wg.Done(); defer done(); relayCopy(gateway, console, toGW.Add) }()
	go func() { defer rl.wg.Done(); defer done(); relayCopy(console, gateway, toConsole.Add) }()
}

// relayCopy copies src to dst; every read has an idle deadline and every
// write a write deadline, so a stuck side cannot hold the pair.
func relayCopy(dst, src net.Conn, count func(float64)) {
	buf := make([]byte, 32<<10)
	for {
		_ = src.SetReadDeadline(time.Now().Add(relayIdle))
		n, err := src.Read(buf)
		if n > 0 {
			_ = dst.SetWriteDeadline(time.Now().Add(relayWriteTimeout))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			count(float64(n))
		}
		if err != nil {
			return
		}
	}
}

// close ends every relayed pair and waiting leg.
func (rl *p2pRelay) close() {
	rl.mu.Lock()
	rl.closed = true
	conns := make([]net.Conn, 0, len(rl.conns))
	for c := range rl.conns {
		conns = append(conns, c)
	}
	rl.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	rl.wg.Wait()
}

// bufferedConn reads what the HTTP server had buffered before the socket.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, part := range splitComma(v) {
			if equalFold(part, token) {
				return true
			}
		}
	}
	return false
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			part := s[start:i]
			for len(part) > 0 && (part[0] == ' ' || part[0] == '\t') {
				part = part[1:]
			}
			for len(part) > 0 && (part[len(part)-1] == ' ' || part[len(part)-1] == '\t') {
				part = part[:len(part)-1]
			}
			out = append(out, part)
			start = i + 1
		}
	}
	return out
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
