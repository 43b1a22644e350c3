package runner

import (
	"context"
	"fmt"
	"os/exec"
	"sync"

	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/scenarios/spec"
	"github.com/oobtb/oobtb/topology/linkemu"
	"github.com/oobtb/oobtb/topology/netns"
)

// netnsBackend brings the topology up with topology/netns: one namespace
// per node, TAP links through the link emulator, NAT; parties bind their
// sockets inside their node through Node.Network.
type netnsBackend struct{}

func (*netnsBackend) Name() string { return BackendNetns }

func (*netnsBackend) Up(ctx context.Context, s *spec.Scenario, seed uint64) (Net, error) {
	t, err := netns.Up(ctx, s.Topo, netns.WithSeed(seed))
	if err != nil {
		return nil, fmt.Errorf("bringing the topology up: %w", err)
	}
	return &netnsNet{t: t, prefix: t.Prefix}, nil
}

type netnsNet struct {
	t      *netns.Topology
	prefix string
	once   sync.Once
	err    error
}

func (n *netnsNet) node(name string) *netns.Node { return n.t.Node(name) }

func (n *netnsNet) Network(node string) netx.Network { return n.node(node).Network() }

func (n *netnsNet) Host(node string) string { return n.node(node).Addr().String() }

// Route is the address itself: the kernel routes it through the topology.
func (n *netnsNet) Route(from, to, addr string) (string, error) { return addr, nil }

func (n *netnsNet) link(name string) (*netns.Link, error) {
	l := n.t.Link(name)
	if l == nil {
		return nil, fmt.Errorf("no link %q", name)
	}
	return l, nil
}

func (n *netnsNet) SetProfiles(link string, ab, ba linkemu.Profile) error {
	l, err := n.link(link)
	if err != nil {
		return err
	}
	l.SetProfiles(ab, ba)
	return nil
}

func (n *netnsNet) Cut(link string) error {
	l, err := n.link(link)
	if err != nil {
		return err
	}
	l.Cut()
	return nil
}

func (n *netnsNet) Heal(link string) error {
	l, err := n.link(link)
	if err != nil {
		return err
	}
	l.Heal()
	return nil
}

func (n *netnsNet) Partition(link string) error {
	l, err := n.link(link)
	if err != nil {
		return err
	}
	l.Partition()
	return nil
}

// Start forks cmd from a thread inside the node's namespace; the child
// inherits that thread's namespace.
func (n *netnsNet) Start(node string, cmd *exec.Cmd) error {
	return n.node(node).Do(cmd.Start)
}

func (n *netnsNet) Leftovers() []string { return netns.Leftovers(n.prefix) }

func (n *netnsNet) Close() error {
	n.once.Do(func() { n.err = n.t.Close() })
	return n.err
}
