package runner

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/oobtb/oobtb/emulators/console"
	"github.com/oobtb/oobtb/emulators/console/apiclient"
	"github.com/oobtb/oobtb/emulators/console/kvmclient"
	"github.com/oobtb/oobtb/emulators/console/redirclient"
	csession "github.com/oobtb/oobtb/emulators/console/session"
	"github.com/oobtb/oobtb/emulators/gateway/p2p"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/scenarios/spec"
)

// pairedStep says whether a session step goes through the server's pairing
// module (POST /api/v1/pairings, flows F1/F2/F4) rather than the classic
// relayed session (POST /api/v1/sessions, F5): when it names a gateway, a
// fault, a user-initiated request, or expects a direct or relay path.
func pairedStep(st *spec.Step) bool {
	return st.Gateway != "" || st.GatewayID != "" || st.Fault != "" || st.Initiated == "user" ||
		st.Expect != nil && (st.Expect.Path == spec.PathDirect || st.Expect.Path == spec.PathRelay)
}

// sessionClient is the console's pairing client: its static X25519 key is
// made once per console party; it reaches the server and the gateways the
// way the backend routes.
func (k *consoleParty) sessionClient(extra ...func(*csession.Config)) (*csession.Client, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sc != nil && len(extra) == 0 {
		return k.sc, nil
	}
	api, err := apiclient.New("http://"+k.server.apiAddr, k.server.admin)
	if err != nil {
		return nil, err
	}
	api.HTTP = k.c.httpClient(k.node)
	key, err := p2p.GenerateKey()
	if err != nil {
		return nil, err
	}
	cfg := csession.Config{API: api, Key: key, ConsoleID: k.p.Name, Network: k.c.routed(k.node),
		Logger: k.c.logger.With("party", k.p.Name)}
	for _, f := range extra {
		f(&cfg)
	}
	c, err := csession.New(cfg)
	if err != nil {
		return nil, err
	}
	if len(extra) == 0 {
		k.sc = c
	}
	return c, nil
}

// refusalOf turns a failed pairing or connection into the session's
// refusal text: the server's code and reason, or the error.
func refusalOf(err error) string {
	var re *csession.RefusedError
	if errors.As(err, &re) {
		return re.Code + ": " + re.Reason
	}
	return err.Error()
}

// openPaired requests a paired session (console- or user-initiated, or a
// key-exchange negative) and connects it. A refusal is recorded, not
// returned as an error.
func (k *consoleParty) openPaired(ctx context.Context, ss *session, st *spec.Step) error {
	cl, err := k.sessionClient()
	if err != nil {
		return err
	}
	req := csession.PairingRequest{Device: ss.device.spec.UUID}
	var g *gatewayParty
	if st.Gateway != "" {
		g = k.c.gateways[st.Gateway]
		req.Gateway = g.ref(st.GatewayID)
	} else if f := k.c.fleetOf(ss.device); f != nil {
		g = f.gateway
		if st.GatewayID != "" && g != nil {
			req.Gateway = g.ref(st.GatewayID)
		}
	}
	t0 := time.Now()
	if st.Initiated != "user" {
		if err := k.waitReady(ctx, ss.device); err != nil {
			return err
		}
	}
	if st.Fault != "" {
		return k.fault(ctx, ss, st, cl, req, g)
	}
	var s *csession.Session
	var accept time.Duration
	if st.Initiated == "user" {
		var a csession.Answer
		if a, err = k.acceptHelp(ctx, cl, ss.device, req, &accept); err == nil {
			s, err = cl.Connect(ctx, a)
		}
	} else {
		s, err = cl.Open(ctx, req)
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("the paired session did not open within the step's timeout: %w", err)
		}
		ss.setRefused(refusalOf(err))
		return nil
	}
	reason := s.Why
	if s.Path == spec.PathDirect && reason == "" {
		reason = "paired: peer to peer with gateway " + s.Answer.GatewayID
	}
	ss.mu.Lock()
	ss.paired, ss.started = s, t0
	ss.path, ss.reason = s.Path, reason
	if accept > 0 {
		s.PairTime = accept // the accept request is the user-initiated pairing
	}
	ss.extra = map[string]float64{"pair_ms": ms(s.PairTime), "connect_ms": ms(s.ConnectTime)}
	ss.mu.Unlock()
	if st.Do == spec.StepSession {
		// A session step proves the session carries KVM: up to the first
		// complete frame.
		if err := ss.firstFrame(ctx, ss.device.spec.AMTPass); err != nil {
			ss.setRefused(err.Error())
			return nil
		}
	}
	ss.mu.Lock()
	ss.established = true
	if st.Do == spec.StepSession {
		ss.setup = time.Since(t0)
	}
	ss.mu.Unlock()
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// waitReady waits until the device's CIRA tunnel is ready for the pairing
// module's gateway-connect: the server holds its connection and, for a
// device that reports a gateway, has its gateway-info; the device itself
// has settled (no error since its last connect).
func (k *consoleParty) waitReady(ctx context.Context, d *device) error {
	f := k.c.fleetOf(d)
	wantInfo := f != nil && f.gateway != nil && !f.p.Stock && !f.p.Malformed && !f.p.Incapable && f.p.Trigger != "user"
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		seen := "server " + k.server.p.Name + " is not running"
		if srv := k.server.current(); srv != nil {
			tun, ok := srv.Tunnel(d.spec.UUID)
			switch {
			case !ok || tun.Conn() == nil:
				seen = "no tunnel at the server (" + k.c.deviceState(d, "") + ")"
			case wantInfo && tun.GatewayInfo() == nil:
				seen = "the tunnel carries no gateway-info yet"
			default:
				if dev := d.current(); dev != nil && dev.Status().ServerExt {
					return nil
				}
				seen = "the device has not seen the server's extension answer yet"
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("expected the device's tunnel ready for pairing; %s", seen)
		case <-t.C:
		}
	}
}

