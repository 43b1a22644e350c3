package runner

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"sort"
	"sync"

	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/scenarios/spec"
	"github.com/oobtb/oobtb/sim/clock"
	"github.com/oobtb/oobtb/topology"
	"github.com/oobtb/oobtb/topology/linkemu"
)

// inprocBackend runs every party in this process. Node i gets the loopback
// address 127.0.<1+i/250>.<1+i%250>; a connection between two nodes goes
// through one linkemu.StreamProxy per (from, to, address) whose profile is
// the composition of the links on the topology path, so impairments, cuts
// and partitions of any link on the path apply.
type inprocBackend struct{}

func (inprocBackend) Name() string { return BackendInproc }

func (inprocBackend) Up(ctx context.Context, s *spec.Scenario, seed uint64) (Net, error) {
	n := &inprocNet{seed: seed, addr: map[string]netip.Addr{}, links: map[string]*linkState{},
		proxies: map[string]*pathProxy{}, adj: map[string][]hop{}}
	r := s.Topo.Resolved()
	for i, nd := range r.Nodes {
		n.addr[nd.Name] = netip.AddrFrom4([4]byte{127, 0, byte(1 + i/250), byte(1 + i%250)})
	}
	for _, l := range r.Links {
		n.links[l.Name] = &linkState{ab: l.AtoB, ba: l.BtoA, up: true}
		n.adj[l.A.Node] = append(n.adj[l.A.Node], hop{link: l.Name, to: l.B.Node, forward: true})
		n.adj[l.B.Node] = append(n.adj[l.B.Node], hop{link: l.Name, to: l.A.Node, forward: false})
	}
	for k := range n.adj {
		sort.Slice(n.adj[k], func(i, j int) bool { return n.adj[k][i].link < n.adj[k][j].link })
	}
	return n, nil
}

type hop struct {
	link    string
	to      string
	forward bool // traverses the link from A to B
}

type linkState struct {
	ab, ba      linkemu.Profile
	up          bool
	partitioned bool
}

type pathProxy struct {
	path []hop
	p    *linkemu.StreamProxy
}

type inprocNet struct {
	seed uint64

	mu      sync.Mutex
	addr    map[string]netip.Addr
	adj     map[string][]hop
	links   map[string]*linkState
	proxies map[string]*pathProxy
	procs   []*exec.Cmd
	closed  bool
}

func (n *inprocNet) Network(node string) netx.Network {
	a := n.addr[node]
	return netx.Host{LocalAddr: &net.TCPAddr{IP: net.IP(a.AsSlice())}}
}

func (n *inprocNet) Host(node string) string { return n.addr[node].String() }

// path finds the hops from one node to another (breadth first, links in name
// order so the choice is stable).
func (n *inprocNet) path(from, to string) ([]hop, bool) {
	if from == to {
		return nil, true
	}
	prev := map[string]hop{}
	prevNode := map[string]string{}
	seen := map[string]bool{from: true}
	q := []string{from}
	for len(q) > 0 {
		cur := q[0]
		q = q[1:]
		for _, h := range n.adj[cur] {
			if seen[h.to] {
				continue
			}
			seen[h.to] = true
			prev[h.to], prevNode[h.to] = h, cur
			if h.to == to {
				var out []hop
				for x := to; x != from; x = prevNode[x] {
					out = append([]hop{prev[x]}, out...)
				}
				return out, true
			}
			q = append(q, h.to)
		}
	}
	return nil, false
}

