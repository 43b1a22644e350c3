package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/oobtb/oobtb/emulators/backoff"
)

// Environment is the result of environment detection.
type Environment uint8

const (
	// EnvUnknown: no DHCP result yet. Treated as outside, which is where a
	// device that cannot detect its environment uses CIRA.
	EnvUnknown Environment = iota
	EnvInside
	EnvOutside
)

func (e Environment) String() string {
	switch e {
	case EnvInside:
		return "inside"
	case EnvOutside:
		return "outside"
	}
	return "unknown"
}

// TunnelState is the state of the vMC's CIRA tunnel.
type TunnelState uint8

const (
	TunnelIdle TunnelState = iota
	TunnelConnecting
	TunnelUp
)

func (s TunnelState) String() string {
	switch s {
	case TunnelConnecting:
		return "connecting"
	case TunnelUp:
		return "up"
	}
	return "idle"
}

type gwConnState uint8

const (
	gwNone gwConnState = iota
	gwOpening
	gwUp
)

type candidate struct {
	mps      MPS
	order    uint8
	internal bool
}

// Policy is the remote-access state machine of one device. Not safe for
// concurrent use.
type Policy struct {
	cfg       Config
	rules     map[Trigger]Rule
	applies   map[string][]AppliesTo
	mps       map[string]MPS
	sched     Schedule
	periodic  bool
	bo        *backoff.Backoff
	keepFirst time.Duration

	started bool
	env     Environment
	domain  string

	tun         TunnelState
	hasOwner    bool
	owner       Trigger
	cands       []candidate
	idx         int
	target      MPS
	viaGateway  bool
	withExt     bool
	ext         Extension
	lifetime    time.Duration // applied when the tunnel comes up; 0 = unlimited
	wantUntil   time.Time     // retry window; zero = forever
	lifetimeEnd time.Time     // while up; zero = unlimited
	resumeUntil time.Time     // after a drop: the reconnected tunnel keeps the old end
	retryAt     time.Time
	extAck      bool
	infoSent    *GatewayHint

	nextPeriodic time.Time
	keepEvery    time.Duration
	nextKeep     time.Time

	gateway   *GatewayHint
	gw        gwConnState
	gwSession string
	gwExpiry  time.Time

	wake time.Time // last ScheduleWake announced
	out  []Action
}

// New validates cfg and returns a policy whose back-off jitter draws from src.
func New(cfg Config, src rand.Source) (*Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bc := cfg.Backoff
	if bc == (backoff.Config{}) {
		bc = backoff.Default()
	}
	bo, err := backoff.New(bc, src)
	if err != nil {
		return nil, err
	}
	p := &Policy{cfg: cfg, rules: map[Trigger]Rule{}, applies: map[string][]AppliesTo{}, mps: map[string]MPS{}, bo: bo,
		keepFirst: cfg.Keepalive}
	if p.keepFirst == 0 {
		p.keepFirst = DefaultKeepalive
	}
	for _, m := range cfg.MPS {
		p.mps[m.Name] = m
	}
	for _, r := range cfg.Rules {
		p.rules[r.Trigger] = r
		if r.Trigger == TriggerPeriodic {
			p.sched, _ = DecodeExtendedData(r.ExtendedData) // validated above
			p.periodic = true
		}
	}
	for _, a := range cfg.Applies {
		p.applies[a.Rule] = append(p.applies[a.Rule], a)
	}
	return p, nil
}

// Environment is the current environment-detection result.
func (p *Policy) Environment() Environment { return p.env }

// Tunnel is the tunnel state.
func (p *Policy) Tunnel() TunnelState { return p.tun }

// Target is the MPS of the current or pending tunnel.
func (p *Policy) Target() (MPS, bool) { return p.target, p.tun != TunnelIdle }

// Owner is the trigger the current tunnel (or pending retry) serves.
func (p *Policy) Owner() (Trigger, bool) { return p.owner, p.hasOwner }

// OnGateway reports whether the tunnel is the gateway failover tunnel.
func (p *Policy) OnGateway() bool { return p.viaGateway && p.tun != TunnelIdle }

