package vmc_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

const uuid = "12345678-9abc-def0-1122-334455667788"

var ca *pki.CA

var _ = BeforeSuite(func() {
	var err error
	ca, err = pki.NewCA(pki.CAOptions{KeyType: pki.KeyType("ecdsa-p256")})
	if err != nil {
		ca, err = pki.NewCA(pki.CAOptions{})
	}
	Expect(err).NotTo(HaveOccurred())
})

// testMPS is a minimal MPS built on the cira server role: enough to check
// what a device does, without the real server package.
type testMPS struct {
	ln       net.Listener
	user     string
	pass     string
	answer   bool // send the oobtb capability answer
	mu       sync.Mutex
	conns    []*cira.Conn
	versions []apf.ProtocolVersion
	globals  []*apf.ExtensionRequest
	wg       sync.WaitGroup
}

func startMPS(user, pass string, answer bool) *testMPS {
	crt, err := ca.IssueServer(pki.LeafOptions{CommonName: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	Expect(err).NotTo(HaveOccurred())
	ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.ServerTLSConfig(crt.TLS()))
	Expect(err).NotTo(HaveOccurred())
	m := &testMPS{ln: ln, user: user, pass: pass, answer: answer}
	m.serve()
	return m
}

// serve accepts tunnels until the listener closes.
func (m *testMPS) serve() {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			nc, err := m.ln.Accept()
			if err != nil {
				return
			}
			c, err := cira.New(nc, cira.RoleServer, cira.Config{Server: &cira.ServerConfig{},
				Verify: func(_ context.Context, r cira.EventAuthRequest) bool {
					return r.Username == m.user && r.Password == m.pass
				},
				OnEvent: m.event})
			if err != nil {
				nc.Close()
				continue
			}
			m.mu.Lock()
			m.conns = append(m.conns, c)
			m.mu.Unlock()
		}
	}()
}

func (m *testMPS) event(c *cira.Conn, ev cira.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch e := ev.(type) {
	case cira.EventPeerVersion:
		m.versions = append(m.versions, e.Msg)
		if m.answer {
			if pv, _ := gwext.Answer(&e.Msg, gwext.RoleServer, gwext.CapPairing|gwext.CapGatewayConnect|gwext.CapFailover|gwext.CapGatewayInfo); pv != nil {
				go c.Send(pv)
			}
		}
	case cira.EventGlobalRequest:
		m.globals = append(m.globals, e.Req)
		go c.Reply(true)
	}
}

func (m *testMPS) port() uint16 { return uint16(m.ln.Addr().(*net.TCPAddr).Port) }

func (m *testMPS) conn() *cira.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.conns) - 1; i >= 0; i-- {
		select {
		case <-m.conns[i].Done():
			continue // closed (replaced, or a superseded dial)
		default:
		}
		select {
		case <-m.conns[i].Ready():
			return m.conns[i]
		default:
		}
	}
	return nil
}

func (m *testMPS) close() {
	m.ln.Close()
	m.mu.Lock()
	cs := m.conns
	m.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
	m.wg.Wait()
}

func newDevice(cfg policy.Config, services map[uint32]vmc.Service) *vmc.Device {
	h, err := host.New(host.Config{Identity: host.Identity{UUID: uuid, Hostname: "pc1", MAC: net.HardwareAddr{2, 0x10, 0, 0, 0, 1}}, Settings: host.DefaultSettings()})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(h.Close)
	d, err := vmc.New(vmc.Config{Host: h, Policy: cfg, Services: services, RootCAs: ca.Pool(), Seed: 1})
	Expect(err).NotTo(HaveOccurred())
	return d
}

func echo(ch net.Conn) { _, _ = io.Copy(ch, ch) }

