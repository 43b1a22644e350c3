package redir

import (
	"fmt"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// SessionType is the 4-byte ASCII session type of StartRedirectionSession.
type SessionType [4]byte

// Session types.
var (
	SessionSOL  = SessionType{'S', 'O', 'L', ' '}
	SessionIDER = SessionType{'I', 'D', 'E', 'R'}
	SessionKVM  = SessionType{'K', 'V', 'M', 'R'}
)

func (t SessionType) String() string { return fmt.Sprintf("%q", string(t[:])) }

// StartRedirectionSession opens a session (console → AMT, 8 bytes).
type StartRedirectionSession struct {
	// Flag is byte 1: consoles send 1 for KVM and 0 for SOL and IDER; its
	// meaning is undocumented.
	Flag uint8
	Type SessionType
}

// NewStart returns the request the consoles send for the session type.
func NewStart(t SessionType) *StartRedirectionSession {
	m := &StartRedirectionSession{Type: t}
	if t == SessionKVM {
		m.Flag = 1
	}
	return m
}

func (*StartRedirectionSession) Opcode() Opcode { return OpStartRedirectionSession }

func (m *StartRedirectionSession) Append(b []byte) []byte {
	b = append(b, byte(OpStartRedirectionSession), m.Flag, 0, 0)
	return append(b, m.Type[:]...)
}

func decodeStart(b []byte) (Msg, int, error) {
	if err := need(b, OpStartRedirectionSession, "session type", 8); err != nil {
		return nil, 0, err
	}
	m := &StartRedirectionSession{Flag: b[1]}
	copy(m.Type[:], b[4:8])
	return m, 8, nil
}

// Start reply statuses (reference §2.2).
const (
	StartStatusSuccess     uint8 = 0
	StartStatusTypeUnknown uint8 = 1
	StartStatusBusy        uint8 = 2
	StartStatusUnsupported uint8 = 3
	StartStatusError       uint8 = 0xFF
)

// StartRedirectionSessionReply answers a start (AMT → console, 13+N bytes).
type StartRedirectionSessionReply struct {
	Status                       uint8
	ProtoMajor, ProtoMinor       uint8
	FirmwareMajor, FirmwareMinor uint8
	OEMIANA                      uint32
	OEMData                      []byte // at most MaxOEMData bytes
}

func (*StartRedirectionSessionReply) Opcode() Opcode { return OpStartRedirectionSessionReply }

// Append encodes the reply; OEM data beyond MaxOEMData bytes is cut.
func (m *StartRedirectionSessionReply) Append(b []byte) []byte {
	oem := m.OEMData
	if len(oem) > MaxOEMData {
		oem = oem[:MaxOEMData]
	}
	b = append(b, byte(OpStartRedirectionSessionReply), m.Status, 0, 0,
		m.ProtoMajor, m.ProtoMinor, m.FirmwareMajor, m.FirmwareMinor)
	b = put32(b, m.OEMIANA)
	b = append(b, byte(len(oem)))
	return append(b, oem...)
}

func decodeStartReply(b []byte) (Msg, int, error) {
	const op = OpStartRedirectionSessionReply
	if err := need(b, op, "OEM data length", 13); err != nil {
		return nil, 0, err
	}
	n := 13 + int(b[12])
	if err := need(b, op, "OEM data", n); err != nil {
		return nil, 0, err
	}
	m := &StartRedirectionSessionReply{
		Status: b[1], ProtoMajor: b[4], ProtoMinor: b[5], FirmwareMajor: b[6], FirmwareMinor: b[7],
		OEMIANA: le32(b[8:12]),
	}
	if b[12] > 0 {
		m.OEMData = append([]byte(nil), b[13:n]...)
	}
	return m, n, nil
}

// EndRedirectionSession closes the session (4 bytes, `12 00 00 00`).
type EndRedirectionSession struct{}

func (*EndRedirectionSession) Opcode() Opcode { return OpEndRedirectionSession }

func (*EndRedirectionSession) Append(b []byte) []byte {
	return append(b, byte(OpEndRedirectionSession), 0, 0, 0)
}

// KVMStart is the console's 8-byte request after authentication on a KVMR
// session; after AMT's KVMStartReply the stream carries RFB.
type KVMStart struct {
	Reserved [7]byte // zero from every console
}

func (*KVMStart) Opcode() Opcode { return OpKVMStart }

func (m *KVMStart) Append(b []byte) []byte {
	b = append(b, byte(OpKVMStart))
	return append(b, m.Reserved[:]...)
}

// KVMStartReply is AMT's 8-byte answer; consoles read only the opcode and the
// content of the other seven bytes is unknown, so zero is sent.
type KVMStartReply struct {
	Data [7]byte
}

func (*KVMStartReply) Opcode() Opcode { return OpKVMStartReply }

func (m *KVMStartReply) Append(b []byte) []byte {
	b = append(b, byte(OpKVMStartReply))
	return append(b, m.Data[:]...)
}

// errLen reports an embedded length over its bound.
func errLen(op Opcode, field string, off, max, got int) error {
	return wireerr.New(Proto, op.String(), field, off, fmt.Sprintf("at most %d", max), fmt.Sprint(got))
}