// acceptHelp waits for the device's help request (flow F2: the user asked
// for help, the vMC opened a user-initiated tunnel), then accepts it once
// the device's user-initiated tunnel has settled.
func (k *consoleParty) acceptHelp(ctx context.Context, cl *csession.Client, d *device, req csession.PairingRequest, took *time.Duration) (csession.Answer, error) {
	var id string
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	last := "no help request listed"
	for id == "" {
		reqs, err := cl.HelpRequests(ctx, "open")
		if err != nil {
			last = err.Error()
		}
		for _, r := range reqs {
			if r.DeviceUUID == d.spec.UUID {
				id = r.ID
			}
		}
		if id != "" {
			break
		}
		select {
		case <-ctx.Done():
			return csession.Answer{}, fmt.Errorf("expected an open help request from %s; %s", d.spec.UUID, last)
		case <-t.C:
		}
	}
	// The vMC replaces its periodic tunnel with a user-initiated one (and
	// may reconnect once more); accept once that tunnel has held for a
	// moment, so gateway-connect finds it.
	var since time.Time
	var held time.Time
	last = "device not running"
	for {
		ok := false
		if dev := d.current(); dev != nil {
			st := dev.Status()
			last = fmt.Sprintf("trigger %v, server extension %v, last error %q, %s", st.Trigger, st.ServerExt, st.LastError, k.c.deviceState(d, k.c.connectedTo(d, "")))
			if srv := k.server.current(); srv != nil && st.Trigger == policy.TriggerUser && st.ServerExt {
				if tun, on := srv.Tunnel(d.spec.UUID); on && tun.Conn() != nil {
					ok = true
					if !tun.ConnectedAt().Equal(since) {
						since, held = tun.ConnectedAt(), time.Now()
					}
				}
			}
		}
		if ok && time.Since(held) >= 500*time.Millisecond {
			break
		}
		select {
		case <-ctx.Done():
			return csession.Answer{}, fmt.Errorf("the device's user-initiated tunnel did not settle: %s", last)
		case <-t.C:
		}
	}
	t0 := time.Now()
	a, err := cl.Accept(ctx, id, req)
	*took = time.Since(t0)
	return a, err
}

