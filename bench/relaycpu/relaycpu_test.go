package relaycpu_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/oobtb/oobtb/bench/ciraload"
	"github.com/oobtb/oobtb/emulators/console"
	"github.com/oobtb/oobtb/emulators/console/kvmclient"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/services"
)

const (
	serverEnv = "OOBTB_RELAYCPU_SERVER" // the child: serve from this data directory
	uuid      = "7e1a0000-0000-4000-8000-000000000001"
	ciraUser  = "relaydev"
	ciraPass  = "relay-cira-pw"
	amtPass   = "P@ssw0rd-relay"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(serverEnv); dir != "" {
		// The same server the daemon runs, adaptive scheduler included.
		if err := ciraload.ServeServer(context.Background(), ciraload.ServerOptions{DataDir: dir}, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkRelayKVM runs a 1080p KVM session of each workload through the
// relay for OOBTB_RELAYCPU_SECONDS (5) and reports what the console saw and
// the server's CPU per relayed Mbit.
func BenchmarkRelayKVM(b *testing.B) {
	secs := 5 * time.Second
	if v, err := time.ParseDuration(os.Getenv("OOBTB_RELAYCPU_SECONDS") + "s"); err == nil && v > 0 {
		secs = v
	}
	for _, wl := range []string{"terminal", "photo", "noise"} {
		b.Run(wl, func(b *testing.B) {
			for range b.N {
				relayOnce(b, wl, secs)
			}
		})
	}
}

func relayOnce(b *testing.B, workload string, secs time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := b.TempDir()
	st, err := registry.Open(ctx, registry.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	_, err = st.EnrolDevice(ctx, registry.DeviceEnrolment{UUID: uuid, CIRAUser: ciraUser, CIRAPassword: ciraPass,
		AMTPassword: amtPass}, time.Now())
	st.Close()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serverEnv+"="+dir)
	srv, err := ciraload.SpawnServer(ctx, cmd)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	pemBytes, err := os.ReadFile(filepath.Clean(srv.CAFile))
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)

	d, err := vmc.Build(vmc.Spec{UUID: uuid, Servers: []string{srv.CIRA}, User: ciraUser, Pass: ciraPass, AMTPass: amtPass,
		Seed: 1, Resolution: "1920x1080", FPS: 30, Workload: workload},
		vmc.Deps{RootCAs: pool, Services: func(h *host.Host) map[uint32]vmc.Service { return services.For(h) }})
	if err != nil {
		b.Fatal(err)
	}
	d.Start()
	defer d.Stop()
	c, err := console.New(srv.API, srv.AdminToken)
	if err != nil {
		b.Fatal(err)
	}
	var kc *kvmclient.Client
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The device is ready once its tunnel is registered.
		if kc, err = c.OpenKVM(ctx, uuid, kvmclient.Config{Timeout: 10 * time.Second}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("KVM to the device never opened: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	before, err := ciraload.ProcCPU(srv.PID)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	stats, err := console.RunKVM(ctx, kc, console.KVMOptions{Duration: secs})
	wall := time.Since(t0)
	after, err2 := ciraload.ProcCPU(srv.PID)
	if err != nil || err2 != nil {
		b.Fatal(err, err2)
	}
	cpu := (after - before).Seconds()
	mbit := stats.MbitPerSecond * stats.Seconds
	if mbit <= 0 {
		b.Fatalf("nothing relayed: %+v", stats)
	}
	b.ReportMetric(stats.FramesPerSecond, "frames/s")
	b.ReportMetric(stats.MbitPerSecond, "Mbit/s")
	b.ReportMetric(100*cpu/wall.Seconds(), "server-core%")
	b.ReportMetric(1000*cpu/mbit, "server-cpu-ms/Mbit")
	b.ReportMetric(float64(runtime.NumCPU()), "cores")
}
