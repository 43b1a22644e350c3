// Package spec is the scenario file format: the model, a YAML loader that
// keeps every node's line so errors name file, line and field, validation,
// and the expansion of a matrix into cases. The JSON Schema for editors is in
// scenarios/schema; docs/scenarios.md describes every field with an example.
package spec

import (
	"time"

	"github.com/oobtb/oobtb/topology"
)

// Scenario is one file (or one expanded matrix point).
type Scenario struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description,omitempty"`
	Labels      []string `yaml:"labels,omitempty"`
	Seed        uint64   `yaml:"seed,omitempty"`
	// Requires names parties or modules the file needs beyond the basic ones
	// (e.g. "gateway", "pairing"); a build without them reports an
	// environment problem instead of running.
	Requires   []string            `yaml:"requires,omitempty"`
	Topology   *TopologyRef        `yaml:"-"`
	Parties    []Party             `yaml:"parties"`
	Timeline   []Step              `yaml:"timeline"`
	Assertions []Assertion         `yaml:"assertions,omitempty"`
	Metrics    []string            `yaml:"metrics,omitempty"`
	Matrix     map[string][]string `yaml:"matrix,omitempty"`

	// File is the path it was loaded from; Params the matrix point.
	File   string            `yaml:"-"`
	Params map[string]string `yaml:"-"`
	// Axes is the matrix's axis order as written.
	Axes []string `yaml:"-"`
	// Topo is the loaded topology (inline, by file, or implicit).
	Topo *topology.Topology `yaml:"-"`
	// ImplicitTopology is true when the file gave none: every node sits on
	// one LAN without impairments.
	ImplicitTopology bool `yaml:"-"`

	lines map[string]int
}

// TopologyRef is a file reference (relative to the scenario file) or an
// inline topology in the topology package's format.
type TopologyRef struct {
	File string
	// Inline is true when the topology was written in the scenario file.
	Inline bool
}

// Party kinds.
const (
	KindServer  = "server"
	KindVMC     = "vmc"
	KindConsole = "console"
	KindGateway = "gateway"
	KindProcess = "process"
)

// Party is one emulated participant placed on a topology node.
type Party struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"`
	// Node places the party; Nodes spreads a vMC fleet round-robin.
	Node  string   `yaml:"node,omitempty"`
	Nodes []string `yaml:"nodes,omitempty"`

	// server, console, gateway, vmc: the servers it talks to. For a vMC the
	// order is AMT's MPS order: primary, then backup.
	Servers []string `yaml:"servers,omitempty"`
	// gateway for vMCs (the gateway party they sit behind).
	Gateway string `yaml:"gateway,omitempty"`

	// vmc
	Count      int    `yaml:"count,omitempty"`
	Workload   string `yaml:"workload,omitempty"`
	Resolution string `yaml:"resolution,omitempty"`
	FPS        int    `yaml:"fps,omitempty"`
	Trigger    string `yaml:"trigger,omitempty"`
	Stock      bool   `yaml:"stock,omitempty"`
	Incapable  bool   `yaml:"incapable,omitempty"`
	Malformed  bool   `yaml:"malformed,omitempty"`
	// Periodic is the periodic CIRA trigger's interval (AMT: 25 s); shorter
	// makes reconnects after a server restart quicker.
	Periodic string `yaml:"periodic,omitempty"`
	// PairingTTL is a server's pairing lifetime (default 10s in scenarios;
	// the server's own default is 60 s): an expired-pairing negative waits
	// it out.
	PairingTTL string `yaml:"pairing_ttl,omitempty"`
	// Enrol registers the devices with their servers before they start
	// (default true); false makes an unknown device.
	Enrol *bool `yaml:"enrol,omitempty"`

	// process: an external program; Command[0] is looked up on PATH.
	Command []string          `yaml:"command,omitempty"`
	Env     map[string]string `yaml:"env,omitempty"`

	// AutoStart starts the party before the timeline (default false: a
	// start step does).
	AutoStart bool `yaml:"autostart,omitempty"`

	Line int `yaml:"-"`
}

