package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/coder/websocket"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/server"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/services"
	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/emulators/wire/redir"
)

const amtPass = "P@ssw0rd"

func uuidN(i int) string { return fmt.Sprintf("0000%04x-0000-4000-8000-%012x", i>>16, i) }

func ciraUser(i int) string { return fmt.Sprintf("dev%d", i) }
func ciraPass(i int) string { return fmt.Sprintf("cira-secret-%d", i) }

// newServer starts a server on loopback with fast test settings.
func newServer(dir string, mod ...func(*server.Config)) *server.Server {
	cfg := server.Config{DataDir: dir, CIRAListen: "127.0.0.1:0", APIListen: "127.0.0.1:0",
		KeyType: pki.ECDSAP256, PasswordIterations: 1000}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := server.New(cfg)
	Expect(err).NotTo(HaveOccurred())
	Expect(s.Start(context.Background())).To(Succeed())
	return s
}

func enrol(s *server.Server, i int) {
	_, err := s.Enrol(context.Background(), registry.DeviceEnrolment{UUID: uuidN(i), CIRAUser: ciraUser(i),
		CIRAPassword: ciraPass(i), AMTPassword: amtPass})
	Expect(err).NotTo(HaveOccurred())
}

// fleet is a set of vMCs serving the real vMC services (WS-MAN 16992,
// redirection 16994).
type fleet struct {
	mu    sync.Mutex
	devs  []*vmc.Device
	hosts map[string]*host.Host
}

func newFleet() *fleet {
	return &fleet{hosts: map[string]*host.Host{}}
}

func (f *fleet) services(uuid string) func(h *host.Host) map[uint32]vmc.Service {
	return func(h *host.Host) map[uint32]vmc.Service {
		m := services.For(h)
		Expect(m).To(HaveKey(uint32(16992)))
		Expect(m).To(HaveKey(uint32(16994)))
		f.mu.Lock()
		defer f.mu.Unlock()
		f.hosts[uuid] = h
		return m
	}
}

// start builds and starts a vMC for device i against addr.
func (f *fleet) start(addr string, pool *x509.CertPool, i int, mod ...func(*vmc.Spec)) *vmc.Device {
	spec := vmc.Spec{UUID: uuidN(i), Servers: []string{addr}, User: ciraUser(i), Pass: ciraPass(i),
		AMTPass: amtPass, Seed: uint64(i + 1), PeriodicInterval: "2s"}
	for _, m := range mod {
		m(&spec)
	}
	d, err := vmc.Build(spec, vmc.Deps{RootCAs: pool, Services: f.services(spec.UUID)})
	Expect(err).NotTo(HaveOccurred())
	d.Start()
	f.mu.Lock()
	f.devs = append(f.devs, d)
	f.mu.Unlock()
	return d
}

func (f *fleet) stop() {
	f.mu.Lock()
	devs := f.devs
	f.devs = nil
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, d := range devs {
		wg.Add(1)
		go func() { defer wg.Done(); d.Stop() }()
	}
	wg.Wait()
}

func (f *fleet) host(uuid string) *host.Host {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hosts[uuid]
}

// api calls the server's API with the admin token.
func api(s *server.Server, method, path string, body any, out any) int {
	return apiTok(s, s.AdminToken(), method, path, body, out)
}

func apiTok(s *server.Server, tok, method, path string, body any, out any) int {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		Expect(err).NotTo(HaveOccurred())
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.APIURL()+path, rd)
	Expect(err).NotTo(HaveOccurred())
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	if out != nil && len(b) > 0 {
		Expect(json.Unmarshal(b, out)).To(Succeed(), "body: %s", b)
	}
	c.CloseIdleConnections()
	return resp.StatusCode
}

// metric reads a counter or gauge value with the given labels.
func metric(s *server.Server, name string, labels map[string]string) float64 {
	mfs, err := s.Metrics().Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if matches(m, labels) {
				if m.Counter != nil {
					return m.Counter.GetValue()
				}
				if m.Gauge != nil {
					return m.Gauge.GetValue()
				}
			}
		}
	}
	return 0
}

