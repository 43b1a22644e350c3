package netns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"

	vnetns "github.com/vishvananda/netns"

	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/topology"
)

// Node is a running node: a network namespace with its interfaces.
type Node struct {
	Name   string
	Role   topology.Role
	NS     string // namespace name, under /run/netns
	Ifaces []topology.Iface
	NAT    *topology.NAT

	t  *Topology
	ns vnetns.NsHandle
}

// Path is the namespace's bind mount, for setns(2) or `ip netns exec`.
func (n *Node) Path() string { return filepath.Join(NetnsDir, n.NS) }

// Addr is the node's primary address: its NAT outside interface's for a
// gateway (what the WAN sees), its first interface's otherwise.
func (n *Node) Addr() netip.Addr {
	if n.NAT != nil {
		if a := n.AddrOn(n.NAT.Outside); a.IsValid() {
			return a
		}
	}
	if len(n.Ifaces) == 0 {
		return netip.Addr{}
	}
	return n.Ifaces[0].Prefix.Addr()
}

// AddrOn is the address of interface iface, or the zero Addr.
func (n *Node) AddrOn(iface string) netip.Addr {
	for _, i := range n.Ifaces {
		if i.Name == iface {
			return i.Prefix.Addr()
		}
	}
	return netip.Addr{}
}

// Do runs f on an OS thread inside the node's namespace. Sockets f opens
// stay in the namespace and may be used from any goroutine afterwards;
// goroutines f starts run in the host namespace.
func (n *Node) Do(f func() error) error {
	if !n.ns.IsOpen() {
		return fmt.Errorf("netns: node %s is closed", n.Name)
	}
	return inNS(n.ns, f)
}

// Network is a netx.Network whose sockets live in the node's namespace.
// Hosts may be IPv4 literals or names of nodes in the same topology
// (resolved to Node.Addr); DNS is never consulted.
func (n *Node) Network() netx.Network { return nodeNet{n} }

type nodeNet struct{ n *Node }

var _ netx.Network = nodeNet{}

func (nn nodeNet) resolve(address string) (string, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return "", err
	}
	if host == "" {
		return address, nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return address, nil
	}
	if o := nn.n.t.Node(host); o != nil {
		return net.JoinHostPort(o.Addr().String(), port), nil
	}
	return "", fmt.Errorf("netns: %q is neither an address nor a node of this topology", host)
}

func (nn nodeNet) Dial(ctx context.Context, network, address string) (c net.Conn, err error) {
	addr, err := nn.resolve(address)
	if err != nil {
		return nil, err
	}
	err = nn.n.Do(func() error {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

func (nn nodeNet) Listen(ctx context.Context, network, address string) (l net.Listener, err error) {
	addr, err := nn.resolve(address)
	if err != nil {
		return nil, err
	}
	err = nn.n.Do(func() error {
		var lc net.ListenConfig
		l, err = lc.Listen(ctx, network, addr)
		return err
	})
	return l, err
}

func (nn nodeNet) ListenPacket(ctx context.Context, network, address string) (pc net.PacketConn, err error) {
	addr, err := nn.resolve(address)
	if err != nil {
		return nil, err
	}
	err = nn.n.Do(func() error {
		var lc net.ListenConfig
		pc, err = lc.ListenPacket(ctx, network, addr)
		return err
	})
	return pc, err
}
