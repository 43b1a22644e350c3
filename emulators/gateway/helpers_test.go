package gateway_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/gateway"
	"github.com/oobtb/oobtb/emulators/gateway/control"
	"github.com/oobtb/oobtb/emulators/gateway/dhcpd"
	"github.com/oobtb/oobtb/emulators/gateway/dnssd"
	"github.com/oobtb/oobtb/emulators/gateway/p2p"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/sim/clock"
)

const devUUID = "12345678-9abc-def0-1122-334455667788"

var ca *pki.CA

var _ = BeforeSuite(func() {
	var err error
	ca, err = pki.NewCA(pki.CAOptions{KeyType: pki.ECDSAP256})
	Expect(err).NotTo(HaveOccurred())
})

func loopbackCert() tls.Certificate {
	crt, err := ca.IssueServer(pki.LeafOptions{CommonName: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyType: pki.ECDSAP256})
	Expect(err).NotTo(HaveOccurred())
	return crt.TLS()
}

// env is a control server with an in-memory registry and one started
// gateway.
type env struct {
	reg  *control.MemRegistry
	h    *control.ServerHandler
	ln   net.Listener
	wg   sync.WaitGroup
	gw   *gateway.Gateway
	ctl  *control.Gateway
	logs *logBuffer
}

type logBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

func newEnv() *env { return newEnvWith(nil) }

// newEnvWith runs the gateway on clk (nil: the wall clock).
func newEnvWith(clk clock.Clock) *env {
	e := &env{reg: control.NewMemRegistry("enrol-1"), logs: &logBuffer{}}
	var err error
	e.ln, err = tls.Listen("tcp", "127.0.0.1:0", pki.ServerTLSConfig(loopbackCert()))
	Expect(err).NotTo(HaveOccurred())
	e.h, err = control.NewServerHandler(control.ServerConfig{Registry: e.reg, HeartbeatInterval: time.Second})
	Expect(err).NotTo(HaveOccurred())
	e.wg.Add(1)
	go func() { defer e.wg.Done(); _ = e.h.Serve(e.ln) }()
	cert := loopbackCert()
	mac, _ := net.ParseMAC("02:00:5e:10:00:01")
	e.gw, err = gateway.New(gateway.Config{Clock: clk,
		Logger:  slog.New(slog.NewTextHandler(io.MultiWriter(e.logs, GinkgoWriter), &slog.HandlerOptions{Level: slog.LevelDebug})),
		DataDir: GinkgoT().TempDir(), Server: e.ln.Addr().String(), ServerCAs: ca.Pool(), EnrolToken: "enrol-1",
		LANMPS: "127.0.0.1:0", LANCert: &cert, WANListen: "127.0.0.1:0",
		MAC: mac, Domain: "lan.oobtb.test", UDI: "GW-0001", URL: "https://gw1.lan.oobtb.test:8443/",
		DHCP: &dhcpd.Config{Listen: "127.0.0.1:0", Pool: "198.18.1.100-198.18.1.109", Router: netip.MustParseAddr("198.18.1.1"),
			DNS: []netip.Addr{netip.MustParseAddr("198.18.1.1")}},
		MDNS: &dnssd.ResponderConfig{Listen: "127.0.0.1:0"},
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(e.gw.Start(context.Background())).To(Succeed())
	DeferCleanup(e.close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	Expect(e.gw.WaitControl(ctx)).To(Succeed())
	Eventually(func() *control.Gateway {
		g, _ := e.reg.Gateway(e.gw.ID())
		return g.Conn
	}, "10s").ShouldNot(BeNil())
	g, _ := e.reg.Gateway(e.gw.ID())
	e.ctl = g.Conn
	return e
}

func (e *env) close() {
	e.gw.Close()
	e.ln.Close()
	e.h.Close()
	e.wg.Wait()
}

func newSession() (gwext.SessionID, gwext.Token) {
	var s gwext.SessionID
	var t gwext.Token
	_, _ = rand.Read(s[:])
	_, _ = rand.Read(t[:])
	return s, t
}

func (e *env) expectDevice(sid gwext.SessionID, tok gwext.Token, uuid string, exp time.Time) error {
	h := sha256.Sum256(tok[:])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return e.ctl.ExpectDevice(ctx, control.ExpectDevice{Session: sid.String(), DeviceUUID: uuid,
		TokenSHA256: hex.EncodeToString(h[:]), Expiry: exp.Unix()})
}

func (e *env) expectConsole(sid gwext.SessionID, consoleID string, key [32]byte, exp time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return e.ctl.ExpectConsole(ctx, control.ExpectConsole{Session: sid.String(), DeviceUUID: devUUID, ConsoleID: consoleID,
		ConsoleKey: hex.EncodeToString(key[:]), Expiry: exp.Unix()})
}

func echo(ch *cira.Channel) { _, _ = io.Copy(ch, ch) }

// rawDevice logs in to the gateway's local MPS with the APF device role, as
// a vMC does, and serves echo on 16992 and 16994.
func (e *env) rawDevice(uuid, user, pass string, caps gwext.Capability) (*cira.Conn, error) {
	nc, err := net.Dial("tcp", e.gw.LANMPSAddr().String())
	Expect(err).NotTo(HaveOccurred())
	tc := tls.Client(nc, pki.ClientTLSConfig(ca.Pool(), "127.0.0.1", false))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	guid, _ := apf.ParseGUID(uuid)
	var reserved [64]byte
	if caps != 0 {
		reserved, err = gwext.EncodeReserved(gwext.Block{Role: gwext.RoleDevice, Capability: caps})
		Expect(err).NotTo(HaveOccurred())
	}
	c, err := cira.New(tc, cira.RoleDevice, cira.Config{
		Device: &cira.DeviceConfig{UUID: guid, Username: user, Password: pass, Reserved: reserved,
			Trigger: apf.TriggerUserInitiated}, // AMT's seven ports, ending with 5900
		AcceptChannel: func(*apf.ChannelOpen) (bool, apf.OpenFailureReason) { return true, 0 },
		ServeChannel:  echo,
	})
	Expect(err).NotTo(HaveOccurred())
	select {
	case <-c.Ready():
		DeferCleanup(func() { c.Close(); <-c.Done() })
		return c, nil
	case <-c.Done():
		return nil, c.Err()
	case <-ctx.Done():
		c.Close()
		<-c.Done()
		return nil, ctx.Err()
	}
}

// console dials the gateway's WAN listener and runs the Noise KK handshake.
func (e *env) console(p p2p.Params, key p2p.Key, gwKey [32]byte) (*p2p.Conn, error) {
	nc, err := net.Dial("tcp", e.gw.WANAddr().String())
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := p2p.Dial(ctx, nc, p2p.DialConfig{Params: p, Static: key, GatewayKey: gwKey})
	if err == nil {
		DeferCleanup(func() { c.Close(); <-c.Done() })
	}
	return c, err
}

func roundTrip(c net.Conn, msg []byte) {
	go func() { _, _ = c.Write(msg) }()
	got := make([]byte, len(msg))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.ReadFull(c, got)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	ExpectWithOffset(1, string(got) == string(msg)).To(BeTrue(), fmt.Sprintf("%d bytes differ", len(msg)))
}

func ioCopy(dst io.Writer, src io.Reader) (int64, error) { return io.Copy(dst, src) }

func hexOf(b []byte) string { return hex.EncodeToString(b) }
