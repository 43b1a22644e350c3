package vmc

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// reservedBlock encodes the policy's extension decision into PROTOCOL_VERSION's
// reserved bytes.
func reservedBlock(ext policy.Extension, hint *policy.GatewayHint) ([64]byte, error) {
	var caps gwext.Capability
	if ext.Capabilities.GatewayFailover {
		caps = gwext.CapPairing | gwext.CapGatewayConnect | gwext.CapFailover | gwext.CapGatewayInfo
	}
	b := gwext.Block{Role: gwext.RoleDevice, Capability: caps}
	if hint != nil {
		ids, err := gatewayIdentifiers(*hint)
		if err != nil {
			return [64]byte{}, err
		}
		if c, ok := compactOf(ids); ok {
			b.Gateways = []gwext.Identifier{c}
		}
	}
	r, err := gwext.EncodeReserved(b)
	if err != nil {
		return r, err
	}
	if ext.Malformed {
		// Keep the magic so a server classifies the block as present but
		// broken: a TLV length running past the 64 bytes.
		r[6] = 0xff
	}
	return r, nil
}

// compactOf picks the identifier a server resolves fastest: the LAN endpoint,
// else the first identifier, compacted to fit the reserved bytes.
func compactOf(ids []gwext.Identifier) (gwext.Identifier, bool) {
	if len(ids) == 0 {
		return gwext.Identifier{}, false
	}
	for _, id := range ids {
		if id.Type == gwext.IDIPv4Endpoint || id.Type == gwext.IDIPv6Endpoint {
			return gwext.Compact(id), true
		}
	}
	return gwext.Compact(ids[0]), true
}

// gatewayIdentifiers maps the policy's text identifiers to the codec's.
func gatewayIdentifiers(h policy.GatewayHint) ([]gwext.Identifier, error) {
	var out []gwext.Identifier
	if h.Addr.IsValid() {
		id, err := gwext.Endpoint(h.Addr)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	for _, pi := range h.Identifiers {
		id, err := identifier(pi)
		if err != nil {
			return nil, fmt.Errorf("gateway identifier %s %q: %w", pi.Kind, pi.Value, err)
		}
		out = append(out, id)
	}
	return out, nil
}

func identifier(pi policy.Identifier) (gwext.Identifier, error) {
	switch pi.Kind {
	case policy.IDIPv4, policy.IDIPv6:
		a, err := netip.ParseAddr(pi.Value)
		if err != nil {
			return gwext.Identifier{}, err
		}
		return gwext.IP(a)
	case policy.IDPort:
		p, err := strconv.ParseUint(pi.Value, 10, 16)
		if err != nil {
			return gwext.Identifier{}, err
		}
		return gwext.Port(uint16(p))
	case policy.IDMAC:
		hw, err := net.ParseMAC(pi.Value)
		if err != nil {
			return gwext.Identifier{}, err
		}
		return gwext.MAC(hw)
	case policy.IDDomain:
		return gwext.Domain(pi.Value)
	case policy.IDUDI:
		return gwext.UDI(pi.Value)
	case policy.IDURL:
		return gwext.URL(pi.Value)
	}
	return gwext.Identifier{}, fmt.Errorf("unknown identifier kind %d", pi.Kind)
}