// fault runs one key-exchange negative. Each must fail closed: the session
// is refused with the fault's name and the reason the failing end gave.
func (k *consoleParty) fault(ctx context.Context, ss *session, st *spec.Step, cl *csession.Client, req csession.PairingRequest, g *gatewayParty) error {
	refuse := func(err error) error {
		ss.setRefused(st.Fault + ": " + refusalOf(err))
		return nil
	}
	established := func(s *csession.Session) error {
		ss.mu.Lock()
		ss.paired, ss.path, ss.reason, ss.established = s, s.Path, "the negative was not refused: "+st.Fault, true
		ss.mu.Unlock()
		return nil
	}
	if st.Fault == "mitm" {
		if g == nil {
			return errors.New("a mitm fault needs the session's gateway (gateway: or the device's gateway)")
		}
		stop, err := k.c.startMITM(st.Link, netip.MustParseAddrPort(g.wan))
		if err != nil {
			return err
		}
		defer stop()
		s, err := cl.Open(ctx, req)
		if err != nil {
			return refuse(err)
		}
		return established(s)
	}
	a, err := cl.Pair(ctx, req)
	if err != nil {
		return refuse(fmt.Errorf("pairing refused before the negative: %w", err))
	}
	if a.Path != spec.PathDirect {
		return refuse(fmt.Errorf("the server answered the %s path (%s), not a pairing", a.Path, a.Reason))
	}
	var s *csession.Session
	switch st.Fault {
	case "tampered-key":
		// The gateway key in the answer altered on its way to the console.
		other, err := p2p.GenerateKey()
		if err != nil {
			return err
		}
		a.GatewayKey = hex.EncodeToString(other.Public)
		s, err = cl.Connect(ctx, a)
		if err != nil {
			return refuse(err)
		}
	case "wrong-console":
		// Another console (another static key) presents the pairing.
		intruder, err := k.sessionClient(func(*csession.Config) {})
		if err != nil {
			return err
		}
		s, err = intruder.Connect(ctx, a)
		if err != nil {
			return refuse(err)
		}
	case "replayed-pairing":
		first, err := cl.Connect(ctx, a)
		if err != nil {
			return refuse(fmt.Errorf("the first use of the pairing failed: %w", err))
		}
		defer first.Close()
		s, err = cl.Connect(ctx, a)
		if err != nil {
			return refuse(err)
		}
	case "expired-pairing":
		wait := time.Until(a.ExpiresAt.Add(1100 * time.Millisecond))
		tm := time.NewTimer(wait)
		select {
		case <-tm.C:
		case <-ctx.Done():
			tm.Stop()
			return fmt.Errorf("the step's timeout ends before the pairing expires (in %s): give it a longer timeout or the server a shorter pairing_ttl", wait.Round(time.Second))
		}
		s, err = cl.Connect(ctx, a)
		if err != nil {
			return refuse(err)
		}
	default:
		return fmt.Errorf("fault %q is not implemented by this runner", st.Fault)
	}
	return established(s)
}

// kvmCreds are the device's AMT credentials, which the console needs end to
// end on the paired path (the server injects them on the classic path).
func kvmCreds(pass string) redirclient.Credentials {
	return redirclient.Credentials{User: "admin", Password: pass}
}

// firstFrame opens a KVM stream on the paired session and waits for its
// first complete frame, then closes the stream.
func (ss *session) firstFrame(ctx context.Context, pass string) error {
	cfg := kvmclient.Config{Timeout: 20 * time.Second, Credentials: kvmCreds(pass)}
	kc, err := ss.paired.OpenKVM(ctx, cfg)
	if err != nil {
		return errors.New("KVM over the " + ss.paired.Path + " path: " + err.Error())
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- kc.Run(rctx) }()
	err = kc.WaitFirstFrame(ctx)
	cancel()
	kc.Close()
	<-done
	if err != nil {
		return errors.New("no first frame over the " + ss.paired.Path + " path: " + err.Error())
	}
	return nil
}

// runPaired runs KVM over the paired session (session.RunKVM: typing, the
// duration, and recovery over the classic path when the gateway is lost
// mid-session), then records the report.
func (ss *session) runPaired(ctx context.Context, st *spec.Step, d time.Duration) error {
	cfg := kvmConfig(st)
	cfg.Credentials = kvmCreds(ss.device.spec.AMTPass)
	o := console.KVMOptions{Config: cfg, Type: st.Text, TypeTimeout: 20 * time.Second, Duration: d}
	rctx, cancel := context.WithCancel(ctx)
	ss.mu.Lock()
	ss.cancel = cancel
	started := ss.started
	ss.mu.Unlock()
	rep, err := ss.paired.RunKVM(rctx, o, started)
	cancel()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.report = &rep
	stats := rep.Stats
	ss.final = &stats
	if rep.FirstFrameMs > 0 {
		ss.setup = time.Duration(rep.FirstFrameMs * float64(time.Millisecond))
	}
	if rep.Recovered {
		ss.path, ss.reason = rep.Path, "recovered over the "+rep.Path+" path after the "+ss.path+" path was lost: "+rep.LostReason
		ss.extra["recovery_ms"] = rep.RecoveryMs
		if rep.Before != nil {
			ss.extra["before_updates"] = float64(rep.Before.Updates)
		}
	}
	if err != nil {
		return fmt.Errorf("KVM over the %s path: %w", ss.path, err)
	}
	return nil
}