var _ = Describe("Device", func() {
	It("opens CIRA per its periodic policy, forwards AMT's ports and serves channels by port", func() {
		m := startMPS("admin", "P@ssw0rd", false)
		defer m.close()
		cfg := policy.DefaultRPS("127.0.0.1", "admin", "P@ssw0rd", "outside.example")
		cfg.MPS[0].Port = m.port()
		d := newDevice(cfg, map[uint32]vmc.Service{16992: echo})
		d.Start()
		defer d.Stop()
		Eventually(m.conn, "10s").ShouldNot(BeNil())
		c := m.conn()
		Eventually(c.BoundPorts).Should(Equal([]uint32{16993, 16992, 664, 623, 16995, 16994, 5900}))
		Expect(m.versions[0].UUID.String()).To(Equal(uuid))
		Expect(m.versions[0].Trigger).To(Equal(apf.TriggerPeriodic))
		p, presence, err := gwext.DecodeReserved(m.versions[0].Reserved)
		Expect(err).NotTo(HaveOccurred())
		Expect(presence).To(Equal(gwext.Present))
		Expect(p.Capability.Has(gwext.CapFailover)).To(BeTrue())

		ch, err := c.OpenChannel(context.Background(), 16992, "1.2.3.4", 1024)
		Expect(err).NotTo(HaveOccurred())
		_, _ = ch.Write([]byte("hello"))
		buf := make([]byte, 5)
		_ = ch.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadFull(ch, buf)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(buf)).To(Equal("hello"))
		ch.Close()
		_, err = c.OpenChannel(context.Background(), 16994, "", 0)
		Expect(cira.IsOpenRefused(err)).To(BeTrue())
		Eventually(d.Status).Should(HaveField("Tunnel", policy.TunnelUp))
	})

	It("acts as a stock AMT device when told to: no extension block", func() {
		m := startMPS("admin", "P@ssw0rd", false)
		defer m.close()
		cfg := policy.DefaultRPS("127.0.0.1", "admin", "P@ssw0rd", "outside.example")
		cfg.MPS[0].Port = m.port()
		cfg.Extension = policy.ExtensionStock
		d := newDevice(cfg, nil)
		d.Start()
		defer d.Stop()
		Eventually(m.conn, "10s").ShouldNot(BeNil())
		Expect(m.versions[0].Reserved).To(Equal([64]byte{}))
	})

	It("fails over from an unreachable primary MPS to the backup", func() {
		dead, _ := net.Listen("tcp", "127.0.0.1:0")
		deadPort := uint16(dead.Addr().(*net.TCPAddr).Port)
		dead.Close()
		m := startMPS("admin", "P@ssw0rd", false)
		defer m.close()
		cfg := policy.DefaultRPS("127.0.0.1", "admin", "P@ssw0rd", "outside.example")
		cfg.MPS[0].Port = deadPort
		backup := policy.NewMPS(2, "127.0.0.1", m.port(), "admin", "P@ssw0rd")
		cfg.MPS = append(cfg.MPS, backup)
		for _, r := range cfg.Rules {
			cfg.Applies = append(cfg.Applies, policy.AppliesTo{Rule: r.Name, MPS: backup.Name, OrderOfAccess: 1, MpsType: policy.MpsBoth})
		}
		d := newDevice(cfg, nil)
		d.Start()
		defer d.Stop()
		Eventually(m.conn, "10s").ShouldNot(BeNil())
		Eventually(d.Status).Should(HaveField("MPS", backup.Name))
	})

	It("reports its gateway once the server shows support, and follows gateway-connect to the gateway's LAN MPS", func() {
		m := startMPS("admin", "P@ssw0rd", true)
		defer m.close()
		var sid gwext.SessionID
		var tok gwext.Token
		sid[0], tok[0] = 7, 9
		gw := startMPS(sid.Username(), tok.Password(), false) // the gateway's local MPS admits the token only
		defer gw.close()

		cfg := policy.DefaultRPS("127.0.0.1", "admin", "P@ssw0rd", "outside.example")
		cfg.MPS[0].Port = m.port()
		d := newDevice(cfg, map[uint32]vmc.Service{16994: echo})
		gwAddr := netip.MustParseAddrPort("127.0.0.1:" + strconv.Itoa(int(gw.port())))
		var key [32]byte
		key[0] = 1
		d.Post(policy.GatewayLearned{Hint: policy.GatewayHint{ID: "gw1", Addr: gwAddr, PublicKey: key,
			Identifiers: []policy.Identifier{{Kind: policy.IDDomain, Value: "lan.example"}, {Kind: policy.IDUDI, Value: "GW-0001"}}}})
		d.Start()
		defer d.Stop()

		Eventually(func() int { m.mu.Lock(); defer m.mu.Unlock(); return len(m.globals) }, "10s").Should(Equal(1))
		info, err := gwext.ParseGatewayInfo(m.globals[0])
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Key).To(Equal(key))
		Expect(info.IDs).To(HaveLen(3))
		blk, _, _ := gwext.DecodeReserved(m.versions[0].Reserved)
		Expect(blk.Gateways).To(HaveLen(1))

		ep, _ := gwext.Endpoint(gwAddr)
		req, err := gwext.GatewayConnect{Gateway: []gwext.Identifier{ep}, Key: key, SessionID: sid,
			Expiry: time.Now().Add(time.Minute), Token: tok}.Request()
		Expect(err).NotTo(HaveOccurred())
		ok, err := m.conn().Request(context.Background(), req)
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeTrue())
		Eventually(gw.conn, "10s").ShouldNot(BeNil())
		Expect(gw.versions[0].UUID.String()).To(Equal(uuid))
		ch, err := gw.conn().OpenChannel(context.Background(), 16994, "", 0)
		Expect(err).NotTo(HaveOccurred())
		ch.Close()
	})

	It("refuses an expired gateway-connect with a reason", func() {
		m := startMPS("admin", "P@ssw0rd", true)
		defer m.close()
		cfg := policy.DefaultRPS("127.0.0.1", "admin", "P@ssw0rd", "outside.example")
		cfg.MPS[0].Port = m.port()
		d := newDevice(cfg, nil)
		d.Start()
		defer d.Stop()
		Eventually(m.conn, "10s").ShouldNot(BeNil())
		ep, _ := gwext.Endpoint(netip.MustParseAddrPort("127.0.0.1:9"))
		req, _ := gwext.GatewayConnect{Gateway: []gwext.Identifier{ep}, Key: [32]byte{1}, SessionID: gwext.SessionID{1},
			Expiry: time.Now().Add(-time.Minute), Token: gwext.Token{2}}.Request()
		ok, err := m.conn().Request(context.Background(), req)
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeFalse())
	})
})