// Step is one timeline entry: Do says the kind, the other fields are its
// arguments.
type Step struct {
	Do string `yaml:"do"`
	// Party for start/stop/kill/restart (several with Parties).
	Party   string   `yaml:"party,omitempty"`
	Parties []string `yaml:"parties,omitempty"`
	// Console and Device for session/kvm/type/wait; Device is a vMC party
	// name (its first device) or "party[i]".
	Console string `yaml:"console,omitempty"`
	Device  string `yaml:"device,omitempty"`
	// Session names the session a session/kvm step opens (for later steps
	// and assertions); default "s<step index>".
	Session string `yaml:"session,omitempty"`
	// Initiated is "console" (default) or "user" (help request).
	Initiated string `yaml:"initiated,omitempty"`
	// Gateway names the gateway for a paired session, by identifier type.
	Gateway   string `yaml:"gateway,omitempty"`
	GatewayID string `yaml:"gateway_id,omitempty"`
	// Mode of a session: kvm (default), sol.
	Mode string `yaml:"mode,omitempty"`
	// Expect is what the step must see (path, refusal).
	Expect *Expect `yaml:"expect,omitempty"`
	// Fault makes the session a key-exchange negative (see Faults); Link
	// names the WAN link a mitm fault sits on.
	Fault string `yaml:"fault,omitempty"`

	// kvm
	Duration   string `yaml:"duration,omitempty"`
	Text       string `yaml:"text,omitempty"`
	Encoding   string `yaml:"encoding,omitempty"` // zrle16 (AMT enc 16), deflate, raw
	Background bool   `yaml:"background,omitempty"`
	// Each opens a session to every device of the vMC party named by
	// Device, all at once (sessions "<session>[i]"), to load the pairing
	// path with concurrent requests.
	Each bool `yaml:"each,omitempty"`

	// link steps
	Link    string `yaml:"link,omitempty"`
	Profile string `yaml:"profile,omitempty"`
	AtoB    string `yaml:"a_to_b,omitempty"`
	BtoA    string `yaml:"b_to_a,omitempty"`
	// calibrate: From and To are nodes; the bulk transfer goes From → To.
	From string `yaml:"from,omitempty"`
	To   string `yaml:"to,omitempty"`
	As   string `yaml:"as,omitempty"`

	// wait
	For   string `yaml:"for,omitempty"`
	Count int    `yaml:"count,omitempty"`
	Path  string `yaml:"path,omitempty"`
	// Server narrows device conditions to one server party.
	Server string `yaml:"server,omitempty"`

	Timeout string `yaml:"timeout,omitempty"`
	// Message replaces the default failure message's first part.
	Message string `yaml:"message,omitempty"`

	Line int `yaml:"-"`
}

// Expect is a session's expected outcome.
type Expect struct {
	Path    string `yaml:"path,omitempty"`    // direct, relay, classic
	Reason  string `yaml:"reason,omitempty"`  // substring of the path's reason
	Refused string `yaml:"refused,omitempty"` // the session must be refused; substring of the reason ("" → any)
}

// Assertion is one check after the timeline; Check says the kind.
type Assertion struct {
	Check   string `yaml:"check"`
	Session string `yaml:"session,omitempty"`
	Device  string `yaml:"device,omitempty"`
	Server  string `yaml:"server,omitempty"`
	Metric  string `yaml:"metric,omitempty"`
	Kind    string `yaml:"kind,omitempty"` // server-bytes: kvm (default), sol
	// Is is the expected value for path/failover/connected-to/established.
	Is     string `yaml:"is,omitempty"`
	Reason string `yaml:"reason,omitempty"`
	// Bounds (numbers).
	Eq *float64 `yaml:"eq,omitempty"`
	Le *float64 `yaml:"le,omitempty"`
	Ge *float64 `yaml:"ge,omitempty"`
	Lt *float64 `yaml:"lt,omitempty"`
	Gt *float64 `yaml:"gt,omitempty"`
	// What a no-leftovers check covers (default all): namespaces,
	// goroutines, sockets.
	What    []string `yaml:"what,omitempty"`
	Message string   `yaml:"message,omitempty"`

	Line int `yaml:"-"`
}

