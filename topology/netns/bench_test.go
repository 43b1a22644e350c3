package netns_test

import (
	"context"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/oobtb/oobtb/topology"
	"github.com/oobtb/oobtb/topology/netns"
)

func benchUp(b *testing.B, src string) *netns.Topology {
	b.Helper()
	if err := netns.Preflight(); err != nil {
		b.Skip(err)
	}
	spec, err := topology.Load("bench.yaml", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	t, err := netns.Up(context.Background(), spec, netns.WithStateDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := t.Close(); err != nil {
			b.Error(err)
		}
		if l := netns.Leftovers(t.Prefix); len(l) > 0 {
			b.Errorf("left over: %v", l)
		}
	})
	return t
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stream sends b.N MiB over TCP from a to dst and reports Gbit/s and CPU
// seconds per Gbit (this process: emulator, TCP stacks' softirqs that run
// on its threads, and the test's own socket copies).
func stream(b *testing.B, a, bn *netns.Node, dst string) {
	b.Helper()
	l, err := bn.Network().Listen(context.Background(), "tcp", "0.0.0.0:7500")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	total := int64(b.N) << 20
	got := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- 0
			return
		}
		defer c.Close()
		n, _ := io.CopyN(io.Discard, c, total)
		got <- n
	}()
	c, err := a.Network().Dial(context.Background(), "tcp", dst)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	b.SetBytes(1 << 20)
	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if n := <-got; n != total {
		b.Fatalf("received %d of %d bytes", n, total)
	}
	el, cpu := time.Since(t0), cpuTime()-cpu0
	b.StopTimer()
	gbit := float64(total) * 8 / 1e9
	b.ReportMetric(gbit/el.Seconds(), "Gbit/s")
	b.ReportMetric(cpu.Seconds()/gbit, "cpu-s/Gbit")
}

func BenchmarkLinkThroughput(b *testing.B) {
	for _, mtu := range []int{1500, 9000} {
		b.Run(fmt.Sprintf("tap-emulator/mtu%d", mtu), func(b *testing.B) {
			t := benchUp(b, fmt.Sprintf(`name: bench
nodes: [{name: a, role: host}, {name: b, role: host}]
links: [{name: ab, a: a, b: b, mtu: %d}]
`, mtu))
			stream(b, t.Node("a"), t.Node("b"), "b:7500")
			ab, ba := t.Link("ab").Stats()
			b.ReportMetric(float64(ab.DeliveredPackets+ba.DeliveredPackets)/b.Elapsed().Seconds(), "pkts/s")
		})
		b.Run(fmt.Sprintf("tap-emulator-offload/mtu%d", mtu), func(b *testing.B) {
			t := benchUp(b, fmt.Sprintf(`name: bench
nodes: [{name: a, role: host}, {name: b, role: host}]
links: [{name: ab, a: a, b: b, mtu: %d, offload: true}]
`, mtu))
			stream(b, t.Node("a"), t.Node("b"), "b:7500")
			ab, ba := t.Link("ab").Stats()
			b.ReportMetric(float64(ab.DeliveredPackets+ba.DeliveredPackets)/b.Elapsed().Seconds(), "pkts/s")
		})
		b.Run(fmt.Sprintf("veth/mtu%d", mtu), func(b *testing.B) {
			t := benchUp(b, "name: veth\nnodes: [{name: a, role: host}, {name: b, role: host}]\n")
			veth(b, t.Node("a"), t.Node("b"), mtu)
			stream(b, t.Node("a"), t.Node("b"), "198.18.250.2:7500")
		})
	}
}

// veth joins two nodes with a plain veth pair (the kernel's own fastest
// path) for comparison; teardown of the namespaces removes it.
func veth(b *testing.B, a, bn *netns.Node, mtu int) {
	b.Helper()
	nsA, err := vnetns.GetFromPath(a.Path())
	if err != nil {
		b.Fatal(err)
	}
	defer nsA.Close()
	nsB, err := vnetns.GetFromPath(bn.Path())
	if err != nil {
		b.Fatal(err)
	}
	defer nsB.Close()
	ha, err := netlink.NewHandleAt(nsA)
	if err != nil {
		b.Fatal(err)
	}
	defer ha.Close()
	hb, err := netlink.NewHandleAt(nsB)
	if err != nil {
		b.Fatal(err)
	}
	defer hb.Close()
	if err := ha.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "v0", MTU: mtu}, PeerName: "v1", PeerNamespace: netlink.NsFd(nsB)}); err != nil {
		b.Fatal(err)
	}
	for _, x := range []struct {
		h    *netlink.Handle
		name string
		addr string
	}{{ha, "v0", "198.18.250.1/24"}, {hb, "v1", "198.18.250.2/24"}} {
		l, err := x.h.LinkByName(x.name)
		if err != nil {
			b.Fatal(err)
		}
		_ = x.h.LinkSetMTU(l, mtu)
		ad, _ := netlink.ParseAddr(x.addr)
		if err := x.h.AddrAdd(l, ad); err != nil {
			b.Fatal(err)
		}
		if err := x.h.LinkSetUp(l); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetupTeardown brings the 200-client LAN up and down.
func BenchmarkSetupTeardown(b *testing.B) {
	if err := netns.Preflight(); err != nil {
		b.Skip(err)
	}
	spec, err := topology.LoadFile("../examples/lan-200.yaml")
	if err != nil {
		b.Fatal(err)
	}
	spaces := len(spec.Nodes) + len(spec.Segments)
	var upT, downT time.Duration
	for range b.N {
		t0 := time.Now()
		t, err := netns.Up(context.Background(), spec, netns.WithStateDir(b.TempDir()))
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := t.Close(); err != nil {
			b.Fatal(err)
		}
		upT += t1.Sub(t0)
		downT += time.Since(t1)
		if l := netns.Leftovers(t.Prefix); len(l) > 0 {
			b.Fatalf("left over: %v", l)
		}
	}
	n := float64(b.N)
	b.ReportMetric(upT.Seconds()/n, "up-s")
	b.ReportMetric(downT.Seconds()/n, "down-s")
	b.ReportMetric(float64(upT.Milliseconds())/n/float64(spaces), "up-ms/ns")
	b.ReportMetric(float64(downT.Milliseconds())/n/float64(spaces), "down-ms/ns")
}
