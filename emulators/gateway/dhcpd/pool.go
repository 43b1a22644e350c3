package dhcpd

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Lease is one binding in the pool.
type Lease struct {
	MAC     string
	Addr    netip.Addr
	Expiry  time.Time
	Offered bool // an OFFER awaiting its REQUEST
}

// pool is the lease table: pure, driven with the time.
type pool struct {
	first, last netip.Addr
	leaseTime   time.Duration
	offerTime   time.Duration
	byMAC       map[string]*Lease
	byAddr      map[netip.Addr]*Lease
}

func newPool(first, last netip.Addr, leaseTime time.Duration) (*pool, error) {
	if !first.Is4() || !last.Is4() || last.Less(first) {
		return nil, fmt.Errorf("dhcpd: pool %s-%s: want two IPv4 addresses, first ≤ last", first, last)
	}
	return &pool{first: first, last: last, leaseTime: leaseTime, offerTime: time.Minute,
		byMAC: map[string]*Lease{}, byAddr: map[netip.Addr]*Lease{}}, nil
}

func (p *pool) inRange(a netip.Addr) bool {
	return a.Is4() && !a.Less(p.first) && !p.last.Less(a)
}

func (p *pool) drop(l *Lease) {
	delete(p.byMAC, l.MAC)
	delete(p.byAddr, l.Addr)
}

func (p *pool) free(a netip.Addr, now time.Time) bool {
	l := p.byAddr[a]
	if l == nil {
		return true
	}
	if !now.Before(l.Expiry) {
		p.drop(l)
		return true
	}
	return false
}

// offer picks an address for mac: its current lease, the requested one if
// free, else the lowest free address.
func (p *pool) offer(mac string, requested netip.Addr, now time.Time) (netip.Addr, error) {
	if l := p.byMAC[mac]; l != nil {
		if l.Offered {
			l.Expiry = now.Add(p.offerTime)
		}
		return l.Addr, nil
	}
	pick := netip.Addr{}
	if p.inRange(requested) && p.free(requested, now) {
		pick = requested
	}
	for a := p.first; !pick.IsValid() && !p.last.Less(a); a = a.Next() {
		if p.free(a, now) {
			pick = a
		}
	}
	if !pick.IsValid() {
		return pick, errors.New("pool exhausted")
	}
	l := &Lease{MAC: mac, Addr: pick, Expiry: now.Add(p.offerTime), Offered: true}
	p.byMAC[mac], p.byAddr[pick] = l, l
	return pick, nil
}

// request binds addr to mac, or says why not (the NAK message).
func (p *pool) request(mac string, addr netip.Addr, now time.Time) (Lease, error) {
	if !p.inRange(addr) {
		return Lease{}, fmt.Errorf("%s is not in this server's pool", addr)
	}
	if l := p.byAddr[addr]; l != nil && l.MAC != mac && now.Before(l.Expiry) {
		return Lease{}, fmt.Errorf("%s is leased to another client", addr)
	}
	if l := p.byMAC[mac]; l != nil && l.Addr != addr {
		p.drop(l)
	}
	if l := p.byAddr[addr]; l != nil {
		p.drop(l)
	}
	l := &Lease{MAC: mac, Addr: addr, Expiry: now.Add(p.leaseTime)}
	p.byMAC[mac], p.byAddr[addr] = l, l
	return *l, nil
}

func (p *pool) release(mac string, addr netip.Addr) {
	if l := p.byMAC[mac]; l != nil && l.Addr == addr {
		p.drop(l)
	}
}

func (p *pool) leases(now time.Time) []Lease {
	var out []Lease
	for a := p.first; !p.last.Less(a); a = a.Next() {
		if l := p.byAddr[a]; l != nil && !l.Offered && now.Before(l.Expiry) {
			out = append(out, *l)
		}
	}
	return out
}
