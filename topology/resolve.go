package topology

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/oobtb/oobtb/topology/linkemu"
)

// DefaultMTU is a link's MTU when neither the link nor its profiles say.
const DefaultMTU = 1500

// Resolved returns the decided names, addresses and routes.
func (t *Topology) Resolved() *Resolved { return t.resolved }

// subnetPool hands out /24s from AddressSpace that overlap no fixed subnet.
type subnetPool struct {
	fixed []netip.Prefix
	next  netip.Addr
}

func (p *subnetPool) take() (netip.Prefix, bool) {
	for AddressSpace.Contains(p.next) {
		c := netip.PrefixFrom(p.next, 24)
		p.next = nextBlock(p.next)
		if !slices.ContainsFunc(p.fixed, c.Overlaps) {
			p.fixed = append(p.fixed, c)
			return c, true
		}
	}
	return netip.Prefix{}, false
}

func nextBlock(a netip.Addr) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 + 256
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0})
}

// hostAlloc hands out host addresses in one subnet.
type hostAlloc struct {
	subnet netip.Prefix
	used   map[netip.Addr]bool
	next   netip.Addr
}

func newHostAlloc(p netip.Prefix) *hostAlloc {
	return &hostAlloc{subnet: p, used: map[netip.Addr]bool{}, next: p.Addr().Next()}
}

