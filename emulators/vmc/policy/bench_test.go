package policy_test

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/policy"
)

// BenchmarkPolicyCycle measures one connect → keep-alive → drop → retry
// cycle of events, the simulator's hot path at 10⁵–10⁶ devices.
func BenchmarkPolicyCycle(b *testing.B) {
	cfg := policy.DefaultRPS("198.18.0.10", "dev0001", "pw", "x.com")
	p, err := policy.New(cfg, rand.NewPCG(1, 1))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.Handle(now, policy.Start{})
	name := cfg.MPS[0].Name
	b.ReportAllocs()
	events := 0
	for b.Loop() {
		p.Handle(now, policy.Connected{MPS: name})
		now = now.Add(30 * time.Second)
		p.Handle(now, policy.Tick{})
		p.Handle(now, policy.Disconnected{Reason: "x"})
		w, _ := p.NextWake()
		now = w
		p.Handle(now, policy.Tick{})
		events += 4
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
}

// BenchmarkPolicyMemory reports the heap held by one idle, connected policy.
func BenchmarkPolicyMemory(b *testing.B) {
	cfg := policy.DefaultRPS("198.18.0.10", "dev0001", "pw", "x.com")
	const n = 1000
	keep := make([]*policy.Policy, n)
	var before, after runtime.MemStats
	var perPolicy float64
	for b.Loop() {
		clear(keep)
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range keep {
			p, _ := policy.New(cfg, rand.NewPCG(uint64(i), 0))
			p.Handle(time.Unix(0, 0), policy.Start{})
			p.Handle(time.Unix(1, 0), policy.Connected{MPS: cfg.MPS[0].Name})
			keep[i] = p
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perPolicy = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	}
	b.ReportMetric(perPolicy, "B/policy")
	runtime.KeepAlive(keep)
}
