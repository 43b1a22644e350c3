package linkemu_test

import (
	"fmt"
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

	// bareTimer measures, until stop is closed, how late a plain
	// time.Timer fires for 2 ms sleeps: the machine's own scheduling noise
	// during a run.
	bareTimer := func(stop <-chan struct{}, out chan<- [2]time.Duration) {
		t := time.NewTimer(time.Hour)
		defer t.Stop()
		var lat []time.Duration
		for {
			select {
			case <-stop:
				slices.Sort(lat)
				n := len(lat)
				out <- [2]time.Duration{lat[n/2], lat[n*99/100]}
				return
			default:
			}
			dl := time.Now().Add(2 * time.Millisecond)
			t.Reset(2 * time.Millisecond)
			<-t.C
			lat = append(lat, time.Since(dl))
		}
	}

	It("delivers a 20 ms delay within ±1 ms at p50 and ±2 ms at p99", func() {
		// The machine is shared. While the frames flow, a bare timer measures
		// the machine's own noise; a run in which even the bare timer is late
		// by more than 1 ms at p99 says nothing about the scheduler, so it is
		// repeated (three runs at most) and, if every run is disturbed, the
		// spec is skipped with the figures.
		const n = 300
		for attempt := 1; attempt <= 3; attempt++ {
			stop, base := make(chan struct{}), make(chan [2]time.Duration, 1)
			go bareTimer(stop, base)
			errs := measure(n)
			close(stop)
			b := <-base
			p50, p99 := errs[n/2], errs[n*99/100]
			GinkgoWriter.Printf("run %d: scheduling error p50 %v p99 %v max %v; bare timer lateness p50 %v p99 %v\n",
				attempt, p50, p99, errs[n-1], b[0], b[1])
			if p50.Abs() < time.Millisecond && p99.Abs() < 2*time.Millisecond {
				return
			}
			if b[1] < time.Millisecond {
				Fail(fmt.Sprintf("scheduling error p50 %v p99 %v while a bare timer was late by p50 %v p99 %v", p50, p99, b[0], b[1]))
			}
		}
		Skip("machine too loaded to judge real-clock accuracy: a bare timer was late by more than 1 ms at p99 in every run (see GinkgoWriter output)")
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
