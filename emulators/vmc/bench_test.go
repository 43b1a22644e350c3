package vmc_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream"
	"github.com/oobtb/oobtb/emulators/vmc/redirsrv"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/vmc/services"
	"github.com/oobtb/oobtb/emulators/vmc/vmctest"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
	"github.com/oobtb/oobtb/sim/clock"
)

const (
	benchUser    = "admin"
	benchPass    = "P@ssw0rd-cira"
	benchAMTPass = "P@ssw0rd-amt"
)

var benchCAs sync.Map // pki.KeyType → *pki.CA

func benchCA(b *testing.B, kt pki.KeyType) *pki.CA {
	if v, ok := benchCAs.Load(kt); ok {
		return v.(*pki.CA)
	}
	ca, err := pki.NewCA(pki.CAOptions{KeyType: kt})
	if err != nil {
		b.Fatal(err)
	}
	benchCAs.Store(kt, ca)
	return ca
}

func benchSpec(i int, server string) vmc.Spec {
	return vmc.Spec{UUID: vmctest.UUID(i), Servers: []string{server}, User: benchUser, Pass: benchPass,
		AMTPass: benchAMTPass, Seed: uint64(i + 1)}
}

// BenchmarkConnect is CIRA connect-to-ready on loopback: from Device.Start
// to the MPS binding the device's last port — TCP, TLS (the MPS certificate
// of the given key type), PROTOCOL_VERSION, auth, and seven tcpip-forwards.
// One device at a time; Build and Stop are outside the measured span.
func BenchmarkConnect(b *testing.B) {
	for _, kt := range []pki.KeyType{pki.RSA2048, pki.ECDSAP256} {
		b.Run(string(kt), func(b *testing.B) {
			ca := benchCA(b, kt)
			ready := make(chan string, 1)
			m, err := vmctest.StartMPS(vmctest.MPSConfig{CA: ca, KeyType: kt, User: benchUser, Pass: benchPass,
				OnReady: func(id string) { ready <- id }})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			var total time.Duration
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				d, err := vmc.Build(benchSpec(i, m.Addr()), vmc.Deps{RootCAs: ca.Pool(),
					Services: func(h *host.Host) map[uint32]vmc.Service { return services.For(h) }})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				t0 := time.Now()
				d.Start()
				select {
				case <-ready:
				case <-time.After(20 * time.Second):
					b.Fatal("device not ready within 20 s")
				}
				el := time.Since(t0)
				b.StopTimer()
				total += el
				times = append(times, el)
				d.Stop()
				m.Forget(vmctest.UUID(i))
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Microseconds())/1e3/float64(b.N), "ms/connect")
			b.ReportMetric(float64(vmctest.Percentile(times, 99).Microseconds())/1e3, "p99-ms")
		})
	}
}

