package netns_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/topology/linkemu"
	"github.com/oobtb/oobtb/topology/netns"
)

// pair is two hosts joined by one link; a_to_b/b_to_a are inserted.
func pair(atob, btoa string) *netns.Topology {
	return up(fmt.Sprintf(`name: pair
seed: 7
nodes:
  - {name: a, role: host}
  - {name: b, role: host}
links:
  - name: ab
    a: a
    b: b
    a_to_b: %s
    b_to_a: %s
`, atob, btoa))
}

// rtts measures n TCP echo round trips of small messages from a to b.
func rtts(t *netns.Topology, n int) []time.Duration {
	GinkgoHelper()
	echoServer(t.Node("b"), "7100")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := t.Node("a").Network().Dial(ctx, "tcp", "b:7100")
	Expect(err).NotTo(HaveOccurred())
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 32)
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		_, err := c.Write(buf)
		Expect(err).NotTo(HaveOccurred())
		_, err = io.ReadFull(c, buf)
		Expect(err).NotTo(HaveOccurred())
		out = append(out, time.Since(start))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func pct(s []time.Duration, p float64) time.Duration {
	return s[min(len(s)-1, int(math.Ceil(p*float64(len(s))))-1)]
}

// udpPeers opens a UDP socket on each node of a pair.
func udpPeers(t *netns.Topology) (a, b net.PacketConn, baddr net.Addr) {
	GinkgoHelper()
	var err error
	a, err = t.Node("a").Network().ListenPacket(context.Background(), "udp4", "0.0.0.0:0")
	Expect(err).NotTo(HaveOccurred())
	b, err = t.Node("b").Network().ListenPacket(context.Background(), "udp4", "0.0.0.0:7200")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b, &net.UDPAddr{IP: t.Node("b").Addr().AsSlice(), Port: 7200}
}

// ping sends one UDP probe from a and waits up to wait for b's reflection.
func reflect(b net.PacketConn) {
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := b.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = b.WriteTo(buf[:n], from)
		}
	}()
}

func ping(a net.PacketConn, to net.Addr, wait time.Duration) (time.Duration, bool) {
	start := time.Now()
	if _, err := a.WriteTo([]byte("ping"), to); err != nil {
		return 0, false
	}
	_ = a.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 64)
	if _, _, err := a.ReadFrom(buf); err != nil {
		return 0, false
	}
	return time.Since(start), true
}

// skipIfOverloaded skips a timing-accuracy spec when other work keeps
// more than two runnable tasks per core: CPU stalls of tens of milliseconds
// then dominate the tail of any userspace measurement, emulated or not.
// The rest of the impairment specs (loss, partitions, runtime changes) run
// regardless. OOBTB_TIMING_TESTS=always runs them anyway.
func skipIfOverloaded() {
	if os.Getenv("OOBTB_TIMING_TESTS") == "always" {
		return
	}
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return
	}
	load, err := strconv.ParseFloat(f[0], 64)
	if err == nil && load > 2*float64(runtime.NumCPU()) {
		Skip(fmt.Sprintf("machine overloaded (load %.1f on %d cores): timing accuracy cannot be measured now", load, runtime.NumCPU()))
	}
}

