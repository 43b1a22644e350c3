// Package redir is the codec for Intel AMT's redirection protocol (ports
// 16994/16995): the session manager messages (start, authenticate, end), the
// KVM start that hands the stream over to RFB, and the SOL messages.
//
// Unlike APF and RFB, every integer here is little-endian. Messages carry no
// outer length: the size of each follows from its opcode and, for the
// variable ones, from an embedded length, so Decode cuts exactly one message
// from the front of a stream. The opcode space is shared by the two
// directions (0x40 is KVM start console→AMT, 0x41 its reply), so Decode takes
// the direction the bytes travel. The package is pure: no I/O, no goroutines,
// no clocks. Byte layouts: docs/protocols/redirection.md (reference §2).
package redir

import (
	"encoding/binary"
	"fmt"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// Proto is the protocol name carried in every *wireerr.Error of this package.
const Proto = "redirection"

// ErrShort is matched (errors.Is) by errors for a valid but incomplete prefix.
var ErrShort = wireerr.ErrShort

// Direction says which way a byte stream travels.
type Direction uint8

const (
	// ToAMT is console → AMT (the requests).
	ToAMT Direction = iota
	// FromAMT is AMT → console (the replies and host data).
	FromAMT
)

func (d Direction) String() string {
	if d == ToAMT {
		return "console→AMT"
	}
	return "AMT→console"
}

// Opcode is the first byte of every redirection message.
type Opcode uint8

// Opcodes (reference §2.2–§2.6).
const (
	OpStartRedirectionSession      Opcode = 0x10
	OpStartRedirectionSessionReply Opcode = 0x11
	OpEndRedirectionSession        Opcode = 0x12
	OpAuthenticateSession          Opcode = 0x13
	OpAuthenticateSessionReply     Opcode = 0x14
	OpStartSOL                     Opcode = 0x20
	OpStartSOLReply                Opcode = 0x21
	OpEndSOL                       Opcode = 0x22
	OpEndSOLReply                  Opcode = 0x23
	OpSOLPing                      Opcode = 0x24
	OpSOLPong                      Opcode = 0x25
	OpSOLControlSettings           Opcode = 0x27
	OpSOLDataToHost                Opcode = 0x28
	OpSOLControlsFromHost          Opcode = 0x29
	OpSOLDataFromHost              Opcode = 0x2A
	OpSOLHeartbeat                 Opcode = 0x2B
	OpKVMStart                     Opcode = 0x40
	OpKVMStartReply                Opcode = 0x41
)

var opNames = map[Opcode]string{
	OpStartRedirectionSession:      "StartRedirectionSession",
	OpStartRedirectionSessionReply: "StartRedirectionSessionReply",
	OpEndRedirectionSession:        "EndRedirectionSession",
	OpAuthenticateSession:          "AuthenticateSession",
	OpAuthenticateSessionReply:     "AuthenticateSessionReply",
	OpStartSOL:                     "StartSOLRedirection",
	OpStartSOLReply:                "StartSOLRedirectionReply",
	OpEndSOL:                       "EndSOLRedirection",
	OpEndSOLReply:                  "EndSOLRedirectionReply",
	OpSOLPing:                      "SOLKeepAlivePing",
	OpSOLPong:                      "SOLKeepAlivePong",
	OpSOLControlSettings:           "SOLControlSettings",
	OpSOLDataToHost:                "SOLDataToHost",
	OpSOLControlsFromHost:          "SOLControlsFromHost",
	OpSOLDataFromHost:              "SOLDataFromHost",
	OpSOLHeartbeat:                 "SOLHeartbeat",
	OpKVMStart:                     "KVMStart",
	OpKVMStartReply:                "KVMStartReply",
}

func (o Opcode) String() string {
	if n, ok := opNames[o]; ok {
		return n
	}
	return fmt.Sprintf("opcode 0x%02x", uint8(o))
}

// Msg is one redirection message.
type Msg interface {
	// Opcode is the message's first byte.
	Opcode() Opcode
	// Append appends the wire encoding to b.
	Append(b []byte) []byte
}

// Limits that bound every embedded length.
const (
	// MaxAuthData bounds AuthenticateSession(Reply) data. Eight 1-byte-length
	// strings fit in 2048 bytes; Kerberos tickets are the only larger data and
	// are not emulated.
	MaxAuthData = 8192
	// MaxOEMData is the largest OEM data a StartRedirectionSessionReply can carry.
	MaxOEMData = 255
	// MaxSOLData bounds one SOL data message (a u16 length).
	MaxSOLData = 0xFFFF
)

// directions lists, per opcode, the directions it may travel in.
var directions = map[Opcode][2]bool{
	OpStartRedirectionSession:      {true, false},
	OpStartRedirectionSessionReply: {false, true},
	OpEndRedirectionSession:        {true, true},
	OpAuthenticateSession:          {true, false},
	OpAuthenticateSessionReply:     {false, true},
	OpStartSOL:                     {true, false},
	OpStartSOLReply:                {false, true},
	OpEndSOL:                       {true, false},
	OpEndSOLReply:                  {false, true},
	OpSOLPing:                      {true, false},
	OpSOLPong:                      {false, true},
	OpSOLControlSettings:           {true, false},
	OpSOLDataToHost:                {true, false},
	OpSOLControlsFromHost:          {false, true},
	OpSOLDataFromHost:              {false, true},
	OpSOLHeartbeat:                 {true, true},
	OpKVMStart:                     {true, false},
	OpKVMStartReply:                {false, true},
}

// Decode cuts one message from the front of b, which travels in direction
// dir, and returns it with the number of bytes it used. An incomplete message
// gives an error matching ErrShort; anything malformed a *wireerr.Error. The
// returned message does not alias b.
func Decode(b []byte, dir Direction) (Msg, int, error) {
	if len(b) < 1 {
		return nil, 0, wireerr.Short(Proto, "message", "opcode", 0, 1, 0)
	}
	op := Opcode(b[0])
	dirs, ok := directions[op]
	if !ok {
		return nil, 0, wireerr.New(Proto, "message", "opcode", 0, "a known redirection opcode", fmt.Sprintf("0x%02x", b[0]))
	}
	if !dirs[dir] {
		return nil, 0, wireerr.New(Proto, op.String(), "opcode", 0, "a message valid "+dir.String(), fmt.Sprintf("0x%02x, which travels the other way", b[0]))
	}
	switch op {
	case OpStartRedirectionSession:
		return decodeStart(b)
	case OpStartRedirectionSessionReply:
		return decodeStartReply(b)
	case OpEndRedirectionSession:
		if err := need(b, op, "reserved", 4); err != nil {
			return nil, 0, err
		}
		return &EndRedirectionSession{}, 4, nil
	case OpAuthenticateSession:
		return decodeAuth(b)
	case OpAuthenticateSessionReply:
		return decodeAuthReply(b)
	case OpKVMStart:
		if err := need(b, op, "reserved", 8); err != nil {
			return nil, 0, err
		}
		m := &KVMStart{}
		copy(m.Reserved[:], b[1:8])
		return m, 8, nil
	case OpKVMStartReply:
		if err := need(b, op, "reserved", 8); err != nil {
			return nil, 0, err
		}
		m := &KVMStartReply{}
		copy(m.Data[:], b[1:8])
		return m, 8, nil
	default:
		return decodeSOL(b, op)
	}
}

// need reports ErrShort unless b holds n bytes.
func need(b []byte, op Opcode, field string, n int) error {
	if len(b) < n {
		return wireerr.Short(Proto, op.String(), field, len(b), n, len(b))
	}
	return nil
}

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

func put16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func put32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
