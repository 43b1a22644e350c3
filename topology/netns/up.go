package netns

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/oobtb/oobtb/sim/clock"
	"github.com/oobtb/oobtb/topology"
	"github.com/oobtb/oobtb/topology/linkemu"
)

// BridgeName is the bridge inside every segment namespace.
const BridgeName = "br0"

// Option configures Up.
type Option func(*options)

type options struct {
	prefix   string
	clk      clock.Clock
	seed     *uint64
	stateDir string
	parallel int
	control  string
	log      *slog.Logger
}

// WithPrefix fixes the run prefix (default: NewPrefix()).
func WithPrefix(p string) Option { return func(o *options) { o.prefix = p } }

// WithClock sets the emulators' clock (default clock.Real).
func WithClock(c clock.Clock) Option { return func(o *options) { o.clk = c } }

// WithSeed overrides the topology's seed.
func WithSeed(s uint64) Option { return func(o *options) { o.seed = &s } }

// WithStateDir sets where the state file goes (default /run/oobtb).
func WithStateDir(d string) Option { return func(o *options) { o.stateDir = d } }

// WithParallelism bounds how many namespaces are set up at once.
func WithParallelism(n int) Option { return func(o *options) { o.parallel = max(1, n) } }

// WithControlSocket records the runner's control socket in the state file.
func WithControlSocket(path string) Option { return func(o *options) { o.control = path } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Topology is a running topology.
type Topology struct {
	Prefix string
	Spec   *topology.Topology

	opts   options
	nodes  []*Node
	byName map[string]*Node
	links  []*Link
	linkBy map[string]*Link
	spaces []*space // every namespace: nodes then segments

	closeOnce sync.Once
	closeErr  error
}

// space is one namespace of the run and what lives in it.
type space struct {
	name    string
	segment bool
	ns      vnetns.NsHandle
	h       *netlink.Handle
	created bool
	nsid    int // id in the host's netns id table, -1 if none
	stat    *sockstat
	taps    []tapSpec
	fwd     bool
	nat     *topology.NAT
	routes  []topology.ResolvedRoute
}

type tapSpec struct {
	name    string
	mtu     int
	link    int
	side    int
	addr    *net.IPNet
	bridge  bool
	offload bool
	file    *os.File
}

// Preflight reports why topologies cannot run here, or nil.
func Preflight() error {
	if os.Geteuid() != 0 {
		return errors.New("netns: needs root (network namespaces, TAP devices)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("netns: needs /dev/net/tun: %w", err)
	}
	return nil
}

// Up creates every namespace, TAP, bridge, address, route and NAT rule of
// spec and starts the link emulators. On error everything already created
// is removed again. Close tears the topology down.
func Up(ctx context.Context, spec *topology.Topology, opts ...Option) (*Topology, error) {
	o := options{clk: clock.Real{}, stateDir: DefaultStateDir, parallel: 8}
	for _, f := range opts {
		f(&o)
	}
	if o.prefix == "" {
		o.prefix = NewPrefix()
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if err := checkPrefix(o.prefix); err != nil {
		return nil, err
	}
	r := spec.Resolved()
	if r == nil {
		return nil, errors.New("netns: topology is not resolved (load it with topology.Load)")
	}
	if err := Preflight(); err != nil {
		return nil, err
	}
	seed := spec.Seed
	if o.seed != nil {
		seed = *o.seed
	}
	t := &Topology{Prefix: o.prefix, Spec: spec, opts: o, byName: map[string]*Node{}, linkBy: map[string]*Link{}}
	t.plan(r)
	if err := writeState(o.stateDir, t.state()); err != nil {
		return nil, fmt.Errorf("netns: state file: %w", err)
	}
	if err := t.build(ctx, r, seed); err != nil {
		if cerr := t.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	return t, nil
}

func (t *Topology) plan(r *topology.Resolved) {
	spaceOf := map[string]*space{}
	for _, rn := range r.Nodes {
		n := &Node{Name: rn.Name, Role: rn.Role, NS: NSName(t.Prefix, rn.Name), Ifaces: rn.Ifaces, NAT: rn.NAT, t: t, ns: vnetns.None()}
		t.nodes = append(t.nodes, n)
		t.byName[n.Name] = n
		sp := &space{name: n.NS, ns: vnetns.None(), nsid: -1, fwd: rn.Forwarding(), nat: rn.NAT, routes: rn.ResolvedRoutes}
		t.spaces = append(t.spaces, sp)
		spaceOf[rn.Name] = sp
	}
	for _, s := range r.Segments {
		sp := &space{name: NSName(t.Prefix, s.Name), segment: true, ns: vnetns.None(), nsid: -1}
		t.spaces = append(t.spaces, sp)
		spaceOf[s.Name] = sp
	}
	for i, l := range r.Links {
		lk := &Link{Name: l.Name, mtu: l.MTU, offload: l.Offload}
		for side, e := range []topology.ResolvedEnd{l.A, l.B} {
			sp := spaceOf[e.Node]
			ts := tapSpec{name: e.Iface, mtu: l.MTU, link: i, side: side, bridge: e.Segment, offload: l.Offload}
			if e.Prefix.IsValid() {
				ts.addr = &net.IPNet{IP: e.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(e.Prefix.Bits(), 32)}
			}
			sp.taps = append(sp.taps, ts)
			end := End{Node: e.Node, Segment: e.Segment, NS: sp.name, Iface: e.Iface}
			if side == 0 {
				lk.A = end
			} else {
				lk.B = end
			}
		}
		t.links = append(t.links, lk)
		t.linkBy[lk.Name] = lk
	}
}

func (t *Topology) state() *State {
	s := &State{Prefix: t.Prefix, PID: os.Getpid(), Name: t.Spec.Name, File: t.Spec.File, Started: time.Now().UTC(), Control: t.opts.control}
	for _, sp := range t.spaces {
		s.Namespaces = append(s.Namespaces, sp.name)
	}
	for _, n := range t.nodes {
		sn := StateNode{Name: n.Name, Role: string(n.Role), NS: n.NS}
		for _, i := range n.Ifaces {
			sn.Ifaces = append(sn.Ifaces, StateIface{Name: i.Name, Link: i.Link, Address: i.Prefix.String()})
		}
		s.Nodes = append(s.Nodes, sn)
	}
	for _, l := range t.links {
		s.Links = append(s.Links, StateLink{Name: l.Name, A: l.A.Node + ":" + l.A.Iface, B: l.B.Node + ":" + l.B.Iface})
	}
	return s
}

func (t *Topology) build(ctx context.Context, r *topology.Resolved, seed uint64) error {
	start := time.Now()
	sem := make(chan struct{}, t.opts.parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, sp := range t.spaces {
		if err := ctx.Err(); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := t.buildSpace(sp); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, n := range t.nodes {
		for _, sp := range t.spaces {
			if sp.name == n.NS {
				n.ns = sp.ns
			}
		}
	}
	// Every TAP exists: join them through the emulators.
	files := make([][2]*os.File, len(t.links))
	for _, sp := range t.spaces {
		for _, ts := range sp.taps {
			files[ts.link][ts.side] = ts.file
		}
	}
	for i, l := range t.links {
		rl := r.Links[i]
		l.taps = files[i]
		l.AtoB = linkemu.NewDirection(l.Name+"/a-b", rl.AtoB, dirSeed(seed, l.Name, 0), t.opts.clk, deliverTo(files[i][1]))
		l.BtoA = linkemu.NewDirection(l.Name+"/b-a", rl.BtoA, dirSeed(seed, l.Name, 1), t.opts.clk, deliverTo(files[i][0]))
		l.start()
	}
	t.opts.log.Info("topology up", "prefix", t.Prefix, "namespaces", len(t.spaces), "links", len(t.links), "took", time.Since(start))
	return nil
}

// dirSeed derives a per-direction seed so links are independent but the
// whole run replays from one seed.
func dirSeed(seed uint64, link string, dir int) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%d", seed, link, dir)
	return h.Sum64()
}

func writeSysctl(path, v string) error {
	if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
		return fmt.Errorf("netns: sysctl %s: %w", path, err)
	}
	return nil
}

// buildSpace creates one namespace and everything inside it on a thread
// that never leaves it.
func (t *Topology) buildSpace(sp *space) error {
	ns, err := inNewNS(sp.name, func(ns vnetns.NsHandle) error {
		sp.ns = ns
		sp.created = true
		// No IPv6: keeps router solicitations and DAD off the emulated
		// links, so counters and captures show only the parties' traffic.
		if err := writeSysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1"); err != nil {
			return err
		}
		if err := writeSysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1"); err != nil {
			return err
		}
		// A socket closed just before teardown may be left orphaned
		// (FIN_WAIT_2, LAST_ACK) with no link to finish on; it holds the
		// namespace alive until it gives up. Make that quick: it only
		// affects sockets no process owns any more.
		if !sp.segment {
			if err := writeSysctl("/proc/sys/net/ipv4/tcp_orphan_retries", "1"); err != nil {
				return err
			}
			if err := writeSysctl("/proc/sys/net/ipv4/tcp_fin_timeout", "1"); err != nil {
				return err
			}
		}
		if sp.fwd {
			if err := writeSysctl("/proc/sys/net/ipv4/ip_forward", "1"); err != nil {
				return err
			}
		}
		// Both sockets are made here, inside the namespace, so teardown
		// needs no namespace switch to abort the TCP sockets.
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE, unix.NETLINK_INET_DIAG)
		if err != nil {
			return fmt.Errorf("netns: netlink in %s: %w", sp.name, err)
		}
		sp.h = h
		if !sp.segment {
			sp.stat = openSockstat()
		}
		for i := range sp.taps {
			ts := &sp.taps[i]
			f, err := openTAP(ts.name, ts.offload)
			if err != nil {
				return fmt.Errorf("netns: TAP %s in %s: %w", ts.name, sp.name, err)
			}
			ts.file = f
		}
		return nil
	})
	if sp.ns == vnetns.None() && ns.IsOpen() {
		sp.ns = ns
	}
	if sp.ns.IsOpen() {
		if id, ierr := assignNSID(sp.ns); ierr == nil {
			sp.nsid = id
		} else {
			t.opts.log.Warn("no netns id; teardown cannot watch destruction", "ns", sp.name, "err", ierr)
		}
	}
	if err != nil {
		return err
	}
	return t.configureSpace(sp)
}

// configureSpace sets links, addresses, routes and NAT through the
// namespace's netlink handle (usable from any thread).
func (t *Topology) configureSpace(sp *space) error {
	h := sp.h
	fail := func(what string, err error) error { return fmt.Errorf("netns: %s in %s: %w", what, sp.name, err) }
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fail("lo", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fail("lo up", err)
	}
	var br netlink.Link
	if sp.segment {
		b := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeName}}
		if err := h.LinkAdd(b); err != nil {
			return fail("bridge", err)
		}
		if br, err = h.LinkByName(BridgeName); err != nil {
			return fail("bridge", err)
		}
	}
	for _, ts := range sp.taps {
		l, err := h.LinkByName(ts.name)
		if err != nil {
			return fail("TAP "+ts.name, err)
		}
		if err := h.LinkSetMTU(l, ts.mtu); err != nil {
			return fail("MTU of "+ts.name, err)
		}
		if ts.bridge {
			if err := h.LinkSetMaster(l, br); err != nil {
				return fail("bridge port "+ts.name, err)
			}
		}
		if ts.addr != nil {
			if err := h.AddrAdd(l, &netlink.Addr{IPNet: ts.addr}); err != nil {
				return fail("address of "+ts.name, err)
			}
		}
		if err := h.LinkSetUp(l); err != nil {
			return fail("up "+ts.name, err)
		}
	}
	if br != nil {
		if err := h.LinkSetUp(br); err != nil {
			return fail("bridge up", err)
		}
	}
	for _, r := range sp.routes {
		rt := &netlink.Route{Gw: r.Via.AsSlice()}
		if r.Dst.Bits() > 0 {
			rt.Dst = &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), 32)}
		}
		if err := h.RouteAdd(rt); err != nil {
			return fail(fmt.Sprintf("route %s via %s", r.Dst, r.Via), err)
		}
	}
	if sp.nat != nil {
		if err := setupNAT(sp.ns, sp.nat); err != nil {
			return fail("NAT", err)
		}
	}
	return nil
}

