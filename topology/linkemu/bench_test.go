package linkemu_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oobtb/oobtb/sim/clock"
	"github.com/oobtb/oobtb/topology/linkemu"
)

// BenchmarkDirection measures the pipeline alone under the real clock: b.N
// frames are sent back to back and the benchmark ends when the last one is
// delivered.
func BenchmarkDirection(b *testing.B) {
	profiles := []struct {
		name string
		p    linkemu.Profile
	}{
		{"none", linkemu.Profile{}},
		// A rate above what the pipeline can reach, so the benchmark measures
		// the scheduler rather than the configured limit.
		{"delay+rate", linkemu.Profile{Delay: time.Millisecond, RateBps: 100_000_000_000, QueueBytes: 1 << 30}},
	}
	for _, size := range []int{1500, 9000} {
		for _, pr := range profiles {
			b.Run(fmt.Sprintf("%d/%s", size, pr.name), func(b *testing.B) {
				var got atomic.Int64
				done := make(chan struct{})
				var want int64
				d := linkemu.NewDirection("bench", pr.p, 1, clock.Real{}, func(pkt []byte) {
					if got.Add(1) == want {
						close(done)
					}
				})
				defer d.Close()
				b.ReportAllocs()
				b.ResetTimer()
				want = int64(b.N)
				start := time.Now()
				for range b.N {
					d.Send(linkemu.GetBuffer(size))
				}
				<-done
				el := time.Since(start).Seconds()
				b.ReportMetric(float64(b.N)/el, "pkt/s")
				b.ReportMetric(float64(b.N)*float64(size)*8/el/1e9, "Gbit/s")
			})
		}
	}
}
