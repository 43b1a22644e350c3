package dnssd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// Found is one gateway a browse found.
type Found struct {
	Instance string
	Host     string
	Port     uint16
	Addrs    []netip.Addr
	TXT      []string
	Gateway  gwext.GatewayInfo
	// Err is set when the TXT record did not parse; the rest still holds.
	Err error
}

// Endpoint is the gateway's LAN MPS address (first address, SRV port).
func (f Found) Endpoint() (netip.AddrPort, bool) {
	if len(f.Addrs) == 0 || f.Port == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(f.Addrs[0], f.Port), true
}

// Browser queries for _oobgw._tcp.
type Browser struct {
	Network netx.Network
	// Server is where the query goes: "224.0.0.251:5353" on a LAN, the
	// responder's address in tests.
	Server string
	Listen string        // client socket; "" → ":0"
	Wait   time.Duration // how long answers are collected; 0 → 1 s
	// Max stops after this many gateways (0: collect until Wait ends).
	Max int
}

// Browse sends one PTR query and collects the answers.
func (b Browser) Browse(ctx context.Context) ([]Found, error) {
	if b.Network == nil {
		b.Network = netx.Host{}
	}
	if b.Wait <= 0 {
		b.Wait = time.Second
	}
	if b.Listen == "" {
		b.Listen = ":0"
	}
	to, err := net.ResolveUDPAddr("udp", b.Server)
	if err != nil {
		return nil, fmt.Errorf("dnssd: server %q: %w", b.Server, err)
	}
	pc, err := b.Network.ListenPacket(ctx, "udp", b.Listen)
	if err != nil {
		return nil, fmt.Errorf("dnssd: browse socket: %w", err)
	}
	defer pc.Close()
	stop := context.AfterFunc(ctx, func() { _ = pc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	q := new(dns.Msg)
	q.SetQuestion(Service, dns.TypePTR)
	qb, err := q.Pack()
	if err != nil {
		return nil, err
	}
	_ = pc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := pc.WriteTo(qb, to); err != nil {
		return nil, fmt.Errorf("dnssd: send query: %w", err)
	}
	var found []Found
	seen := map[string]bool{}
	dl := time.Now().Add(b.Wait)
	buf := make([]byte, 9000)
	for b.Max == 0 || len(found) < b.Max {
		_ = pc.SetReadDeadline(dl)
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return found, ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			return found, fmt.Errorf("dnssd: receive: %w", err)
		}
		var m dns.Msg
		if err := m.Unpack(buf[:n]); err != nil || !m.Response {
			continue
		}
		for _, f := range parseResponse(&m) {
			if !seen[f.Instance] {
				seen[f.Instance] = true
				found = append(found, f)
			}
		}
	}
	return found, nil
}

func parseResponse(m *dns.Msg) []Found {
	all := append(append([]dns.RR{}, m.Answer...), m.Extra...)
	var out []Found
	for _, rr := range all {
		ptr, ok := rr.(*dns.PTR)
		if !ok || ptr.Hdr.Name != Service {
			continue
		}
		f := Found{Instance: ptr.Ptr}
		for _, rr := range all {
			switch v := rr.(type) {
			case *dns.SRV:
				if v.Hdr.Name == f.Instance {
					f.Host, f.Port = v.Target, v.Port
				}
			case *dns.TXT:
				if v.Hdr.Name == f.Instance {
					f.TXT = v.Txt
				}
			}
		}
		for _, rr := range all {
			switch v := rr.(type) {
			case *dns.A:
				if v.Hdr.Name == f.Host {
					if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
						f.Addrs = append(f.Addrs, a)
					}
				}
			case *dns.AAAA:
				if v.Hdr.Name == f.Host {
					if a, ok := netip.AddrFromSlice(v.AAAA); ok {
						f.Addrs = append(f.Addrs, a)
					}
				}
			}
		}
		f.Gateway, f.Err = DecodeTXT(f.TXT)
		out = append(out, f)
	}
	return out
}