// TestMPSChild is the child MPS of BenchmarkIdleMemory; it does nothing in a
// normal run.
func TestMPSChild(t *testing.T) {
	if !vmctest.IsChild() {
		t.Skip("runs only as BenchmarkIdleMemory's child MPS")
	}
	if err := vmctest.ServeChild(os.Stdin, os.Stdout, benchUser, benchPass); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkIdleMemory is the memory one idle vMC holds: devices built with
// the daemon's services (1080p idle screen, WS-MAN, redirection) and
// connected to an MPS in a child process, so HeapInuse+StackInuse counts the
// devices' side alone. Each iteration builds, connects and stops a fleet.
func BenchmarkIdleMemory(b *testing.B) {
	const n = 500
	mps, err := vmctest.StartChildMPS("^TestMPSChild$")
	if err != nil {
		b.Fatal(err)
	}
	defer mps.Close()
	var perVMC float64
	for i := range b.N {
		base := vmctest.InUse()
		fleet, err := vmctest.NewFleet(n, func(j int) vmc.Spec { return benchSpec(i*n+j, mps.Addr) },
			vmc.Deps{RootCAs: mps.Roots, Services: func(h *host.Host) map[uint32]vmc.Service { return services.For(h) }})
		if err != nil {
			b.Fatal(err)
		}
		fleet.Start()
		if err := mps.WaitReady(n, 60*time.Second); err != nil {
			fleet.Stop()
			b.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		perVMC += float64(vmctest.InUse()-base) / n / 1024
		b.StopTimer()
		fleet.Stop()
		if err := mps.WaitReady(0, time.Second); err != nil {
			b.Log(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(perVMC/float64(b.N), "KiB/vmc")
}

// BenchmarkKVM runs KVM through the whole vMC path per workload at
// 1920×1080, 16 bpp: the device's redirection service encodes, its CIRA
// tunnel carries the RFB stream in APF channel data with flow control over
// TLS on loopback, and the MPS side reads it with the rfb frame decoder
// (kvmstream's own BenchmarkKVM is the same without APF and TLS). The host's
// clock is manual and steps one content frame per update, so frames/s is
// throughput. encode-ms/frame is the device's damage-taking and encoding;
// cpu-ms/frame is the whole process (screen, encode, APF and TLS both ways,
// decode).
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
	must := func(err error) {
		if err != nil {
			b.Helper()
			b.Fatal(err)
		}
	}
	ca := benchCA(b, pki.ECDSAP256)
	m, err := vmctest.StartMPS(vmctest.MPSConfig{CA: ca, KeyType: pki.ECDSAP256, User: benchUser, Pass: benchPass})
	must(err)
	defer m.Close()
	clk := clock.NewManual(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	count := &kvmstream.Counters{}
	spec := benchSpec(0, m.Addr())
	spec.Workload = wl.String()
	d, err := vmc.Build(spec, vmc.Deps{RootCAs: ca.Pool(), Clock: clk, Services: func(h *host.Host) map[uint32]vmc.Service {
		rs := redirsrv.New(redirsrv.Config{Host: h, Counters: count})
		return map[uint32]vmc.Service{16994: func(ch net.Conn) { _ = rs.Serve(context.Background(), ch) }}
	}})
	must(err)
	d.Start()
	defer d.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for m.Conn(spec.UUID) == nil {
		if time.Now().After(deadline) {
			b.Fatal("device not ready within 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	ch, err := m.Conn(spec.UUID).OpenChannel(ctx, 16994, "127.0.0.1", 40000)
	cancel()
	must(err)
	defer ch.Close()
	cl, si, err := vmctest.OpenKVM(ch, "admin", benchAMTPass)
	must(err)
	if si.Width != 1920 || si.Height != 1080 || si.Format.BPP != 16 {
		b.Fatalf("ServerInit %dx%d %d bpp, expected 1920x1080 16 bpp", si.Width, si.Height, si.Format.BPP)
	}
	if deflate {
		must(cl.Send(&rfb.ClientCutText{Text: rfb.AppendExtCmd(nil, rfb.ExtCmdSetCompression, 1)}))
		_, err := cl.ReadCutText()
		must(err)
	}
	must(cl.Request(false))
	_, _, err = cl.ReadUpdate()
	must(err)
	hst := d.Host()
	step := func() {
		var f0, f uint32
		hst.WithScreen(func(s *screen.Screen) { f0 = s.Frame() })
		for f = f0; f == f0; {
			clk.Advance(time.Second / 30)
			hst.WithScreen(func(s *screen.Screen) { f = s.Frame() })
		}
	}
	upd0, enc0, bytes0 := count.Updates.Load(), count.EncodeNanos.Load(), count.Bytes.Load()
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		must(cl.Request(true))
		step()
		_, _, err := cl.ReadUpdate()
		must(err)
	}
	el := time.Since(start).Seconds()
	b.StopTimer()
	upd := float64(count.Updates.Load() - upd0)
	bytes := float64(count.Bytes.Load() - bytes0)
	b.ReportMetric(upd/el, "frames/s")
	b.ReportMetric(bytes*8/el/1e6, "Mbit/s")
	b.ReportMetric(bytes/upd/1024, "KiB/frame")
	b.ReportMetric(float64(count.EncodeNanos.Load()-enc0)/upd/1e6, "encode-ms/frame")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/upd, "cpu-ms/frame")
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
