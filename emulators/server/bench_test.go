package server_test

import (
	"bufio"
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/server"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/wire/apf"
)

// The idle-tunnel benchmark runs its raw APF clients in a child process (this
// test binary re-executed), so the server's VmRSS is not mixed with the
// clients' memory.
const benchChildEnv = "OOBTB_SERVER_BENCH_CHILD"

// BenchmarkIdleTunnels opens N idle CIRA tunnels (default 2000, env
// OOBTB_BENCH_CONNS) from raw APF clients and reports the server's RSS per
// idle tunnel, accepts per second (first logins, and a reconnect wave with
// the verifier cache warm) and the CPU the keepalives cost, extrapolated to
// 19,000 tunnels at AMT's 30 s interval.
func BenchmarkIdleTunnels(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("OOBTB_BENCH_CONNS")); err == nil && v > 0 {
		n = v
	}
	keyType := pki.RSA2048
	if os.Getenv("OOBTB_BENCH_ECDSA") != "" {
		keyType = pki.ECDSAP256
	}
	if os.Getenv("OOBTB_BENCH_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 256
	}
	for range b.N {
		dir := b.TempDir()
		srv, err := server.New(server.Config{DataDir: dir, CIRAListen: "127.0.0.1:0", APIListen: "127.0.0.1:0",
			KeyType: keyType, IdleTimeout: 10 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		if err := srv.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		for i := range n {
			if _, err := srv.Store().EnrolDevice(ctx, registry.DeviceEnrolment{UUID: uuidN(i), CIRAUser: ciraUser(i),
				CIRAPassword: "pw", AMTPassword: "amt"}, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		base := rssKiB()
		// OOBTB_BENCH_CPUPROFILE profiles the server during the first-login
		// storm (TLS, APF, registry): where an accept's CPU goes.
		var prof *os.File
		if f := os.Getenv("OOBTB_BENCH_CPUPROFILE"); f != "" {
			if prof, err = os.Create(f); err == nil {
				_ = pprof.StartCPUProfile(prof)
			}
		}
		c0 := cpuTime()
		child, secs := spawnClients(b, srv.CIRAAddr().String(), srv.CACertPath(), n, 0)
		waitConnected(b, srv, n)
		if prof != nil {
			pprof.StopCPUProfile()
			prof.Close()
		}
		cold := float64(n) / secs
		// Server CPU per accepted tunnel (TLS, APF, registry): the server's
		// capacity, independent of how fast this machine's clients dial.
		coldCPU := (cpuTime() - c0).Seconds() / float64(n)
		// Several collections: each halves over-grown goroutine stacks.
		for range 4 {
			debug.FreeOSMemory()
			time.Sleep(100 * time.Millisecond)
		}
		perConn := float64(rssKiB()-base) / float64(n)
		if f := os.Getenv("OOBTB_BENCH_HEAPPROFILE"); f != "" {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.Logf("per conn: heap in use %.1f KiB, stacks %.1f KiB, goroutines %.2f",
				float64(ms.HeapInuse)/1024/float64(n), float64(ms.StackInuse)/1024/float64(n),
				float64(runtime.NumGoroutine())/float64(n))
			if fh, err := os.Create(f); err == nil {
				_ = pprof.WriteHeapProfile(fh)
				fh.Close()
			}
		}
		child.stop()
		waitConnected(b, srv, 0)

		// Reconnect wave (verifier cache warm), with 1 s keepalives to
		// measure their CPU.
		c0 = cpuTime()
		child, secs = spawnClients(b, srv.CIRAAddr().String(), srv.CACertPath(), n, time.Second)
		waitConnected(b, srv, n)
		warm := float64(n) / secs
		warmCPU := (cpuTime() - c0).Seconds() / float64(n)
		time.Sleep(2 * time.Second)
		c0, t0 := cpuTime(), time.Now()
		time.Sleep(10 * time.Second)
		cpu := (cpuTime() - c0).Seconds() / time.Since(t0).Seconds() // cores busy
		// cpu is for n keepalives/s; AMT sends one per 30 s per tunnel.
		at19k := cpu / float64(n) * 19000 / 30 * 100
		child.stop()
		srv.Close()

		b.ReportMetric(perConn, "KiB/conn")
		b.ReportMetric(cold, "accepts/s-cold")
		b.ReportMetric(warm, "accepts/s-warm")
		b.ReportMetric(1/coldCPU, "accepts/core-s-cold")
		b.ReportMetric(1/warmCPU, "accepts/core-s-warm")
		b.ReportMetric(at19k, "core%@19k/30s")
		b.ReportMetric(float64(n), "conns")
	}
}

type clientProc struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
}

func (c *clientProc) stop() {
	_ = c.stdin.Close()
	_ = c.cmd.Wait()
}

// spawnClients starts the child and waits until all n tunnels are up; it
// returns the time the child needed.
func spawnClients(b *testing.B, addr, caPath string, n int, keepalive time.Duration) (*clientProc, float64) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchChildEnv+"=1", "BENCH_ADDR="+addr, "BENCH_CA="+caPath,
		"BENCH_N="+strconv.Itoa(n), "BENCH_KA="+keepalive.String())
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("bench child: %v", err)
	}
	var up int
	var secs float64
	if _, err := fmt.Sscanf(line, "up %d %g", &up, &secs); err != nil || up != n {
		b.Fatalf("bench child said %q", line)
	}
	return &clientProc{cmd: cmd, stdin: in}, secs
}

