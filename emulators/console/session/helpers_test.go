package session_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"

	"github.com/oobtb/oobtb/emulators/console/apiclient"
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
)

const (
	devUUID  = "5e551011-0000-4000-8000-000000000001"
	ciraUser = "dev1"
	ciraPass = "cira-secret-1"
	amtPass  = "P@ssw0rd"
	gwID     = "gw-edge-1"
)

var lanCA *pki.CA

var _ = BeforeSuite(func() {
	var err error
	lanCA, err = pki.NewCA(pki.CAOptions{KeyType: pki.ECDSAP256})
	Expect(err).NotTo(HaveOccurred())
})

// env is a server with the pairing module, an enrolled gateway and one vMC
// on the gateway's "LAN" (loopback), plus a console.
type env struct {
	srv  *server.Server
	gw   *gateway.Gateway
	dev  *vmc.Device
	api  *apiclient.Client
	logs *syncBuffer
}

type envOpts struct {
	spec       func(*vmc.Spec)
	pairingTTL time.Duration
	noGateway  bool
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(o envOpts) *env {
	e := &env{logs: &syncBuffer{}}
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			GinkgoWriter.Print(e.logs.String())
		}
	})
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	e.srv, err = server.New(server.Config{DataDir: GinkgoT().TempDir(), CIRAListen: "127.0.0.1:0", APIListen: "127.0.0.1:0",
		GatewayListen: "127.0.0.1:0", KeyType: pki.ECDSAP256, PasswordIterations: 1000, GatewayHeartbeat: time.Second,
		PairingTTL: o.pairingTTL, Logger: log.With("party", "server")})
	Expect(err).NotTo(HaveOccurred())
	Expect(e.srv.Start(context.Background())).To(Succeed())
	DeferCleanup(e.srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = e.srv.Enrol(ctx, registry.DeviceEnrolment{UUID: devUUID, CIRAUser: ciraUser, CIRAPassword: ciraPass, AMTPassword: amtPass})
	Expect(err).NotTo(HaveOccurred())
	e.api, err = apiclient.New(e.srv.APIURL(), e.srv.AdminToken())
	Expect(err).NotTo(HaveOccurred())

	var hint *policy.GatewayHint
	if !o.noGateway {
		e.startGateway(ctx, log)
		lan := netip.MustParseAddrPort(e.gw.LANMPSAddr().String())
		hint = &policy.GatewayHint{ID: "GW-0001", Addr: lan, PublicKey: e.gw.PublicKey(), Source: policy.FromDHCP,
			Identifiers: []policy.Identifier{{Kind: policy.IDMAC, Value: "02:00:5e:10:00:01"}, {Kind: policy.IDDomain, Value: "lan.oobtb.test"},
				{Kind: policy.IDUDI, Value: "GW-0001"}, {Kind: policy.IDURL, Value: "https://gw1.lan.oobtb.test:8443/"}}}
	}
	spec := vmc.Spec{UUID: devUUID, Servers: []string{e.srv.CIRAAddr().String()}, User: ciraUser, Pass: ciraPass, AMTPass: amtPass,
		Hostname: "pc1", Workload: "terminal", Resolution: "640x480", FPS: 30, Seed: 7}
	if o.spec != nil {
		o.spec(&spec)
	}
	pool := e.srv.CAPool().Clone()
	pool.AddCert(lanCA.Cert)
	e.dev, err = vmc.Build(spec, vmc.Deps{RootCAs: pool, Services: services.For, Logger: log.With("party", "vmc")})
	Expect(err).NotTo(HaveOccurred())
	if hint != nil {
		e.dev.Post(policy.GatewayLearned{Hint: *hint})
	}
	e.dev.Start()
	DeferCleanup(e.dev.Stop)
	Eventually(func() bool {
		t, ok := e.srv.Tunnel(devUUID)
		return ok && t.Conn() != nil
	}, "20s", "20ms").Should(BeTrue())
	// A user-initiated tunnel replaces the periodic one and the vMC does not
	// repeat gateway-info on it; the block's compact identifier remains.
	if hint != nil && !spec.Stock && !spec.Malformed && !spec.Incapable && spec.Trigger != "user" {
		Eventually(func() bool {
			t, _ := e.srv.Tunnel(devUUID)
			return t.GatewayInfo() != nil
		}, "10s", "20ms").Should(BeTrue())
	}
	return e
}

