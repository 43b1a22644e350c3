package topology

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
)

// AddressSpace is the only range topology addresses may come from
// (RFC 2544 benchmarking range): nothing here can collide with a real network.
var AddressSpace = netip.MustParsePrefix("198.18.0.0/15")

// MaxNameLen bounds node, segment and link names so namespace names stay short.
const MaxNameLen = 32

// MaxNodes bounds the size of one topology.
const MaxNodes = 4096

var (
	nameRe  = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	ifaceRe = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
)

func (t *Topology) validate() Errors {
	var errs Errors
	add := func(e *Error) { errs = append(errs, e) }
	if len(t.Nodes) == 0 {
		add(t.errAt("nodes", "at least one node is required"))
	}
	if len(t.Nodes)+len(t.Segments) > MaxNodes {
		add(t.errAt("nodes", "more than %d nodes and segments", MaxNodes))
	}
	names := map[string]string{} // name -> "node" | "segment"
	checkName := func(field, name, kind string) {
		switch {
		case name == "":
			add(t.errAt(field, "name is required"))
		case len(name) > MaxNameLen:
			add(t.errAt(field, "name %q longer than %d characters", name, MaxNameLen))
		case !nameRe.MatchString(name):
			add(t.errAt(field, "name %q must match %s", name, nameRe))
		default:
			if prev, dup := names[name]; dup {
				add(t.errAt(field, "name %q already used by a %s", name, prev))
			}
			names[name] = kind
		}
	}
	for i, n := range t.Nodes {
		f := fmt.Sprintf("nodes[%d]", i)
		checkName(f+".name", n.Name, "node")
		switch n.Role {
		case RoleServer, RoleGateway, RoleClient, RoleConsole, RoleRouter, RoleHost:
		case "":
			add(t.errAt(f+".role", "role is required (server, gateway, client, console, router, host)"))
		default:
			add(t.errAt(f+".role", "unknown role %q (want server, gateway, client, console, router or host)", n.Role))
		}
		if n.NAT != nil {
			if !n.Forwarding() {
				add(t.errAt(f+".nat", "NAT needs a forwarding node (role gateway or router, or forward: true)"))
			}
			if n.NAT.Outside == "" {
				add(t.errAt(f+".nat.outside", "outside interface is required"))
			}
			switch n.NAT.Mapping {
			case "", MappingEndpointIndependent, MappingSymmetric:
			default:
				add(t.errAt(f+".nat.mapping", "unknown mapping %q (want %s or %s)", n.NAT.Mapping, MappingEndpointIndependent, MappingSymmetric))
			}
		}
		for j, r := range n.Routes {
			rf := fmt.Sprintf("%s.routes[%d]", f, j)
			if r.To != "default" {
				p, err := netip.ParsePrefix(r.To)
				if err != nil || !p.Addr().Is4() {
					add(t.errAt(rf+".to", "want \"default\" or an IPv4 CIDR, got %q", r.To))
				} else if !AddressSpace.Overlaps(p) || p.Bits() < AddressSpace.Bits() {
					add(t.errAt(rf+".to", "%s is outside %s", r.To, AddressSpace))
				}
			}
			if r.Via == "" {
				add(t.errAt(rf+".via", "via (a node name or an address) is required"))
			} else if a, err := netip.ParseAddr(r.Via); err == nil {
				if !AddressSpace.Contains(a) {
					add(t.errAt(rf+".via", "%s is outside %s", a, AddressSpace))
				}
			}
		}
	}
	for i, s := range t.Segments {
		f := fmt.Sprintf("segments[%d]", i)
		checkName(f+".name", s.Name, "segment")
		if s.Subnet != "" {
			checkSubnet(t, f+".subnet", s.Subnet, add)
		}
	}
	links := map[string]bool{}
	for i, l := range t.Links {
		f := fmt.Sprintf("links[%d]", i)
		switch {
		case l.Name == "":
			add(t.errAt(f+".name", "name is required"))
		case len(l.Name) > MaxNameLen || !nameRe.MatchString(l.Name):
			add(t.errAt(f+".name", "name %q must match %s and be at most %d characters", l.Name, nameRe, MaxNameLen))
		case links[l.Name]:
			add(t.errAt(f+".name", "link %q defined twice", l.Name))
		}
		links[l.Name] = true
		kinds := [2]string{}
		for k, e := range []Endpoint{l.A, l.B} {
			ef := f + "." + []string{"a", "b"}[k]
			kind, ok := names[e.Node]
			switch {
			case e.Node == "":
				add(t.errAt(ef, "endpoint needs a node or segment"))
				continue
			case !ok:
				add(t.errAt(ef, "unknown node %q", e.Node))
				continue
			}
			kinds[k] = kind
			if kind == "segment" {
				if e.Iface != "" || e.Address != "" {
					add(t.errAt(ef, "a segment end takes no iface or address"))
				}
				continue
			}
			if e.Iface != "" && (len(e.Iface) > 15 || !ifaceRe.MatchString(e.Iface)) {
				add(t.errAt(ef, "interface name %q must match %s and fit in 15 bytes", e.Iface, ifaceRe))
			}
			if e.Address != "" {
				p, err := netip.ParsePrefix(e.Address)
				switch {
				case err != nil || !p.Addr().Is4():
					add(t.errAt(ef, "address %q is not an IPv4 CIDR like 198.18.0.10/24", e.Address))
				case !AddressSpace.Contains(p.Addr()):
					add(t.errAt(ef, "address %s is outside %s (loopback and real networks are refused)", p.Addr(), AddressSpace))
				}
			}
		}
		if kinds[0] == "segment" && kinds[1] == "segment" {
			add(t.errAt(f, "a link cannot join two segments"))
		}
		if l.A.Node != "" && l.A.Node == l.B.Node {
			add(t.errAt(f+".b", "a link cannot join %q to itself", l.A.Node))
		}
		if l.Subnet != "" {
			if kinds[0] == "segment" || kinds[1] == "segment" {
				add(t.errAt(f+".subnet", "a link to a segment uses the segment's subnet"))
			} else {
				checkSubnet(t, f+".subnet", l.Subnet, add)
			}
		}
		if l.Offload {
			for _, im := range []struct {
				f string
				p *Impairment
			}{{"profile", l.Profile}, {"a_to_b", l.AtoB}, {"b_to_a", l.BtoA}} {
				if im.p != nil && im.p.Profile.MTU != 0 {
					add(t.errAt(f+"."+im.f, "a profile mtu would drop every offloaded super-frame; set the link's mtu instead"))
				}
			}
		}
		if l.MTU != 0 && (l.MTU < 576 || l.MTU > 65521) {
			add(t.errAt(f+".mtu", "mtu %d outside 576..65521", l.MTU))
		}
	}
	return errs
}

func checkSubnet(t *Topology, field, s string, add func(*Error)) {
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil || !p.Addr().Is4():
		add(t.errAt(field, "%q is not an IPv4 CIDR", s))
	case p.Masked() != p:
		add(t.errAt(field, "%s has host bits set (want %s)", p, p.Masked()))
	case p.Bits() > 30:
		add(t.errAt(field, "%s is too small (at most /30)", p))
	case !AddressSpace.Contains(p.Addr()) || p.Bits() < AddressSpace.Bits():
		add(t.errAt(field, "%s is outside %s", p, AddressSpace))
	}
}

// nodeIndex returns the node named name or nil.
func (t *Topology) nodeIndex(name string) int {
	return slices.IndexFunc(t.Nodes, func(n Node) bool { return n.Name == name })
}
