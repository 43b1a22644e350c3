package cira

import (
	"fmt"

	"github.com/oobtb/oobtb/emulators/wire/apf"
)

// Event is something a session reports to the party above it.
type Event interface{ event() }

// EventReady: the device side has forwarded every port. (The server side
// has no such event: its Conn.Ready closes once the device authenticated,
// and EventPortBound{5900} is the "registration finished" signal stock
// servers use.)
type EventReady struct{}

// EventPeerVersion carries the peer's PROTOCOL_VERSION (its reserved bytes may
// hold the oobtb gateway-extension block).
type EventPeerVersion struct{ Msg apf.ProtocolVersion }

// EventGlobalRequest is an extension request the party must answer with
// Conn.Reply.
type EventGlobalRequest struct{ Req *apf.ExtensionRequest }

// EventGlobalReply answers the oldest global request we sent.
type EventGlobalReply struct{ OK bool }

// EventPortBound / EventPortUnbound report the server-side port table.
type EventPortBound struct{ Port uint32 }
type EventPortUnbound struct{ Port uint32 }

// EventKeepaliveOptions reports what the device agreed to.
type EventKeepaliveOptions struct{ Interval, Timeout uint32 }

func (EventReady) event()            {}
func (EventPeerVersion) event()      {}
func (EventGlobalRequest) event()    {}
func (EventGlobalReply) event()      {}
func (EventPortBound) event()        {}
func (EventPortUnbound) event()      {}
func (EventKeepaliveOptions) event() {}

// AuthError is a refused or failed CIRA authentication.
type AuthError struct{ Reason string }

func (e *AuthError) Error() string { return "CIRA authentication: " + e.Reason }

// DisconnectError is a DISCONNECT sent or received.
type DisconnectError struct {
	Reason apf.DisconnectReason
	ByPeer bool
	Detail string
}

func (e *DisconnectError) Error() string {
	who := "we disconnected"
	if e.ByPeer {
		who = "peer disconnected"
	}
	s := fmt.Sprintf("%s: reason %d", who, e.Reason)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}
