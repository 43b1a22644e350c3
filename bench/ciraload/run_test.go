package ciraload_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"

	"github.com/oobtb/oobtb/bench/ciraload"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/server"
)

// startServer runs an oobtb server in this process with count devices
// enrolled under the generator's default identities.
func startServer(count, maxConns int) *server.Server {
	GinkgoHelper()
	srv, err := server.New(server.Config{DataDir: GinkgoT().TempDir(), CIRAListen: "127.0.0.1:0", APIListen: "127.0.0.1:0",
		MaxConns: maxConns, PasswordIterations: 1000})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(srv.Close)
	Expect(srv.Start(context.Background())).To(Succeed())
	n, err := ciraload.EnrolInto(context.Background(), srv.Store(), ciraload.Config{}, count)
	Expect(err).NotTo(HaveOccurred())
	Expect(n).To(Equal(count))
	return srv
}

func configFor(srv *server.Server, count, procs int) ciraload.Config {
	GinkgoHelper()
	pem, err := os.ReadFile(srv.CACertPath())
	Expect(err).NotTo(HaveOccurred())
	return ciraload.Config{Target: srv.CIRAAddr().String(), CAPEM: pem, Count: count, Procs: procs,
		Hold: time.Second, ServerPID: os.Getpid(), APIURL: srv.APIURL(), APIToken: srv.AdminToken(),
		ProbeTimeout: 10 * time.Second, WorkerCommand: workerCommand, WorkerStderr: GinkgoWriter}
}

// closedPort is a loopback port nothing listens on.
func closedPort() string {
	GinkgoHelper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	addr := ln.Addr().String()
	Expect(ln.Close()).To(Succeed())
	return addr
}