func (n *inprocNet) Route(from, to, addr string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return "", fmt.Errorf("network closed")
	}
	key := from + "|" + to + "|" + addr
	if pp, ok := n.proxies[key]; ok {
		return pp.p.Addr().String(), nil
	}
	path, ok := n.path(from, to)
	if !ok {
		return "", fmt.Errorf("no path from node %s to node %s in the topology", from, to)
	}
	if len(path) == 0 {
		return addr, nil
	}
	ab, ba := n.compose(path)
	listen := netip.AddrPortFrom(n.addr[to], 0).String()
	p, err := linkemu.NewStreamProxy(listen, addr, ab, ba, n.seed+uint64(len(n.proxies))*7919, clock.Real{}, netx.Host{})
	if err != nil {
		return "", fmt.Errorf("stream proxy %s→%s: %w", from, to, err)
	}
	pp := &pathProxy{path: path, p: p}
	n.proxies[key] = pp
	n.apply(pp)
	return p.Addr().String(), nil
}

// compose folds the profiles of a path's links, per direction: delays and
// jitters add, the slowest rate limits, losses combine.
func (n *inprocNet) compose(path []hop) (ab, ba linkemu.Profile) {
	var fw, bw []linkemu.Profile
	for _, h := range path {
		l := n.links[h.link]
		if h.forward {
			fw, bw = append(fw, l.ab), append(bw, l.ba)
		} else {
			fw, bw = append(fw, l.ba), append(bw, l.ab)
		}
	}
	return composeProfiles(fw), composeProfiles(bw)
}

func composeProfiles(ps []linkemu.Profile) linkemu.Profile {
	var out linkemu.Profile
	keep := 1.0
	for _, p := range ps {
		out.Delay += p.Delay
		out.Jitter += p.Jitter
		if p.JitterDist != "" {
			out.JitterDist = p.JitterDist
		}
		keep *= 1 - p.Loss
		if p.GE != nil && out.GE == nil {
			ge := *p.GE
			out.GE = &ge
		}
		if p.RateBps > 0 && (out.RateBps == 0 || p.RateBps < out.RateBps) {
			out.RateBps, out.QueueBytes, out.QueuePackets = p.RateBps, p.QueueBytes, p.QueuePackets
		}
	}
	out.Loss = 1 - keep
	if out.Loss < 1e-12 {
		out.Loss = 0
	}
	return out
}

// apply pushes the path's current link states into its proxy.
func (n *inprocNet) apply(pp *pathProxy) {
	ab, ba := n.compose(pp.path)
	pp.p.SetProfile(ab, ba)
	up, part := true, false
	for _, h := range pp.path {
		l := n.links[h.link]
		up = up && l.up
		part = part || l.partitioned
	}
	pp.p.SetUp(up)
	pp.p.SetPartitioned(part)
}

func (n *inprocNet) change(link string, f func(*linkState)) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	l, ok := n.links[link]
	if !ok {
		return fmt.Errorf("no link %q", link)
	}
	f(l)
	for _, pp := range n.proxies {
		for _, h := range pp.path {
			if h.link == link {
				n.apply(pp)
				break
			}
		}
	}
	return nil
}

func (n *inprocNet) SetProfiles(link string, ab, ba linkemu.Profile) error {
	return n.change(link, func(l *linkState) { l.ab, l.ba = ab, ba })
}

func (n *inprocNet) Cut(link string) error {
	return n.change(link, func(l *linkState) { l.up = false })
}

func (n *inprocNet) Heal(link string) error {
	return n.change(link, func(l *linkState) { l.up, l.partitioned = true, false })
}

func (n *inprocNet) Partition(link string) error {
	return n.change(link, func(l *linkState) { l.partitioned = true })
}

func (n *inprocNet) Start(node string, cmd *exec.Cmd) error { return cmd.Start() }

func (n *inprocNet) Leftovers() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		return []string{"inproc network still open"}
	}
	return nil
}

func (n *inprocNet) Close() error {
	n.mu.Lock()
	ps := n.proxies
	n.proxies = map[string]*pathProxy{}
	n.closed = true
	n.mu.Unlock()
	var wg sync.WaitGroup
	for _, pp := range ps {
		wg.Add(1)
		go func() { defer wg.Done(); pp.p.Close() }()
	}
	wg.Wait()
	return nil
}

var _ = topology.RoleServer