// Gateway is the gateway learned on the LAN, if any.
func (p *Policy) Gateway() (GatewayHint, bool) {
	if p.gateway == nil {
		return GatewayHint{}, false
	}
	return *p.gateway, true
}

// KeepaliveInterval is the keep-alive interval in force.
func (p *Policy) KeepaliveInterval() time.Duration { return p.keepEvery }

// LifetimeEnd is when the current tunnel's lifetime ends (zero: unlimited).
func (p *Policy) LifetimeEnd() time.Time { return p.lifetimeEnd }

// RetryAttempts is the number of back-off delays since the last successful
// connection.
func (p *Policy) RetryAttempts() int { return p.bo.Attempts() }

// NextWake is the earliest time a Tick has something to do.
func (p *Policy) NextWake() (time.Time, bool) {
	var w time.Time
	add := func(t time.Time) {
		if !t.IsZero() && (w.IsZero() || t.Before(w)) {
			w = t
		}
	}
	if p.tun == TunnelUp {
		add(p.lifetimeEnd)
		add(p.nextKeep)
	}
	add(p.retryAt)
	if p.started && p.periodic {
		add(p.nextPeriodic)
	}
	if p.gw == gwOpening {
		add(p.gwExpiry)
	}
	return w, !w.IsZero()
}

// Handle feeds one event at now and returns the actions to perform, in order.
func (p *Policy) Handle(now time.Time, ev Event) []Action {
	p.out = nil
	if !p.started {
		switch ev.(type) {
		case Start, DHCPDomain, GatewayLearned:
		default:
			p.note("remote access not started: %T ignored", ev)
			return p.out
		}
	}
	switch e := ev.(type) {
	case Start:
		p.start(now)
	case DHCPDomain:
		p.dhcp(now, e)
	case UserRequest:
		p.userRequest(now, e)
	case Alert:
		p.fire(now, TriggerAlert)
	case Tick:
		p.tick(now)
	case Connected:
		p.connected(now, e.MPS)
	case ConnectFailed:
		p.connectFailed(now, e.MPS, e.Reason)
	case Disconnected:
		p.disconnected(now, e.Reason)
	case TunnelClosedByServer:
		p.closedByServer(e.Reason)
	case KeepaliveOptions:
		p.keepaliveOptions(now, e)
	case GatewayLearned:
		p.gatewayLearned(e.Hint)
	case ServerSupportsExtension:
		p.serverSupports()
	case GatewayConnect:
		p.gatewayConnect(now, e.Request)
	case GatewayConnected:
		p.gatewayConnected(e.Session)
	case GatewayFailed:
		p.gatewayFailed(e.Session, e.Reason)
	case DirectPathLost:
		p.directPathLost(now, e.Reason)
	case DirectPathRestored:
		p.directPathRestored()
	default:
		p.note("unknown event %T ignored", ev)
	}
	// Deadlines already due (the driver's Tick is late, or the event moved
	// one into the past) run now, after the event, which reports what
	// happened to the current tunnel: time only moves forward and a wake is
	// never announced in the past.
	if w, ok := p.NextWake(); ok && p.started && !w.After(now) {
		p.tick(now)
	}
	if w, ok := p.NextWake(); ok && !w.Equal(p.wake) {
		p.emit(ScheduleWake{At: w})
		p.wake = w
	} else if !ok {
		p.wake = time.Time{}
	}
	return p.out
}

func (p *Policy) emit(a Action) { p.out = append(p.out, a) }

func (p *Policy) note(format string, args ...any) { p.emit(Notice{Text: fmt.Sprintf(format, args...)}) }

func (p *Policy) start(now time.Time) {
	if p.started {
		p.note("already started")
		return
	}
	p.started = true
	if p.periodic {
		if p.sched.Kind == ScheduleDaily {
			p.nextPeriodic = p.sched.atOrAfter(time.Time{}, now)
		} else {
			p.nextPeriodic = now // interval policies connect at start
		}
	}
	p.tick(now)
}

// ---- environment detection ----

