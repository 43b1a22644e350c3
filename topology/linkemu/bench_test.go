package linkemu_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oobtb/oobtb/emulators/netx"
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

// BenchmarkStreamProxy measures the relay's throughput on loopback with no
// impairment: one connection streaming into a discarding server.
func BenchmarkStreamProxy(b *testing.B) {
	ln, err := netx.Host{}.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			got.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	p, err := linkemu.NewStreamProxy("127.0.0.1:0", ln.Addr().String(), linkemu.Profile{}, linkemu.Profile{}, 1, clock.Real{}, netx.Host{})
	if err != nil {
		b.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	wg.Wait()
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(got.Load())*8/el/1e9, "Gbit/s")
	c.Close()
	p.Close()
	ln.Close()
	if got.Load() != int64(b.N)*int64(len(chunk)) {
		b.Fatalf("relayed %d bytes, want %d", got.Load(), int64(b.N)*int64(len(chunk)))
	}
}
