package gwext

import (
	"fmt"
	"strconv"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// TLV registry, one type space for every container (the reserved block and
// both request payloads). A TLV is u8 type, u8 length, then length bytes.
//
//	0x00        never valid (catches zero fill counted as TLVs)
//	0x01–0x3F   identifiers (IDType)
//	0x40–0x7F   extension fields below
//	0x80–0xFF   unassigned; vendors may experiment at 0xF0–0xFE
//
// Receivers skip types they do not know and reject registered types that are
// not allowed in the container at hand.
const (
	TypeCapability uint8 = 0x40 // u16 Capability
	TypeSessionID  uint8 = 0x41 // 16 bytes
	TypeExpiry     uint8 = 0x42 // u64 unix seconds
	TypeToken      uint8 = 0x43 // 16 bytes, one-time pairing token
)

// TLV is an element with a type this package does not know, kept so that a
// decoder can report and a test can re-encode it.
type TLV struct {
	Type  uint8
	Value []byte
}

func registered(t uint8) bool {
	return IDType(t).Known() || t >= TypeCapability && t <= TypeToken
}

func typeName(t uint8) string {
	switch t {
	case TypeCapability:
		return "capability"
	case TypeSessionID:
		return "session id"
	case TypeExpiry:
		return "expiry"
	case TypeToken:
		return "pairing token"
	}
	if IDType(t).Known() {
		return IDType(t).String() + " identifier"
	}
	return fmt.Sprintf("TLV 0x%02x", t)
}

func appendTLV(b []byte, t uint8, v []byte) ([]byte, error) {
	if len(v) > 255 {
		return nil, fmt.Errorf("gwext: %s value of %d bytes exceeds 255", typeName(t), len(v))
	}
	b = append(b, t, byte(len(v)))
	return append(b, v...), nil
}

// tlvWalker iterates over a TLV area and produces *wireerr.Error values with
// offsets counted from the start of the enclosing message.
type tlvWalker struct {
	msg  string
	b    []byte
	base int // offset of b[0] in the message
}

func (w tlvWalker) errAt(field string, off int, expected, got string) error {
	return wireerr.New(Proto, w.msg, field, w.base+off, expected, got)
}

// each calls fn for every element; fn gets the element's offset (of its type
// byte) within b.
func (w tlvWalker) each(fn func(t uint8, v []byte, off int) error) error {
	for off := 0; off < len(w.b); {
		t := w.b[off]
		if t == 0 {
			return w.errAt("TLV type", off, "a non-zero type", "0x00")
		}
		if off+2 > len(w.b) {
			return w.errAt(typeName(t)+" length", off+1, "a length byte", "end of data")
		}
		n := int(w.b[off+1])
		if off+2+n > len(w.b) {
			return w.errAt(typeName(t)+" value", off+2,
				strconv.Itoa(n)+" bytes", strconv.Itoa(len(w.b)-off-2)+" bytes before the end")
		}
		if err := fn(t, w.b[off+2:off+2+n:off+2+n], off); err != nil {
			return err
		}
		off += 2 + n
	}
	return nil
}

// identifier checks an identifier TLV's value against its type.
func (w tlvWalker) identifier(t uint8, v []byte, off int) (Identifier, error) {
	id := Identifier{Type: IDType(t), Value: v}
	if reason := id.invalid(); reason != "" {
		return Identifier{}, w.errAt(typeName(t)+" value", off+2, "a valid "+IDType(t).String(), reason)
	}
	return id, nil
}
