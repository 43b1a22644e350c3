package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/oobtb/oobtb/emulators/gateway/control"
	"github.com/oobtb/oobtb/emulators/server/pairing"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// setup is one session request in flight: the machine and what the driver
// made for it (the device token never leaves this struct except to the
// device, over its authenticated CIRA tunnel).
type setup struct {
	m       *pairing.Machine
	req     pairing.Request
	sid     gwext.SessionID
	tok     gwext.Token
	tokens  map[registry.TokenRole]string
	events  <-chan control.SessionEvent
	stop    func()
	devWait time.Duration
	expiry  time.Time
	// superseded counts earlier open pairings of the device this request
	// cancelled (their out-of-band connection may still be closing).
	superseded int
}

// pair runs the machine to its Finish.
func (pm *pairingModule) pair(ctx context.Context, req pairing.Request) (pairing.Result, map[registry.TokenRole]string) {
	st := &setup{m: pairing.New(req, pairing.Config{TTL: pm.ttl, MaxHeartbeatAge: 3*pm.hbEvery + 5*time.Second}), req: req,
		devWait: deviceReadyWait}
	defer func() {
		if st.stop != nil {
			st.stop()
		}
	}()
	acts := st.m.Handle(pairing.Begin{Device: pm.deviceFacts(req.Device)}, pm.s.clk.Now())
	for len(acts) > 0 {
		a := acts[0]
		acts = acts[1:]
		var ev pairing.Event
		switch a := a.(type) {
		case pairing.Resolve:
			ev = pm.resolve(ctx, a)
		case pairing.Create:
			ev = pm.create(ctx, st, a)
		case pairing.InvokeGateway:
			ev = pm.invokeGateway(ctx, st, a.Gateway)
		case pairing.InvokeDevice:
			ev = pm.invokeDevice(ctx, st, a.Gateway)
		case pairing.Cancel:
			pm.cancelAtGateway(st, a.Reason)
		case pairing.Finish:
			pm.finish(ctx, st, a.Result)
			return a.Result, st.tokens
		}
		if ev != nil {
			acts = append(acts, st.m.Handle(ev, pm.s.clk.Now())...)
		}
	}
	return st.m.Result(), st.tokens
}

// deviceFacts reads the device's live tunnel.
func (pm *pairingModule) deviceFacts(uuid string) pairing.Device {
	d := pairing.Device{UUID: uuid}
	t, ok := pm.s.Tunnel(uuid)
	if !ok || t.Conn() == nil {
		return d
	}
	ext := t.Extension()
	d.Connected, d.Presence, d.Capability = true, ext.Presence, ext.Capability()
	if ext.Err != nil {
		d.MalformedReason = ext.Err.Error()
	}
	if ext.Presence == gwext.Present {
		d.Reported = append(d.Reported, ext.Block.Gateways...)
	}
	if gi := t.GatewayInfo(); gi != nil {
		d.Reported = append(d.Reported, gi.IDs...)
		if k, err := gwext.Key(gi.Key); err == nil {
			d.Reported = append(d.Reported, k)
		}
	}
	return d
}

// resolve finds the gateway by the console's identifier, else by what the
// device reported (plain identifiers by index, hashes and keys by scan).
func (pm *pairingModule) resolve(ctx context.Context, a pairing.Resolve) pairing.Event {
	st := pm.s.store
	var g registry.Gateway
	var err error
	switch {
	case a.Ref != nil && a.Ref.Type == pairing.TypeID:
		g, err = st.GetGateway(ctx, a.Ref.Value)
		if err == nil && !g.Enrolled {
			err = fmt.Errorf("%w: gateway %s has not enrolled", registry.ErrNotFound, g.ID)
		}
	case a.Ref != nil:
		var id registry.Identifier
		if id, err = registry.NormalizeIdentifier(registry.Identifier{Type: registry.IdentifierType(a.Ref.Type), Value: a.Ref.Value}); err == nil {
			g, err = st.FindGatewayByIdentifier(ctx, id)
		}
	default:
		err = registry.ErrNotFound
		for _, id := range pairing.Lookups(a.Reported) {
			if g, err = st.FindGatewayByIdentifier(ctx, id); err == nil {
				break
			}
		}
		if err != nil {
			err = pm.scanReported(ctx, a.Reported, &g)
		}
	}
	if err != nil {
		why := "not found"
		switch {
		case errors.Is(err, registry.ErrAmbiguous):
			why = "identifier matches more than one gateway"
		case errors.Is(err, registry.ErrInvalid):
			why = err.Error()
		case !errors.Is(err, registry.ErrNotFound):
			why = "registry error: " + err.Error()
		}
		return pairing.Resolved{Err: why}
	}
	out := &pairing.Gateway{Gateway: g}
	if c, ok := pm.gws.conn(g.ID); ok {
		out.ControlUp = true
		out.LANMPS = c.Registration().LANMPS
	}
	return pairing.Resolved{Gateway: out}
}

