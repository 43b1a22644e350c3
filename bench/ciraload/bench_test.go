package ciraload_test

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"github.com/oobtb/oobtb/bench/ciraload"
	"github.com/oobtb/oobtb/emulators/server"
)

// BenchmarkIdleTunnels ramps N idle CIRA tunnels (default 2,000, env
// OOBTB_CIRALOAD_BENCH_CONNS) from 2 worker processes against an oobtb server
// in this process, holds them (default 31 s, so each tunnel sends exactly one
// keep-alive at AMT's 30 s interval; env OOBTB_CIRALOAD_BENCH_HOLD),
// and reports accepts/s, connect-to-ready p99, the server's RSS per idle
// tunnel and its CPU during the hold — measured and scaled linearly to
// 19,000 tunnels. The full-scale measurement is `oobtb bench cira
// --spawn-server` (docs/bench-cira.md).
func BenchmarkIdleTunnels(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("OOBTB_CIRALOAD_BENCH_CONNS")); err == nil && v > 0 {
		n = v
	}
	hold := 31 * time.Second
	if v, err := time.ParseDuration(os.Getenv("OOBTB_CIRALOAD_BENCH_HOLD")); err == nil && v > 0 {
		hold = v
	}
	for range b.N {
		// As the daemon runs by default: one P while only idle tunnels are
		// held (OOBTB_CIRALOAD_BENCH_FIXED_PROCS=1: all Ps throughout).
		srv, err := server.New(server.Config{DataDir: b.TempDir(), CIRAListen: "127.0.0.1:0", APIListen: "127.0.0.1:0",
			AdaptiveProcs: os.Getenv("OOBTB_CIRALOAD_BENCH_FIXED_PROCS") == ""})
		if err != nil {
			b.Fatal(err)
		}
		if err := srv.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		if _, err := ciraload.EnrolInto(context.Background(), srv.Store(), ciraload.Config{}, n); err != nil {
			b.Fatal(err)
		}
		pem, err := os.ReadFile(srv.CACertPath())
		if err != nil {
			b.Fatal(err)
		}
		// The baseline is the idle server, not the enrolment's garbage.
		runtime.GC()
		debug.FreeOSMemory()
		res, err := ciraload.Run(context.Background(), ciraload.Config{Target: srv.CIRAAddr().String(), CAPEM: pem,
			Count: n, Procs: 2, Hold: hold, ServerPID: os.Getpid(), APIURL: srv.APIURL(), APIToken: srv.AdminToken(),
			WorkerCommand: workerCommand})
		srv.Close()
		if err != nil {
			b.Fatal(err)
		}
		if res.AliveEnd != n {
			b.Fatalf("%d of %d tunnels alive at the end (failures %v, dead %v)", res.AliveEnd, n, res.Failures, res.DeadEnd)
		}
		b.ReportMetric(res.Ramp.AcceptsPerSecond, "accepts/s")
		b.ReportMetric(res.Server.AcceptsPerCoreSecond, "accepts/core-s")
		b.ReportMetric(res.Ramp.ConnectToReadyMS.P99, "p99-ready-ms")
		b.ReportMetric(res.Server.KiBPerConn, "KiB/conn")
		b.ReportMetric(res.Server.CorePercent, "core%-hold")
		b.ReportMetric(res.Server.CorePercent*19000/float64(n), "core%@19k")
		b.ReportMetric(float64(n), "conns")
	}
}
