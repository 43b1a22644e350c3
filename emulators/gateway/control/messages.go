// Package control is the gateway↔server control channel: TLS, length-
// prefixed frames carrying the stream multiplexer of package mux, JSON
// request/response messages in MESSAGE frames, and relayed device channels
// as mux streams. Client is the gateway's side (enrol, register, heartbeat,
// reconnect with back-off, serve commands); ServerHandler is a server's side,
// calling a Registry the server implements. docs/protocols/gateway-control.md
// is the specification.
package control

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// Version is the protocol version carried in hello.
const Version = 1

// Message types.
const (
	// gateway → server requests
	TypeHello         = "hello"
	TypeRegister      = "register"
	TypeHeartbeat     = "heartbeat"
	TypeSessionEvent  = "session-event"
	TypeVerifyDevice  = "verify-device"
	TypeDeviceOnline  = "device-online"
	TypeDeviceOffline = "device-offline"
	// server → gateway requests
	TypeExpectDevice  = "expect-device"
	TypeExpectConsole = "expect-console"
	TypeCancelSession = "cancel-session"
	// responses (either way)
	TypeOK    = "ok"
	TypeError = "error"
)

// Envelope is every MESSAGE frame's JSON.
type Envelope struct {
	Type string          `json:"type"`
	ID   uint64          `json:"id,omitempty"` // request id, unique per sender per connection
	Re   uint64          `json:"re,omitempty"` // the request an ok/error answers
	Body json.RawMessage `json:"body,omitempty"`
}

// Error codes.
const (
	CodeBadRequest     = "bad-request"
	CodeVersion        = "version"
	CodeTokenInvalid   = "token-invalid"
	CodeTokenUsed      = "token-used"
	CodeUnauthorised   = "unauthorised"
	CodeUnknownType    = "unknown-type"
	CodeUnknownSession = "unknown-session"
	CodeExpired        = "expired"
	CodeDenied         = "denied"
	CodeNotRegistered  = "not-registered"
	CodeInternal       = "internal"
)

// Error is an error response; handlers return it to choose the code.
type Error struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

func (e *Error) Error() string { return fmt.Sprintf("control: %s: %s", e.Code, e.Reason) }

// Errf builds an *Error.
func Errf(code, format string, a ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, a...)}
}

// Fatal reports whether a hello refusal makes retrying pointless.
func (e *Error) Fatal() bool {
	switch e.Code {
	case CodeVersion, CodeTokenInvalid, CodeTokenUsed, CodeUnauthorised:
		return true
	}
	return false
}

// Hello opens every connection: enrolment with a one-time token the first
// time, the gateway id and secret from enrolment after.
type Hello struct {
	Version    int    `json:"version"`
	GatewayID  string `json:"gateway_id,omitempty"`
	Secret     string `json:"secret,omitempty"`
	EnrolToken string `json:"enrol_token,omitempty"`
	Software   string `json:"software,omitempty"`
}

// Welcome answers Hello.
type Welcome struct {
	GatewayID string `json:"gateway_id"`
	// Secret is only sent at enrolment; the gateway stores it.
	Secret string `json:"secret,omitempty"`
	// HeartbeatSeconds is the interval the server expects; it drops a
	// gateway silent for three of them.
	HeartbeatSeconds int `json:"heartbeat_s"`
}

// Identifier is a gwext identifier in JSON: the registry type code and the
// wire value in hex, with the text form for people.
type Identifier struct {
	Type  uint8  `json:"type"`
	Value string `json:"value"`
	Text  string `json:"text,omitempty"`
}

// FromGWExt converts identifiers for the wire.
func FromGWExt(ids []gwext.Identifier) []Identifier {
	out := make([]Identifier, 0, len(ids))
	for _, id := range ids {
		out = append(out, Identifier{Type: uint8(id.Type), Value: hex.EncodeToString(id.Value), Text: id.String()})
	}
	return out
}

// GWExt converts and validates identifiers from the wire.
func (r Registration) GWExt() ([]gwext.Identifier, error) {
	out := make([]gwext.Identifier, 0, len(r.Identifiers))
	for i, id := range r.Identifiers {
		v, err := hex.DecodeString(id.Value)
		if err != nil {
			return nil, fmt.Errorf("identifiers[%d].value: not hex: %v", i, err)
		}
		g := gwext.Identifier{Type: gwext.IDType(id.Type), Value: v}
		if !g.Type.Known() {
			continue // unknown identifier types are skipped, as in gwext
		}
		if err := g.Validate(); err != nil {
			return nil, fmt.Errorf("identifiers[%d]: %v", i, err)
		}
		out = append(out, g)
	}
	return out, nil
}

// Registration is every identifier of the gateway, its WAN endpoints and its
// static key.
type Registration struct {
	Key          string       `json:"key"` // X25519 public key, 64 hex digits
	Identifiers  []Identifier `json:"identifiers"`
	WANEndpoints []string     `json:"wan_endpoints"` // host:port consoles dial
	LANMPS       string       `json:"lan_mps"`       // host:port of the local MPS
	Capability   uint16       `json:"capability"`    // gwext capability bits the gateway supports
}

// KeyBytes decodes Key.
func (r Registration) KeyBytes() ([32]byte, error) { return decodeKey(r.Key) }

