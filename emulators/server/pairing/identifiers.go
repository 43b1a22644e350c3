package pairing

import (
	"net"
	"net/netip"
	"strconv"

	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// Lookups turns the identifiers a device reported into registry identifiers
// to look up, most specific first (an endpoint's address before its port,
// which is rarely unique). Hashes and keys are not looked up this way; see
// MatchesAny.
func Lookups(reported []gwext.Identifier) []registry.Identifier {
	var first, last []registry.Identifier
	add := func(dst *[]registry.Identifier, t registry.IdentifierType, v string) {
		if id, err := registry.NormalizeIdentifier(registry.Identifier{Type: t, Value: v}); err == nil {
			*dst = append(*dst, id)
		}
	}
	for _, id := range reported {
		switch id.Type {
		case gwext.IDIPv4, gwext.IDIPv6, gwext.IDIPv4Endpoint, gwext.IDIPv6Endpoint:
			if a, ok := id.Addr(); ok {
				add(&first, ipType(a), a.String())
			}
		case gwext.IDMAC:
			if len(id.Value) == 6 {
				add(&first, registry.IDMAC, net.HardwareAddr(id.Value).String())
			}
		case gwext.IDDomain:
			add(&first, registry.IDDomain, string(id.Value))
		case gwext.IDUDI:
			add(&first, registry.IDUDI, string(id.Value))
		case gwext.IDURL:
			add(&first, registry.IDURL, string(id.Value))
		case gwext.IDPort:
			if p, ok := id.PortValue(); ok {
				add(&last, registry.IDPort, strconv.Itoa(int(p)))
			}
		}
	}
	return append(first, last...)
}

// WireForms renders a gateway's registry identifiers in wire form, with
// every address × port combination as an endpoint too (a device reports the
// LAN MPS endpoint; the registry stores its address and port apart).
func WireForms(ids []registry.Identifier) []gwext.Identifier {
	var out []gwext.Identifier
	var addrs []netip.Addr
	var ports []uint16
	for _, id := range ids {
		switch id.Type {
		case registry.IDIPv4, registry.IDIPv6:
			if a, err := netip.ParseAddr(id.Value); err == nil {
				addrs = append(addrs, a)
				if w, err := gwext.IP(a); err == nil {
					out = append(out, w)
				}
			}
		case registry.IDPort:
			if p, err := strconv.ParseUint(id.Value, 10, 16); err == nil && p > 0 {
				ports = append(ports, uint16(p))
				if w, err := gwext.Port(uint16(p)); err == nil {
					out = append(out, w)
				}
			}
		case registry.IDMAC:
			if hw, err := net.ParseMAC(id.Value); err == nil {
				if w, err := gwext.MAC(hw); err == nil {
					out = append(out, w)
				}
			}
		case registry.IDDomain:
			if w, err := gwext.Domain(id.Value); err == nil {
				out = append(out, w)
			}
		case registry.IDUDI:
			if w, err := gwext.UDI(id.Value); err == nil {
				out = append(out, w)
			}
		case registry.IDURL:
			if w, err := gwext.URL(id.Value); err == nil {
				out = append(out, w)
			}
		}
	}
	for _, a := range addrs {
		for _, p := range ports {
			if w, err := gwext.Endpoint(netip.AddrPortFrom(a, p)); err == nil {
				out = append(out, w)
			}
		}
	}
	return out
}

// MatchesAny reports whether a reported identifier names the gateway: equal
// to one of its wire forms or the hash of one. A bare port never does (every
// gateway may use 4433).
func MatchesAny(r gwext.Identifier, g registry.Gateway) bool {
	if r.Type == gwext.IDPort {
		return false
	}
	if r.Type == gwext.IDKey {
		k, ok := r.KeyValue()
		return ok && len(g.PublicKey) == 32 && [32]byte(g.PublicKey) == k
	}
	if r.Type != gwext.IDHash {
		return namesGateway(r, g.Identifiers)
	}
	forms := WireForms(g.Identifiers)
	if len(g.PublicKey) == 32 {
		if k, err := gwext.Key([32]byte(g.PublicKey)); err == nil {
			forms = append(forms, k)
		}
	}
	for _, f := range forms {
		if f.Type == gwext.IDPort {
			continue
		}
		if r.Matches(f) {
			return true
		}
	}
	return false
}

// ServesDevice reports whether g is on the device's LAN: the device reported
// one of g's identifiers (it learned them from g's own DHCP or DNS-SD
// announcement), or reported a domain g declares as its LAN domain.
func ServesDevice(g registry.Gateway, d Device) bool {
	for _, r := range d.Reported {
		if MatchesAny(r, g) {
			return true
		}
		if r.Type == gwext.IDDomain && g.ServesLAN(string(r.Value), netip.Addr{}) {
			return true
		}
	}
	return false
}

func ipType(a netip.Addr) registry.IdentifierType {
	if a.Is4() || a.Is4In6() {
		return registry.IDIPv4
	}
	return registry.IDIPv6
}

// namesGateway compares a plain identifier in canonical registry form (so
// letter case and address spellings never cause a miss).
func namesGateway(r gwext.Identifier, ids []registry.Identifier) bool {
	has := func(want registry.Identifier) bool {
		for _, id := range ids {
			if n, err := registry.NormalizeIdentifier(id); err == nil && n == want {
				return true
			}
		}
		return false
	}
	if r.Type == gwext.IDIPv4Endpoint || r.Type == gwext.IDIPv6Endpoint {
		a, ok1 := r.Addr()
		p, ok2 := r.PortValue()
		return ok1 && ok2 && has(registry.Identifier{Type: ipType(a), Value: a.String()}) &&
			has(registry.Identifier{Type: registry.IDPort, Value: strconv.Itoa(int(p))})
	}
	for _, want := range Lookups([]gwext.Identifier{r}) {
		if has(want) {
			return true
		}
	}
	return false
}
