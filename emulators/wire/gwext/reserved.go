package gwext

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// Magic opens a block: ASCII "oobt".
var Magic = [4]byte{'o', 'o', 'b', 't'}

// Reserved-block layout, offsets within the 64 reserved bytes (add 29 for
// the PROTOCOL_VERSION message offset).
const (
	reservedOffset = 29 // of the reserved bytes in PROTOCOL_VERSION
	headerLen      = 7  // magic 4, version 1, role 1, TLV length 1
	// MaxBlockTLVs is the room for TLVs in the block.
	MaxBlockTLVs = 64 - headerLen
)

const blockMsg = "PROTOCOL_VERSION oobtb block"

// Presence classifies PROTOCOL_VERSION's reserved bytes.
type Presence uint8

const (
	// Absent: no magic (stock AMT sends 64 zeros). Classic relay.
	Absent Presence = iota
	// Present: a well-formed block.
	Present
	// Malformed: the magic matches but the block is broken; the error says
	// why. The pairing module treats the device as incapable and reports it.
	Malformed
)

func (p Presence) String() string {
	switch p {
	case Absent:
		return "absent"
	case Present:
		return "present"
	case Malformed:
		return "malformed"
	}
	return "Presence(" + strconv.Itoa(int(p)) + ")"
}

// Block is the content of the reserved bytes.
type Block struct {
	Version    uint8 // 0 when encoding means Version
	Role       Role
	Capability Capability
	// Gateways are compact identifiers of the gateway(s) the device knows
	// on its LAN (see Compact). Servers send none.
	Gateways []Identifier
	// Unknown holds TLVs of unregistered types, skipped on receipt.
	Unknown []TLV
}

// EncodeReserved writes b into the 64 reserved bytes: header, the capability
// TLV, the identifiers, the unknown TLVs, zero padding.
func EncodeReserved(b Block) ([64]byte, error) {
	var r [64]byte
	if b.Role == 0 {
		return r, fmt.Errorf("gwext: block without a role")
	}
	v := b.Version
	if v == 0 {
		v = Version
	}
	out := append(r[:0], Magic[:]...)
	out = append(out, v, byte(b.Role), 0)
	var err error
	out, err = appendTLV(out, TypeCapability, binary.BigEndian.AppendUint16(nil, uint16(b.Capability)))
	if err != nil {
		return r, err
	}
	if len(b.Gateways) > MaxIdentifiers {
		return r, fmt.Errorf("gwext: %d identifiers, at most %d", len(b.Gateways), MaxIdentifiers)
	}
	for _, id := range b.Gateways {
		if !id.Type.Known() || id.Type == 0 || uint8(id.Type) >= TypeCapability {
			return r, fmt.Errorf("gwext: %s is not an identifier type", id.Type)
		}
		if err := id.Validate(); err != nil {
			return r, err
		}
		if out, err = appendTLV(out, uint8(id.Type), id.Value); err != nil {
			return r, err
		}
	}
	for _, t := range b.Unknown {
		if t.Type == 0 || registered(t.Type) {
			return r, fmt.Errorf("gwext: unknown TLV with registered type 0x%02x", t.Type)
		}
		if out, err = appendTLV(out, t.Type, t.Value); err != nil {
			return r, err
		}
	}
	if len(out) > 64 {
		return [64]byte{}, fmt.Errorf("gwext: block needs %d bytes, the reserved field has 64 (use Compact identifiers)", len(out))
	}
	out[6] = byte(len(out) - headerLen)
	// out aliases r up to 64 bytes, but copy in case appends reallocated.
	copy(r[:], out)
	return r, nil
}