var _ = Describe("Run", func() {
	It("ramps 50 tunnels from 2 workers, keeps all 50 alive and reports them in JSON", func() {
		srv := startServer(50, 0)
		res, err := ciraload.Run(context.Background(), configFor(srv, 50, 2))
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Procs).To(Equal(2))
		Expect(res.Ramp.OK).To(Equal(50))
		Expect(res.Ramp.Failed).To(BeZero())
		Expect(res.Failures).To(BeEmpty())
		Expect(res.AliveAfterRamp).To(Equal(50))
		Expect(res.AliveEnd).To(Equal(50))
		Expect(res.Ramp.AcceptsPerSecond).To(BeNumerically(">", 0))
		Expect(res.Ramp.ConnectToReadyMS.P50).To(BeNumerically(">", 0))
		Expect(res.Ramp.ConnectToReadyMS.P99).To(BeNumerically(">=", res.Ramp.ConnectToReadyMS.P50))
		Expect(res.HoldSeconds).To(BeNumerically(">=", 1))
		Expect(res.Server).NotTo(BeNil())
		Expect(res.Server.RSSAfterKiB).To(BeNumerically(">", 0))
		Expect(res.Server.GCCyclesHold).NotTo(BeNil(), "read from the server's /metrics")
		Expect(res.API).To(HaveLen(2))
		for _, a := range res.API {
			Expect(a.Status).To(Equal(200), a.Err)
		}
		Expect(res.Limit).To(BeNil())
		Expect(len(srv.Connected())).To(BeZero(), "the workers closed their tunnels")

		b, err := json.Marshal(res)
		Expect(err).NotTo(HaveOccurred())
		var doc map[string]any
		Expect(json.Unmarshal(b, &doc)).To(Succeed())
		Expect(doc).To(HaveKeyWithValue("count", BeNumerically("==", 50)))
		Expect(doc).To(HaveKeyWithValue("alive_end", BeNumerically("==", 50)))
		Expect(doc["ramp"]).To(HaveKeyWithValue("ok", BeNumerically("==", 50)))
		Expect(doc["ramp"]).To(HaveKey("accepts_per_s"))
		Expect(doc["ramp"]).To(HaveKey("connect_to_ready_ms"))
		Expect(doc["server"]).To(HaveKey("kib_per_idle_conn"))
		Expect(doc["server"]).To(HaveKey("core_percent_hold"))
		Expect(doc["anchor"]).To(HaveKeyWithValue("kib_per_idle_conn", 38.4))
		var back ciraload.Result
		Expect(json.Unmarshal(b, &back)).To(Succeed())
		Expect(back.AliveEnd).To(Equal(50))

		out := gbytes.NewBuffer()
		res.WriteSummary(out)
		Expect(out).To(gbytes.Say(`ramp: 50 up, 0 failed`))
		Expect(out).To(gbytes.Say(`after 1 s hold: 50`))
	})

	It("with Resume, reconnects every device resuming its own TLS session, and without it never resumes", func() {
		srv := startServer(30, 0)
		cfg := configFor(srv, 30, 2)
		res, err := ciraload.Run(context.Background(), cfg)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Ramp.Resumed).To(BeZero(), "full handshakes: devices share no session")

		cfg.Resume = true
		res, err = ciraload.Run(context.Background(), cfg)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Resume).To(BeTrue())
		Expect(res.Ramp.OK).To(Equal(30))
		Expect(res.Ramp.Resumed).To(Equal(30))
		Expect(res.Ramp.PrimeSeconds).To(BeNumerically(">", 0))
		Expect(res.AliveEnd).To(Equal(30))
		out := gbytes.NewBuffer()
		res.WriteSummary(out)
		Expect(out).To(gbytes.Say(`30 of 30 TLS sessions resumed`))
	})

	It("fails clearly when the target does not listen", func() {
		addr := closedPort()
		cfg := ciraload.Config{Target: addr, Insecure: true, Count: 5, WorkerCommand: workerCommand}
		res, err := ciraload.Run(context.Background(), cfg)
		Expect(res).To(BeNil())
		Expect(err).To(MatchError(ContainSubstring("target " + addr + " does not accept TCP connections")))
		Expect(err).To(MatchError(ContainSubstring("connection refused")))
	})

	It("rejects configurations it cannot run with what was expected", func() {
		for _, tc := range []struct {
			cfg  ciraload.Config
			want string
		}{
			{ciraload.Config{Insecure: true, Count: 1, WorkerCommand: workerCommand}, "Target"},
			{ciraload.Config{Target: "nohost", Insecure: true, Count: 1, WorkerCommand: workerCommand}, "expected host:port"},
			{ciraload.Config{Target: "127.0.0.1:0", Insecure: true, Count: 1, WorkerCommand: workerCommand}, "is not 1–65535"},
			{ciraload.Config{Target: "127.0.0.1:1", Count: 1, WorkerCommand: workerCommand}, "CA certificate"},
			{ciraload.Config{Target: "127.0.0.1:1", Insecure: true, WorkerCommand: workerCommand}, "expected at least one tunnel"},
			{ciraload.Config{Target: "127.0.0.1:1", Insecure: true, Count: 1}, "WorkerCommand"},
			{ciraload.Config{Target: "127.0.0.1:1", Insecure: true, Count: 1, UUIDBase: "zz", WorkerCommand: workerCommand}, "uuid base"},
			{ciraload.Config{Target: "127.0.0.1:1", Insecure: true, Count: 1, Rate: -1, WorkerCommand: workerCommand}, "expected ≥ 0"},
			{ciraload.Config{Target: "127.0.0.1:1", Insecure: true, Count: 1, TLS: "tls13", WorkerCommand: workerCommand}, `expected "amt" or "go"`},
			{ciraload.Config{Target: "127.0.0.1:1", Insecure: true, Count: 100000, Procs: 1, WorkerCommand: workerCommand}, "use more --procs"},
		} {
			_, err := ciraload.Run(context.Background(), tc.cfg)
			Expect(err).To(MatchError(ContainSubstring(tc.want)), "%+v", tc.cfg)
		}
	})

	It("counts refused credentials as auth failures and reports no tunnel up", func() {
		srv := startServer(6, 0)
		cfg := configFor(srv, 6, 2)
		cfg.PassPattern = "wrong-{n}"
		res, err := ciraload.Run(context.Background(), cfg)
		Expect(err).To(MatchError(ContainSubstring("no tunnel came up")))
		Expect(err).To(MatchError(ContainSubstring("6 auth")))
		Expect(res.Failures).To(Equal(map[string]int{ciraload.ReasonAuth: 6}))
		Expect(res.FailureSamples[ciraload.ReasonAuth]).To(ContainSubstring("USERAUTH_FAILURE"))
	})

	It("counts unknown devices the server drops as rejected", func() {
		srv := startServer(0, 0)
		res, err := ciraload.Run(context.Background(), configFor(srv, 3, 1))
		Expect(err).To(MatchError(ContainSubstring("3 rejected")))
		Expect(res.Failures).To(Equal(map[string]int{ciraload.ReasonRejected: 3}))
	})

	It("counts TLS failures when the CA is not the server's", func() {
		srv := startServer(4, 0)
		cfg := configFor(srv, 4, 1)
		other := startServer(0, 0)
		cfg.CAPEM, _ = os.ReadFile(other.CACertPath())
		res, err := ciraload.Run(context.Background(), cfg)
		Expect(err).To(MatchError(ContainSubstring("no tunnel came up")))
		Expect(res.Failures).To(Equal(map[string]int{ciraload.ReasonTLS: 4}))
		Expect(res.FailureSamples[ciraload.ReasonTLS]).To(ContainSubstring("certificate"))

		// The right CA but a name the certificate does not carry: every
		// device still checks it, even after other chains were accepted.
		cfg = configFor(srv, 4, 1)
		cfg.ServerName = "not-the-server.example"
		res, err = ciraload.Run(context.Background(), cfg)
		Expect(err).To(MatchError(ContainSubstring("no tunnel came up")))
		Expect(res.Failures).To(Equal(map[string]int{ciraload.ReasonTLS: 4}))
		Expect(res.FailureSamples[ciraload.ReasonTLS]).To(ContainSubstring("not-the-server.example"))
	})

	It("at the server's cap: counts refusals, keeps the established tunnels and the API", func() {
		srv := startServer(45, 30)
		res, err := ciraload.Run(context.Background(), configFor(srv, 45, 2))
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Ramp.OK + res.Ramp.Failed).To(Equal(45))
		Expect(res.Ramp.OK).To(And(BeNumerically(">=", 25), BeNumerically("<=", 30)))
		Expect(res.Failures).To(HaveKeyWithValue(ciraload.ReasonRefused, res.Ramp.Failed), "%v", res.FailureSamples)
		Expect(res.Limit).NotTo(BeNil())
		Expect(res.Limit.Refused).To(Equal(res.Ramp.Failed))
		Expect(res.Limit.AliveAfterRefusals).To(Equal(res.Ramp.OK))
		Expect(res.Limit.AliveEnd).To(Equal(res.Ramp.OK))
		Expect(res.Limit.APIAnswered).To(BeTrue())
		Expect(res.Limit.Clean).To(BeTrue())
		Expect(*res.Goals.MetCleanAtLimit).To(BeTrue())
	})

	It("offers TLS 1.2 with classic curves as AMT does, or Go's defaults", func() {
		dir := GinkgoT().TempDir()
		b, err := pki.LoadOrCreate(dir, pki.Options{CommonName: "bench", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
		Expect(err).NotTo(HaveOccurred())
		ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.ServerTLSConfig(b.TLSCertificate()))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(ln.Close)
		states := make(chan tls.ConnectionState, 4)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				tc := c.(*tls.Conn)
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				if tc.Handshake() == nil {
					states <- tc.ConnectionState()
				}
				_ = c.Close() // no APF server here: the device sees "rejected"
			}
		}()
		pem, err := os.ReadFile(filepath.Join(dir, pki.CACertFile))
		Expect(err).NotTo(HaveOccurred())
		for _, tc := range []struct {
			profile string
			version uint16
		}{{ciraload.TLSAMT, tls.VersionTLS12}, {ciraload.TLSGo, tls.VersionTLS13}} {
			res, err := ciraload.Run(context.Background(), ciraload.Config{Target: ln.Addr().String(), CAPEM: pem,
				Count: 1, TLS: tc.profile, WorkerCommand: workerCommand, WorkerStderr: GinkgoWriter})
			Expect(err).To(MatchError(ContainSubstring("no tunnel came up")))
			Expect(res.TLS).To(Equal(tc.profile))
			Expect(res.Failures).To(Equal(map[string]int{ciraload.ReasonRejected: 1}), "%v", res.FailureSamples)
			var st tls.ConnectionState
			Eventually(states).Should(Receive(&st))
			// The preflight connection never handshakes; this is the device's.
			Expect(st.Version).To(Equal(tc.version), tc.profile)
			if tc.profile == ciraload.TLSAMT {
				Expect(st.CurveID).To(Equal(tls.X25519))
			} else {
				Expect(st.CurveID).To(Equal(tls.X25519MLKEM768))
			}
		}
	})

	It("paces the ramp at --rate over all workers", func() {
		srv := startServer(12, 0)
		cfg := configFor(srv, 12, 2)
		cfg.Rate = 20
		cfg.Hold = 0
		res, err := ciraload.Run(context.Background(), cfg)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.AliveEnd).To(Equal(12))
		// 6 per worker at 10/s: the last dial starts 0.5 s in.
		Expect(res.Ramp.Seconds).To(BeNumerically(">=", 0.5))
		Expect(res.Ramp.AcceptsPerSecond).To(BeNumerically("<=", 24))
	})

	It("binds tunnels to consecutive loopback source addresses", func() {
		srv := startServer(6, 0)
		cfg := configFor(srv, 6, 2)
		cfg.PerSource = 2
		cfg.SourceBase = netip.MustParseAddr("127.1.7.1")
		seen := map[string]bool{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 300 {
				for _, u := range srv.Connected() {
					if t, ok := srv.Tunnel(u); ok {
						h, _, _ := net.SplitHostPort(t.RemoteAddr())
						seen[h] = true
					}
				}
				if len(seen) == 3 {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		res, err := ciraload.Run(context.Background(), cfg)
		<-done
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Sources).To(Equal(3))
		Expect(seen).To(Equal(map[string]bool{"127.1.7.1": true, "127.1.7.2": true, "127.1.7.3": true}))
	})
})