func (p *Policy) dhcp(now time.Time, e DHCPDomain) {
	old := p.env
	p.domain = strings.TrimSuffix(strings.ToLower(e.Domain), ".")
	switch {
	case e.Static:
		p.env = EnvOutside
		p.note("static IP: no environment detection, outside")
	case p.matches(p.domain):
		p.env = EnvInside
		p.note("DHCP domain %q matches a detection string: inside the enterprise", p.domain)
	default:
		p.env = EnvOutside
		p.note("DHCP domain %q matches no detection string: outside", p.domain)
	}
	if !p.started || p.env == old || !p.hasOwner || p.tun == TunnelIdle || p.viaGateway {
		return
	}
	for _, c := range p.candidates(p.owner) {
		if c.mps.Name == p.target.Name {
			return
		}
	}
	p.emit(Disconnect{MPS: p.target.Name, Reason: fmt.Sprintf("environment changed to %s: %q does not apply", p.env, p.target.Name)})
	owner := p.owner
	p.dropTunnel()
	p.hasOwner = false
	p.fire(now, owner)
}

func (p *Policy) matches(domain string) bool {
	if domain == "" {
		return false
	}
	for _, s := range p.cfg.Environment.DetectionStrings {
		s = strings.TrimSuffix(strings.ToLower(s), ".")
		if domain == s || strings.HasSuffix(domain, "."+s) {
			return true
		}
	}
	return false
}

// candidates lists the MPSes of t's policy that apply in the current
// environment, primary first.
func (p *Policy) candidates(t Trigger) []candidate {
	r, ok := p.rules[t]
	if !ok {
		return nil
	}
	inside := p.env == EnvInside
	var cs []candidate
	for _, a := range p.applies[r.Name] {
		if (inside && a.MpsType.appliesInside()) || (!inside && a.MpsType.appliesOutside()) {
			cs = append(cs, candidate{mps: p.mps[a.MPS], order: a.OrderOfAccess, internal: inside})
		}
	}
	slices.SortStableFunc(cs, func(a, b candidate) int { return int(a.order) - int(b.order) })
	return cs
}

// ---- triggers ----

func (p *Policy) userRequest(now time.Time, e UserRequest) {
	ok := false
	switch p.cfg.UIC {
	case UICBoth:
		ok = true
	case UICBIOSOnly:
		ok = e.Source == FromBIOS
	case UICOSOnly:
		ok = e.Source == FromOS
	}
	if !ok {
		src := "OS"
		if e.Source == FromBIOS {
			src = "BIOS"
		}
		p.note("user-initiated request from the %s refused: AMT_UserInitiatedConnectionService EnabledState is %d", src, uint16(p.cfg.UIC))
		return
	}
	p.fire(now, TriggerUser)
}

func (p *Policy) fire(now time.Time, t Trigger) {
	rule, ok := p.rules[t]
	if !ok {
		p.note("%s trigger: no policy rule for it", t)
		return
	}
	cands := p.candidates(t)
	if t == TriggerUser {
		why := "user-initiated connection requested"
		if len(cands) == 0 && p.env == EnvInside {
			why = "inside the enterprise and no internal MPS applies: CILA, no tunnel"
		}
		p.emit(SendLocalEvent{EventID: "iAMT0036", Trigger: t, Reason: why})
	}
	if len(cands) == 0 {
		if t != TriggerUser || p.env != EnvInside {
			p.note("%s trigger: no MPS of policy %q applies %s; no tunnel", t, rule.Name, p.envWord())
		}
		return
	}
	if p.tun == TunnelIdle {
		if !p.retryAt.IsZero() && p.hasOwner && p.owner.priority() >= t.priority() {
			p.extend(now, t, rule.Lifetime())
			p.note("%s trigger: a %s retry is already pending", t, p.owner)
			return
		}
		p.begin(now, t, rule, cands)
		return
	}
	if t.priority() > p.owner.priority() {
		sameMPS := p.viaGateway
		for _, c := range cands {
			sameMPS = sameMPS || c.mps.Name == p.target.Name
		}
		if !sameMPS || (t == TriggerUser && p.cfg.ReconnectForUserRequest) {
			why := fmt.Sprintf("preempted by the %s trigger, which needs %q", t, cands[0].mps.Name)
			if sameMPS {
				why = "reconnecting to announce the user-initiated request"
			}
			p.emit(Disconnect{MPS: p.target.Name, Reason: why})
			p.dropTunnel()
			p.begin(now, t, rule, cands)
			return
		}
		p.note("%s trigger takes over the tunnel to %q from %s", t, p.target.Name, p.owner)
		p.owner = t
	}
	p.extend(now, t, rule.Lifetime())
}