// DecodeReserved classifies and parses PROTOCOL_VERSION's reserved bytes.
// Error offsets count from the start of the PROTOCOL_VERSION message.
func DecodeReserved(r [64]byte) (Block, Presence, error) {
	if !bytes.Equal(r[:4], Magic[:]) {
		return Block{}, Absent, nil
	}
	bad := func(field string, off int, expected, got string) (Block, Presence, error) {
		return Block{}, Malformed, wireerr.New(Proto, blockMsg, field, reservedOffset+off, expected, got)
	}
	b := Block{Version: r[4], Role: Role(r[5])}
	if b.Version == 0 {
		return bad("version", 4, "1 or later", "0")
	}
	if b.Role == 0 {
		return bad("role", 5, "1 (device), 2 (server) or 3 (gateway)", "0")
	}
	n := int(r[6])
	if n > MaxBlockTLVs {
		return bad("TLV length", 6, "at most "+strconv.Itoa(MaxBlockTLVs), strconv.Itoa(n))
	}
	for i := headerLen + n; i < 64; i++ {
		if r[i] != 0 {
			return bad("padding", i, "zero bytes after the TLVs", fmt.Sprintf("0x%02x", r[i]))
		}
	}
	w := tlvWalker{msg: blockMsg, b: r[headerLen : headerLen+n], base: reservedOffset + headerLen}
	haveCap := false
	err := w.each(func(t uint8, v []byte, off int) error {
		switch {
		case t == TypeCapability:
			if haveCap {
				return w.errAt("capability", off, "one capability TLV", "a second one")
			}
			if len(v) != 2 {
				return w.errAt("capability length", off+1, "2", strconv.Itoa(len(v)))
			}
			haveCap = true
			b.Capability = Capability(binary.BigEndian.Uint16(v))
		case IDType(t).Known():
			if len(b.Gateways) == MaxIdentifiers {
				return w.errAt(typeName(t), off, "at most "+strconv.Itoa(MaxIdentifiers)+" identifiers", "more")
			}
			id, err := w.identifier(t, v, off)
			if err != nil {
				return err
			}
			id.Value = bytes.Clone(id.Value)
			b.Gateways = append(b.Gateways, id)
		case registered(t):
			return w.errAt(typeName(t), off, "capability or identifier TLVs", "a "+typeName(t)+" TLV")
		default:
			b.Unknown = append(b.Unknown, TLV{Type: t, Value: bytes.Clone(v)})
		}
		return nil
	})
	if err != nil {
		return Block{}, Malformed, err
	}
	if !haveCap {
		return bad("capability", headerLen, "a capability TLV", "none")
	}
	return b, Present, nil
}

// DeviceVersion builds the PROTOCOL_VERSION a device sends: version 1.0, the
// trigger and UUID, and the block in the reserved bytes.
func DeviceVersion(uuid apf.GUID, trigger apf.TriggerReason, b Block) (*apf.ProtocolVersion, error) {
	if b.Role == 0 {
		b.Role = RoleDevice
	}
	r, err := EncodeReserved(b)
	if err != nil {
		return nil, err
	}
	return &apf.ProtocolVersion{Major: apf.MajorVersion, Minor: apf.MinorVersion, Trigger: trigger, UUID: uuid, Reserved: r}, nil
}

// Answer builds the capability answer of a server (or a gateway acting as a
// local MPS) to a device's PROTOCOL_VERSION: the same version, trigger and
// UUID, and a block with role and capability. It returns nil, with no error,
// when the device's block is not Present with RoleDevice: stock devices must
// never see anything but what a stock MPS would send.
func Answer(device *apf.ProtocolVersion, role Role, caps Capability) (*apf.ProtocolVersion, error) {
	b, p, _ := DecodeReserved(device.Reserved)
	if p != Present || b.Role != RoleDevice {
		return nil, nil
	}
	r, err := EncodeReserved(Block{Role: role, Capability: caps})
	if err != nil {
		return nil, err
	}
	return &apf.ProtocolVersion{Major: device.Major, Minor: device.Minor, Trigger: device.Trigger, UUID: device.UUID, Reserved: r}, nil
}

// ServerSupport interprets a PROTOCOL_VERSION a device received: the server's
// (or gateway's) capability when it carries a Present block written by a
// server or gateway; ok is false for stock servers, for the DMT console's echo
// and for any block with RoleDevice. A malformed block is reported in err and
// must be treated as no support.
func ServerSupport(pv *apf.ProtocolVersion) (caps Capability, ok bool, err error) {
	b, p, err := DecodeReserved(pv.Reserved)
	if p != Present || (b.Role != RoleServer && b.Role != RoleGateway) {
		return 0, false, err
	}
	return b.Capability, true, nil
}