func (h *hostAlloc) broadcast() netip.Addr {
	b := h.subnet.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= (1 << (32 - h.subnet.Bits())) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func (h *hostAlloc) take() (netip.Addr, bool) {
	bc := h.broadcast()
	for h.subnet.Contains(h.next) && h.next != bc {
		a := h.next
		h.next = h.next.Next()
		if !h.used[a] {
			h.used[a] = true
			return a, true
		}
	}
	return netip.Addr{}, false
}

type endRef struct {
	link, side int // side 0 = a, 1 = b
}

func (t *Topology) resolve() error {
	var errs Errors
	add := func(e *Error) { errs = append(errs, e) }
	isSeg := map[string]int{}
	for i, s := range t.Segments {
		isSeg[s.Name] = i
	}
	r := &Resolved{}

	// Subnets: fixed ones first, then /24s for the rest.
	pool := &subnetPool{next: AddressSpace.Addr()}
	type fixedAt struct {
		p     netip.Prefix
		field string
	}
	var fixed []fixedAt
	for i, s := range t.Segments {
		if s.Subnet != "" {
			fixed = append(fixed, fixedAt{netip.MustParsePrefix(s.Subnet), fmt.Sprintf("segments[%d].subnet", i)})
		}
	}
	for i, l := range t.Links {
		if l.Subnet != "" {
			fixed = append(fixed, fixedAt{netip.MustParsePrefix(l.Subnet), fmt.Sprintf("links[%d].subnet", i)})
		}
	}
	for i, f := range fixed {
		for _, g := range fixed[:i] {
			if f.p.Overlaps(g.p) {
				add(t.errAt(f.field, "%s overlaps %s (%s)", f.p, g.p, g.field))
			}
		}
		pool.fixed = append(pool.fixed, f.p)
	}
	segSubnet := make([]netip.Prefix, len(t.Segments))
	for i, s := range t.Segments {
		if s.Subnet != "" {
			segSubnet[i] = netip.MustParsePrefix(s.Subnet)
		} else if p, ok := pool.take(); ok {
			segSubnet[i] = p
		} else {
			add(t.errAt(fmt.Sprintf("segments[%d]", i), "address space %s exhausted", AddressSpace))
		}
		r.Segments = append(r.Segments, ResolvedSegment{Name: s.Name, Subnet: segSubnet[i]})
	}
	linkSubnet := make([]netip.Prefix, len(t.Links))
	for i, l := range t.Links {
		si, aSeg := isSeg[l.A.Node]
		if j, bSeg := isSeg[l.B.Node]; bSeg {
			si, aSeg = j, true
		}
		switch {
		case aSeg:
			linkSubnet[i] = segSubnet[si]
		case l.Subnet != "":
			linkSubnet[i] = netip.MustParsePrefix(l.Subnet)
		default:
			p, ok := pool.take()
			if !ok {
				add(t.errAt(fmt.Sprintf("links[%d]", i), "address space %s exhausted", AddressSpace))
			}
			linkSubnet[i] = p
		}
	}
	if len(errs) > 0 {
		return errs
	}

	// Interface names per node: explicit names first, then eth0, eth1, ...
	ifname := map[endRef]string{}
	taken := map[string]map[string]string{} // node -> iface -> field
	for i, l := range t.Links {
		for side, e := range []Endpoint{l.A, l.B} {
			if _, seg := isSeg[e.Node]; seg || e.Iface == "" {
				continue
			}
			f := fmt.Sprintf("links[%d].%s", i, []string{"a", "b"}[side])
			if taken[e.Node] == nil {
				taken[e.Node] = map[string]string{}
			}
			if prev, dup := taken[e.Node][e.Iface]; dup {
				add(t.errAt(f, "interface %s:%s already used by %s", e.Node, e.Iface, prev))
			}
			taken[e.Node][e.Iface] = f
			ifname[endRef{i, side}] = e.Iface
		}
	}
	counter := map[string]int{}
	for i, l := range t.Links {
		for side, e := range []Endpoint{l.A, l.B} {
			if _, seg := isSeg[e.Node]; seg {
				ifname[endRef{i, side}] = fmt.Sprintf("p%d", i)
				continue
			}
			if e.Iface != "" {
				continue
			}
			for {
				n := fmt.Sprintf("eth%d", counter[e.Node])
				counter[e.Node]++
				if _, used := taken[e.Node][n]; !used {
					ifname[endRef{i, side}] = n
					break
				}
			}
		}
	}

	// Host addresses: fixed first, then forwarding nodes, then the rest.
	allocs := map[netip.Prefix]*hostAlloc{}
	alloc := func(p netip.Prefix) *hostAlloc {
		if allocs[p] == nil {
			allocs[p] = newHostAlloc(p)
		}
		return allocs[p]
	}
	addr := map[endRef]netip.Prefix{}
	for i, l := range t.Links {
		for side, e := range []Endpoint{l.A, l.B} {
			if e.Address == "" {
				continue
			}
			f := fmt.Sprintf("links[%d].%s", i, []string{"a", "b"}[side])
			p := netip.MustParsePrefix(e.Address)
			h := alloc(linkSubnet[i])
			switch {
			case p.Bits() != linkSubnet[i].Bits() || !linkSubnet[i].Contains(p.Addr()):
				add(t.errAt(f, "address %s is not inside the link's subnet %s", p, linkSubnet[i]))
			case p.Addr() == linkSubnet[i].Addr() || p.Addr() == h.broadcast():
				add(t.errAt(f, "address %s is the subnet's network or broadcast address", p.Addr()))
			case h.used[p.Addr()]:
				add(t.errAt(f, "address %s used twice", p.Addr()))
			}
			h.used[p.Addr()] = true
			addr[endRef{i, side}] = p
		}
	}
	for pass := 0; pass < 2; pass++ {
		for i, l := range t.Links {
			for side, e := range []Endpoint{l.A, l.B} {
				ni := t.nodeIndex(e.Node)
				if ni < 0 || e.Address != "" || t.Nodes[ni].Forwarding() != (pass == 0) {
					continue
				}
				a, ok := alloc(linkSubnet[i]).take()
				if !ok {
					add(t.errAt(fmt.Sprintf("links[%d].%s", i, []string{"a", "b"}[side]), "subnet %s is full", linkSubnet[i]))
					continue
				}
				addr[endRef{i, side}] = netip.PrefixFrom(a, linkSubnet[i].Bits())
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}

	// Links.
	for i, l := range t.Links {
		rl := ResolvedLink{Name: l.Name, Subnet: linkSubnet[i]}
		for side, e := range []Endpoint{l.A, l.B} {
			_, seg := isSeg[e.Node]
			end := ResolvedEnd{Node: e.Node, Segment: seg, Iface: ifname[endRef{i, side}], Prefix: addr[endRef{i, side}]}
			if side == 0 {
				rl.A = end
			} else {
				rl.B = end
			}
		}
		rl.AtoB, rl.BtoA = direction(l.Profile, l.AtoB), direction(l.Profile, l.BtoA)
		rl.MTU = l.MTU
		rl.Offload = l.Offload
		if rl.MTU == 0 {
			rl.MTU = max(rl.AtoB.MTU, rl.BtoA.MTU)
		}
		if rl.MTU == 0 {
			rl.MTU = DefaultMTU
		}
		r.Links = append(r.Links, rl)
	}

	// Nodes, interfaces and routes.
	for _, n := range t.Nodes {
		rn := ResolvedNode{Node: n}
		for _, l := range r.Links {
			for _, e := range []ResolvedEnd{l.A, l.B} {
				if e.Node == n.Name && !e.Segment {
					rn.Ifaces = append(rn.Ifaces, Iface{Name: e.Iface, Link: l.Name, Prefix: e.Prefix})
				}
			}
		}
		r.Nodes = append(r.Nodes, rn)
	}
	for i := range r.Nodes {
		rn := &r.Nodes[i]
		f := fmt.Sprintf("nodes[%d]", i)
		if rn.NAT != nil && !slices.ContainsFunc(rn.Ifaces, func(x Iface) bool { return x.Name == rn.NAT.Outside }) {
			add(t.errAt(f+".nat.outside", "node %q has no interface %q", rn.Name, rn.NAT.Outside))
		}
		for j, rt := range rn.Routes {
			rf := fmt.Sprintf("%s.routes[%d]", f, j)
			dst := netip.MustParsePrefix("0.0.0.0/0")
			if rt.To != "default" {
				dst = netip.MustParsePrefix(rt.To).Masked()
			}
			var via netip.Addr
			if a, err := netip.ParseAddr(rt.Via); err == nil {
				if !slices.ContainsFunc(rn.Ifaces, func(x Iface) bool { return x.Prefix.Masked().Contains(a) }) {
					add(t.errAt(rf+".via", "%s is on none of %q's subnets", a, rn.Name))
					continue
				}
				via = a
			} else {
				k := slices.IndexFunc(r.Nodes, func(o ResolvedNode) bool { return o.Name == rt.Via })
				if k < 0 {
					add(t.errAt(rf+".via", "unknown node %q", rt.Via))
					continue
				}
				a, ok := sharedAddr(rn, &r.Nodes[k])
				if !ok {
					add(t.errAt(rf+".via", "node %q shares no subnet with %q", rt.Via, rn.Name))
					continue
				}
				via = a
			}
			rn.Resolved(dst, via)
		}
		if len(rn.Routes) == 0 {
			if via, ok := autoDefault(r, i); ok {
				rn.Resolved(netip.MustParsePrefix("0.0.0.0/0"), via)
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	t.resolved = r
	return nil
}

// Resolved appends a decided route.
func (rn *ResolvedNode) Resolved(dst netip.Prefix, via netip.Addr) {
	rn.ResolvedRoutes = append(rn.ResolvedRoutes, ResolvedRoute{Dst: dst, Via: via})
}

func direction(both, one *Impairment) linkemu.Profile {
	if one != nil {
		return one.Profile
	}
	if both != nil {
		return both.Profile
	}
	return linkemu.Profile{}
}

// sharedAddr is other's address on a subnet n also has.
func sharedAddr(n, other *ResolvedNode) (netip.Addr, bool) {
	for _, a := range n.Ifaces {
		for _, b := range other.Ifaces {
			if a.Prefix.Masked() == b.Prefix.Masked() {
				return b.Prefix.Addr(), true
			}
		}
	}
	return netip.Addr{}, false
}

// autoDefault picks a default route for a node without explicit routes:
// a gateway towards the node when the node is on the gateway's inside, a
// router otherwise. A gateway looks for a router on its outside subnet.
// Nodes facing only peers get no default route.
func autoDefault(r *Resolved, i int) (netip.Addr, bool) {
	n := &r.Nodes[i]
	var router netip.Addr
	for k := range r.Nodes {
		o := &r.Nodes[k]
		if k == i || !o.Forwarding() {
			continue
		}
		for _, mine := range n.Ifaces {
			if n.NAT != nil && mine.Name != n.NAT.Outside {
				continue // a gateway routes out through its outside only
			}
			for _, theirs := range o.Ifaces {
				if mine.Prefix.Masked() != theirs.Prefix.Masked() {
					continue
				}
				inside := o.NAT != nil && theirs.Name != o.NAT.Outside
				outside := o.NAT != nil && theirs.Name == o.NAT.Outside
				switch {
				case inside:
					return theirs.Prefix.Addr(), true
				case !outside && o.Role == RoleRouter && !router.IsValid():
					router = theirs.Prefix.Addr()
				}
			}
		}
	}
	return router, router.IsValid()
}
