package linkemu_test

import (
	"bytes"
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/bits"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/sim/clock"
	"github.com/oobtb/oobtb/topology/linkemu"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// recorder collects delivered frames with their delivery time.
type recorder struct {
	clk   clock.Clock
	times []time.Time
	pkts  [][]byte
}

func (r *recorder) deliver(pkt []byte) {
	r.times = append(r.times, r.clk.Now())
	r.pkts = append(r.pkts, bytes.Clone(pkt))
}

// frame returns a pooled frame of n bytes whose first 8 bytes carry id.
func frame(id uint64, n int) []byte {
	b := linkemu.GetBuffer(n)
	for i := range b {
		b[i] = byte(i)
	}
	binary.BigEndian.PutUint64(b, id)
	return b
}

func idOf(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func newDir(p linkemu.Profile, seed uint64) (*linkemu.Direction, *clock.Manual, *recorder) {
	clk := clock.NewManual(t0)
	r := &recorder{clk: clk}
	d := linkemu.NewDirection("test", p, seed, clk, r.deliver)
	DeferCleanup(func() {
		Expect(d.Close()).To(Succeed())
		Expect(clk.Pending()).To(Equal(0))
	})
	return d, clk, r
}

// binomial99 is the 99 % normal-approximation interval of Binomial(n, p).
func binomial99(n int, p float64) (lo, hi float64) {
	m := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return m - 2.576*sd, m + 2.576*sd
}

var _ = Describe("Direction under a manual clock", func() {
	It("delivers an unimpaired frame synchronously in Send", func() {
		d, _, r := newDir(linkemu.Profile{}, 1)
		d.Send(frame(7, 100))
		Expect(r.pkts).To(HaveLen(1))
		Expect(idOf(r.pkts[0])).To(Equal(uint64(7)))
		Expect(r.times[0]).To(Equal(t0))
	})

	It("applies an exact delay", func() {
		d, clk, r := newDir(linkemu.Profile{Delay: 10 * time.Millisecond}, 1)
		d.Send(frame(1, 100))
		clk.Advance(10*time.Millisecond - time.Nanosecond)
		Expect(r.pkts).To(BeEmpty())
		clk.Advance(time.Nanosecond)
		Expect(r.pkts).To(HaveLen(1))
		Expect(r.times[0]).To(Equal(t0.Add(10 * time.Millisecond)))
	})

	DescribeTable("keeps jitter within its bounds",
		func(dist string, lo, hi time.Duration, wantSD float64) {
			p := linkemu.Profile{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, JitterDist: dist, Reorder: true}
			d, clk, r := newDir(p, 3)
			const n = 5000
			for i := range n {
				d.Send(frame(uint64(i), 64))
			}
			clk.Advance(time.Second)
			Expect(r.times).To(HaveLen(n))
			var sum, sq float64
			for _, t := range r.times {
				dl := t.Sub(t0)
				Expect(dl).To(BeNumerically(">=", lo))
				Expect(dl).To(BeNumerically("<=", hi))
				ms := float64(dl) / 1e6
				sum += ms
				sq += ms * ms
			}
			mean := sum / n
			sd := math.Sqrt(sq/n - mean*mean)
			Expect(mean).To(BeNumerically("~", 20, 0.3))
			Expect(sd).To(BeNumerically("~", wantSD, 0.3))
		},
		// uniform on ±5 ms has sd 5/√3 ≈ 2.89 ms; normal has sd ≈ 5 ms (clipped at 3σ).
		Entry("uniform", "uniform", 15*time.Millisecond, 25*time.Millisecond, 5/math.Sqrt(3)),
		Entry("normal", "normal", 5*time.Millisecond, 35*time.Millisecond, 5.0),
	)

	DescribeTable("reorders only when allowed",
		func(reorder bool) {
			p := linkemu.Profile{Delay: 20 * time.Millisecond, Jitter: 10 * time.Millisecond, Reorder: reorder}
			d, clk, r := newDir(p, 5)
			const n = 1000
			for i := range n {
				d.Send(frame(uint64(i), 64))
				clk.Advance(time.Millisecond)
			}
			clk.Advance(time.Second)
			Expect(r.pkts).To(HaveLen(n))
			inversions := 0
			for i := 1; i < n; i++ {
				if idOf(r.pkts[i]) < idOf(r.pkts[i-1]) {
					inversions++
				}
				Expect(r.times[i]).To(BeTemporally(">=", r.times[i-1]))
			}
			if reorder {
				Expect(inversions).To(BeNumerically(">", 50))
			} else {
				Expect(inversions).To(Equal(0))
			}
		},
		Entry("reorder off: order preserved", false),
		Entry("reorder on", true),
	)

	It("departs rate-limited frames exactly at their serialisation time", func() {
		// 1500 B at 12 Mbit/s is exactly 1 ms on the wire.
		p := linkemu.Profile{RateBps: 12_000_000, Delay: 5 * time.Millisecond}
		d, clk, r := newDir(p, 1)
		for i := range 10 {
			d.Send(frame(uint64(i), 1500))
		}
		clk.Advance(time.Second)
		Expect(r.times).To(HaveLen(10))
		for i, t := range r.times {
			Expect(t).To(Equal(t0.Add(time.Duration(i+1)*time.Millisecond + 5*time.Millisecond)))
		}
		// An idle link serialises a new frame from its arrival.
		d.Send(frame(10, 750))
		clk.Advance(time.Second)
		Expect(r.times[10]).To(Equal(t0.Add(time.Second + 5*time.Millisecond + 500*time.Microsecond)))
	})

	It("carries sub-nanosecond serialisation remainders", func() {
		// 100 B at 3 Mbit/s is 266666.67 ns; 3 frames are exactly 800 µs.
		d, clk, r := newDir(linkemu.Profile{RateBps: 3_000_000}, 1)
		for i := range 3 {
			d.Send(frame(uint64(i), 100))
		}
		clk.Advance(time.Second)
		Expect(r.times[2]).To(Equal(t0.Add(800 * time.Microsecond)))
	})

	It("tail-drops when the queue is full (packets and bytes)", func() {
		d, clk, r := newDir(linkemu.Profile{RateBps: 12_000_000, QueuePackets: 5}, 1)
		for i := range 10 {
			d.Send(frame(uint64(i), 1500))
		}
		Expect(d.Stats().DroppedQueue).To(Equal(uint64(5)))
		// After 2 ms two frames have left the bottleneck: room for two.
		clk.Advance(2 * time.Millisecond)
		for i := range 3 {
			d.Send(frame(uint64(100+i), 1500))
		}
		Expect(d.Stats().DroppedQueue).To(Equal(uint64(6)))
		clk.Advance(time.Second)
		Expect(r.pkts).To(HaveLen(7))

		d.SetProfile(linkemu.Profile{RateBps: 12_000_000, QueueBytes: 4500})
		for i := range 4 {
			d.Send(frame(uint64(200+i), 1500))
		}
		Expect(d.Stats().DroppedQueue).To(Equal(uint64(7)))
	})

	It("loses frames at the Bernoulli rate (99 % binomial interval, N=100k)", func() {
		for _, seed := range []uint64{1, 2} {
			d, _, r := newDir(linkemu.Profile{Loss: 0.01}, seed)
			const n = 100_000
			for i := range n {
				d.Send(frame(uint64(i), 64))
			}
			lo, hi := binomial99(n, 0.01)
			st := d.Stats()
			Expect(float64(st.DroppedLoss)).To(BeNumerically(">=", lo))
			Expect(float64(st.DroppedLoss)).To(BeNumerically("<=", hi))
			Expect(len(r.pkts) + int(st.DroppedLoss)).To(Equal(n))
		}
	})

	It("produces Gilbert–Elliott bursts of mean length 1/R", func() {
		ge := &linkemu.GilbertElliott{P: 0.01, R: 0.25, LossBad: 1}
		d, _, _ := newDir(linkemu.Profile{GE: ge}, 9)
		const n = 200_000
		lostSeq := map[uint64]bool{}
		d.SetTap(func(_ []byte, ev linkemu.Event) {
			if ev.Kind == linkemu.EventDrop {
				lostSeq[ev.Seq] = true
			}
		})
		for i := range n {
			d.Send(frame(uint64(i), 64))
		}
		bursts, inBurst := 0, false
		for s := uint64(1); s <= n; s++ {
			if lostSeq[s] && !inBurst {
				bursts++
			}
			inBurst = lostSeq[s]
		}
		mean := float64(len(lostSeq)) / float64(bursts)
		Expect(mean).To(BeNumerically("~", 1/ge.R, 0.3))
		// Stationary loss rate P/(P+R).
		Expect(float64(len(lostSeq)) / n).To(BeNumerically("~", ge.P/(ge.P+ge.R), 0.005))
	})

	It("duplicates and corrupts at the configured rates", func() {
		d, _, r := newDir(linkemu.Profile{Duplicate: 0.05, Corrupt: 0.05}, 11)
		const n = 20_000
		// A delivered frame differs from what was sent in exactly one bit
		// when it is marked corrupted, and not at all otherwise.
		flipped, clean := 0, 0
		d.SetTap(func(pkt []byte, ev linkemu.Event) {
			if ev.Kind != linkemu.EventDeliver {
				return
			}
			want := make([]byte, 200)
			for i := range want {
				want[i] = byte(i)
			}
			binary.BigEndian.PutUint64(want, ev.Seq-1)
			diff := 0
			for i := range pkt {
				diff += bits.OnesCount8(pkt[i] ^ want[i])
			}
			if ev.Corrupted {
				Expect(diff).To(Equal(1))
				flipped++
			} else {
				Expect(diff).To(Equal(0))
				clean++
			}
		})
		for i := range n {
			d.Send(frame(uint64(i), 200))
		}
		st := d.Stats()
		lo, hi := binomial99(n, 0.05)
		Expect(float64(st.Duplicated)).To(And(BeNumerically(">=", lo), BeNumerically("<=", hi)))
		lo, hi = binomial99(n+int(st.Duplicated), 0.05)
		Expect(float64(st.Corrupted)).To(And(BeNumerically(">=", lo), BeNumerically("<=", hi)))
		Expect(r.pkts).To(HaveLen(n + int(st.Duplicated)))
		Expect(uint64(flipped)).To(Equal(st.Corrupted))
		Expect(flipped + clean).To(Equal(len(r.pkts)))
	})

	It("drops frames over the MTU", func() {
		d, _, r := newDir(linkemu.Profile{MTU: 1000}, 1)
		d.Send(frame(1, 1000))
		d.Send(frame(2, 1001))
		Expect(r.pkts).To(HaveLen(1))
		Expect(d.Stats().DroppedMTU).To(Equal(uint64(1)))
	})

	It("drops everything during a partition, including scheduled frames, and heals", func() {
		d, clk, r := newDir(linkemu.Profile{Delay: 10 * time.Millisecond}, 1)
		for i := range 5 {
			d.Send(frame(uint64(i), 100))
		}
		d.SetPartitioned(true)
		d.Send(frame(5, 100))
		clk.Advance(time.Second)
		Expect(r.pkts).To(BeEmpty())
		st := d.Stats()
		Expect(st.DroppedPartition).To(Equal(uint64(6)))
		Expect(st.Queued).To(Equal(0))
		d.SetPartitioned(false)
		d.Send(frame(6, 100))
		clk.Advance(10 * time.Millisecond)
		Expect(r.pkts).To(HaveLen(1))
	})

	It("drops while down and recovers when up", func() {
		d, clk, r := newDir(linkemu.Profile{Delay: time.Millisecond}, 1)
		d.Send(frame(0, 100))
		d.SetUp(false)
		d.Send(frame(1, 100))
		clk.Advance(time.Second)
		Expect(r.pkts).To(BeEmpty())
		Expect(d.Stats().DroppedDown).To(Equal(uint64(2)))
		d.SetUp(true)
		d.Send(frame(2, 100))
		clk.Advance(time.Second)
		Expect(r.pkts).To(HaveLen(1))
	})

	It("applies runtime profile changes to subsequent frames", func() {
		d, clk, r := newDir(linkemu.Profile{Delay: 10 * time.Millisecond}, 1)
		d.Send(frame(0, 100))
		d.SetProfile(linkemu.Profile{Delay: 50 * time.Millisecond, Reorder: true})
		d.Send(frame(1, 100))
		d.SetProfile(linkemu.Profile{Delay: 5 * time.Millisecond, Reorder: true})
		d.Send(frame(2, 100))
		clk.Advance(time.Second)
		Expect(r.times).To(Equal([]time.Time{t0.Add(5 * time.Millisecond), t0.Add(10 * time.Millisecond), t0.Add(50 * time.Millisecond)}))
		d.SetProfile(linkemu.Profile{Loss: 1})
		d.Send(frame(3, 100))
		Expect(d.Stats().DroppedLoss).To(Equal(uint64(1)))
		Expect(d.Profile().Loss).To(Equal(1.0))
	})

	It("keeps its counters consistent", func() {
		p := linkemu.Profile{Delay: 3 * time.Millisecond, Jitter: 2 * time.Millisecond, Loss: 0.02, Duplicate: 0.02,
			RateBps: 50_000_000, QueuePackets: 20, MTU: 1400}
		d, clk, _ := newDir(p, 4)
		for i := range 5000 {
			d.Send(frame(uint64(i), 100+i%1400))
			clk.Advance(100 * time.Microsecond)
		}
		st := d.Stats()
		Expect(st.InPackets + st.Duplicated).To(Equal(st.DeliveredPackets + st.Dropped() + uint64(st.Queued)))
		Expect(st.DroppedQueue).NotTo(BeZero())
		Expect(st.DroppedMTU).NotTo(BeZero())
	})

	It("is deterministic for a seed and differs across seeds", func() {
		p := linkemu.Profile{Delay: 5 * time.Millisecond, Jitter: 4 * time.Millisecond, Reorder: true, Loss: 0.05,
			Duplicate: 0.05, Corrupt: 0.05, RateBps: 20_000_000, QueuePackets: 30}
		trace := func(seed uint64) uint64 {
			d, clk, _ := newDir(p, seed)
			h := fnv.New64a()
			d.SetTap(func(pkt []byte, ev linkemu.Event) {
				var rec [40]byte
				rec[0], rec[1] = byte(ev.Kind), byte(ev.Cause)
				binary.BigEndian.PutUint64(rec[2:], ev.Seq)
				binary.BigEndian.PutUint64(rec[10:], uint64(ev.Time.UnixNano()))
				if ev.Duplicate {
					rec[18] = 1
				}
				if ev.Corrupted {
					rec[19] = 1
				}
				h.Write(rec[:])
				h.Write(pkt)
			})
			for i := range 3000 {
				d.Send(frame(uint64(i), 64+i%1000))
				clk.Advance(time.Duration(i%7) * 100 * time.Microsecond)
			}
			clk.Advance(time.Second)
			return h.Sum64()
		}
		Expect(trace(42)).To(Equal(trace(42)))
		Expect(trace(42)).NotTo(Equal(trace(43)))
	})

	It("drops after Close and leaves no timer armed", func() {
		clk := clock.NewManual(t0)
		r := &recorder{clk: clk}
		d := linkemu.NewDirection("c", linkemu.Profile{Delay: time.Second}, 1, clk, r.deliver)
		d.Send(frame(0, 10))
		Expect(clk.Pending()).To(Equal(1))
		Expect(d.Close()).To(Succeed())
		Expect(d.Close()).To(Succeed())
		Expect(clk.Pending()).To(Equal(0))
		d.Send(frame(1, 10))
		Expect(d.Stats().DroppedDown).To(Equal(uint64(2)))
		Expect(r.pkts).To(BeEmpty())
	})

	It("drives a Link in both directions", func() {
		clk := clock.NewManual(t0)
		ra, rb := &recorder{clk: clk}, &recorder{clk: clk}
		l := linkemu.NewLink("l", linkemu.Profile{Delay: time.Millisecond}, linkemu.Profile{Delay: 2 * time.Millisecond}, 1, clk, rb.deliver, ra.deliver)
		DeferCleanup(l.Close)
		l.AB.Send(frame(1, 60))
		l.BA.Send(frame(2, 60))
		clk.Advance(time.Second)
		Expect(rb.times).To(Equal([]time.Time{t0.Add(time.Millisecond)}))
		Expect(ra.times).To(Equal([]time.Time{t0.Add(2 * time.Millisecond)}))
		l.SetPartitioned(true)
		l.AB.Send(frame(3, 60))
		Expect(l.AB.Stats().DroppedPartition).To(Equal(uint64(1)))
	})
})