func decodeKey(s string) ([32]byte, error) {
	var k [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return k, fmt.Errorf("key: want 64 hex digits, got %d characters", len(s))
	}
	copy(k[:], b)
	if k == ([32]byte{}) {
		return k, fmt.Errorf("key: all zero")
	}
	return k, nil
}

// Heartbeat is sent every HeartbeatSeconds.
type Heartbeat struct {
	Seq      uint64 `json:"seq"`
	Sessions int    `json:"sessions"` // pairing sessions the gateway holds
	Devices  int    `json:"devices"`  // CIRA connections on its local MPS
}

// Session event names.
const (
	EventDeviceConnected  = "device-connected"
	EventDeviceFailed     = "device-failed"
	EventConsoleConnected = "console-connected"
	EventConsoleFailed    = "console-failed"
	EventSessionEnded     = "session-ended"
)

// SessionEvent reports progress or failure of a pairing.
type SessionEvent struct {
	Session    string `json:"session"` // 32 hex digits
	Event      string `json:"event"`
	Reason     string `json:"reason,omitempty"`
	DeviceUUID string `json:"device_uuid,omitempty"`
	ConsoleID  string `json:"console_id,omitempty"`
}

// VerifyDevice asks the server whether a device may use the gateway as its
// failover MPS with these CIRA credentials.
type VerifyDevice struct {
	UUID       string `json:"uuid"`
	Username   string `json:"username"`
	Password   string `json:"password"`
	Capability uint16 `json:"capability"` // from the device's PROTOCOL_VERSION block
}

// DeviceOnline reports a failover device on the local MPS; the server may
// then open device channels to it.
type DeviceOnline struct {
	UUID  string   `json:"uuid"`
	Ports []uint32 `json:"ports"`
}

// DeviceOffline reports its departure.
type DeviceOffline struct {
	UUID   string `json:"uuid"`
	Reason string `json:"reason"`
}

// ExpectDevice tells the gateway a paired device will log in.
type ExpectDevice struct {
	Session     string `json:"session"`
	DeviceUUID  string `json:"device_uuid"`
	TokenSHA256 string `json:"token_sha256"` // hex SHA-256 of the 16 token bytes
	Expiry      int64  `json:"expiry"`       // unix seconds
}

// ExpectConsole tells the gateway a console will connect.
type ExpectConsole struct {
	Session    string `json:"session"`
	DeviceUUID string `json:"device_uuid"`
	ConsoleID  string `json:"console_id"`
	ConsoleKey string `json:"console_key"` // X25519 public key, 64 hex digits
	Expiry     int64  `json:"expiry"`
}

// CancelSession withdraws a pairing.
type CancelSession struct {
	Session string `json:"session"`
	Reason  string `json:"reason"`
}

// ParseSession decodes a session id field.
func ParseSession(s string) (gwext.SessionID, error) {
	var sid gwext.SessionID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(sid) {
		return sid, Errf(CodeBadRequest, "session: want 32 hex digits, got %q", s)
	}
	copy(sid[:], b)
	return sid, nil
}

// ConsoleKeyBytes decodes ConsoleKey.
func (e ExpectConsole) ConsoleKeyBytes() ([32]byte, error) { return decodeKey(e.ConsoleKey) }

// TokenHash decodes TokenSHA256.
func (e ExpectDevice) TokenHash() ([32]byte, error) {
	var h [32]byte
	b, err := hex.DecodeString(e.TokenSHA256)
	if err != nil || len(b) != 32 {
		return h, Errf(CodeBadRequest, "token_sha256: want 64 hex digits")
	}
	copy(h[:], b)
	return h, nil
}

// Unix converts an expiry field.
func Unix(s int64) time.Time { return time.Unix(s, 0) }

// DeviceTarget is the mux target a server opens to reach a failover
// device's port through the gateway.
func DeviceTarget(uuid string, port uint32) string { return fmt.Sprintf("device/%s/%d", uuid, port) }

// RelayTarget is the mux target a server opens to carry a relayed
// console's bytes (preamble, Noise handshake, records) to the gateway.
func RelayTarget(sid gwext.SessionID) string { return "relay/" + sid.String() }

// ParseRelayTarget parses a relay target.
func ParseRelayTarget(t string) (gwext.SessionID, error) {
	rest, ok := strings.CutPrefix(t, "relay/")
	if !ok {
		return gwext.SessionID{}, fmt.Errorf("target %q: want relay/<32 hex digits>", t)
	}
	sid, err := ParseSession(rest)
	if err != nil {
		return sid, fmt.Errorf("target %q: want relay/<32 hex digits>", t)
	}
	return sid, nil
}

// ParseDeviceTarget splits a device target.
func ParseDeviceTarget(t string) (uuid string, port uint32, err error) {
	rest, ok := strings.CutPrefix(t, "device/")
	uuid, ps, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || len(uuid) != 36 {
		return "", 0, fmt.Errorf("target %q: want device/<uuid>/<port>", t)
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || p == 0 || strconv.FormatUint(p, 10) != ps {
		return "", 0, fmt.Errorf("target %q: port must be 1–65535 in decimal", t)
	}
	return uuid, uint32(p), nil
}
