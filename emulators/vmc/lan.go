package vmc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/oobtb/oobtb/emulators/gateway/dhcpd"
	"github.com/oobtb/oobtb/emulators/gateway/dnssd"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// LearnDHCP acquires a lease on the device's LAN, as AMT does when it owns an
// interface: the address goes into what WS-MAN reports, option 15's domain
// into environment detection, and the gateway's vendor option (identifiers
// and key) into the policy, which then puts the gateway in PROTOCOL_VERSION's
// extension block and reports it with gateway-info.
func (d *Device) LearnDHCP(ctx context.Context, c dhcpd.Client) (*dhcpd.Result, error) {
	if c.MAC == nil {
		c.MAC = d.h.Identity().MAC
	}
	r, err := c.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("vmc: DHCP: %w", err)
	}
	prefix := r.Prefix
	if !prefix.IsValid() && r.Addr.IsValid() {
		prefix = netip.PrefixFrom(r.Addr, r.Addr.BitLen())
	} else if prefix.IsValid() {
		prefix = netip.PrefixFrom(r.Addr, prefix.Bits())
	}
	d.h.SetAddress(prefix, r.Router, r.Domain, true)
	d.Post(policy.DHCPDomain{Domain: r.Domain})
	switch {
	case r.GatewayErr != nil:
		d.log.Warn("the LAN's gateway option is malformed; ignoring it", "err", r.GatewayErr)
	case r.Gateway != nil:
		h, err := HintFromInfo(*r.Gateway, policy.FromDHCP)
		if err != nil {
			d.log.Warn("the LAN's gateway option names no usable gateway", "err", err)
			break
		}
		d.Post(policy.GatewayLearned{Hint: h})
	}
	return r, nil
}

// LearnDNSSD browses for _oobgw._tcp and tells the policy about the first
// gateway found.
func (d *Device) LearnDNSSD(ctx context.Context, b dnssd.Browser) (policy.GatewayHint, error) {
	found, err := b.Browse(ctx)
	if err != nil {
		return policy.GatewayHint{}, fmt.Errorf("vmc: DNS-SD: %w", err)
	}
	for _, f := range found {
		if f.Err != nil {
			continue
		}
		h, err := HintFromInfo(f.Gateway, policy.FromDNSSD)
		if err != nil {
			continue
		}
		if !h.Addr.IsValid() {
			if ep, ok := f.Endpoint(); ok {
				h.Addr = ep
			}
		}
		d.Post(policy.GatewayLearned{Hint: h})
		return h, nil
	}
	return policy.GatewayHint{}, errors.New("vmc: DNS-SD: no _oobgw._tcp gateway answered")
}

// HintFromInfo turns announced identifiers into the policy's gateway hint.
func HintFromInfo(info gwext.GatewayInfo, src policy.HintSource) (policy.GatewayHint, error) {
	h := policy.GatewayHint{PublicKey: info.Key, Source: src}
	var addr netip.Addr
	var port uint16
	for _, id := range info.IDs {
		switch id.Type {
		case gwext.IDIPv4Endpoint, gwext.IDIPv6Endpoint:
			a, _ := id.Addr()
			p, _ := id.PortValue()
			h.Addr = netip.AddrPortFrom(a, p)
		case gwext.IDIPv4, gwext.IDIPv6:
			a, _ := id.Addr()
			addr = a
			kind := policy.IDIPv4
			if id.Type == gwext.IDIPv6 {
				kind = policy.IDIPv6
			}
			h.Identifiers = append(h.Identifiers, policy.Identifier{Kind: kind, Value: a.String()})
		case gwext.IDPort:
			port, _ = id.PortValue()
			h.Identifiers = append(h.Identifiers, policy.Identifier{Kind: policy.IDPort, Value: strconv.Itoa(int(port))})
		case gwext.IDMAC:
			h.Identifiers = append(h.Identifiers, policy.Identifier{Kind: policy.IDMAC, Value: net.HardwareAddr(id.Value).String()})
		case gwext.IDDomain:
			h.Identifiers = append(h.Identifiers, policy.Identifier{Kind: policy.IDDomain, Value: string(id.Value)})
		case gwext.IDUDI:
			h.Identifiers = append(h.Identifiers, policy.Identifier{Kind: policy.IDUDI, Value: string(id.Value)})
		case gwext.IDURL:
			h.Identifiers = append(h.Identifiers, policy.Identifier{Kind: policy.IDURL, Value: string(id.Value)})
		}
	}
	if !h.Addr.IsValid() && addr.IsValid() && port != 0 {
		h.Addr = netip.AddrPortFrom(addr, port)
	}
	if !h.Addr.IsValid() {
		return h, errors.New("no LAN endpoint (an endpoint, or an address and a port) among the identifiers")
	}
	if c, ok := compactOf(mustIDs(info.IDs)); ok {
		h.ID = c.String()
	}
	return h, nil
}

func mustIDs(ids []gwext.Identifier) []gwext.Identifier {
	out := make([]gwext.Identifier, 0, len(ids))
	for _, id := range ids {
		if id.Validate() == nil {
			out = append(out, id)
		}
	}
	return out
}