var _ = Describe("remote-access configuration changed over WS-MAN", func() {
	It("is what WS-MAN reports, and a new MPS list moves the tunnel", func() {
		m1 := startMPS("admin", "P@ssw0rd", false)
		defer m1.close()
		m2 := startMPS("admin", "P@ssw0rd", false)
		defer m2.close()
		cfg := policy.DefaultRPS("127.0.0.1", "admin", "P@ssw0rd", "outside.example")
		cfg.MPS[0].Port = m1.port()
		d := newDevice(cfg, nil)
		Expect(d.Host().RemoteAccess().MPS[0].Port).To(Equal(m1.port()))
		d.Start()
		defer d.Stop()
		Eventually(m1.conn, "10s").ShouldNot(BeNil())
		first := m1.conn()

		next := d.Host().RemoteAccess()
		next.MPS[0].Port = m2.port()
		Expect(d.Host().SetRemoteAccess(next)).To(Succeed())
		Eventually(m2.conn, "10s").ShouldNot(BeNil())
		Eventually(first.Done()).Should(BeClosed())
		Expect(d.Host().RemoteAccess().MPS[0].Port).To(Equal(m2.port()))

		bad := next
		bad.MPS[0].Username = "not alphanumeric!"
		Expect(d.Host().SetRemoteAccess(bad)).To(HaveOccurred())
		Expect(d.Host().RemoteAccess().MPS[0].Username).To(Equal("admin"))
	})
})

var _ = Describe("a call for help at start-up", func() {
	It("ends with one tunnel, opened with trigger 1, on which the server's extension support is known", func() {
		m := startMPS("admin", "P@ssw0rd", true)
		defer m.close()
		h, err := host.New(host.Config{Identity: host.Identity{UUID: uuid, Hostname: "pc1"}, Settings: host.DefaultSettings()})
		Expect(err).NotTo(HaveOccurred())
		defer h.Close()
		d, err := vmc.Build(vmc.Spec{UUID: uuid, Servers: []string{m.ln.Addr().String()}, User: "admin", Pass: "P@ssw0rd",
			AMTPass: "P@ssw0rd", Trigger: "user"}, vmc.Deps{RootCAs: ca.Pool()})
		Expect(err).NotTo(HaveOccurred())
		d.Start()
		defer d.Stop()
		Eventually(func() bool { s := d.Status(); return s.Tunnel == policy.TunnelUp && s.ServerExt }, "10s").Should(BeTrue())
		Eventually(func() apf.TriggerReason {
			c := m.conn()
			if c == nil {
				return 0
			}
			v, _ := c.PeerVersion()
			return v.Trigger
		}, "5s").Should(Equal(apf.TriggerUserInitiated))
		alive := func() int {
			m.mu.Lock()
			defer m.mu.Unlock()
			n := 0
			for _, c := range m.conns {
				select {
				case <-c.Done():
				default:
					n++
				}
			}
			return n
		}
		// The old tunnel may take a moment to end on the server side; after
		// that exactly one stays.
		Eventually(alive).Should(Equal(1))
		Consistently(alive, "500ms").Should(Equal(1))
	})
})

