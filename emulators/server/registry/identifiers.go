package registry

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// IdentifierType names a kind of gateway identifier (ARCHITECTURE §3 item
// 2: the identifier TLVs a gateway announces and a vMC reports).
type IdentifierType string

const (
	IDIPv4   IdentifierType = "ipv4"
	IDIPv6   IdentifierType = "ipv6"
	IDPort   IdentifierType = "port"
	IDMAC    IdentifierType = "mac"
	IDDomain IdentifierType = "domain"
	IDUDI    IdentifierType = "udi"
	IDURL    IdentifierType = "url"
)

// IdentifierTypes lists every type, in TLV order.
var IdentifierTypes = []IdentifierType{IDIPv4, IDIPv6, IDPort, IDMAC, IDDomain, IDUDI, IDURL}

// Identifier is one typed gateway identifier.
type Identifier struct {
	Type  IdentifierType `json:"type"`
	Value string         `json:"value"`
}

func (i Identifier) String() string { return string(i.Type) + ":" + i.Value }

// MaxIdentifierLen bounds an identifier value (a URL is the longest).
const MaxIdentifierLen = 2048

var domainLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// NormalizeIdentifier returns the canonical form used for storage and
// lookup, so "192.168.001.1"-style variants and letter case never cause a
// miss: IPs in netip form, MACs lower-case colon-separated, domains
// lower-case without the trailing dot, ports decimal 1–65535, URLs with
// lower-case scheme and host. UDIs are opaque (trimmed only).
func NormalizeIdentifier(id Identifier) (Identifier, error) {
	v := strings.TrimSpace(id.Value)
	bad := func(why string) (Identifier, error) {
		return Identifier{}, fmt.Errorf("%w: identifier %s: %s", ErrInvalid, id.Type, why)
	}
	if v == "" {
		return bad("empty value")
	}
	if len(v) > MaxIdentifierLen {
		return bad(fmt.Sprintf("value longer than %d bytes", MaxIdentifierLen))
	}
	switch id.Type {
	case IDIPv4:
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return bad("not an IPv4 address")
		}
		v = a.String()
	case IDIPv6:
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is6() || a.Is4In6() {
			return bad("not an IPv6 address")
		}
		v = a.String()
	case IDPort:
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil || n == 0 {
			return bad("not a port 1-65535")
		}
		v = strconv.FormatUint(n, 10)
	case IDMAC:
		hw, err := net.ParseMAC(v)
		if err != nil || len(hw) != 6 {
			return bad("not a 48-bit MAC address")
		}
		v = hw.String()
	case IDDomain:
		v = strings.TrimSuffix(strings.ToLower(v), ".")
		if len(v) > 253 || v == "" {
			return bad("not a domain name")
		}
		for _, l := range strings.Split(v, ".") {
			if !domainLabel.MatchString(l) {
				return bad("not a domain name")
			}
		}
	case IDUDI:
		for _, r := range v {
			if r < 0x20 || r == 0x7f {
				return bad("control character")
			}
		}
	case IDURL:
		u, err := url.Parse(v)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return bad("not an absolute URL")
		}
		u.Scheme = strings.ToLower(u.Scheme)
		u.Host = strings.ToLower(u.Host)
		v = u.String()
	default:
		return bad("unknown identifier type")
	}
	return Identifier{Type: id.Type, Value: v}, nil
}

func normalizeIdentifiers(ids []Identifier) ([]Identifier, error) {
	out := make([]Identifier, 0, len(ids))
	seen := map[Identifier]bool{}
	for _, id := range ids {
		n, err := NormalizeIdentifier(id)
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// CanonicalUUID returns the lower-case hyphenated form of a device UUID
// (the form DMT MPS keys devices by, reference §1.7).
func CanonicalUUID(s string) (string, error) {
	u, err := uuid.Parse(strings.TrimSpace(s))
	if err != nil || len(strings.TrimSpace(s)) != 36 {
		return "", fmt.Errorf("%w: device UUID %q is not of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", ErrInvalid, truncate(s, 64))
	}
	return u.String(), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