func (p *Policy) envWord() string {
	if p.env == EnvInside {
		return "inside the enterprise"
	}
	return "outside the enterprise"
}

// extend adopts a longer lifetime (0 = unlimited) from a trigger that fired
// while a tunnel is up or pending.
func (p *Policy) extend(now time.Time, t Trigger, l time.Duration) {
	if p.tun == TunnelUp {
		switch {
		case p.lifetimeEnd.IsZero():
		case l == 0:
			p.lifetimeEnd = time.Time{}
			p.note("%s trigger extends the tunnel lifetime: unlimited", t)
		case now.Add(l).After(p.lifetimeEnd):
			p.lifetimeEnd = now.Add(l)
			p.note("%s trigger extends the tunnel lifetime to %s", t, p.lifetimeEnd.UTC().Format(time.RFC3339))
		}
		return
	}
	if p.lifetime != 0 && (l == 0 || l > p.lifetime) {
		p.lifetime = l
	}
	if !p.wantUntil.IsZero() {
		if l == 0 {
			p.wantUntil = time.Time{}
		} else if now.Add(l).After(p.wantUntil) {
			p.wantUntil = now.Add(l)
		}
	}
	if !p.resumeUntil.IsZero() {
		p.resumeUntil = p.wantUntil
	}
}

// begin starts serving trigger t: primary first.
func (p *Policy) begin(now time.Time, t Trigger, rule Rule, cands []candidate) {
	p.hasOwner = true
	p.owner = t
	p.lifetime = rule.Lifetime()
	p.resumeUntil = time.Time{}
	p.wantUntil = time.Time{}
	if p.lifetime != 0 {
		p.wantUntil = now.Add(p.lifetime)
	}
	p.cands = cands
	p.attempt(0)
}

func (p *Policy) attempt(idx int) {
	c := p.cands[idx]
	p.idx = idx
	p.retryAt = time.Time{}
	p.target = c.mps
	p.viaGateway = false
	p.tun = TunnelConnecting
	p.withExt, p.ext = p.extension()
	p.emit(Connect{MPS: c.mps, Trigger: p.owner, OrderOfAccess: c.order, Internal: c.internal,
		WithExtension: p.withExt, Extension: p.ext})
}

// extension decides PROTOCOL_VERSION's reserved bytes for the next tunnel.
func (p *Policy) extension() (bool, Extension) {
	if p.cfg.Extension == ExtensionStock {
		return false, Extension{}
	}
	e := Extension{Capabilities: Capabilities{GatewayFailover: p.cfg.FailoverCapable}}
	if p.gateway != nil {
		e.GatewayID = p.gateway.ID
	}
	e.Malformed = p.cfg.Extension == ExtensionMalformed
	return true, e
}

// ---- tunnel events ----

func (p *Policy) connected(now time.Time, name string) {
	if p.tun != TunnelConnecting || name != p.target.Name {
		p.note("connected to %q, which is not the pending target: ignored", name)
		return
	}
	p.tun = TunnelUp
	p.bo.Reset()
	p.retryAt = time.Time{}
	p.lifetimeEnd = time.Time{}
	switch {
	case !p.resumeUntil.IsZero():
		p.lifetimeEnd = p.resumeUntil
		p.resumeUntil = time.Time{}
	case p.lifetime != 0:
		p.lifetimeEnd = now.Add(p.lifetime)
	}
	p.keepEvery = p.keepFirst
	p.nextKeep = now.Add(p.keepEvery)
	p.extAck = false
	p.infoSent = nil
}