func (pm *pairingModule) scanReported(ctx context.Context, reported []gwext.Identifier, out *registry.Gateway) error {
	gws, err := pm.s.store.ListGateways(ctx)
	if err != nil {
		return err
	}
	for _, r := range reported {
		for _, g := range gws {
			if g.Enrolled && pairing.MatchesAny(r, g) {
				*out = g
				return nil
			}
		}
	}
	return registry.ErrNotFound
}

// create stores the pairing. The session id is a gwext.SessionID in hex so
// it travels unchanged through the registry, the gateway, the vMC's
// USERAUTH and the Noise prologue; the device token is made here and only
// its hash goes to the gateway.
func (pm *pairingModule) create(ctx context.Context, st *setup, a pairing.Create) pairing.Event {
	if _, err := rand.Read(st.sid[:]); err != nil {
		return pairing.Created{Err: err.Error()}
	}
	if _, err := rand.Read(st.tok[:]); err != nil {
		return pairing.Created{Err: err.Error()}
	}
	st.superseded = pm.supersede(ctx, st.req.Device)
	now := pm.s.clk.Now()
	ttl := a.Expiry.Sub(now)
	p, toks, err := pm.s.store.CreatePairing(ctx, registry.NewPairing{SessionID: st.sid.String(), DeviceUUID: st.req.Device,
		GatewayID: a.Gateway.ID, ConsoleID: st.req.ConsoleID, TTL: ttl, GatewayPublicKey: a.Gateway.PublicKey,
		ConsolePublicKey: a.ConsoleKey[:], Path: registry.SessionDirect,
		Roles: []registry.TokenRole{registry.RoleConsole, registry.RoleGateway}}, now)
	if err != nil {
		return pairing.Created{Err: err.Error()}
	}
	st.tokens, st.expiry = toks, p.ExpiresAt
	st.events, st.stop = pm.waitSession(p.SessionID)
	return pairing.Created{SessionID: p.SessionID, Expiry: p.ExpiresAt}
}

// invokeGateway tells the gateway to expect the device and the console.
func (pm *pairingModule) invokeGateway(ctx context.Context, st *setup, g pairing.Gateway) pairing.Event {
	c, ok := pm.gws.conn(g.ID)
	if !ok {
		return pairing.GatewayInvoked{Err: "control channel went down"}
	}
	ctx, cancel := context.WithTimeout(ctx, invokeTimeout)
	defer cancel()
	h := sha256.Sum256(st.tok[:])
	sid := st.sid.String()
	if err := c.ExpectDevice(ctx, control.ExpectDevice{Session: sid, DeviceUUID: st.req.Device,
		TokenSHA256: hex.EncodeToString(h[:]), Expiry: expiryUnix(st.expiry)}); err != nil {
		return pairing.GatewayInvoked{Err: "expect-device: " + err.Error()}
	}
	if err := c.ExpectConsole(ctx, control.ExpectConsole{Session: sid, DeviceUUID: st.req.Device, ConsoleID: st.req.ConsoleID,
		ConsoleKey: hex.EncodeToString(st.req.ConsoleKey[:]), Expiry: expiryUnix(st.expiry)}); err != nil {
		return pairing.GatewayInvoked{Err: "expect-console: " + err.Error()}
	}
	return pairing.GatewayInvoked{}
}

// expiryUnix is the pairing's expiry in whole seconds, rounded up so the
// gateway never expires a session before the registry does.
func expiryUnix(e time.Time) int64 {
	u := e.Unix()
	if e.Nanosecond() > 0 {
		u++
	}
	return u
}

// invokeDevice sends gateway-connect over the device's tunnel and waits for
// the device's login at the gateway (the gateway's session event), so the
// console is answered only when its streams can reach the device.
func (pm *pairingModule) invokeDevice(ctx context.Context, st *setup, g pairing.Gateway) pairing.Event {
	t, ok := pm.s.Tunnel(st.req.Device)
	if !ok || t.Conn() == nil {
		return pairing.DeviceInvoked{Err: "device disconnected"}
	}
	ids, err := lanTarget(g.LANMPS)
	if err != nil {
		return pairing.DeviceInvoked{Err: err.Error()}
	}
	req, err := gwext.GatewayConnect{Gateway: ids, Key: [32]byte(g.PublicKey), SessionID: st.sid,
		Expiry: time.Unix(expiryUnix(st.expiry), 0), Token: st.tok}.Request()
	if err != nil {
		return pairing.DeviceInvoked{Err: err.Error()}
	}
	rctx, cancel := context.WithTimeout(ctx, invokeTimeout)
	defer cancel()
	ok, err = t.Conn().Request(rctx, req)
	// A device refuses gateway-connect while its connection of a pairing
	// just superseded is still closing, or while a tunnel it opened a
	// moment ago is still settling (a user-initiated tunnel replacing a
	// periodic one): retry for a short while.
	settling := st.superseded > 0 || pm.s.clk.Now().Sub(t.ConnectedAt()) < 3*time.Second
	for tries := 0; err == nil && !ok && settling && tries < 20; tries++ {
		wait := pm.s.clk.NewTimer(100 * time.Millisecond)
		select {
		case <-wait.C():
		case <-rctx.Done():
			wait.Stop()
			return pairing.DeviceInvoked{Err: rctx.Err().Error()}
		}
		ok, err = t.Conn().Request(rctx, req)
	}
	switch {
	case err != nil:
		return pairing.DeviceInvoked{Err: err.Error()}
	case !ok:
		return pairing.DeviceInvoked{Err: "the device answered REQUEST_FAILURE"}
	}
	wait := pm.s.clk.NewTimer(st.devWait)
	defer wait.Stop()
	for {
		select {
		case ev := <-st.events:
			switch ev.Event {
			case control.EventDeviceConnected:
				return pairing.DeviceInvoked{}
			case control.EventDeviceFailed:
				return pairing.DeviceInvoked{Err: "its login at the gateway failed: " + ev.Reason}
			}
		case <-wait.C():
			return pairing.DeviceInvoked{Err: fmt.Sprintf("it did not log in at the gateway within %v", st.devWait)}
		case <-ctx.Done():
			return pairing.DeviceInvoked{Err: ctx.Err().Error()}
		}
	}
}