var _ = Describe("impairments through the TAP path", func() {
	// Timing specs retry: on a loaded 2-core machine a single run can lose
	// the CPU for tens of milliseconds, which no emulator can hide.
	It("delays each direction as configured (p50 ±1 ms, p99 ±2 ms)", FlakeAttempts(3), func() {
		skipIfOverloaded()
		t := pair("{delay: 10ms}", "{delay: 15ms}")
		s := rtts(t, 150)
		p50, p99 := pct(s, 0.50), pct(s, 0.99)
		ab, ba := t.Link("ab").Stats()
		GinkgoWriter.Printf("RTT p50 %v p99 %v (configured 25ms)\na->b %+v\nb->a %+v\n", p50, p99, ab, ba)
		want := 25 * time.Millisecond
		// The tolerances apply to the one-way delay: RTT is two one-way
		// delays, each held to ±1 ms at p50 and ±2 ms at p99.
		Expect(p50).To(BeNumerically("~", want, 2*time.Millisecond))
		Expect(p99).To(BeNumerically("~", want, 4*time.Millisecond))
		Expect(s[0]).To(BeNumerically(">=", want), "no frame can beat the configured delay")
	})

	It("loses UDP probes at the configured rate (99 % binomial interval)", func() {
		const n, p = 3000, 0.1
		t := pair("{loss: 10%}", "none")
		a, b, to := udpPeers(t)
		// Resolve ARP before counting (ARP frames cross the lossy link too).
		reflect(b)
		Eventually(func() bool { _, ok := ping(a, to, 200*time.Millisecond); return ok }).Should(BeTrue())
		_ = b.Close()
		b2, err := t.Node("b").Network().ListenPacket(context.Background(), "udp4", "0.0.0.0:7201")
		Expect(err).NotTo(HaveOccurred())
		defer b2.Close()
		var got atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 64)
			for {
				_ = b2.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				if _, _, err := b2.ReadFrom(buf); err != nil {
					return
				}
				got.Add(1)
			}
		}()
		to2 := &net.UDPAddr{IP: t.Node("b").Addr().AsSlice(), Port: 7201}
		msg := make([]byte, 16)
		for i := range n {
			binary.BigEndian.PutUint32(msg, uint32(i))
			_, err := a.WriteTo(msg, to2)
			Expect(err).NotTo(HaveOccurred())
			if i%50 == 49 {
				time.Sleep(time.Millisecond)
			}
		}
		<-done
		lost := n - int(got.Load())
		sd := math.Sqrt(n * p * (1 - p))
		lo, hi := n*p-2.576*sd, n*p+2.576*sd
		GinkgoWriter.Printf("lost %d of %d (99%% interval %.0f..%.0f)\n", lost, n, lo, hi)
		Expect(float64(lost)).To(And(BeNumerically(">=", lo), BeNumerically("<=", hi)))
		atob, _ := t.Link("ab").Stats()
		GinkgoWriter.Printf("a->b stats %+v\n", atob)
	})

	It("limits TCP goodput to the configured rate (within 5 %)", FlakeAttempts(3), func() {
		skipIfOverloaded()
		const rate = 20_000_000
		t := pair(fmt.Sprintf("{rate: %d, queue_bytes: 100000}", rate), "none")
		l, err := t.Node("b").Network().Listen(context.Background(), "tcp", "0.0.0.0:7300")
		Expect(err).NotTo(HaveOccurred())
		defer l.Close()
		var received atomic.Int64
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				received.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
		c, err := t.Node("a").Network().Dial(context.Background(), "tcp", "b:7300")
		Expect(err).NotTo(HaveOccurred())
		go func() {
			buf := make([]byte, 64<<10)
			for {
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
		// Closing the socket ends the writer; an open socket would keep
		// the namespace alive past teardown.
		defer c.Close()
		time.Sleep(500 * time.Millisecond) // past slow start
		r0, t0 := received.Load(), time.Now()
		time.Sleep(2 * time.Second)
		got := float64(received.Load()-r0) * 8 / time.Since(t0).Seconds()
		// The emulator meters Ethernet frames: a full segment carries
		// 1448 payload bytes in a 1514-byte frame (IP, TCP with
		// timestamps, Ethernet headers).
		want := rate * 1448.0 / 1514.0
		ab, ba := t.Link("ab").Stats()
		GinkgoWriter.Printf("goodput %.2f Mbit/s, payload-rate of the link %.2f Mbit/s\na->b %+v\nb->a %+v\n", got/1e6, want/1e6, ab, ba)
		Expect(got).To(BeNumerically("~", want, want*0.05))
	})

	It("drops everything while partitioned, heals, and applies runtime changes", func() {
		t := pair("none", "none")
		a, b, to := udpPeers(t)
		reflect(b)
		Eventually(func() bool { _, ok := ping(a, to, 200*time.Millisecond); return ok }).Should(BeTrue())
		l := t.Link("ab")
		l.Partition()
		for range 5 {
			_, ok := ping(a, to, 100*time.Millisecond)
			Expect(ok).To(BeFalse(), "a partition drops everything")
		}
		l.Heal()
		Eventually(func() bool { _, ok := ping(a, to, 200*time.Millisecond); return ok }).Should(BeTrue())
		l.PartitionOneWay(false)
		_, ok := ping(a, to, 100*time.Millisecond)
		Expect(ok).To(BeFalse(), "replies are dropped")
		l.Heal()
		l.Cut()
		_, ok = ping(a, to, 100*time.Millisecond)
		Expect(ok).To(BeFalse(), "a cut link carries nothing")
		l.Heal()
		Eventually(func() bool { _, ok := ping(a, to, 200*time.Millisecond); return ok }).Should(BeTrue())
		// Let stray late replies of the failed probes drain.
		time.Sleep(50 * time.Millisecond)
		_ = a.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		_, _, _ = a.ReadFrom(make([]byte, 64))

		l.SetProfile(linkemu.Profile{Delay: 30 * time.Millisecond})
		rtt, ok := ping(a, to, time.Second)
		Expect(ok).To(BeTrue())
		Expect(rtt).To(BeNumerically(">=", 60*time.Millisecond))
		Expect(rtt).To(BeNumerically("<", 110*time.Millisecond))
		l.SetProfiles(linkemu.Profile{}, linkemu.Profile{Delay: 5 * time.Millisecond})
		rtt, ok = ping(a, to, time.Second)
		Expect(ok).To(BeTrue())
		Expect(rtt).To(And(BeNumerically(">=", 5*time.Millisecond), BeNumerically("<", 55*time.Millisecond)))
	})
})
