// Package policy is the vMC's remote-access policy: which management presence
// server (MPS) to open a CIRA tunnel to, when, for how long, and — the patent's
// additions — what to put in the gateway extension block, when to send
// gateway-info, how to follow gateway-connect and when to fail over to the
// edge gateway.
//
// The data model is Intel AMT's (reference §4.1): AMT_ManagementPresenceRemoteSAP,
// AMT_RemoteAccessPolicyRule, AMT_RemoteAccessPolicyAppliesToMPS,
// AMT_EnvironmentDetectionSettingData and AMT_UserInitiatedConnectionService.
// The behaviour follows §4.2 and the design notes of §4.4; docs/remote-access-policy.md
// lists every decision and what is inferred.
//
// The Policy is a pure state machine: Handle(now, event) returns actions. It
// opens no sockets, starts no goroutines and never reads the clock; a
// ScheduleWake action tells the driver when to deliver the next Tick.
package policy

import (
	"fmt"
	"time"

	"github.com/oobtb/oobtb/emulators/backoff"
)

// InfoFormat is AMT_ManagementPresenceRemoteSAP.InfoFormat.
type InfoFormat uint8

const (
	InfoIPv4 InfoFormat = 3
	InfoIPv6 InfoFormat = 4
	InfoFQDN InfoFormat = 201
)

// AuthMethod is AddMpServer's AuthMethod.
type AuthMethod uint8

const (
	AuthMutualTLS AuthMethod = 1
	AuthPassword  AuthMethod = 2
)

// MPS is one AMT_ManagementPresenceRemoteSAP with the credentials AddMpServer
// stored for it.
type MPS struct {
	Name       string // "Intel(r) AMT:Management Presence Server <n>"; the key associations use
	AccessInfo string // IP address or FQDN
	InfoFormat InfoFormat
	Port       uint16
	CN         string // name to check in the server certificate when AccessInfo is an IP
	AuthMethod AuthMethod
	Username   string // ≤ 16 characters, alphanumeric
	Password   string // ≤ 16 characters
}

// Addr is host:port for dialling.
func (m MPS) Addr() string {
	if m.InfoFormat == InfoIPv6 {
		return fmt.Sprintf("[%s]:%d", m.AccessInfo, m.Port)
	}
	return fmt.Sprintf("%s:%d", m.AccessInfo, m.Port)
}

// Trigger is AMT_RemoteAccessPolicyRule.Trigger.
type Trigger uint8

const (
	TriggerUser             Trigger = 0 // user-initiated, "Fast Call for Help"
	TriggerAlert            Trigger = 1
	TriggerPeriodic         Trigger = 2 // "Remote Scheduled Maintenance"
	TriggerHomeProvisioning Trigger = 3
)

func (t Trigger) String() string {
	switch t {
	case TriggerUser:
		return "user-initiated"
	case TriggerAlert:
		return "alert"
	case TriggerPeriodic:
		return "periodic"
	case TriggerHomeProvisioning:
		return "home-provisioning"
	}
	return fmt.Sprintf("Trigger(%d)", uint8(t))
}

// APFReason is the TriggerReason PROTOCOL_VERSION carries for this trigger
// (reference §1.4: 1 user-initiated, 2 alert, 3 HIT provisioning, 4 periodic).
func (t Trigger) APFReason() uint32 {
	switch t {
	case TriggerUser:
		return 1
	case TriggerAlert:
		return 2
	case TriggerHomeProvisioning:
		return 3
	}
	return 4
}

// priority orders triggers: user-initiated > alert > periodic (§4.2). Home
// provisioning is never fired at run time; it ranks lowest.
func (t Trigger) priority() int {
	switch t {
	case TriggerUser:
		return 3
	case TriggerAlert:
		return 2
	case TriggerPeriodic:
		return 1
	}
	return 0
}

// Rule is one AMT_RemoteAccessPolicyRule.
type Rule struct {
	Name    string // PolicyRuleName, e.g. "Periodic 1"; the key associations use
	Trigger Trigger
	// TunnelLifeTime in seconds; 0 keeps the tunnel until the server closes
	// it or a higher-priority trigger preempts it.
	TunnelLifeTime uint32
	// ExtendedData is the base64 schedule of a periodic rule; empty otherwise.
	ExtendedData string
}

// Lifetime is TunnelLifeTime as a duration (0 = unlimited).
func (r Rule) Lifetime() time.Duration { return time.Duration(r.TunnelLifeTime) * time.Second }

