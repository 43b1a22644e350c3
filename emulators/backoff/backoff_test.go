package backoff_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/backoff"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func mustNew(cfg backoff.Config, seed uint64) *backoff.Backoff {
	b, err := backoff.New(cfg, rand.NewPCG(seed, 0))
	Expect(err).NotTo(HaveOccurred())
	return b
}

var _ = Describe("Backoff", func() {
	It("grows exponentially without jitter and saturates at Max", func() {
		b := mustNew(backoff.Config{Initial: time.Second, Max: 10 * time.Second, Multiplier: 2}, 1)
		var got []time.Duration
		for range 6 {
			got = append(got, b.NextDelay())
		}
		Expect(got).To(Equal([]time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}))
		Expect(b.Attempts()).To(Equal(6))
	})

	It("returns now plus the delay from Next", func() {
		b := mustNew(backoff.Config{Initial: 3 * time.Second, Max: time.Minute, Multiplier: 2}, 1)
		Expect(b.Next(t0)).To(Equal(t0.Add(3 * time.Second)))
		Expect(b.Next(t0)).To(Equal(t0.Add(6 * time.Second)))
	})

	It("starts again from Initial after Reset", func() {
		b := mustNew(backoff.Config{Initial: time.Second, Max: time.Minute, Multiplier: 3}, 1)
		b.NextDelay()
		b.NextDelay()
		b.Reset()
		Expect(b.Attempts()).To(BeZero())
		Expect(b.NextDelay()).To(Equal(time.Second))
	})

	DescribeTable("keeps every jittered delay within its documented bounds",
		func(mode backoff.JitterMode, f float64) {
			cfg := backoff.Config{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Multiplier: 1.7, JitterFraction: f, Mode: mode}
			for seed := range uint64(20) {
				b := mustNew(cfg, seed)
				for n := range 25 {
					lo, hi := cfg.Bounds(n)
					d := b.NextDelay()
					Expect(d).To(BeNumerically(">=", lo), "attempt %d", n)
					Expect(d).To(BeNumerically("<=", hi), "attempt %d", n)
					Expect(d).To(BeNumerically("<=", cfg.Max))
					Expect(d).To(BeNumerically(">", 0))
				}
			}
		},
		Entry("full, f=1", backoff.JitterFull, 1.0),
		Entry("full, f=0.3", backoff.JitterFull, 0.3),
		Entry("equal, f=1", backoff.JitterEqual, 1.0),
		Entry("equal, f=0.5", backoff.JitterEqual, 0.5),
	)

	It("never waits less than half the base with equal jitter", func() {
		b := mustNew(backoff.Config{Initial: 10 * time.Second, Max: 10 * time.Second, Multiplier: 1, JitterFraction: 1, Mode: backoff.JitterEqual}, 7)
		for range 1000 {
			Expect(b.NextDelay()).To(BeNumerically(">=", 5*time.Second))
		}
	})

	It("actually spreads the delays (jitter is not a no-op)", func() {
		b := mustNew(backoff.Config{Initial: 10 * time.Second, Max: 10 * time.Second, Multiplier: 1, JitterFraction: 1, Mode: backoff.JitterFull}, 3)
		seen := map[time.Duration]bool{}
		var below, above int
		for range 1000 {
			d := b.NextDelay()
			seen[d] = true
			if d < 5*time.Second {
				below++
			} else {
				above++
			}
		}
		Expect(len(seen)).To(BeNumerically(">", 900))
		Expect(below).To(BeNumerically(">", 400))
		Expect(above).To(BeNumerically(">", 400))
	})

	It("is deterministic for a seed and differs between seeds", func() {
		cfg := backoff.Default()
		run := func(seed uint64) []time.Duration {
			b := mustNew(cfg, seed)
			var out []time.Duration
			for range 10 {
				out = append(out, b.NextDelay())
			}
			return out
		}
		Expect(run(42)).To(Equal(run(42)))
		Expect(run(42)).NotTo(Equal(run(43)))
	})

	It("saturates instead of overflowing after very many attempts", func() {
		b := mustNew(backoff.Config{Initial: time.Hour, Max: math.MaxInt64, Multiplier: 1e6}, 1)
		for range 100 {
			Expect(b.NextDelay()).To(BeNumerically(">", 0))
		}
		Expect(b.NextDelay()).To(Equal(time.Duration(math.MaxInt64)))
	})

	DescribeTable("rejects invalid configurations naming the field",
		func(cfg backoff.Config, field string) {
			_, err := backoff.New(cfg, rand.NewPCG(1, 1))
			var ce *backoff.ConfigError
			Expect(errors.As(err, &ce)).To(BeTrue())
			Expect(ce.Field).To(Equal(field))
			Expect(err.Error()).To(ContainSubstring(field))
		},
		Entry("zero initial", backoff.Config{Max: time.Second, Multiplier: 2}, "Initial"),
		Entry("max below initial", backoff.Config{Initial: 2 * time.Second, Max: time.Second, Multiplier: 2}, "Max"),
		Entry("shrinking multiplier", backoff.Config{Initial: time.Second, Max: time.Minute, Multiplier: 0.5}, "Multiplier"),
		Entry("NaN multiplier", backoff.Config{Initial: time.Second, Max: time.Minute, Multiplier: math.NaN()}, "Multiplier"),
		Entry("jitter above 1", backoff.Config{Initial: time.Second, Max: time.Minute, Multiplier: 2, JitterFraction: 1.5}, "JitterFraction"),
		Entry("unknown mode", backoff.Config{Initial: time.Second, Max: time.Minute, Multiplier: 2, Mode: 9}, "Mode"),
	)

	It("requires an injected random source", func() {
		_, err := backoff.New(backoff.Default(), nil)
		Expect(err).To(MatchError(ContainSubstring("source")))
	})
})
