package policy

import (
	"fmt"
	"net/netip"
	"time"
)

// IDKind is the type of one gateway identifier. The byte codec
// (emulators/wire/gwext) owns the wire numbering; a driver maps between them.
type IDKind uint8

const (
	IDIPv4 IDKind = iota + 1
	IDIPv6
	IDPort
	IDMAC
	IDDomain
	IDUDI
	IDURL
)

func (k IDKind) String() string {
	switch k {
	case IDIPv4:
		return "ipv4"
	case IDIPv6:
		return "ipv6"
	case IDPort:
		return "port"
	case IDMAC:
		return "mac"
	case IDDomain:
		return "domain"
	case IDUDI:
		return "udi"
	case IDURL:
		return "url"
	}
	return fmt.Sprintf("IDKind(%d)", uint8(k))
}

// Identifier is one gateway identifier in text form ("198.18.1.1",
// "4433", "02:00:00:00:00:01", "lan.example", …).
type Identifier struct {
	Kind  IDKind
	Value string
}

// HintSource says where the vMC learned about a gateway.
type HintSource uint8

const (
	FromDHCP  HintSource = iota // the gateway's vendor-specific DHCP option
	FromDNSSD                   // a _oobgw._tcp announcement
)

func (s HintSource) String() string {
	if s == FromDNSSD {
		return "dns-sd"
	}
	return "dhcp"
}

// GatewayHint is what the vMC knows about the edge gateway on its LAN.
type GatewayHint struct {
	ID          string         // compact gateway identifier (goes into the extension block)
	Addr        netip.AddrPort // the gateway's LAN MPS endpoint
	PublicKey   [32]byte       // the gateway's static X25519 key, if announced
	Identifiers []Identifier   // everything announced, sent in gateway-info
	Source      HintSource
}

func (h GatewayHint) String() string {
	return fmt.Sprintf("gateway %q at %s (%d identifiers, via %s)", h.ID, h.Addr, len(h.Identifiers), h.Source)
}

func (h GatewayHint) equal(o GatewayHint) bool {
	if h.ID != o.ID || h.Addr != o.Addr || h.PublicKey != o.PublicKey || len(h.Identifiers) != len(o.Identifiers) {
		return false
	}
	for i := range h.Identifiers {
		if h.Identifiers[i] != o.Identifiers[i] {
			return false
		}
	}
	return true
}

// Capabilities is the failover capability field in abstract form; the codec
// maps it to its bit-field.
type Capabilities struct {
	// GatewayFailover: the device fails over to a LAN gateway when its
	// direct path to the server is lost, and follows gateway-connect.
	GatewayFailover bool
}

// Extension is what goes into PROTOCOL_VERSION's reserved bytes.
type Extension struct {
	Capabilities Capabilities
	GatewayID    string // compact identifier of the learned gateway; "" if none
	// Malformed asks the driver to encode a deliberately broken block
	// (conformance tests).
	Malformed bool
}

func (e Extension) String() string {
	s := fmt.Sprintf("failover=%t", e.Capabilities.GatewayFailover)
	if e.GatewayID != "" {
		s += fmt.Sprintf(" gateway=%q", e.GatewayID)
	}
	if e.Malformed {
		s += " MALFORMED"
	}
	return s
}

// GatewayConnectRequest is the body of gateway-connect@oobtb.
type GatewayConnectRequest struct {
	Session   string
	GatewayID string
	Addr      netip.AddrPort // the gateway's LAN address and port
	Token     []byte         // one-time pairing token; never logged
	Expiry    time.Time
	PublicKey [32]byte // the gateway's key, bound to the pairing
}
