package policy

import "time"

// Event is an input to Policy.Handle.
type Event interface{ isEvent() }

// Start: the firmware's remote-access feature starts (power on, provisioning
// done). Periodic schedules are anchored here.
type Start struct{}

// DHCPDomain reports the DNS suffix from DHCP (option 15, or 24 for v6).
// Static is true when the device has a static address: then no environment
// detection happens and the device is outside.
type DHCPDomain struct {
	Domain string
	Static bool
}

// UICSource is where a user-initiated request came from.
type UICSource uint8

const (
	FromOS   UICSource = iota // a host application over the ME interface
	FromBIOS                  // the BIOS or Ctrl-Alt-F1 in MEBx
)

// UserRequest is a "Fast Call for Help".
type UserRequest struct{ Source UICSource }

// Alert is an event that would send an alert to a network address.
type Alert struct{}

// Tick delivers the time; the driver sends one at each ScheduleWake.
type Tick struct{}

// Connected: the CIRA session to MPS (by name) is ready (authenticated).
type Connected struct{ MPS string }

// ConnectFailed: opening the tunnel to MPS failed before it was ready.
type ConnectFailed struct {
	MPS    string
	Reason string
}

// Disconnected: the established tunnel dropped unexpectedly.
type Disconnected struct{ Reason string }

// TunnelClosedByServer: the server closed the tunnel on purpose
// (CloseRemoteAccessConnection, DISCONNECT).
type TunnelClosedByServer struct{ Reason string }

// KeepaliveOptions: the server sent KEEPALIVE_OPTIONS_REQUEST.
type KeepaliveOptions struct {
	Interval time.Duration
	Timeout  time.Duration
}

// GatewayLearned: a gateway was announced on the LAN.
type GatewayLearned struct{ Hint GatewayHint }

// ServerSupportsExtension: the server answered with its own PROTOCOL_VERSION
// carrying the capability TLV.
type ServerSupportsExtension struct{}

// GatewayConnect: the server sent gateway-connect@oobtb.
type GatewayConnect struct{ Request GatewayConnectRequest }

// GatewayConnected: the out-of-band CIRA connection to the gateway is ready.
type GatewayConnected struct{ Session string }

// GatewayFailed: the out-of-band connection failed or closed.
type GatewayFailed struct {
	Session string
	Reason  string
}

// DirectPathLost: the WAN path to the server failed (the driver's verdict,
// e.g. keep-alive timeout or connect failures) while a gateway may be known.
type DirectPathLost struct{ Reason string }

// DirectPathRestored: the WAN path to the server works again.
type DirectPathRestored struct{}

func (Start) isEvent()                   {}
func (DHCPDomain) isEvent()              {}
func (UserRequest) isEvent()             {}
func (Alert) isEvent()                   {}
func (Tick) isEvent()                    {}
func (Connected) isEvent()               {}
func (ConnectFailed) isEvent()           {}
func (Disconnected) isEvent()            {}
func (TunnelClosedByServer) isEvent()    {}
func (KeepaliveOptions) isEvent()        {}
func (GatewayLearned) isEvent()          {}
func (ServerSupportsExtension) isEvent() {}
func (GatewayConnect) isEvent()          {}
func (GatewayConnected) isEvent()        {}
func (GatewayFailed) isEvent()           {}
func (DirectPathLost) isEvent()          {}
func (DirectPathRestored) isEvent()      {}