func (p *Policy) connectFailed(now time.Time, name, reason string) {
	if p.tun != TunnelConnecting || name != p.target.Name {
		p.note("connect failure for %q, which is not the pending target: ignored", name)
		return
	}
	if p.viaGateway {
		p.tun = TunnelIdle
		p.viaGateway = false
		p.scheduleRetry(now, fmt.Sprintf("gateway failover to %q failed (%s); retrying the direct path", name, reason))
		return
	}
	if p.idx+1 < len(p.cands) {
		p.note("%q failed (%s): trying backup %q", name, reason, p.cands[p.idx+1].mps.Name)
		p.attempt(p.idx + 1)
		return
	}
	p.tun = TunnelIdle
	p.scheduleRetry(now, fmt.Sprintf("every MPS of the %s policy failed (last %q: %s)", p.owner, name, reason))
}

// scheduleRetry plans the next attempt after a failure: a periodic policy
// reconnects at a period boundary no earlier than the back-off allows; the
// other triggers retry on the back-off until their window ends.
func (p *Policy) scheduleRetry(now time.Time, why string) {
	at := p.bo.Next(now)
	if p.hasOwner && p.owner == TriggerPeriodic && p.periodic {
		p.hasOwner = false
		p.nextPeriodic = p.sched.atOrAfter(p.nextPeriodic, at)
		p.note("%s; next periodic attempt at %s (back-off %d)", why, p.nextPeriodic.UTC().Format(time.RFC3339), p.bo.Attempts())
		return
	}
	if !p.hasOwner {
		p.note("%s; no trigger wants a tunnel", why)
		return
	}
	if !p.wantUntil.IsZero() && at.After(p.wantUntil) {
		p.note("%s; giving up: the %s request's lifetime ended at %s", why, p.owner, p.wantUntil.UTC().Format(time.RFC3339))
		p.hasOwner = false
		return
	}
	p.retryAt = at
	p.note("%s; retry %d at %s", why, p.bo.Attempts(), at.UTC().Format(time.RFC3339Nano))
}

func (p *Policy) dropTunnel() {
	p.tun = TunnelIdle
	p.viaGateway = false
	p.extAck = false
	p.infoSent = nil
}

func (p *Policy) disconnected(now time.Time, reason string) {
	switch p.tun {
	case TunnelIdle:
		p.note("disconnect (%s) with no tunnel: ignored", reason)
		return
	case TunnelConnecting:
		p.connectFailed(now, p.target.Name, reason)
		return
	}
	name := p.target.Name
	p.dropTunnel()
	if !p.lifetimeEnd.IsZero() {
		if !now.Before(p.lifetimeEnd) {
			p.hasOwner = false
			p.note("tunnel to %q dropped (%s) at the end of its lifetime", name, reason)
			return
		}
	}
	p.resumeUntil = p.lifetimeEnd
	p.wantUntil = p.lifetimeEnd
	p.scheduleRetry(now, fmt.Sprintf("tunnel to %q dropped (%s)", name, reason))
}

func (p *Policy) closedByServer(reason string) {
	if p.tun == TunnelIdle {
		p.note("server close (%s) with no tunnel: ignored", reason)
		return
	}
	name := p.target.Name
	p.dropTunnel()
	p.hasOwner = false
	p.retryAt = time.Time{}
	p.note("server closed the tunnel to %q (%s): no reconnect until a trigger fires", name, reason)
}

func (p *Policy) keepaliveOptions(now time.Time, e KeepaliveOptions) {
	if p.tun != TunnelUp {
		p.note("KEEPALIVE_OPTIONS with no tunnel: ignored")
		return
	}
	if e.Interval <= 0 {
		p.note("server keep-alive interval 0: keeping %s", p.keepEvery)
		return
	}
	p.keepEvery = e.Interval
	p.nextKeep = now.Add(e.Interval)
}

// ---- time ----

