// Package apf is the codec for Intel AMT's APF (Advanced Platform Format)
// messages as carried over CIRA: one Go struct per message type, encoders that
// append to a caller's buffer, a one-shot Decode that cuts one message from the
// front of a byte slice, and a streaming Framer for the session layer.
//
// APF is SSH's connection protocol without key exchange, plus PROTOCOL_VERSION
// and the keep-alive messages; there is no outer length field, so a message's
// length follows from its type and its embedded u32 lengths. The package is
// pure: no I/O, no goroutines, no clocks. The byte layouts are those of
// docs/protocols/apf.md (reference §1.4).
package apf

import (
	"fmt"
	"strconv"
)

// Proto is the protocol name carried in every *wireerr.Error of this package.
const Proto = "APF"

// MsgType is the first byte of every APF message.
type MsgType uint8

// APF message types (reference §1.3).
const (
	TypeDisconnect              MsgType = 1
	TypeServiceRequest          MsgType = 5
	TypeServiceAccept           MsgType = 6
	TypeUserauthRequest         MsgType = 50
	TypeUserauthFailure         MsgType = 51
	TypeUserauthSuccess         MsgType = 52
	TypeGlobalRequest           MsgType = 80
	TypeRequestSuccess          MsgType = 81
	TypeRequestFailure          MsgType = 82
	TypeChannelOpen             MsgType = 90
	TypeChannelOpenConfirmation MsgType = 91
	TypeChannelOpenFailure      MsgType = 92
	TypeChannelWindowAdjust     MsgType = 93
	TypeChannelData             MsgType = 94
	TypeChannelClose            MsgType = 97
	TypeProtocolVersion         MsgType = 192
	TypeKeepaliveRequest        MsgType = 208
	TypeKeepaliveReply          MsgType = 209
	TypeKeepaliveOptionsRequest MsgType = 210
	TypeKeepaliveOptionsReply   MsgType = 211
)

var typeNames = map[MsgType]string{
	TypeDisconnect:              "DISCONNECT",
	TypeServiceRequest:          "SERVICE_REQUEST",
	TypeServiceAccept:           "SERVICE_ACCEPT",
	TypeUserauthRequest:         "USERAUTH_REQUEST",
	TypeUserauthFailure:         "USERAUTH_FAILURE",
	TypeUserauthSuccess:         "USERAUTH_SUCCESS",
	TypeGlobalRequest:           "GLOBAL_REQUEST",
	TypeRequestSuccess:          "REQUEST_SUCCESS",
	TypeRequestFailure:          "REQUEST_FAILURE",
	TypeChannelOpen:             "CHANNEL_OPEN",
	TypeChannelOpenConfirmation: "CHANNEL_OPEN_CONFIRMATION",
	TypeChannelOpenFailure:      "CHANNEL_OPEN_FAILURE",
	TypeChannelWindowAdjust:     "CHANNEL_WINDOW_ADJUST",
	TypeChannelData:             "CHANNEL_DATA",
	TypeChannelClose:            "CHANNEL_CLOSE",
	TypeProtocolVersion:         "PROTOCOL_VERSION",
	TypeKeepaliveRequest:        "KEEPALIVE_REQUEST",
	TypeKeepaliveReply:          "KEEPALIVE_REPLY",
	TypeKeepaliveOptionsRequest: "KEEPALIVE_OPTIONS_REQUEST",
	TypeKeepaliveOptionsReply:   "KEEPALIVE_OPTIONS_REPLY",
}

// String returns the reference's name for the type, or "type 0xNN".
func (t MsgType) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type 0x%02x", uint8(t))
}

// Known reports whether t is one of the APF types this codec decodes.
// JSON_CONTROL (250) is deliberately unknown: real AMT never sends it and DMT
// MPS closes the tunnel on it.
func (t MsgType) Known() bool { _, ok := typeNames[t]; return ok }

// Message is one APF message.
type Message interface {
	// Type is the message's type byte.
	Type() MsgType
	// Len is the exact encoded length in bytes.
	Len() int
	// Append appends the encoding to dst and returns the extended slice. It
	// does not allocate when cap(dst)-len(dst) >= Len(). It encodes what it is
	// given: lengths beyond the decoder's bounds are written as they are, so
	// senders check their own inputs (see Check).
	Append(dst []byte) []byte
}

// Marshal returns a fresh encoding of m.
func Marshal(m Message) []byte { return m.Append(make([]byte, 0, m.Len())) }

// Check reports whether a peer decoding m with opts would accept it: every
// string and payload within bounds, and the message decodes back to the same
// length. Senders call it on values that come from configuration or peers.
func Check(m Message, opts Options) error {
	b := Marshal(m)
	opts.Reply = replyKindOf(m, opts.Reply)
	_, n, err := Decode(b, opts)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("apf: %s encodes to %d bytes but decodes as %d", m.Type(), len(b), n)
	}
	return nil
}

func replyKindOf(m Message, def ReplyKind) ReplyKind {
	if rs, ok := m.(*RequestSuccess); ok {
		if rs.HasPort {
			return ReplyWithPort
		}
		return ReplyNoPort
	}
	return def
}

func quote(b []byte) string {
	if len(b) > 32 {
		return strconv.Quote(string(b[:32])) + "…"
	}
	return strconv.Quote(string(b))
}