// Step kinds.
const (
	StepStart     = "start"
	StepStop      = "stop"
	StepKill      = "kill"
	StepRestart   = "restart"
	StepSession   = "session"
	StepKVM       = "kvm"
	StepType      = "type"
	StepLink      = "link"
	StepCut       = "cut"
	StepHeal      = "heal"
	StepPartition = "partition"
	StepWait      = "wait"
	StepSleep     = "sleep"
	StepCalibrate = "calibrate"
	StepPost      = "post"
	// StepPower queries a device's power state with WS-MAN through its
	// server's API (GET /api/v1/devices/{uuid}/power): the device is
	// manageable.
	StepPower = "power"
)

// StepKinds lists every step kind with its default timeout.
var StepKinds = map[string]time.Duration{
	StepStart:     30 * time.Second,
	StepStop:      30 * time.Second,
	StepKill:      10 * time.Second,
	StepRestart:   60 * time.Second,
	StepSession:   30 * time.Second,
	StepKVM:       30 * time.Second, // plus the duration
	StepType:      20 * time.Second,
	StepLink:      5 * time.Second,
	StepCut:       5 * time.Second,
	StepHeal:      5 * time.Second,
	StepPartition: 5 * time.Second,
	StepWait:      30 * time.Second,
	StepSleep:     time.Hour,
	StepCalibrate: 30 * time.Second, // plus the duration
	StepPost:      10 * time.Second,
	StepPower:     30 * time.Second,
}

// Wait conditions.
const (
	CondDeviceConnected    = "device-connected"
	CondDevicesConnected   = "devices-connected"
	CondDeviceDisconnected = "device-disconnected"
	CondDeviceListed       = "device-listed"
	CondSessionEstablished = "session-established"
	CondKVMDone            = "kvm-done"
	CondPath               = "path"
	// CondViaGateway: the server records the device as managed through a
	// gateway (failover: its direct path is gone).
	CondViaGateway = "device-via-gateway"
)

// Conditions lists the wait conditions.
var Conditions = []string{CondDeviceConnected, CondDevicesConnected, CondDeviceDisconnected,
	CondDeviceListed, CondSessionEstablished, CondKVMDone, CondPath, CondViaGateway}

// Assertion kinds.
const (
	CheckPath        = "path"
	CheckSession     = "session"
	CheckServerBytes = "server-bytes"
	CheckMetric      = "metric"
	CheckFailover    = "failover"
	CheckConnectedTo = "connected-to"
	CheckNoLeftovers = "no-leftovers"
)

// Checks lists the assertion kinds.
var Checks = []string{CheckPath, CheckSession, CheckServerBytes, CheckMetric, CheckFailover,
	CheckConnectedTo, CheckNoLeftovers}

// Session paths.
const (
	PathDirect  = "direct"
	PathRelay   = "relay"
	PathClassic = "classic"
)

// Faults a session step can inject into pairing and key exchange; each
// must fail closed with its reason.
var Faults = []string{"tampered-key", "replayed-pairing", "expired-pairing", "wrong-console", "mitm"}

// Post events for the post step.
var PostEvents = []string{"user-request", "alert", "direct-path-lost"}

// Timeout is the step's timeout: its own, else its kind's default (plus the
// duration for kvm and calibrate).
func (s *Step) TimeoutOr() time.Duration {
	if s.Timeout != "" {
		if d, err := time.ParseDuration(s.Timeout); err == nil {
			return d
		}
	}
	d := StepKinds[s.Do]
	if s.Do == StepKVM || s.Do == StepCalibrate || s.Do == StepSleep {
		if x, err := time.ParseDuration(s.Duration); err == nil {
			d += x
		}
	}
	return d
}

// Line returns the line of a field path such as "timeline[2].link" (0 when
// unknown).
func (s *Scenario) Line(path string) int { return s.lines[path] }
