// Package topology is the declarative description of an emulated network:
// nodes (network namespaces), LAN segments (bridges), links with
// per-direction impairments, NAT and routes. Load parses and validates a YAML
// file, keeping line numbers so every error names file, line and field;
// Resolve assigns interface names and addresses. topology/netns brings a
// resolved topology up on real namespaces and TAP devices.
package topology

import (
	"net/netip"

	"github.com/oobtb/oobtb/topology/linkemu"
)

// Role says what a node is for; it decides forwarding and automatic routes.
type Role string

const (
	RoleServer  Role = "server"
	RoleGateway Role = "gateway"
	RoleClient  Role = "client" // a managed device running a vMC
	RoleConsole Role = "console"
	RoleRouter  Role = "router"
	RoleHost    Role = "host"
)

// Forwards reports whether nodes of this role route packets between their
// interfaces by default.
func (r Role) Forwards() bool { return r == RoleGateway || r == RoleRouter }

// NAT mapping behaviours.
const (
	// MappingEndpointIndependent reuses one external port per internal
	// address:port whatever the destination (Linux masquerade keeps the
	// source port when it is free).
	MappingEndpointIndependent = "endpoint-independent"
	// MappingSymmetric picks a fresh random external port for every new
	// flow (masquerade fully-random), i.e. address-and-port-dependent.
	MappingSymmetric = "symmetric"
)

// Topology is one YAML file.
type Topology struct {
	Name     string    `yaml:"name"`
	Seed     uint64    `yaml:"seed,omitempty"`
	Nodes    []Node    `yaml:"nodes"`
	Segments []Segment `yaml:"segments,omitempty"`
	Links    []Link    `yaml:"links"`

	// File is the path it was loaded from (for error messages).
	File string `yaml:"-"`
	// lines maps a field path ("links[2].a") to its line in File.
	lines map[string]int
	// resolved is filled by Resolve.
	resolved *Resolved
}

// Node is one network namespace.
type Node struct {
	Name string `yaml:"name"`
	Role Role   `yaml:"role"`
	// Forward overrides the role's default IPv4 forwarding.
	Forward *bool   `yaml:"forward,omitempty"`
	NAT     *NAT    `yaml:"nat,omitempty"`
	Routes  []Route `yaml:"routes,omitempty"`
}

// Forwarding reports whether the node routes between its interfaces.
func (n *Node) Forwarding() bool {
	if n.Forward != nil {
		return *n.Forward
	}
	return n.Role.Forwards()
}

// NAT masquerades everything leaving through Outside.
type NAT struct {
	// Outside is the node's WAN-facing interface name.
	Outside string `yaml:"outside"`
	// Mapping is MappingEndpointIndependent (default) or MappingSymmetric.
	Mapping string `yaml:"mapping,omitempty"`
}

// Route is a static route. To is a CIDR or "default"; Via is an IPv4
// address or the name of a node sharing a subnet with this one.
type Route struct {
	To  string `yaml:"to"`
	Via string `yaml:"via"`
}

// Segment is a LAN: a Linux bridge that links attach to.
type Segment struct {
	Name string `yaml:"name"`
	// Subnet is allocated from 198.18.0.0/15 when empty.
	Subnet string `yaml:"subnet,omitempty"`
}

// Link joins two endpoints through a pair of TAP devices and two emulated
// directions. One end may name a segment instead of a node.
type Link struct {
	Name string   `yaml:"name"`
	A    Endpoint `yaml:"a"`
	B    Endpoint `yaml:"b"`
	// Subnet of a point-to-point link (a link to a segment uses the
	// segment's); allocated when empty.
	Subnet string `yaml:"subnet,omitempty"`
	// MTU of both TAP devices (default 1500, or the profile's MTU).
	MTU int `yaml:"mtu,omitempty"`
	// Offload lets the TAPs carry TCP segmentation offload: the emulator
	// then handles GSO super-frames of up to 64 KiB (far more throughput;
	// loss, corruption and the profile MTU act on whole super-frames).
	Offload bool `yaml:"offload,omitempty"`
	// Profile applies to both directions unless AtoB/BtoA say otherwise.
	Profile *Impairment `yaml:"profile,omitempty"`
	AtoB    *Impairment `yaml:"a_to_b,omitempty"`
	BtoA    *Impairment `yaml:"b_to_a,omitempty"`
}

// Endpoint is one end of a link: "node", "node:iface" or a mapping with
// node, iface and address (CIDR).
type Endpoint struct {
	Node    string `yaml:"node"`
	Iface   string `yaml:"iface,omitempty"`
	Address string `yaml:"address,omitempty"`
}

// Impairment is a link direction's behaviour: a named profile
// (linkemu.ProfileByName), a full linkemu.Profile, or a name plus
// overriding fields.
type Impairment struct {
	Name    string
	Profile linkemu.Profile
}

// Resolved is the topology with every name, interface and address decided.
type Resolved struct {
	Nodes    []ResolvedNode
	Segments []ResolvedSegment
	Links    []ResolvedLink
}

// ResolvedNode is a node with its interfaces and routes.
type ResolvedNode struct {
	Node
	Ifaces         []Iface
	ResolvedRoutes []ResolvedRoute
}

// Iface is a node's end of a link.
type Iface struct {
	Name   string
	Link   string
	Prefix netip.Prefix // address and subnet length
}

// ResolvedRoute is a route with its gateway address decided.
type ResolvedRoute struct {
	Dst netip.Prefix // 0.0.0.0/0 for default
	Via netip.Addr
}

// ResolvedSegment is a LAN with its subnet decided.
type ResolvedSegment struct {
	Name   string
	Subnet netip.Prefix
}

// ResolvedLink is a link with both ends decided.
type ResolvedLink struct {
	Name string
	// A and B: for a segment end, Node is the segment name, Segment is
	// true and Iface is the bridge port's name.
	A, B    ResolvedEnd
	MTU     int
	Offload bool
	AtoB    linkemu.Profile
	BtoA    linkemu.Profile
	Subnet  netip.Prefix
}

// ResolvedEnd is one end of a ResolvedLink.
type ResolvedEnd struct {
	Node    string
	Segment bool
	Iface   string
	Prefix  netip.Prefix // invalid for a segment end
}