var _ = Describe("failover to the gateway", func() {
	It("reaches the gateway's LAN MPS, verifying its certificate by LAN address, when the direct path is lost", func() {
		m := startMPS("admin", "P@ssw0rd", true)
		defer m.close()
		gw := startMPS("admin", "P@ssw0rd", false) // the gateway's LAN MPS; failover keeps the device's own credentials
		defer gw.close()
		cfg := policy.DefaultRPS("127.0.0.1", "admin", "P@ssw0rd", "outside.example")
		cfg.MPS[0].Port = m.port()
		d := newDevice(cfg, nil)
		gwAddr := netip.MustParseAddrPort("127.0.0.1:" + strconv.Itoa(int(gw.port())))
		d.Post(policy.GatewayLearned{Hint: policy.GatewayHint{ID: "ipv4-endpoint:" + gwAddr.String(), Addr: gwAddr, PublicKey: [32]byte{1}}})
		d.Start()
		defer d.Stop()
		Eventually(m.conn, "10s").ShouldNot(BeNil())
		d.Post(policy.DirectPathLost{Reason: "test: WAN cut"})
		Eventually(gw.conn, "10s").ShouldNot(BeNil())
		Eventually(d.Status).Should(HaveField("OnGateway", true))
	})
})

var _ = Describe("automatic failover", func() {
	It("moves to the gateway when the server cannot be reached, and back once it can", func() {
		m := startMPS("admin", "P@ssw0rd", true)
		port := m.port()
		gw := startMPS("admin", "P@ssw0rd", false)
		defer gw.close()
		cfg := policy.DefaultRPS("127.0.0.1", "admin", "P@ssw0rd", "outside.example")
		cfg.MPS[0].Port = port
		cfg.Backoff.Initial, cfg.Backoff.Max = 50*time.Millisecond, 200*time.Millisecond
		cfg.Rules[0].ExtendedData = policy.IntervalData(time.Second) // reconnect at the next period, soon
		h, err := host.New(host.Config{Identity: host.Identity{UUID: uuid, Hostname: "pc1"}, Settings: host.DefaultSettings()})
		Expect(err).NotTo(HaveOccurred())
		defer h.Close()
		d, err := vmc.New(vmc.Config{Host: h, Policy: cfg, RootCAs: ca.Pool(), Seed: 1, ProbeInterval: 200 * time.Millisecond, DialTimeout: 2 * time.Second})
		Expect(err).NotTo(HaveOccurred())
		gwAddr := netip.MustParseAddrPort("127.0.0.1:" + strconv.Itoa(int(gw.port())))
		d.Post(policy.GatewayLearned{Hint: policy.GatewayHint{ID: "gw", Addr: gwAddr, PublicKey: [32]byte{1}}})
		d.Start()
		defer d.Stop()
		Eventually(m.conn, "10s").ShouldNot(BeNil())

		m.close() // the server goes away: the device's reconnects fail
		Eventually(gw.conn, "15s").ShouldNot(BeNil())
		Eventually(d.Status, "5s").Should(HaveField("OnGateway", true))

		// The server comes back on the same address: the device returns.
		back := restartMPSOn(port)
		defer back.close()
		Eventually(back.conn, "15s").ShouldNot(BeNil())
		Eventually(d.Status, "5s").Should(HaveField("OnGateway", false))
	})
})

func restartMPSOn(port uint16) *testMPS {
	crt, err := ca.IssueServer(pki.LeafOptions{CommonName: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	Expect(err).NotTo(HaveOccurred())
	var ln net.Listener
	Eventually(func() error {
		ln, err = tls.Listen("tcp", "127.0.0.1:"+strconv.Itoa(int(port)), pki.ServerTLSConfig(crt.TLS()))
		return err
	}, "5s").Should(Succeed())
	m := &testMPS{ln: ln, user: "admin", pass: "P@ssw0rd"}
	m.serve()
	return m
}
