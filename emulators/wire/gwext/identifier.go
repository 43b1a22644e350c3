package gwext

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
)

// IDType is a TLV type from the identifier range (0x01–0x3F) of the registry.
type IDType uint8

// Identifier types. Value layouts (network byte order):
const (
	IDIPv4         IDType = 0x01 // 4 bytes
	IDIPv6         IDType = 0x02 // 16 bytes
	IDPort         IDType = 0x03 // u16, non-zero
	IDMAC          IDType = 0x04 // 6 bytes
	IDDomain       IDType = 0x05 // 1–253 bytes, LDH labels of 1–63 joined by '.'
	IDUDI          IDType = 0x06 // 1–64 printable ASCII bytes (0x21–0x7E)
	IDURL          IDType = 0x07 // 1–255 printable ASCII bytes, absolute URL with scheme and host
	IDKey          IDType = 0x08 // 32-byte X25519 public key, not all zero
	IDIPv4Endpoint IDType = 0x09 // 4-byte address + u16 port (non-zero)
	IDIPv6Endpoint IDType = 0x0A // 16-byte address + u16 port (non-zero)
	IDHash         IDType = 0x0B // 8 bytes: SHA-256(type ‖ value of another identifier)[:8]
)

var idNames = map[IDType]string{
	IDIPv4: "ipv4", IDIPv6: "ipv6", IDPort: "port", IDMAC: "mac", IDDomain: "domain",
	IDUDI: "udi", IDURL: "url", IDKey: "key", IDIPv4Endpoint: "ipv4-endpoint",
	IDIPv6Endpoint: "ipv6-endpoint", IDHash: "hash",
}

func (t IDType) String() string {
	if n, ok := idNames[t]; ok {
		return n
	}
	return fmt.Sprintf("id-type 0x%02x", uint8(t))
}

// Known reports whether t is a registered identifier type.
func (t IDType) Known() bool { _, ok := idNames[t]; return ok }

// Identifier is one typed gateway identifier. Value is in wire form.
type Identifier struct {
	Type  IDType
	Value []byte
}

// IPv4 returns an IPv4 address identifier.
func IPv4(a netip.Addr) (Identifier, error) {
	if !a.Is4() {
		return Identifier{}, fmt.Errorf("gwext: %v is not an IPv4 address", a)
	}
	v := a.As4()
	return Identifier{IDIPv4, v[:]}, nil
}

// IPv6 returns an IPv6 address identifier.
func IPv6(a netip.Addr) (Identifier, error) {
	if !a.Is6() || a.Is4In6() {
		return Identifier{}, fmt.Errorf("gwext: %v is not an IPv6 address", a)
	}
	v := a.As16()
	return Identifier{IDIPv6, v[:]}, nil
}

// IP returns an IPv4 or IPv6 identifier, whichever fits a.
func IP(a netip.Addr) (Identifier, error) {
	a = a.Unmap()
	if a.Is4() {
		return IPv4(a)
	}
	return IPv6(a)
}

// Port returns a port identifier.
func Port(p uint16) (Identifier, error) {
	if p == 0 {
		return Identifier{}, fmt.Errorf("gwext: port 0")
	}
	return Identifier{IDPort, binary.BigEndian.AppendUint16(nil, p)}, nil
}

// MAC returns a MAC identifier (EUI-48 only).
func MAC(hw net.HardwareAddr) (Identifier, error) {
	if len(hw) != 6 {
		return Identifier{}, fmt.Errorf("gwext: MAC %v is not 6 bytes", hw)
	}
	return Identifier{IDMAC, bytes.Clone(hw)}, nil
}

// Domain returns a domain-name identifier.
func Domain(name string) (Identifier, error) {
	id := Identifier{IDDomain, []byte(name)}
	return id, id.Validate()
}

// UDI returns a unique-device-identifier identifier.
func UDI(udi string) (Identifier, error) {
	id := Identifier{IDUDI, []byte(udi)}
	return id, id.Validate()
}