func (p *Policy) tick(now time.Time) {
	if p.tun == TunnelUp && !p.lifetimeEnd.IsZero() && !now.Before(p.lifetimeEnd) {
		p.emit(Disconnect{MPS: p.target.Name, Reason: fmt.Sprintf("tunnel lifetime of %s expired", p.lifetime)})
		p.dropTunnel()
		p.hasOwner = false
		p.lifetimeEnd = time.Time{}
	}
	if !p.retryAt.IsZero() && !now.Before(p.retryAt) {
		p.retryAt = time.Time{}
		if p.hasOwner && p.tun == TunnelIdle {
			if cands := p.candidates(p.owner); len(cands) > 0 {
				p.cands = cands
				p.attempt(0)
			} else {
				p.note("%s retry: no MPS applies %s", p.owner, p.envWord())
				p.hasOwner = false
			}
		}
	}
	if p.periodic && !p.nextPeriodic.IsZero() && !now.Before(p.nextPeriodic) {
		p.nextPeriodic = p.sched.atOrAfter(p.nextPeriodic, now.Add(time.Nanosecond))
		p.fire(now, TriggerPeriodic)
	}
	if p.tun == TunnelUp && !now.Before(p.nextKeep) {
		p.emit(SendKeepalive{})
		p.nextKeep = p.nextKeep.Add(p.keepEvery)
		if !p.nextKeep.After(now) {
			p.nextKeep = now.Add(p.keepEvery) // a late Tick sends one, not a burst
		}
	}
	if p.gw == gwOpening && !now.Before(p.gwExpiry) {
		reason := "pairing expired before the gateway connection was ready"
		p.emit(CloseGatewayConnection{Session: p.gwSession, Reason: reason})
		p.emit(ReportGatewayConnect{Session: p.gwSession, Reason: reason})
		p.gw = gwNone
	}
}

// ---- the patent's additions ----

func (p *Policy) gatewayLearned(h GatewayHint) {
	if h.ID == "" || !h.Addr.IsValid() || h.Addr.Port() == 0 {
		p.note("gateway announcement without an identifier or a LAN address:port ignored")
		return
	}
	h.Identifiers = slices.Clone(h.Identifiers)
	p.gateway = &h
	p.note("learned %s", h)
	if p.tun == TunnelUp && p.extAck && (p.infoSent == nil || !p.infoSent.equal(h)) {
		p.sendInfo()
	}
}

func (p *Policy) sendInfo() {
	h := *p.gateway
	p.infoSent = &h
	p.emit(SendGatewayInfo{Gateway: h})
}

func (p *Policy) serverSupports() {
	switch {
	case p.tun != TunnelUp:
		p.note("server extension support with no tunnel: ignored")
	case !p.withExt:
		p.note("server claims extension support although this device sent no extension block: ignored")
	case p.ext.Malformed:
		p.note("server claims extension support although this device's extension block was malformed: ignored")
	case p.extAck:
	default:
		p.extAck = true
		if p.gateway != nil {
			p.sendInfo()
		}
	}
}