func (e *env) startGateway(ctx context.Context, log *slog.Logger) {
	tok, err := e.srv.Store().CreateGateway(ctx, gwID, time.Now())
	Expect(err).NotTo(HaveOccurred())
	crt, err := lanCA.IssueServer(pki.LeafOptions{CommonName: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyType: pki.ECDSAP256})
	Expect(err).NotTo(HaveOccurred())
	cert := crt.TLS()
	mac, _ := net.ParseMAC("02:00:5e:10:00:01")
	e.gw, err = gateway.New(gateway.Config{Logger: log.With("party", "gateway"), Server: e.srv.GatewayControlAddr().String(),
		ServerCAs: e.srv.CAPool(), EnrolToken: gwID + server.EnrolTokenSep + tok, LANMPS: "127.0.0.1:0", LANCert: &cert,
		WANListen: "127.0.0.1:0", MAC: mac, Domain: "lan.oobtb.test", UDI: "GW-0001", URL: "https://gw1.lan.oobtb.test:8443/"})
	Expect(err).NotTo(HaveOccurred())
	Expect(e.gw.Start(context.Background())).To(Succeed())
	DeferCleanup(e.gw.Close)
	Expect(e.gw.WaitControl(ctx)).To(Succeed())
	Expect(e.gw.ID()).To(Equal(gwID))
	Eventually(func() bool {
		g, err := e.srv.Store().GetGateway(ctx, gwID)
		return err == nil && g.Online && len(g.WANEndpoints) > 0
	}, "10s", "20ms").Should(BeTrue())
}

// console returns a console client with a fresh static key.
func (e *env) console(mod ...func(*session.Config)) *session.Client {
	k, err := p2p.GenerateKey()
	Expect(err).NotTo(HaveOccurred())
	cfg := session.Config{API: e.api, Key: k, ConsoleID: "console-a"}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := session.New(cfg)
	Expect(err).NotTo(HaveOccurred())
	return c
}

// counter sums a server counter's series whose labels include want.
func (e *env) counter(name string, want map[string]string) float64 {
	mfs, err := e.srv.Metrics().Gather()
	Expect(err).NotTo(HaveOccurred())
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelsMatch(m, want) && m.GetCounter() != nil {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			n++
		}
	}
	return n == len(want)
}

// blockNet refuses dials to the listed addresses (a firewall between the
// console and the gateway's WAN endpoint) and records every byte read from
// or written to the others (the console's sockets to the server).
type blockNet struct {
	netx.Host
	blocked map[string]bool
	mu      sync.Mutex
	seen    bytes.Buffer
}

func (b *blockNet) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if b.blocked[addr] {
		return nil, fmt.Errorf("dial %s: blocked by the test's firewall", addr)
	}
	nc, err := b.Host.Dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &recConn{Conn: nc, b: b}, nil
}

func (b *blockNet) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.seen.Bytes()...)
}

type recConn struct {
	net.Conn
	b *blockNet
}

func (r *recConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.b.mu.Lock()
	r.b.seen.Write(p[:n])
	r.b.mu.Unlock()
	return n, err
}

func (r *recConn) Write(p []byte) (int, error) {
	r.b.mu.Lock()
	r.b.seen.Write(p)
	r.b.mu.Unlock()
	return r.Conn.Write(p)
}

// recStream records the plaintext a console reads from a stream.
type recStream struct {
	net.Conn
	mu  sync.Mutex
	got bytes.Buffer
}

func (r *recStream) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.got.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

func (r *recStream) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.got.Bytes()...)
}

func refusal(err error) *session.RefusedError {
	var re *session.RefusedError
	ExpectWithOffset(1, err).To(HaveOccurred())
	ok := false
	if r, isR := err.(*session.RefusedError); isR {
		re, ok = r, true
	}
	ExpectWithOffset(1, ok).To(BeTrue(), "error %v is not a refusal", err)
	return re
}

func contains(hay []byte, needle string) bool { return strings.Contains(string(hay), needle) }

func portOf(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

func refString(r *session.GatewayRef) string {
	if r == nil {
		return "(reported by the device)"
	}
	return r.Type + ":" + r.Value
}