var _ = Describe("a coordinator process", func() {
	parent := func(pc map[string]any) (*exec.Cmd, *gbytes.Buffer, *gbytes.Buffer) {
		GinkgoHelper()
		b, err := json.Marshal(pc)
		Expect(err).NotTo(HaveOccurred())
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), roleEnv+"=parent", parentEnv+"="+string(b))
		out, errOut := gbytes.NewBuffer(), gbytes.NewBuffer()
		cmd.Stdout, cmd.Stderr = out, errOut
		Expect(cmd.Start()).To(Succeed())
		return cmd, out, errOut
	}

	It("exits non-zero with a clear message for a bad target", func() {
		addr := closedPort()
		cmd, _, errOut := parent(map[string]any{"target": addr, "count": 3, "procs": 1})
		err := cmd.Wait()
		var ee *exec.ExitError
		Expect(err).To(BeAssignableToTypeOf(ee))
		Expect(cmd.ProcessState.ExitCode()).To(Equal(1))
		Expect(errOut).To(gbytes.Say("ciraload: target " + strings.ReplaceAll(addr, ".", `\.`) + " does not accept TCP connections"))
	})

	It("leaves no worker behind when interrupted", func() {
		srv := startServer(20, 0)
		cmd, out, errOut := parent(map[string]any{"target": srv.CIRAAddr().String(), "ca_file": srv.CACertPath(),
			"count": 20, "procs": 2, "hold": int64(time.Hour)})
		Eventually(errOut, 60*time.Second).Should(gbytes.Say("holding them idle"))
		kids := children(cmd.Process.Pid)
		Expect(kids).To(HaveLen(2))
		Expect(len(srv.Connected())).To(Equal(20))

		Expect(cmd.Process.Signal(syscall.SIGINT)).To(Succeed())
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		Eventually(waited, 30*time.Second).Should(Receive(HaveOccurred()))
		Expect(cmd.ProcessState.ExitCode()).To(Equal(1))
		Expect(errOut).To(gbytes.Say("interrupted during the hold"))
		Expect(out).To(gbytes.Say("INCOMPLETE RUN: interrupted during the hold"))
		for _, pid := range kids {
			Expect(alive(pid)).To(BeFalse(), "worker %d outlived its coordinator", pid)
		}
		Eventually(func() int { return len(srv.Connected()) }, 10*time.Second).Should(BeZero())
	})
})

// children lists the live processes whose parent is ppid.
func children(ppid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := parentOf(pid); ok && p == ppid {
			out = append(out, pid)
		}
	}
	return out
}

func parentOf(pid int) (int, bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PPid:"); ok {
			p, err := strconv.Atoi(strings.TrimSpace(v))
			return p, err == nil
		}
	}
	return 0, false
}

// alive: the process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z'
}