func (p *Policy) gatewayConnect(now time.Time, r GatewayConnectRequest) {
	refuse := func(format string, args ...any) {
		p.emit(ReportGatewayConnect{Session: r.Session, Reason: fmt.Sprintf(format, args...)})
	}
	switch {
	case p.cfg.Extension == ExtensionStock:
		refuse("gateway extension disabled (stock AMT mode)")
	case !p.cfg.FailoverCapable:
		refuse("device is not gateway-capable (failover capability field clear)")
	case p.tun != TunnelUp || !p.extAck:
		refuse("server has not shown extension support on this tunnel")
	case r.Session == "":
		refuse("no session id")
	case len(r.Token) == 0:
		refuse("no pairing token")
	case !r.Addr.IsValid() || r.Addr.Port() == 0:
		refuse("invalid gateway LAN address %s", r.Addr)
	case r.Expiry.IsZero():
		refuse("pairing has no expiry")
	case !now.Before(r.Expiry):
		refuse("pairing expired at %s (now %s)", r.Expiry.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	case p.gw != gwNone:
		refuse("busy: a gateway connection for session %s is open", p.gwSession)
	default:
		if p.gateway != nil && r.GatewayID != "" && r.GatewayID != p.gateway.ID {
			p.note("gateway-connect names %q, not the gateway %q learned on the LAN: following the server", r.GatewayID, p.gateway.ID)
		}
		p.gw = gwOpening
		p.gwSession = r.Session
		p.gwExpiry = r.Expiry
		p.emit(OpenGatewayConnection{Session: r.Session, GatewayID: r.GatewayID, Addr: r.Addr,
			Token: slices.Clone(r.Token), Expiry: r.Expiry, PublicKey: r.PublicKey})
	}
}

func (p *Policy) gatewayConnected(session string) {
	if p.gw != gwOpening || session != p.gwSession {
		p.note("gateway connection for session %q is not pending: ignored", session)
		return
	}
	p.gw = gwUp
	p.emit(ReportGatewayConnect{Session: session, OK: true})
}

func (p *Policy) gatewayFailed(session, reason string) {
	if p.gw == gwNone || session != p.gwSession {
		p.note("gateway failure for session %q with no such connection: ignored", session)
		return
	}
	if p.gw == gwOpening {
		p.emit(ReportGatewayConnect{Session: session, Reason: reason})
	} else {
		p.note("gateway connection for session %s closed: %s", session, reason)
	}
	p.gw = gwNone
}

func (p *Policy) directPathLost(now time.Time, reason string) {
	if p.viaGateway && p.tun != TunnelIdle {
		p.note("direct path lost (%s): already on the gateway", reason)
		return
	}
	var why string
	switch {
	case p.cfg.Extension == ExtensionStock:
		why = "stock AMT mode"
	case !p.cfg.FailoverCapable:
		why = "device is not failover-capable"
	case p.gateway == nil:
		why = "no gateway known on the LAN"
	}
	if why != "" {
		p.note("direct path lost (%s); no gateway failover: %s", reason, why)
		if p.tun != TunnelIdle {
			p.disconnected(now, "direct path lost: "+reason)
		}
		return
	}
	if p.tun != TunnelIdle {
		p.emit(Disconnect{MPS: p.target.Name, Reason: "direct path lost: " + reason})
		p.dropTunnel()
	}
	if !p.hasOwner {
		p.hasOwner = true
		p.owner = TriggerPeriodic
		if _, ok := p.rules[TriggerPeriodic]; !ok {
			p.owner = TriggerUser
		}
		p.lifetime = p.rules[p.owner].Lifetime()
		p.wantUntil = time.Time{}
	}
	p.retryAt = time.Time{}
	gm := p.gatewayMPS()
	p.target = gm
	p.viaGateway = true
	p.tun = TunnelConnecting
	p.withExt, p.ext = p.extension()
	p.note("direct path lost (%s): failing over to %s", reason, p.gateway)
	p.emit(Connect{MPS: gm, Trigger: p.owner, Internal: true, ViaGateway: true, WithExtension: p.withExt, Extension: p.ext})
}

// gatewayMPS describes the learned gateway as an internal MPS, with the
// credentials of the policy's primary MPS: the gateway carries the tunnel on
// to the server, which authenticates the device as before.
func (p *Policy) gatewayMPS() MPS {
	g := p.gateway
	m := MPS{Name: "gateway " + g.ID, AccessInfo: g.Addr.Addr().Unmap().String(), InfoFormat: InfoIPv4, Port: g.Addr.Port()}
	// No CN: the gateway's LAN certificate names its LAN address, which is
	// AccessInfo; the compact identifier is no certificate name.
	if g.Addr.Addr().Unmap().Is6() {
		m.InfoFormat = InfoIPv6
	}
	var src MPS
	switch c := p.candidates(p.owner); {
	case len(c) > 0:
		src = c[0].mps
	case len(p.cands) > 0:
		src = p.cands[0].mps
	case len(p.cfg.MPS) > 0:
		src = p.cfg.MPS[0]
	}
	m.AuthMethod, m.Username, m.Password = src.AuthMethod, src.Username, src.Password
	return m
}

func (p *Policy) directPathRestored() {
	if !p.viaGateway || p.tun == TunnelIdle {
		p.note("direct path restored")
		return
	}
	p.emit(Disconnect{MPS: p.target.Name, Reason: "direct path restored: returning to the server"})
	p.dropTunnel()
	if cands := p.candidates(p.owner); len(cands) > 0 {
		p.cands = cands
		p.attempt(0)
		return
	}
	p.note("direct path restored but no MPS of the %s policy applies %s", p.owner, p.envWord())
	p.hasOwner = false
}