// Node returns the named node, or nil.
func (t *Topology) Node(name string) *Node { return t.byName[name] }

// Link returns the named link, or nil.
func (t *Topology) Link(name string) *Link { return t.linkBy[name] }

// Nodes returns every node in file order.
func (t *Topology) Nodes() []*Node { return t.nodes }

// Links returns every link in file order.
func (t *Topology) Links() []*Link { return t.links }

// Namespaces returns every namespace name of the run (nodes, then segments).
func (t *Topology) Namespaces() []string {
	out := make([]string, len(t.spaces))
	for i, sp := range t.spaces {
		out[i] = sp.name
	}
	return out
}

// Close stops the emulators and removes every TAP, bridge and namespace,
// waiting (bounded) until the kernel shows them gone. It is idempotent.
func (t *Topology) Close() error {
	t.closeOnce.Do(func() {
		start := time.Now()
		for _, l := range t.links {
			if l.AtoB != nil {
				l.close()
			}
		}
		// TAPs of a failed build that never joined a link.
		for _, sp := range t.spaces {
			for _, ts := range sp.taps {
				if ts.file != nil {
					_ = ts.file.Close()
				}
			}
		}
		for _, n := range t.nodes {
			n.ns = vnetns.None()
		}
		sem := make(chan struct{}, t.opts.parallel)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []error
		for _, sp := range t.spaces {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := teardownSpace(sp.name, sp.h, sp.ns, sp.stat); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		ids := map[int]string{}
		for _, sp := range t.spaces {
			if sp.nsid >= 0 {
				ids[sp.nsid] = sp.name
			}
		}
		if err := waitDestroyed(ids); err != nil {
			errs = append(errs, err)
		}
		if err := os.Remove(StatePath(t.opts.stateDir, t.Prefix)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		t.closeErr = errors.Join(errs...)
		t.opts.log.Info("topology down", "prefix", t.Prefix, "took", time.Since(start), "err", t.closeErr)
	})
	return t.closeErr
}