// URL returns a URL identifier.
func URL(u string) (Identifier, error) {
	id := Identifier{IDURL, []byte(u)}
	return id, id.Validate()
}

// Key returns an X25519 public-key identifier.
func Key(k [32]byte) (Identifier, error) {
	id := Identifier{IDKey, bytes.Clone(k[:])}
	return id, id.Validate()
}

// Endpoint returns an IPv4- or IPv6-endpoint identifier.
func Endpoint(ap netip.AddrPort) (Identifier, error) {
	a := ap.Addr().Unmap()
	if ap.Port() == 0 {
		return Identifier{}, fmt.Errorf("gwext: endpoint %v has port 0", ap)
	}
	if a.Is4() {
		v := a.As4()
		return Identifier{IDIPv4Endpoint, binary.BigEndian.AppendUint16(v[:], ap.Port())}, nil
	}
	if a.Is6() {
		v := a.As16()
		return Identifier{IDIPv6Endpoint, binary.BigEndian.AppendUint16(v[:], ap.Port())}, nil
	}
	return Identifier{}, fmt.Errorf("gwext: endpoint %v has no address", ap)
}

// HashOf returns the hash identifier of id: the first 8 bytes of
// SHA-256(type ‖ value). It lets a long identifier (URL, UDI, domain, key)
// fit in PROTOCOL_VERSION's reserved bytes; the server resolves it by hashing
// the identifiers in its gateway registry.
func HashOf(id Identifier) Identifier {
	h := sha256.New()
	h.Write([]byte{byte(id.Type)})
	h.Write(id.Value)
	return Identifier{IDHash, h.Sum(nil)[:8]}
}

// Matches reports whether id names the same gateway identifier as full:
// equal, or id is the hash of full.
func (id Identifier) Matches(full Identifier) bool {
	if id.Type == full.Type {
		return bytes.Equal(id.Value, full.Value)
	}
	return id.Type == IDHash && full.Type != IDHash && bytes.Equal(id.Value, HashOf(full).Value)
}

// Compact returns id if it fits the reserved block's budget for one
// identifier (CompactMax bytes of value), else its hash.
func Compact(id Identifier) Identifier {
	if len(id.Value) <= CompactMax {
		return id
	}
	return HashOf(id)
}

// CompactMax is the longest identifier value Compact keeps as it is: an IPv6
// endpoint (18) still fits next to the capability TLV.
const CompactMax = 18

// Equal reports whether two identifiers are byte-identical.
func (id Identifier) Equal(o Identifier) bool {
	return id.Type == o.Type && bytes.Equal(id.Value, o.Value)
}

// Validate checks the value against its type's layout. Unknown types are
// valid: receivers skip them.
func (id Identifier) Validate() error {
	if reason := id.invalid(); reason != "" {
		return fmt.Errorf("gwext: %s identifier: %s", id.Type, reason)
	}
	return nil
}

// expectedLen returns the fixed length of a type's value, or -1.
func expectedLen(t IDType) int {
	switch t {
	case IDIPv4:
		return 4
	case IDIPv6:
		return 16
	case IDPort:
		return 2
	case IDMAC:
		return 6
	case IDKey:
		return 32
	case IDIPv4Endpoint:
		return 6
	case IDIPv6Endpoint:
		return 18
	case IDHash:
		return 8
	}
	return -1
}

