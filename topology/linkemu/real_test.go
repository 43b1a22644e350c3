package linkemu_test

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/sim/clock"
	"github.com/oobtb/oobtb/topology/linkemu"
)

var _ = Describe("Direction under the real clock", func() {
	// measure sends n frames 500 µs apart through a 20 ms delay and returns
	// the sorted scheduling errors (delivery − send − 20 ms).
	measure := func(n int) []time.Duration {
		var (
			mu   sync.Mutex
			sent = make([]time.Time, n)
			errs []time.Duration
		)
		done := make(chan struct{})
		d := linkemu.NewDirection("real", linkemu.Profile{Delay: 20 * time.Millisecond}, 1, clock.Real{}, func(pkt []byte) {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, now.Sub(sent[idOf(pkt)])-20*time.Millisecond)
			if len(errs) == n {
				close(done)
			}
		})
		defer d.Close()
		for i := range n {
			b := frame(uint64(i), 100)
			mu.Lock()
			sent[i] = time.Now()
			mu.Unlock()
			d.Send(b)
			time.Sleep(500 * time.Microsecond)
		}
		Eventually(done).WithTimeout(10 * time.Second).Should(BeClosed())
		Expect(d.Stats().DeliveredPackets).To(Equal(uint64(n)))
		slices.Sort(errs)
		return errs
	}

	It("delivers a 20 ms delay within ±1 ms at p50 and ±2 ms at p99", func() {
		// The machine is shared, so a run disturbed by other processes is
		// repeated (at most three runs); the scheduler itself is typically
		// within tens of µs at p50.
		const n = 300
		var p50, p99 time.Duration
		for attempt := 1; attempt <= 3; attempt++ {
			errs := measure(n)
			p50, p99 = errs[n/2], errs[n*99/100]
			GinkgoWriter.Printf("real-clock scheduling error (run %d): p50 %v p99 %v max %v\n", attempt, p50, p99, errs[n-1])
			if p50.Abs() < time.Millisecond && p99.Abs() < 2*time.Millisecond {
				break
			}
		}
		Expect(p50.Abs()).To(BeNumerically("<", time.Millisecond))
		Expect(p99.Abs()).To(BeNumerically("<", 2*time.Millisecond))
	})

	It("delivers in order under load and stops cleanly", func() {
		var got atomic.Int64
		var last atomic.Int64
		last.Store(-1)
		ordered := atomic.Bool{}
		ordered.Store(true)
		d := linkemu.NewDirection("load", linkemu.Profile{Delay: time.Millisecond, RateBps: 10_000_000_000, QueueBytes: 64 << 20}, 1, clock.Real{}, func(pkt []byte) {
			id := int64(idOf(pkt))
			if id != last.Load()+1 {
				ordered.Store(false)
			}
			last.Store(id)
			got.Add(1)
		})
		const n = 20000
		for i := range n {
			d.Send(frame(uint64(i), 1500))
		}
		Eventually(got.Load).WithTimeout(10 * time.Second).Should(Equal(int64(n)))
		Expect(ordered.Load()).To(BeTrue())
		Expect(d.Close()).To(Succeed())
	})
})

var _ = Describe("the per-packet path", func() {
	It("does not allocate in steady state", func() {
		for _, p := range []linkemu.Profile{{}, {Delay: 50 * time.Microsecond, RateBps: 100_000_000_000, Loss: 0.01, Jitter: 10 * time.Microsecond}} {
			var got atomic.Int64
			d := linkemu.NewDirection("alloc", p, 1, clock.Real{}, func([]byte) { got.Add(1) })
			// Warm the buffer pool, the heap and the rate FIFO.
			for range 1000 {
				d.Send(linkemu.GetBuffer(1500))
			}
			Eventually(func() uint64 { s := d.Stats(); return s.DeliveredPackets + s.Dropped() }).Should(Equal(uint64(1000)))
			allocs := testing.AllocsPerRun(2000, func() { d.Send(linkemu.GetBuffer(1500)) })
			Expect(allocs).To(BeNumerically("<", 0.05), "profile %v", p)
			Expect(d.Close()).To(Succeed())
		}
	})
})