func matches(m *dto.Metric, labels map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := labels[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(labels)
}

// amtLikeTLS makes raw devices offer TLS as AMT does (set in the benchmark's
// client process unless OOBTB_BENCH_CLIENT=go).
var amtLikeTLS bool

// rawDevice opens a CIRA tunnel with the bare device role (no vMC), as the
// benchmark and the robustness tests do.
func rawDevice(addr string, pool *x509.CertPool, uuid, user, pass string) (*cira.Conn, error) {
	return rawDeviceCfg(addr, pool, cira.DeviceConfig{UUID: apf.MustParseGUID(uuid),
		Trigger: apf.TriggerPeriodic, Username: user, Password: pass})
}

func rawDeviceCfg(addr string, pool *x509.CertPool, dc cira.DeviceConfig) (*cira.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tcfg := pki.ClientTLSConfig(pool, "127.0.0.1", false)
	if amtLikeTLS {
		// What an AMT device offers: TLS 1.2, classic curves, no ML-KEM
		// hybrid key share (its 1.2 KiB would stay in the server's TLS
		// read buffer).
		tcfg.MaxVersion = tls.VersionTLS12
		tcfg.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	}
	tc := tls.Client(nc, tcfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	c, err := cira.New(tc, cira.RoleDevice, cira.Config{Device: &dc})
	if err != nil {
		tc.Close()
		return nil, err
	}
	select {
	case <-c.Ready():
		return c, nil
	case <-c.Done():
		return nil, fmt.Errorf("tunnel ended: %w", c.Err())
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
}

func netipMust(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// relayClient is a WebSocket console speaking the redirection protocol
// through the server's web relay, with sloppy credentials (the relay must
// inject the right ones).
type relayClient struct {
	ctx     context.Context
	ws      *websocket.Conn
	pending []byte
}

func dialRelay(ctx context.Context, sess server.Session) (*relayClient, *http.Response, error) {
	ws, resp, err := websocket.Dial(ctx, sess.RelayURL, &websocket.DialOptions{Subprotocols: []string{sess.Token}})
	if err != nil {
		return nil, resp, err
	}
	return &relayClient{ctx: ctx, ws: ws}, resp, nil
}

func (r *relayClient) send(m redir.Msg) {
	Expect(r.ws.Write(r.ctx, websocket.MessageBinary, m.Append(nil))).To(Succeed())
}

func (r *relayClient) fill() {
	_, b, err := r.ws.Read(r.ctx)
	Expect(err).NotTo(HaveOccurred())
	r.pending = append(r.pending, b...)
}

func (r *relayClient) recv() redir.Msg {
	for {
		if len(r.pending) > 0 {
			m, n, err := redir.Decode(r.pending, redir.FromAMT)
			if err == nil {
				r.pending = r.pending[n:]
				return m
			}
			Expect(err).To(MatchError(redir.ErrShort))
		}
		r.fill()
	}
}

// authenticate runs start, query, probe and a digest with a wrong password.
func (r *relayClient) authenticate(t redir.SessionType) {
	r.send(redir.NewStart(t))
	sr := r.recv().(*redir.StartRedirectionSessionReply)
	Expect(sr.Status).To(Equal(redir.StartStatusSuccess))
	r.send(&redir.AuthenticateSession{Type: redir.AuthQuery})
	q := r.recv().(*redir.AuthenticateSessionReply)
	Expect(q.Types).To(ContainElement(redir.AuthDigestQop))
	r.send(&redir.AuthenticateSession{Type: redir.AuthDigestQop, User: "nobody", URI: redir.RedirectionURI})
	ch := r.recv().(*redir.AuthenticateSessionReply)
	Expect(ch.IsChallenge()).To(BeTrue())
	r.send(&redir.AuthenticateSession{Type: redir.AuthDigestQop, User: "nobody", Realm: ch.Realm, Nonce: ch.Nonce,
		URI: "", CNonce: "abc", NC: "00000002", Qop: "auth",
		Response: redir.DigestResponse("nobody", ch.Realm, "wrong", ch.Nonce, "00000002", "abc", "auth", "")})
	ok := r.recv().(*redir.AuthenticateSessionReply)
	Expect(ok.Status).To(Equal(redir.AuthStatusSuccess), "the interceptor injects the right digest")
}