func waitConnected(b *testing.B, srv *server.Server, n int) {
	deadline := time.Now().Add(60 * time.Second)
	for len(srv.Connected()) != n {
		if time.Now().After(deadline) {
			b.Fatalf("%d devices connected, want %d", len(srv.Connected()), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// benchChild is the client process: it opens the tunnels, reports, and holds
// them until its stdin closes.
func benchChild() {
	amtLikeTLS = os.Getenv("OOBTB_BENCH_CLIENT") != "go"
	addr, caPath := os.Getenv("BENCH_ADDR"), os.Getenv("BENCH_CA")
	n, _ := strconv.Atoi(os.Getenv("BENCH_N"))
	ka, _ := time.ParseDuration(os.Getenv("BENCH_KA"))
	pem, err := os.ReadFile(caPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	conns := make([]*cira.Conn, n)
	var next atomic.Int64
	var failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				for try := 0; try < 5; try++ {
					c, err := benchDial(addr, pool, i, ka)
					if err == nil {
						conns[i] = c
						break
					}
					if try == 4 {
						fmt.Fprintln(os.Stderr, "bench child:", err)
						failed.Add(1)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("up %d %g\n", int64(n)-failed.Load(), time.Since(start).Seconds())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	for _, c := range conns {
		if c != nil {
			go c.Close()
		}
	}
	time.Sleep(200 * time.Millisecond)
	os.Exit(0)
}

func benchDial(addr string, pool *x509.CertPool, i int, ka time.Duration) (*cira.Conn, error) {
	c, err := rawDeviceKA(addr, pool, uuidN(i), ciraUser(i), "pw", ka)
	return c, err
}

func rawDeviceKA(addr string, pool *x509.CertPool, uuid, user, pass string, ka time.Duration) (*cira.Conn, error) {
	if ka == 0 {
		return rawDevice(addr, pool, uuid, user, pass)
	}
	return rawDeviceCfg(addr, pool, cira.DeviceConfig{UUID: apf.MustParseGUID(uuid), Trigger: apf.TriggerPeriodic,
		Username: user, Password: pass, KeepaliveInterval: ka,
		// Forward only 16992 so the server sends no KEEPALIVE_OPTIONS and
		// the 1 s interval stays.
		Ports: []uint32{16992}})
}

func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
