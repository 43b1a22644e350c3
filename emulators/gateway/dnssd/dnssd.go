// Package dnssd announces the gateway as the DNS-SD service _oobgw._tcp
// over mDNS-style messages (github.com/miekg/dns) and browses for it from
// the vMC side. The TXT record carries the same identifiers and key as the
// DHCP vendor option.
package dnssd

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

const (
	// Service is the DNS-SD service type.
	Service = "_oobgw._tcp.local."
	// ServicesEnum is the DNS-SD service-type enumeration name.
	ServicesEnum = "_services._dns-sd._udp.local."
	// TXTVersion is the first TXT string.
	TXTVersion = "txtvers=1"
)

// txtKeys maps identifier types to TXT keys; the value is the identifier's
// text form without its "type:" prefix.
var txtKeys = map[gwext.IDType]string{
	gwext.IDIPv4: "ipv4", gwext.IDIPv6: "ipv6", gwext.IDPort: "port", gwext.IDMAC: "mac",
	gwext.IDDomain: "domain", gwext.IDUDI: "udi", gwext.IDURL: "url",
	gwext.IDIPv4Endpoint: "ipv4-endpoint", gwext.IDIPv6Endpoint: "ipv6-endpoint",
}

// EncodeTXT renders the gateway info as TXT strings: txtvers=1, key=<hex>,
// then one key=value per identifier (repeated keys allowed, order kept).
func EncodeTXT(gi gwext.GatewayInfo) ([]string, error) {
	out := []string{TXTVersion, "key=" + hex.EncodeToString(gi.Key[:])}
	for _, id := range gi.IDs {
		k, ok := txtKeys[id.Type]
		if !ok {
			continue
		}
		if err := id.Validate(); err != nil {
			return nil, err
		}
		_, v, _ := strings.Cut(id.String(), ":")
		s := k + "=" + v
		if len(s) > 255 {
			return nil, fmt.Errorf("dnssd: TXT string for %s exceeds 255 bytes", k)
		}
		out = append(out, s)
	}
	return out, nil
}

// DecodeTXT parses TXT strings back; unknown keys are skipped.
func DecodeTXT(txt []string) (gwext.GatewayInfo, error) {
	var gi gwext.GatewayInfo
	haveKey := false
	for i, s := range txt {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		id, err := parseTXT(k, v)
		if err != nil {
			return gi, fmt.Errorf("dnssd: TXT string %d (%q): %w", i, k, err)
		}
		switch {
		case k == "key":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != 32 {
				return gi, fmt.Errorf("dnssd: TXT key: want 64 hex digits")
			}
			copy(gi.Key[:], b)
			haveKey = true
		case id != nil:
			gi.IDs = append(gi.IDs, *id)
		}
	}
	if !haveKey {
		return gi, fmt.Errorf("dnssd: TXT has no key")
	}
	if len(gi.IDs) == 0 {
		return gi, fmt.Errorf("dnssd: TXT has no identifier")
	}
	return gi, nil
}

func parseTXT(k, v string) (*gwext.Identifier, error) {
	var id gwext.Identifier
	var err error
	switch k {
	case "ipv4", "ipv6":
		a, perr := netip.ParseAddr(v)
		if perr != nil {
			return nil, perr
		}
		if k == "ipv4" {
			id, err = gwext.IPv4(a)
		} else {
			id, err = gwext.IPv6(a)
		}
	case "port":
		p, perr := strconv.ParseUint(v, 10, 16)
		if perr != nil {
			return nil, perr
		}
		id, err = gwext.Port(uint16(p))
	case "mac":
		hw, perr := net.ParseMAC(v)
		if perr != nil {
			return nil, perr
		}
		id, err = gwext.MAC(hw)
	case "domain":
		id, err = gwext.Domain(v)
	case "udi":
		id, err = gwext.UDI(v)
	case "url":
		id, err = gwext.URL(v)
	case "ipv4-endpoint", "ipv6-endpoint":
		ap, perr := netip.ParseAddrPort(v)
		if perr != nil {
			return nil, perr
		}
		id, err = gwext.Endpoint(ap)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &id, nil
}
