package policy

import (
	"fmt"
	"net/netip"
	"time"
)

// Action is something the driver must do.
type Action interface {
	fmt.Stringer
	isAction()
}

// Connect opens a CIRA tunnel to MPS and sends PROTOCOL_VERSION with
// Trigger.APFReason() and, if WithExtension, the extension block.
type Connect struct {
	MPS           MPS
	Trigger       Trigger
	OrderOfAccess uint8
	Internal      bool // chosen as an internal MPS (inside, or gateway failover)
	ViaGateway    bool // failover: the gateway carries the management traffic
	WithExtension bool
	Extension     Extension
}

// Disconnect closes the current tunnel.
type Disconnect struct {
	MPS    string
	Reason string
}

// SendKeepalive sends KEEPALIVE_REQUEST on the tunnel.
type SendKeepalive struct{}

// SendGatewayInfo sends gateway-info@oobtb with the gateway's identifiers.
type SendGatewayInfo struct{ Gateway GatewayHint }

// OpenGatewayConnection opens an out-of-band CIRA connection (TLS + APF, as
// to an MPS) to the gateway's LAN address, presenting Token.
type OpenGatewayConnection struct {
	Session   string
	GatewayID string
	Addr      netip.AddrPort
	Token     []byte
	Expiry    time.Time
	PublicKey [32]byte
}

// ReportGatewayConnect answers gateway-connect to the server: accepted and
// connected, or refused/failed with Reason.
type ReportGatewayConnect struct {
	Session string
	OK      bool
	Reason  string
}

// SendLocalEvent sends a WS-Eventing event to local subscribers (iAMT0036
// for a user-initiated request; CILA when inside).
type SendLocalEvent struct {
	EventID string
	Trigger Trigger
	Reason  string
}

// ScheduleWake asks the driver to deliver Tick at At.
type ScheduleWake struct{ At time.Time }

// Notice records a decision that changes nothing on the wire, for logs and
// scenario reports ("why is this device not connected?").
type Notice struct{ Text string }

func (Connect) isAction()               {}
func (Disconnect) isAction()            {}
func (SendKeepalive) isAction()         {}
func (SendGatewayInfo) isAction()       {}
func (OpenGatewayConnection) isAction() {}
func (ReportGatewayConnect) isAction()  {}
func (SendLocalEvent) isAction()        {}
func (ScheduleWake) isAction()          {}
func (Notice) isAction()                {}

func (a Connect) String() string {
	s := fmt.Sprintf("connect %s (%q, order %d) trigger %s", a.MPS.Addr(), a.MPS.Name, a.OrderOfAccess, a.Trigger)
	if a.Internal {
		s += " internal"
	}
	if a.ViaGateway {
		s += " via gateway"
	}
	if a.WithExtension {
		s += " extension[" + a.Extension.String() + "]"
	} else {
		s += " no extension"
	}
	return s
}
func (a Disconnect) String() string      { return fmt.Sprintf("disconnect %q: %s", a.MPS, a.Reason) }
func (SendKeepalive) String() string     { return "send KEEPALIVE_REQUEST" }
func (a SendGatewayInfo) String() string { return "send gateway-info: " + a.Gateway.String() }
func (a OpenGatewayConnection) String() string {
	// The token is a credential: never in logs.
	return fmt.Sprintf("open gateway connection to %q at %s for session %s (token %d bytes, expires %s)",
		a.GatewayID, a.Addr, a.Session, len(a.Token), a.Expiry.UTC().Format(time.RFC3339))
}
func (a ReportGatewayConnect) String() string {
	if a.OK {
		return "gateway-connect " + a.Session + ": connected"
	}
	return "gateway-connect " + a.Session + ": failed: " + a.Reason
}
func (a SendLocalEvent) String() string {
	return fmt.Sprintf("local event %s (%s): %s", a.EventID, a.Trigger, a.Reason)
}
func (a ScheduleWake) String() string { return "wake at " + a.At.UTC().Format(time.RFC3339Nano) }
func (a Notice) String() string       { return a.Text }

// CloseGatewayConnection aborts the out-of-band connection to the gateway.
type CloseGatewayConnection struct {
	Session string
	Reason  string
}

func (CloseGatewayConnection) isAction() {}
func (a CloseGatewayConnection) String() string {
	return "close gateway connection for session " + a.Session + ": " + a.Reason
}
