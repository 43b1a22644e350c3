package session_test

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/oobtb/oobtb/emulators/console"
	"github.com/oobtb/oobtb/emulators/console/apiclient"
	"github.com/oobtb/oobtb/emulators/console/kvmclient"
	"github.com/oobtb/oobtb/emulators/console/session"
	"github.com/oobtb/oobtb/emulators/gateway"
	"github.com/oobtb/oobtb/emulators/gateway/p2p"
	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/server"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/vmc/services"
	"github.com/oobtb/oobtb/sim/clock"
	"github.com/oobtb/oobtb/topology/linkemu"
)

// BenchmarkFirstFrame measures the time from the console's session request
// to its first complete KVM frame for each path (direct peer to peer,
// through the P2P relay, classic through the server's web relay), on
// loopback and with 40 ms RTT between the console and the WAN side (the
// server and the gateway's WAN endpoint), plus the bytes the server relayed
// and the process CPU (every party runs in this process) per session; and
// that for each opening of the KVM client:
//
//   - sequential: one redirection/RFB message per round trip, as the stock
//     consoles (kvmclient.Config.Sequential);
//   - pipelined-first: pipelined, a console that never saw the device (no
//     size hint: the first update request waits for ServerInit);
//   - pipelined: pipelined, a console that saw the device before (its
//     screen size rides the pipelined flight's first update request);
//   - optimistic: pipelined with the KVM start and RFB opening sent with
//     the digest response (kvmclient.Config.Optimistic; gateway paths
//     only, the classic relay's interceptor forbids it); optimistic-first
//     the same without a size hint. With 0-RTT stream opens (mux
//     Config.EarlyData) the redirection flight leaves with the OPEN.
func BenchmarkFirstFrame(b *testing.B) {
	for _, rtt := range []time.Duration{0, 40 * time.Millisecond} {
		for _, path := range []string{session.PathDirect, session.PathRelay, session.PathClassic} {
			for _, mode := range []string{modeSequential, modePipelinedFirst, modePipelined, modeOptimisticFirst, modeOptimistic} {
				if (mode == modeOptimistic || mode == modeOptimisticFirst) && path == session.PathClassic {
					continue
				}
				name := path + "/loopback/" + mode
				if rtt > 0 {
					name = path + "/rtt" + rtt.String() + "/" + mode
				}
				b.Run(name, func(b *testing.B) { benchPath(b, path, rtt, mode) })
			}
		}
	}
}

// KVM client openings measured.
const (
	modeSequential     = "sequential"
	modePipelinedFirst = "pipelined-first"
	modePipelined      = "pipelined"
	modeOptimistic     = "optimistic"
	// optimistic-first: optimistic, a console that never saw the device.
	modeOptimisticFirst = "optimistic-first"
)

// redirectNet sends dials for some addresses to others (the link emulator's
// proxies) and refuses the blocked ones.
type redirectNet struct {
	netx.Host
	to      map[string]string
	blocked map[string]bool
}