// MpsType is AMT_RemoteAccessPolicyAppliesToMPS.MpsType.
type MpsType uint8

const (
	MpsExternal MpsType = 0 // used outside the enterprise (default)
	MpsInternal MpsType = 1 // used inside
	MpsBoth     MpsType = 2 // since AMT 11.6
)

func (t MpsType) appliesInside() bool  { return t == MpsInternal || t == MpsBoth }
func (t MpsType) appliesOutside() bool { return t == MpsExternal || t == MpsBoth }

// AppliesTo is one AMT_RemoteAccessPolicyAppliesToMPS association.
type AppliesTo struct {
	Rule          string // Rule.Name (PolicySet)
	MPS           string // MPS.Name (ManagedElement)
	OrderOfAccess uint8  // 0 primary, 1 backup
	MpsType       MpsType
}

// EnvironmentDetection is AMT_EnvironmentDetectionSettingData.
type EnvironmentDetection struct {
	// DetectionAlgorithm: 0 local domains, the only one AMT implements.
	DetectionAlgorithm uint8
	// DetectionStrings are the enterprise DNS suffixes.
	DetectionStrings []string
}

// UICState is AMT_UserInitiatedConnectionService.EnabledState.
type UICState uint16

const (
	UICDisabled UICState = 32768
	UICBIOSOnly UICState = 32769
	UICOSOnly   UICState = 32770
	UICBoth     UICState = 32771
)

// ExtensionMode says what the vMC puts in PROTOCOL_VERSION's reserved bytes.
type ExtensionMode uint8

const (
	// ExtensionOn sends the gateway extension block (the patent's vMC).
	ExtensionOn ExtensionMode = iota
	// ExtensionStock behaves as an unmodified AMT device: reserved bytes
	// stay zero, gateway-connect is refused.
	ExtensionStock
	// ExtensionMalformed sends a deliberately malformed block, for
	// conformance tests of servers.
	ExtensionMalformed
)

func (m ExtensionMode) String() string {
	switch m {
	case ExtensionOn:
		return "on"
	case ExtensionStock:
		return "stock"
	case ExtensionMalformed:
		return "malformed"
	}
	return fmt.Sprintf("ExtensionMode(%d)", uint8(m))
}

// DefaultKeepalive is the keep-alive interval used until the server sends
// KEEPALIVE_OPTIONS (reference §1.5: a 30 s default is safe, inferred).
const DefaultKeepalive = 30 * time.Second

// Limits of the AMT data model.
const (
	MaxMPS              = 6  // AMT_RemoteAccessCapabilities.MaxTotalMpServers on the devices we model
	MaxMPSPerPolicy     = 2  // primary and backup (Intel Configurator: Preferred/Alternative)
	MaxCredentialLength = 16 // AddMpServer Username/Password
	MaxDetectionStrings = 4  // MeshCentral's bound; AMT's own is not documented
	MaxDetectionLength  = 63 // MeshCentral: each under 64 characters
)

// Config is a device's whole remote-access configuration plus the vMC's
// behaviour switches.
type Config struct {
	MPS         []MPS
	Rules       []Rule
	Applies     []AppliesTo
	Environment EnvironmentDetection
	UIC         UICState

	// Keepalive is the interval before the server's KEEPALIVE_OPTIONS;
	// zero means DefaultKeepalive.
	Keepalive time.Duration
	// Backoff shapes reconnects after failures; a zero value means
	// backoff.Default().
	Backoff backoff.Config

	// Extension selects the PROTOCOL_VERSION extension behaviour.
	Extension ExtensionMode
	// FailoverCapable is the failover capability field: the device can
	// follow gateway-connect and fail over to a gateway.
	FailoverCapable bool
	// ReconnectForUserRequest makes a user-initiated request re-open the
	// tunnel even when a lower-priority tunnel to the same MPS is up, so the
	// server sees TriggerReason 1 (flow F2). AMT documents no such
	// behaviour; off by default.
	ReconnectForUserRequest bool
}

// Clone returns a copy that shares no slices with c, so a configuration
// handed out (over WS-MAN, say) cannot change the one in force.
func (c Config) Clone() Config {
	c.MPS = append([]MPS(nil), c.MPS...)
	c.Rules = append([]Rule(nil), c.Rules...)
	c.Applies = append([]AppliesTo(nil), c.Applies...)
	c.Environment.DetectionStrings = append([]string(nil), c.Environment.DetectionStrings...)
	return c
}
