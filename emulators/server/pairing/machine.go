// Package pairing is the server's pairing module as a pure state machine
// (ARCHITECTURE F1 step 5, F2, claims 1, 5, 9, 15): it takes events and the
// current time and returns actions. The driver in package server owns the
// registry, the gateway control channels, the device tunnels and the clock;
// this package decides. One Machine runs one session request.
//
// The decision order is fixed: the device's failover capability field first
// (absent or incapable → the classic relayed session, malformed → a clear
// error or, if the console allows it, the classic session), then the gateway
// (unknown → refused; offline → classic; not on the device's LAN → refused
// or classic), then the pairing (session id, expiry, tokens, both keys), then
// the invocations (gateway, then device). Every ending is one Finish action
// carrying the path, the reason and the outcome the driver audits.
package pairing

import (
	"fmt"
	"time"

	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// Path is how the session's traffic flows.
type Path = registry.SessionPath

// Paths.
const (
	Direct  = registry.SessionDirect
	Relay   = registry.SessionRelay
	Classic = registry.SessionClassic
)

// Fallback is what the console accepts when no gateway path can be set up.
type Fallback string

// Fallback policies.
const (
	// FallbackClassic serves the classic relayed session where the
	// gateway path is impossible for a reason that is not a security
	// refusal (malformed field, gateway not on the LAN, invocation failure).
	FallbackClassic Fallback = "classic"
	// FallbackNone refuses instead.
	FallbackNone Fallback = "none"
)

// Required is what a device must advertise to be paired: it can be paired
// and follows gateway-connect.
const Required = gwext.CapPairing | gwext.CapGatewayConnect

// Defaults.
const (
	DefaultTTL             = 60 * time.Second
	DefaultMaxHeartbeatAge = 35 * time.Second
)

// Refusal codes (the API's error codes).
const (
	CodeNotConnected = "not_connected"
	CodeMalformed    = "malformed_capability"
	CodeUnknown      = "unknown_gateway"
	CodeNotOnLAN     = "gateway_not_on_lan"
	CodeGateway      = "gateway_refused"
	CodeDevice       = "device_refused"
	CodeExpired      = "expired"
	CodeInternal     = "internal"
)

// Reasons the driver and tests compare against.
const (
	ReasonStock          = "device sent no failover capability field (stock AMT)"
	ReasonUnknownGateway = "unknown gateway"
	ReasonOffline        = "gateway offline"
)

// GatewayRef names a gateway as the console gave it: an identifier type of
// the registry (ipv4, ipv6, port, mac, domain, udi, url) or "id" for the
// gateway id.
type GatewayRef struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// TypeID is the GatewayRef type naming a gateway by its id.
const TypeID = "id"

func (r GatewayRef) String() string { return r.Type + ":" + r.Value }

// Request is a session request.
type Request struct {
	Device     string
	Gateway    *GatewayRef // nil → the gateway the device reported
	ConsoleID  string
	ConsoleKey [32]byte
	Fallback   Fallback
	// HelpRequest is the accepted help request this session serves (F2).
	HelpRequest string
}

// Device is what the server knows about the device's live tunnel.
type Device struct {
	UUID      string
	Connected bool
	Presence  gwext.Presence
	// Capability is the failover capability field (valid when Present).
	Capability gwext.Capability
	// MalformedReason is the decoder's error for a Malformed field.
	MalformedReason string
	// Reported are the gateway identifiers the device reported (the
	// compact identifier of its block and gateway-info), in wire form.
	Reported []gwext.Identifier
}

// Gateway is what the driver found for the request.
type Gateway struct {
	registry.Gateway
	// ControlUp: the gateway's control channel is connected to this server
	// now (commands can reach it).
	ControlUp bool
	// LANMPS is the host:port of its local MPS, where the device goes.
	LANMPS string
}

// Config tunes the machine.
type Config struct {
	TTL             time.Duration // pairing life; DefaultTTL when 0
	MaxHeartbeatAge time.Duration // DefaultMaxHeartbeatAge when 0
}

// Event is an input.
type Event interface{ isEvent() }

// Begin starts the decision with the device's tunnel state.
type Begin struct{ Device Device }

// Resolved is the answer to a Resolve action: the gateway, or nil when no
// gateway matched (Err says how the lookup failed, e.g. "ambiguous").
type Resolved struct {
	Gateway *Gateway
	Err     string
}

// Created is the answer to Create: the stored pairing.
type Created struct {
	SessionID string
	Expiry    time.Time
	Err       string
}

// GatewayInvoked answers InvokeGateway ("" when the gateway accepted).
type GatewayInvoked struct{ Err string }

// DeviceInvoked answers InvokeDevice ("" when the device accepted).
type DeviceInvoked struct{ Err string }

func (Begin) isEvent()          {}
func (Resolved) isEvent()       {}
func (Created) isEvent()        {}
func (GatewayInvoked) isEvent() {}
func (DeviceInvoked) isEvent()  {}

// Action is an output.
type Action interface{ isAction() }

// Resolve asks the driver to find the gateway: by Ref when the console named
// one, else by the identifiers the device reported.
type Resolve struct {
	Ref      *GatewayRef
	Reported []gwext.Identifier
}

// Create asks the driver to store the pairing (one-time tokens for device,
// console and gateway) with these keys and expiry.
type Create struct {
	Gateway    Gateway
	ConsoleKey [32]byte
	Expiry     time.Time
}

// InvokeGateway: send expect-device and expect-console.
type InvokeGateway struct{ Gateway Gateway }

// InvokeDevice: send gateway-connect over the device's CIRA tunnel.
type InvokeDevice struct{ Gateway Gateway }

// Cancel withdraws a pairing already announced to the gateway.
type Cancel struct{ Reason string }

// Finish ends the request.
type Finish struct{ Result Result }

func (Resolve) isAction()       {}
func (Create) isAction()        {}
func (InvokeGateway) isAction() {}
func (InvokeDevice) isAction()  {}
func (Cancel) isAction()        {}
func (Finish) isAction()        {}

// Result is the decision: a path with its reason, or a refusal with a code.
type Result struct {
	Path    Path   // Direct or Classic; empty when Refused
	Reason  string // why this path (or why refused); "" for a plain direct pairing
	Refused bool
	Code    string // refusal code
	// Outcome is the audit outcome: "paired", "classic" or "refused".
	Outcome   string
	SessionID string // set when a pairing was created
	Gateway   *Gateway
	Expiry    time.Time
}

// State names where the machine is.
type State uint8

// States.
const (
	StateNew State = iota
	StateResolving
	StateCreating
	StateInvokingGateway
	StateInvokingDevice
	StateDone
)

func (s State) String() string {
	return [...]string{"new", "resolving", "creating", "invoking-gateway", "invoking-device", "done"}[s]
}

// Machine is one session request's decision.
type Machine struct {
	cfg     Config
	req     Request
	state   State
	dev     Device
	gw      *Gateway
	session string
	expiry  time.Time
	result  Result
}

// New returns a machine for req.
func New(req Request, cfg Config) *Machine {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.MaxHeartbeatAge <= 0 {
		cfg.MaxHeartbeatAge = DefaultMaxHeartbeatAge
	}
	if req.Fallback == "" {
		req.Fallback = FallbackNone
	}
	return &Machine{cfg: cfg, req: req}
}

// State is the current state.
func (m *Machine) State() State { return m.state }

// Result is the decision once State is StateDone.
func (m *Machine) Result() Result { return m.result }

// Handle feeds one event at now and returns what to do. Events out of turn
// are ignored (nil).
func (m *Machine) Handle(ev Event, now time.Time) []Action {
	if m.state != StateDone && m.session != "" && !now.Before(m.expiry) {
		return m.fail(CodeExpired, "pairing expired before the session was set up", false)
	}
	switch e := ev.(type) {
	case Begin:
		if m.state == StateNew {
			return m.begin(e.Device)
		}
	case Resolved:
		if m.state == StateResolving {
			return m.resolved(e, now)
		}
	case Created:
		if m.state == StateCreating {
			if e.Err != "" {
				return m.finish(Result{Refused: true, Code: CodeInternal, Reason: "storing the pairing failed: " + e.Err})
			}
			m.session, m.expiry = e.SessionID, e.Expiry
			if !now.Before(m.expiry) {
				return m.fail(CodeExpired, "pairing expired before the session was set up", false)
			}
			m.state = StateInvokingGateway
			return []Action{InvokeGateway{Gateway: *m.gw}}
		}
	case GatewayInvoked:
		if m.state == StateInvokingGateway {
			if e.Err != "" {
				return m.fail(CodeGateway, "gateway refused the pairing: "+e.Err, true)
			}
			m.state = StateInvokingDevice
			return []Action{InvokeDevice{Gateway: *m.gw}}
		}
	case DeviceInvoked:
		if m.state == StateInvokingDevice {
			if e.Err != "" {
				return m.fail(CodeDevice, "device refused gateway-connect: "+e.Err, true)
			}
			return m.finish(Result{Path: Direct, Outcome: "paired"})
		}
	}
	return nil
}

func (m *Machine) begin(d Device) []Action {
	m.dev = d
	if !d.Connected {
		return m.finish(Result{Refused: true, Code: CodeNotConnected, Reason: fmt.Sprintf("device %s has no CIRA tunnel", d.UUID)})
	}
	switch d.Presence {
	case gwext.Absent:
		return m.classic(ReasonStock)
	case gwext.Malformed:
		reason := "device sent a malformed failover capability field: " + d.MalformedReason
		if m.req.Fallback == FallbackClassic {
			return m.classic(reason)
		}
		return m.finish(Result{Refused: true, Code: CodeMalformed, Reason: reason})
	}
	if !d.Capability.Has(Required) {
		return m.classic(fmt.Sprintf("device is not failover-capable (capability field %s, pairing needs %s)", d.Capability, Required))
	}
	if m.req.Gateway == nil && len(d.Reported) == 0 {
		return m.finish(Result{Refused: true, Code: CodeUnknown,
			Reason: ReasonUnknownGateway + ": the request names none and the device reported none"})
	}
	m.state = StateResolving
	return []Action{Resolve{Ref: m.req.Gateway, Reported: d.Reported}}
}

func (m *Machine) resolved(e Resolved, now time.Time) []Action {
	if e.Gateway == nil {
		reason := ReasonUnknownGateway
		if m.req.Gateway != nil {
			reason += " " + m.req.Gateway.String()
		}
		if e.Err != "" {
			reason += " (" + e.Err + ")"
		}
		return m.finish(Result{Refused: true, Code: CodeUnknown, Reason: reason})
	}
	g := *e.Gateway
	m.gw = &g
	if !g.ControlUp || !g.Reachable(now, m.cfg.MaxHeartbeatAge) {
		last := "never"
		if !g.LastHeartbeat.IsZero() {
			last = now.Sub(g.LastHeartbeat).Round(time.Second).String() + " ago"
		}
		return m.classic(fmt.Sprintf("%s: %s (control channel up %v, last heartbeat %s)", ReasonOffline, g.ID, g.ControlUp, last))
	}
	if len(g.PublicKey) != registry.X25519KeyLen || [32]byte(g.PublicKey) == [32]byte{} || len(g.WANEndpoints) == 0 || g.LANMPS == "" {
		return m.fallback(CodeGateway, fmt.Sprintf("gateway %s has not registered its key, WAN endpoint and LAN MPS", g.ID))
	}
	if !ServesDevice(g.Gateway, m.dev) {
		return m.fallback(CodeNotOnLAN, fmt.Sprintf("gateway %s does not serve the LAN of device %s (the device reported %s)",
			g.ID, m.dev.UUID, describe(m.dev.Reported)))
	}
	m.state = StateCreating
	return []Action{Create{Gateway: g, ConsoleKey: m.req.ConsoleKey, Expiry: now.Add(m.cfg.TTL)}}
}

// fallback serves the classic session when the console allows it, else
// refuses with code.
func (m *Machine) fallback(code, reason string) []Action {
	if m.req.Fallback == FallbackClassic {
		return m.classic(reason)
	}
	return m.finish(Result{Refused: true, Code: code, Reason: reason})
}

// fail ends a request after the gateway may have been told: cancel there,
// then fall back or refuse.
func (m *Machine) fail(code, reason string, canFallback bool) []Action {
	var acts []Action
	if m.state == StateInvokingDevice || m.state == StateInvokingGateway {
		acts = append(acts, Cancel{Reason: reason})
	}
	if canFallback {
		return append(acts, m.fallback(code, reason)...)
	}
	return append(acts, m.finish(Result{Refused: true, Code: code, Reason: reason})...)
}

func (m *Machine) classic(reason string) []Action {
	return m.finish(Result{Path: Classic, Reason: reason, Outcome: "classic"})
}

func (m *Machine) finish(r Result) []Action {
	if r.Refused {
		r.Outcome = "refused"
	}
	r.SessionID, r.Expiry, r.Gateway = m.session, m.expiry, m.gw
	m.state, m.result = StateDone, r
	return []Action{Finish{Result: r}}
}

func describe(ids []gwext.Identifier) string {
	if len(ids) == 0 {
		return "no gateway"
	}
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ", "
		}
		s += id.String()
	}
	return s
}