func (r redirectNet) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if r.blocked[addr] {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	if t, ok := r.to[addr]; ok {
		addr = t
	}
	return r.Host.Dial(ctx, network, addr)
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

func benchPath(b *testing.B, path string, rtt time.Duration, mode string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, err := server.New(server.Config{DataDir: b.TempDir(), CIRAListen: "127.0.0.1:0", APIListen: "127.0.0.1:0",
		GatewayListen: "127.0.0.1:0", KeyType: pki.ECDSAP256, PasswordIterations: 1000, GatewayHeartbeat: time.Second})
	must(b, err)
	must(b, srv.Start(ctx))
	b.Cleanup(func() { srv.Close() })
	_, err = srv.Enrol(ctx, registry.DeviceEnrolment{UUID: devUUID, CIRAUser: ciraUser, CIRAPassword: ciraPass, AMTPassword: amtPass})
	must(b, err)
	ca, err := pki.NewCA(pki.CAOptions{KeyType: pki.ECDSAP256})
	must(b, err)
	tok, err := srv.Store().CreateGateway(ctx, gwID, time.Now())
	must(b, err)
	crt, err := ca.IssueServer(pki.LeafOptions{CommonName: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyType: pki.ECDSAP256})
	must(b, err)
	cert := crt.TLS()
	gw, err := gateway.New(gateway.Config{Server: srv.GatewayControlAddr().String(), ServerCAs: srv.CAPool(),
		EnrolToken: gwID + server.EnrolTokenSep + tok, LANMPS: "127.0.0.1:0", LANCert: &cert, WANListen: "127.0.0.1:0",
		Domain: "lan.oobtb.test", UDI: "GW-0001"})
	must(b, err)
	must(b, gw.Start(ctx))
	b.Cleanup(func() { gw.Close() })
	must(b, gw.WaitControl(ctx))
	for {
		if g, err := srv.Store().GetGateway(ctx, gwID); err == nil && g.Online && len(g.WANEndpoints) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	pool := srv.CAPool().Clone()
	pool.AddCert(ca.Cert)
	dev, err := vmc.Build(vmc.Spec{UUID: devUUID, Servers: []string{srv.CIRAAddr().String()}, User: ciraUser, Pass: ciraPass,
		AMTPass: amtPass, Workload: "terminal", Resolution: "1024x768", FPS: 30, Seed: 3, Stock: path == session.PathClassic},
		vmc.Deps{RootCAs: pool, Services: services.For})
	must(b, err)
	dev.Post(policy.GatewayLearned{Hint: policy.GatewayHint{ID: "GW-0001", Addr: netip.MustParseAddrPort(gw.LANMPSAddr().String()),
		PublicKey: gw.PublicKey(), Identifiers: []policy.Identifier{{Kind: policy.IDUDI, Value: "GW-0001"}}}})
	dev.Start()
	b.Cleanup(dev.Stop)
	for {
		if t, ok := srv.Tunnel(devUUID); ok && t.Conn() != nil && (path == session.PathClassic || t.GatewayInfo() != nil) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	apiAddr := srv.APIURL()[len("http://"):]
	nw := redirectNet{to: map[string]string{}, blocked: map[string]bool{}}
	if path == session.PathRelay {
		nw.blocked[gw.WANAddr().String()] = true
	}
	base := srv.APIURL()
	if rtt > 0 {
		half := linkemu.Profile{Delay: rtt / 2}
		for _, target := range []string{apiAddr, gw.WANAddr().String()} {
			px, err := linkemu.NewStreamProxy("127.0.0.1:0", target, half, half, 1, clock.Real{}, netx.Host{})
			must(b, err)
			b.Cleanup(func() { px.Close() })
			nw.to[target] = px.Addr().String()
			if target == apiAddr {
				base = "http://" + px.Addr().String()
			}
		}
	}
	api, err := apiclient.New(base, srv.AdminToken())
	must(b, err)
	key, err := p2p.GenerateKey()
	must(b, err)
	newClient := func() *session.Client {
		c, err := session.New(session.Config{API: api, Key: key, ConsoleID: "bench", Network: nw})
		must(b, err)
		return c
	}
	c := newClient()
	kvmCfg := kvmclient.Config{Credentials: creds, Sequential: mode == modeSequential, Optimistic: mode == modeOptimistic || mode == modeOptimisticFirst}
	// One session outside the figures: the console learns the screen size
	// (used by modePipelined), the device's first KVM session is paid.
	run := func() session.KVMReport {
		start := time.Now()
		s, err := c.Open(ctx, session.PairingRequest{Device: devUUID})
		must(b, err)
		if s.Path != path {
			b.Fatalf("path %s (%s), want %s", s.Path, s.Why, path)
		}
		rep, err := s.RunKVM(ctx, console.KVMOptions{Config: kvmCfg}, start)
		must(b, err)
		s.Close()
		if path == session.PathClassic {
			// The server admits one web-relay KVM session per device and
			// frees it once the device's channel closed.
			b.StopTimer()
			time.Sleep(100 * time.Millisecond)
			b.StartTimer()
		}
		return rep
	}
	run()

	relayed := func() float64 {
		return counterOf(b, srv, "oobtb_server_relay_bytes_total") + counterOf(b, srv, "oobtb_server_p2p_relay_bytes_total")
	}
	bytes0, cpu0 := relayed(), cpuTime()
	var firstFrame, pairMs, connectMs float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if mode == modePipelinedFirst || mode == modeOptimisticFirst {
			b.StopTimer()
			c = newClient() // knows no screen size
			b.StartTimer()
		}
		rep := run()
		firstFrame += rep.FirstFrameMs
		pairMs += rep.PairMs
		connectMs += rep.ConnectMs
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(firstFrame/n, "ms-to-first-frame")
	b.ReportMetric(pairMs/n, "ms-pairing")
	b.ReportMetric(connectMs/n, "ms-channel")
	b.ReportMetric((relayed()-bytes0)/n, "server-relayed-B/session")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/n, "cpu-ms/session(all-parties)")
}

func counterOf(b *testing.B, srv *server.Server, name string) float64 {
	mfs, err := srv.Metrics().Gather()
	must(b, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