// lanTarget renders the gateway's LAN MPS address for gateway-connect.
func lanTarget(hostport string) ([]gwext.Identifier, error) {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		ep, err := gwext.Endpoint(ap)
		if err != nil {
			return nil, err
		}
		return []gwext.Identifier{ep}, nil
	}
	host, ps, ok := cutLast(hostport, ":")
	p, err := strconv.ParseUint(ps, 10, 16)
	if !ok || err != nil || p == 0 {
		return nil, fmt.Errorf("gateway's LAN MPS %q is not host:port", hostport)
	}
	d, err := gwext.Domain(host)
	if err != nil {
		return nil, fmt.Errorf("gateway's LAN MPS host %q: %w", host, err)
	}
	port, _ := gwext.Port(uint16(p))
	return []gwext.Identifier{d, port}, nil
}

func cutLast(s, sep string) (string, string, bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

func (pm *pairingModule) cancelAtGateway(st *setup, reason string) {
	gw := st.m.Result().Gateway
	if gw == nil || st.sid == (gwext.SessionID{}) {
		return
	}
	if c, ok := pm.gws.conn(gw.ID); ok {
		ctx, cancel := context.WithTimeout(pm.ctx, invokeTimeout)
		_ = c.CancelSession(ctx, control.CancelSession{Session: st.sid.String(), Reason: reason})
		cancel()
	}
}

// finish records and audits the decision (never a key or a token).
func (pm *pairingModule) finish(ctx context.Context, st *setup, r pairing.Result) {
	pm.pairings.WithLabelValues(r.Outcome).Inc()
	details := map[string]any{"path": string(r.Path), "console": st.req.ConsoleID}
	if st.req.Gateway != nil {
		details["gatewayRef"] = st.req.Gateway.String()
	}
	if r.Gateway != nil {
		details["gateway"] = r.Gateway.ID
	}
	if r.Code != "" {
		details["code"] = r.Code
	}
	if st.req.HelpRequest != "" {
		details["helpRequest"] = st.req.HelpRequest
	}
	if r.SessionID != "" {
		details["session"] = r.SessionID
		u := registry.PairingUpdate{Outcome: r.Outcome, Reason: r.Reason}
		if r.Refused {
			u.State = registry.PairingFailed
		} else if r.Path == pairing.Classic {
			u.State, u.Path = registry.PairingClosed, registry.SessionClassic
		}
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = pm.s.store.UpdatePairing(uctx, r.SessionID, u, pm.s.clk.Now())
		cancel()
	}
	pm.s.log.Info("session request decided", "device", st.req.Device, "path", string(r.Path), "outcome", r.Outcome,
		"reason", r.Reason, "session", r.SessionID)
	pm.s.auditAsync("console:"+st.req.ConsoleID, "pairing.request", st.req.Device, r.Outcome, r.Reason, details)
}

// supersede ends the device's earlier open pairings: a device holds one
// out-of-band connection at a time, and a new session request means the
// operator moved on. Each is cancelled at its gateway (which closes the
// device's and consoles' connections) and closed in the registry.
func (pm *pairingModule) supersede(ctx context.Context, device string) int {
	n := 0
	for _, state := range []registry.PairingState{registry.PairingCreated, registry.PairingActive} {
		ps, err := pm.s.store.ListPairings(ctx, registry.PairingFilter{DeviceUUID: device, State: state, Limit: 16})
		if err != nil {
			continue
		}
		for _, p := range ps {
			if p.GatewayID == "" {
				continue
			}
			if c, ok := pm.gws.conn(p.GatewayID); ok {
				cctx, cancel := context.WithTimeout(ctx, invokeTimeout)
				_ = c.CancelSession(cctx, control.CancelSession{Session: p.SessionID, Reason: "superseded by a new session request"})
				cancel()
			}
			_, _ = pm.s.store.UpdatePairing(ctx, p.SessionID, registry.PairingUpdate{State: registry.PairingClosed,
				Outcome: "superseded"}, pm.s.clk.Now())
			n++
		}
	}
	return n
}
