package kvmstream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/kvmstream"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream/kvmtest"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// BenchmarkKVM runs the whole pipeline per workload at 1920×1080, 16 bpp
// over loopback TCP: the host's screen steps one content frame at a time
// (manual clock, so the figure is throughput, not the 30 Hz content rate),
// kvmstream encodes the damaged tiles, the kvmtest console decodes them and
// asks again. frames/s counts updates delivered; encode-ms/frame is the
// server's damage-taking and encoding time alone.
func BenchmarkKVM(b *testing.B) {
	for _, wl := range screen.Workloads() {
		for _, deflate := range []bool{false, true} {
			name := fmt.Sprintf("%s/stored", wl)
			if deflate {
				name = fmt.Sprintf("%s/deflate", wl)
			}
			b.Run(name, func(b *testing.B) { benchKVM(b, wl, deflate) })
		}
	}
}

func benchKVM(b *testing.B, wl screen.Workload, deflate bool) {
	const w, h = 1920, 1080
	clk, hst, err := newHost(w, h, wl)
	if err != nil {
		b.Fatal(err)
	}
	defer hst.Close()
	rel, err := hst.AcquireKVM("bench")
	if err != nil {
		b.Fatal(err)
	}
	defer rel()
	sc, cc, err := tcpPair()
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	count := &kvmstream.Counters{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- kvmstream.Serve(ctx, sc, w, h, kvmstream.Config{Host: hst, Format: rfb.PF565, Counters: count})
		sc.Close()
	}()
	defer func() { cancel(); cc.Close(); <-done }()

	cl, err := kvmtest.NewClient(cc, rfb.PF565, w, h)
	if err != nil {
		b.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(cl.Send(&rfb.SetEncodings{Encodings: rfb.AMTConsoleEncodings}))
	if deflate {
		must(cl.Send(&rfb.ClientCutText{Text: rfb.AppendExtCmd(nil, rfb.ExtCmdSetCompression, 1)}))
		if _, err := cl.ReadCutText(); err != nil {
			b.Fatal(err)
		}
	}
	must(cl.Request(true))
	if _, _, err := cl.ReadUpdate(); err != nil {
		b.Fatal(err)
	}
	step := func() {
		var f0, f uint32
		hst.WithScreen(func(s *screen.Screen) { f0 = s.Frame() })
		for f = f0; f == f0; {
			clk.Advance(time.Second / 30)
			hst.WithScreen(func(s *screen.Screen) { f = s.Frame() })
		}
	}
	upd0, enc0, bytes0 := count.Updates.Load(), count.EncodeNanos.Load(), count.Bytes.Load()
	rects0 := count.RectsAMT16.Load() + count.RectsRaw.Load()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		must(cl.Request(true))
		step()
		if _, _, err := cl.ReadUpdate(); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start).Seconds()
	b.StopTimer()
	upd := float64(count.Updates.Load() - upd0)
	bytes := float64(count.Bytes.Load() - bytes0)
	rects := float64(count.RectsAMT16.Load() + count.RectsRaw.Load() - rects0)
	b.ReportMetric(upd/el, "frames/s")
	b.ReportMetric(bytes*8/el/1e6, "Mbit/s")
	b.ReportMetric(bytes/upd/1024, "KiB/frame")
	b.ReportMetric(rects/upd, "tiles/frame")
	b.ReportMetric(float64(count.EncodeNanos.Load()-enc0)/upd/1e6, "encode-ms/frame")
}