// invalid returns why the value is bad, or "".
func (id Identifier) invalid() string {
	v := id.Value
	if n := expectedLen(id.Type); n >= 0 && len(v) != n {
		return fmt.Sprintf("value is %d bytes, want %d", len(v), n)
	}
	switch id.Type {
	case IDPort:
		if binary.BigEndian.Uint16(v) == 0 {
			return "port 0"
		}
	case IDIPv4Endpoint, IDIPv6Endpoint:
		if binary.BigEndian.Uint16(v[len(v)-2:]) == 0 {
			return "port 0"
		}
	case IDKey:
		if bytes.Equal(v, make([]byte, 32)) {
			return "all-zero public key"
		}
	case IDDomain:
		return invalidDomain(v)
	case IDUDI:
		if len(v) < 1 || len(v) > 64 {
			return fmt.Sprintf("length %d, want 1–64", len(v))
		}
		if i := nonPrintable(v); i >= 0 {
			return fmt.Sprintf("byte 0x%02x at %d is not printable ASCII", v[i], i)
		}
	case IDURL:
		if len(v) < 1 || len(v) > 255 {
			return fmt.Sprintf("length %d, want 1–255", len(v))
		}
		if i := nonPrintable(v); i >= 0 {
			return fmt.Sprintf("byte 0x%02x at %d is not printable ASCII", v[i], i)
		}
		u, err := url.Parse(string(v))
		if err != nil || u.Scheme == "" || u.Host == "" {
			return "not an absolute URL with scheme and host"
		}
	}
	return ""
}

func nonPrintable(v []byte) int {
	for i, c := range v {
		if c < 0x21 || c > 0x7e {
			return i
		}
	}
	return -1
}

func invalidDomain(v []byte) string {
	if len(v) < 1 || len(v) > 253 {
		return fmt.Sprintf("length %d, want 1–253", len(v))
	}
	for _, label := range bytes.Split(v, []byte{'.'}) {
		if len(label) < 1 || len(label) > 63 {
			return fmt.Sprintf("label of %d bytes, want 1–63", len(label))
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "label starts or ends with '-'"
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Sprintf("byte 0x%02x is not a letter, digit or '-'", c)
			}
		}
	}
	return ""
}

// Addr returns the address of an IPv4/IPv6/endpoint identifier.
func (id Identifier) Addr() (netip.Addr, bool) {
	if id.invalid() != "" {
		return netip.Addr{}, false
	}
	switch id.Type {
	case IDIPv4, IDIPv4Endpoint:
		return netip.AddrFrom4([4]byte(id.Value[:4])), true
	case IDIPv6, IDIPv6Endpoint:
		return netip.AddrFrom16([16]byte(id.Value[:16])), true
	}
	return netip.Addr{}, false
}

// PortValue returns the port of a port or endpoint identifier.
func (id Identifier) PortValue() (uint16, bool) {
	if id.invalid() != "" {
		return 0, false
	}
	switch id.Type {
	case IDPort, IDIPv4Endpoint, IDIPv6Endpoint:
		return binary.BigEndian.Uint16(id.Value[len(id.Value)-2:]), true
	}
	return 0, false
}

// KeyValue returns the public key of a key identifier.
func (id Identifier) KeyValue() ([32]byte, bool) {
	if id.Type != IDKey || id.invalid() != "" {
		return [32]byte{}, false
	}
	return [32]byte(id.Value), true
}

// String renders the identifier as type:value, e.g. "ipv4:198.18.0.1",
// "ipv4-endpoint:198.18.0.1:4433", "mac:02:00:5e:10:00:01",
// "key:<64 hex>", "hash:<16 hex>". Invalid values are shown in hex.
func (id Identifier) String() string {
	v := id.Value
	if id.invalid() != "" || !id.Type.Known() {
		return id.Type.String() + ":invalid:" + hex.EncodeToString(v)
	}
	var s string
	switch id.Type {
	case IDIPv4, IDIPv6:
		a, _ := id.Addr()
		s = a.String()
	case IDPort:
		s = strconv.Itoa(int(binary.BigEndian.Uint16(v)))
	case IDMAC:
		s = net.HardwareAddr(v).String()
	case IDDomain, IDUDI, IDURL:
		s = string(v)
	case IDKey, IDHash:
		s = hex.EncodeToString(v)
	case IDIPv4Endpoint, IDIPv6Endpoint:
		a, _ := id.Addr()
		p, _ := id.PortValue()
		s = netip.AddrPortFrom(a, p).String()
	}
	return id.Type.String() + ":" + s
}
