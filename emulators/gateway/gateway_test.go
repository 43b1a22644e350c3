package gateway_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/gateway"
	"github.com/oobtb/oobtb/emulators/gateway/control"
	"github.com/oobtb/oobtb/emulators/gateway/dhcpd"
	"github.com/oobtb/oobtb/emulators/gateway/dnssd"
	"github.com/oobtb/oobtb/emulators/gateway/mux"
	"github.com/oobtb/oobtb/emulators/gateway/p2p"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/vmc/services"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/sim/clock"
)

// upstreamMPS stands in for the server's CIRA listener: it admits the vMC,
// answers the gateway extension and lets the test send gateway-connect.
type upstreamMPS struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []*cira.Conn
	wg    sync.WaitGroup
}

func startUpstream() *upstreamMPS {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.ServerTLSConfig(loopbackCert()))
	Expect(err).NotTo(HaveOccurred())
	m := &upstreamMPS{ln: ln}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c, err := cira.New(nc, cira.RoleServer, cira.Config{Server: &cira.ServerConfig{},
				Verify: func(_ context.Context, r cira.EventAuthRequest) bool {
					return r.Username == "admin" && r.Password == "P@ssw0rd"
				},
				OnEvent: func(c *cira.Conn, ev cira.Event) {
					switch e := ev.(type) {
					case cira.EventPeerVersion:
						if pv, _ := gwext.Answer(&e.Msg, gwext.RoleServer, gwext.CapPairing|gwext.CapGatewayConnect|gwext.CapFailover|gwext.CapGatewayInfo); pv != nil {
							go c.Send(pv)
						}
					case cira.EventGlobalRequest:
						go c.Reply(true)
					}
				}})
			if err != nil {
				nc.Close()
				continue
			}
			m.mu.Lock()
			m.conns = append(m.conns, c)
			m.mu.Unlock()
		}
	}()
	DeferCleanup(func() {
		ln.Close()
		m.mu.Lock()
		for _, c := range m.conns {
			c.Close()
			<-c.Done()
		}
		m.mu.Unlock()
		m.wg.Wait()
	})
	return m
}

func (m *upstreamMPS) ready() *cira.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.conns) - 1; i >= 0; i-- {
		select {
		case <-m.conns[i].Ready():
			return m.conns[i]
		default:
		}
	}
	return nil
}

func tokenHexPort(a net.Addr) netip.AddrPort { return netip.MustParseAddrPort(a.String()) }

var _ = Describe("Gateway", func() {
	It("enrols, persists its identity and key, and registers every identifier and its WAN endpoint", func() {
		e := newEnv()
		Expect(e.gw.ID()).To(HavePrefix("gw-"))
		g, _ := e.reg.Gateway(e.gw.ID())
		ids, err := g.Registration.GWExt()
		Expect(err).NotTo(HaveOccurred())
		var text []string
		for _, id := range ids {
			text = append(text, id.String())
		}
		lan := e.gw.LANMPSAddr().String()
		Expect(text).To(ContainElements("ipv4-endpoint:"+lan, "ipv4:127.0.0.1", "mac:02:00:5e:10:00:01",
			"domain:lan.oobtb.test", "udi:GW-0001", "url:https://gw1.lan.oobtb.test:8443/"))
		Expect(g.Registration.WANEndpoints).To(Equal([]string{e.gw.WANAddr().String()}))
		k, err := g.Registration.KeyBytes()
		Expect(err).NotTo(HaveOccurred())
		Expect(k).To(Equal(e.gw.PublicKey()))
	})

	It("reloads its identity and static key from the data directory", func() {
		dir := GinkgoT().TempDir()
		e := newEnv()
		cert := loopbackCert()
		cfg := gateway.Config{DataDir: dir, Server: e.ln.Addr().String(), ServerCAs: ca.Pool(), EnrolToken: "x",
			LANMPS: "127.0.0.1:0", LANCert: &cert, WANListen: "127.0.0.1:0"}
		g1, err := gateway.New(cfg)
		Expect(err).NotTo(HaveOccurred())
		g1.Close()
		info, err := os.Stat(filepath.Join(dir, gateway.StaticKeyFile))
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)))
		g2, err := gateway.New(cfg)
		Expect(err).NotTo(HaveOccurred())
		Expect(g2.PublicKey()).To(Equal(g1.PublicKey()))
		cfg.EnrolToken = ""
		_, err = gateway.New(cfg)
		Expect(err).To(MatchError(ContainSubstring("not enrolled")))
	})

	It("admits a real vMC that follows gateway-connect with the right token, and forwards a console's kvm stream to its 16994", func() {
		e := newEnv()
		up := startUpstream()
		sid, tok := newSession()
		Expect(e.expectDevice(sid, tok, devUUID, time.Now().Add(time.Minute))).To(Succeed())

		h, err := host.New(host.Config{Identity: host.Identity{UUID: devUUID, Hostname: "pc1"}, Settings: host.DefaultSettings()})
		Expect(err).NotTo(HaveOccurred())
		defer h.Close()
		cfg := policy.DefaultRPS("127.0.0.1", "admin", "P@ssw0rd", "outside.example")
		cfg.MPS[0].Port = tokenHexPort(up.ln.Addr()).Port()
		d, err := vmc.New(vmc.Config{Host: h, Policy: cfg, RootCAs: ca.Pool(), Seed: 1,
			Services: map[uint32]vmc.Service{16994: func(ch net.Conn) { _, _ = ioCopy(ch, ch) }}})
		Expect(err).NotTo(HaveOccurred())
		d.Start()
		defer d.Stop()
		Eventually(up.ready, "10s").ShouldNot(BeNil())

		lan := tokenHexPort(e.gw.LANMPSAddr())
		ep, _ := gwext.Endpoint(lan)
		req, err := gwext.GatewayConnect{Gateway: []gwext.Identifier{ep}, Key: e.gw.PublicKey(), SessionID: sid,
			Expiry: time.Now().Add(time.Minute), Token: tok}.Request()
		Expect(err).NotTo(HaveOccurred())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ok, err := up.ready().Request(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeTrue())
		Eventually(func() int { return e.gw.Status().PairedDevices }, "10s").Should(Equal(1))
		Eventually(e.reg.Events, "5s").Should(ContainElement(HaveField("Event", control.EventDeviceConnected)))

		ck, _ := p2p.GenerateKey()
		Expect(e.expectConsole(sid, "console-a", [32]byte(ck.Public), time.Now().Add(time.Minute))).To(Succeed())
		c, err := e.console(p2p.Params{Session: sid, GatewayID: e.gw.ID(), DeviceUUID: devUUID, ConsoleID: "console-a"}, ck, e.gw.PublicKey())
		Expect(err).NotTo(HaveOccurred())
		st, err := c.Open(ctx, "kvm")
		Expect(err).NotTo(HaveOccurred())
		roundTrip(st, bytes.Repeat([]byte{0x10, 0x01, 0x00, 0x00, 'K', 'V', 'M', 'R'}, 40000))
		st.Close()
		// The gateway announced early data, so a refusal surfaces on the
		// stream's first read (the early bytes are discarded).
		Expect(c.EarlyData()).To(BeTrue())
		refused := func(target string) error {
			st, err := c.Open(ctx, target)
			if err != nil {
				return err
			}
			defer st.Close()
			_, _ = st.Write([]byte("early bytes"))
			_ = st.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = st.Read(make([]byte, 1))
			return err
		}
		var oe *mux.OpenError
		err = refused("vnc")
		Expect(errors.As(err, &oe)).To(BeTrue())
		Expect(err).To(MatchError(ContainSubstring("unknown target")))
		err = refused("wsman")
		Expect(errors.As(err, &oe)).To(BeTrue())
		Expect(err).To(MatchError(ContainSubstring("port 16992")))
		Eventually(e.reg.Events, "5s").Should(ContainElement(HaveField("Event", control.EventConsoleConnected)))
	})

	It("lets a console start a KVM redirection session with the vMC's real redirection service through the gateway", func() {
		e := newEnv()
		up := startUpstream()
		sid, tok := newSession()
		Expect(e.expectDevice(sid, tok, devUUID, time.Now().Add(time.Minute))).To(Succeed())
		h, err := host.New(host.Config{Identity: host.Identity{UUID: devUUID, Hostname: "pc1"}, Settings: host.DefaultSettings()})
		Expect(err).NotTo(HaveOccurred())
		defer h.Close()
		cfg := policy.DefaultRPS("127.0.0.1", "admin", "P@ssw0rd", "outside.example")
		cfg.MPS[0].Port = tokenHexPort(up.ln.Addr()).Port()
		d, err := vmc.New(vmc.Config{Host: h, Policy: cfg, RootCAs: ca.Pool(), Seed: 1, Services: services.For(h)})
		Expect(err).NotTo(HaveOccurred())
		d.Start()
		defer d.Stop()
		Eventually(up.ready, "10s").ShouldNot(BeNil())
		ep, _ := gwext.Endpoint(tokenHexPort(e.gw.LANMPSAddr()))
		req, _ := gwext.GatewayConnect{Gateway: []gwext.Identifier{ep}, Key: e.gw.PublicKey(), SessionID: sid,
			Expiry: time.Now().Add(time.Minute), Token: tok}.Request()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ok, err := up.ready().Request(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeTrue())
		Eventually(func() int { return e.gw.Status().PairedDevices }, "10s").Should(Equal(1))

		ck, _ := p2p.GenerateKey()
		Expect(e.expectConsole(sid, "console-a", [32]byte(ck.Public), time.Now().Add(time.Minute))).To(Succeed())
		c, err := e.console(p2p.Params{Session: sid, GatewayID: e.gw.ID(), DeviceUUID: devUUID, ConsoleID: "console-a"}, ck, e.gw.PublicKey())
		Expect(err).NotTo(HaveOccurred())
		st, err := c.Open(ctx, "kvm")
		Expect(err).NotTo(HaveOccurred())
		_, err = st.Write([]byte{0x10, 0x01, 0x00, 0x00, 'K', 'V', 'M', 'R'})
		Expect(err).NotTo(HaveOccurred())
		reply := make([]byte, 13)
		_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadFull(st, reply)
		Expect(err).NotTo(HaveOccurred())
		Expect(reply[:2]).To(Equal([]byte{0x11, 0x00})) // StartRedirectionSessionReply, success
	})

	It("refuses wrong, reused and expired pairing tokens and unknown sessions with a logged reason", func() {
		e := newEnv()
		sid, tok := newSession()
		Expect(e.expectDevice(sid, tok, devUUID, time.Now().Add(time.Minute))).To(Succeed())
		_, wrong := newSession()
		_, err := e.rawDevice(devUUID, sid.Username(), wrong.Password(), 0)
		Expect(err).To(HaveOccurred())
		Expect(e.logs.String()).To(ContainSubstring("wrong pairing token"))

		other := "87654321-9abc-def0-1122-334455667788"
		_, err = e.rawDevice(other, sid.Username(), tok.Password(), 0)
		Expect(err).To(HaveOccurred())
		Expect(e.logs.String()).To(ContainSubstring("is not the paired device"))

		c, err := e.rawDevice(devUUID, sid.Username(), tok.Password(), 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(c).NotTo(BeNil())
		_, err = e.rawDevice(devUUID, sid.Username(), tok.Password(), 0)
		Expect(err).To(HaveOccurred())
		Expect(e.logs.String()).To(ContainSubstring("pairing token already used (replay)"))

		unknown, _ := newSession()
		_, err = e.rawDevice(devUUID, unknown.Username(), tok.Password(), 0)
		Expect(err).To(HaveOccurred())
		Expect(e.logs.String()).To(ContainSubstring("unknown pairing session"))
		Eventually(e.reg.Events, "5s").Should(ContainElement(And(HaveField("Event", control.EventDeviceFailed),
			HaveField("Reason", ContainSubstring("wrong pairing token")))))

		s2, t2 := newSession()
		Expect(e.expectDevice(s2, t2, devUUID, time.Now().Add(1100*time.Millisecond))).To(Succeed())
		time.Sleep(time.Until(time.Unix(time.Now().Add(1100*time.Millisecond).Unix()+1, 0)))
		_, err = e.rawDevice(devUUID, s2.Username(), t2.Password(), 0)
		Expect(err).To(HaveOccurred())
		Expect(e.logs.String()).To(ContainSubstring("pairing token expired"))
		Expect(e.logs.String()).NotTo(ContainSubstring(hexOf(tok[:])))
	})

	It("fails a console closed on a wrong key, a tampered prologue, an expired session and a replay, with events", func() {
		e := newEnv()
		sid, tok := newSession()
		Expect(e.expectDevice(sid, tok, devUUID, time.Now().Add(time.Minute))).To(Succeed())
		_, err := e.rawDevice(devUUID, sid.Username(), tok.Password(), 0)
		Expect(err).NotTo(HaveOccurred())
		ck, _ := p2p.GenerateKey()
		Expect(e.expectConsole(sid, "console-a", [32]byte(ck.Public), time.Now().Add(time.Minute))).To(Succeed())
		good := p2p.Params{Session: sid, GatewayID: e.gw.ID(), DeviceUUID: devUUID, ConsoleID: "console-a"}

		intruder, _ := p2p.GenerateKey()
		_, err = e.console(good, intruder, e.gw.PublicKey())
		Expect(err).To(MatchError(ContainSubstring("wrong console key")))
		tampered := good
		tampered.GatewayID = "gw-other"
		_, err = e.console(tampered, ck, e.gw.PublicKey())
		Expect(err).To(MatchError(ContainSubstring("tampered pairing fields")))
		Eventually(e.reg.Events, "5s").Should(ContainElement(HaveField("Event", control.EventConsoleFailed)))

		c, err := e.console(good, ck, e.gw.PublicKey())
		Expect(err).NotTo(HaveOccurred())
		st, err := c.Open(context.Background(), "sol")
		Expect(err).NotTo(HaveOccurred())
		roundTrip(st, []byte("login: "))
		_, err = e.console(good, ck, e.gw.PublicKey())
		Expect(err).To(MatchError(ContainSubstring("replay")))

		s2, _ := newSession()
		exp := time.Now().Add(1100 * time.Millisecond)
		Expect(e.expectConsole(s2, "console-a", [32]byte(ck.Public), exp)).To(Succeed())
		time.Sleep(time.Until(time.Unix(exp.Unix()+1, 0)))
		p2 := good
		p2.Session = s2
		_, err = e.console(p2, ck, e.gw.PublicKey())
		Expect(err).To(MatchError(ContainSubstring("session expired")))
	})

	It("accepts a console relayed by the server over the control channel, with the same Noise bytes", func() {
		e := newEnv()
		sid, tok := newSession()
		Expect(e.expectDevice(sid, tok, devUUID, time.Now().Add(time.Minute))).To(Succeed())
		_, err := e.rawDevice(devUUID, sid.Username(), tok.Password(), 0)
		Expect(err).NotTo(HaveOccurred())
		ck, _ := p2p.GenerateKey()
		Expect(e.expectConsole(sid, "console-a", [32]byte(ck.Public), time.Now().Add(time.Minute))).To(Succeed())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// The server's relay splices a console socket to this stream; here
		// the console runs directly on it.
		relayed, err := e.ctl.OpenRelay(ctx, sid)
		Expect(err).NotTo(HaveOccurred())
		c, err := p2p.Dial(ctx, relayed, p2p.DialConfig{Params: p2p.Params{Session: sid, GatewayID: e.gw.ID(),
			DeviceUUID: devUUID, ConsoleID: "console-a"}, Static: ck, GatewayKey: e.gw.PublicKey()})
		Expect(err).NotTo(HaveOccurred())
		defer func() { c.Close(); <-c.Done() }()
		st, err := c.Open(ctx, "kvm")
		Expect(err).NotTo(HaveOccurred())
		roundTrip(st, bytes.Repeat([]byte("relayed KVM bytes "), 10000))
		Eventually(e.reg.Events, "5s").Should(ContainElement(HaveField("Event", control.EventConsoleConnected)))
		_, err = e.ctl.OpenRelay(ctx, sid)
		Expect(err).To(MatchError(ContainSubstring("replay")))
		unknown, _ := newSession()
		_, err = e.ctl.OpenRelay(ctx, unknown)
		Expect(err).To(MatchError(ContainSubstring("unknown session")))
	})

	It("forgets pairings once every expiry has passed and nothing is connected", func() {
		clk := clock.NewManual(time.Now())
		e := newEnvWith(clk)
		sid, tok := newSession()
		Expect(e.expectDevice(sid, tok, devUUID, clk.Now().Add(time.Minute))).To(Succeed())
		ck, _ := p2p.GenerateKey()
		Expect(e.expectConsole(sid, "console-a", [32]byte(ck.Public), clk.Now().Add(2*time.Minute))).To(Succeed())
		Expect(e.gw.Status().Sessions).To(Equal(1))
		clk.Advance(90 * time.Second)
		Expect(e.gw.Status().Sessions).To(Equal(1)) // the console may still come
		clk.Advance(90 * time.Second)
		Expect(e.gw.Status().Sessions).To(Equal(0))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := e.ctl.ExpectDevice(ctx, control.ExpectDevice{Session: sid.String(), DeviceUUID: devUUID,
			TokenSHA256: strings.Repeat("ab", 32), Expiry: clk.Now().Add(-time.Second).Unix()})
		Expect(err).To(MatchError(ContainSubstring(control.CodeExpired)))
	})

	It("cancels a session: its console and device are closed and new logins refused", func() {
		e := newEnv()
		sid, tok := newSession()
		Expect(e.expectDevice(sid, tok, devUUID, time.Now().Add(time.Minute))).To(Succeed())
		ck, _ := p2p.GenerateKey()
		Expect(e.expectConsole(sid, "console-a", [32]byte(ck.Public), time.Now().Add(time.Minute))).To(Succeed())
		dev, err := e.rawDevice(devUUID, sid.Username(), tok.Password(), 0)
		Expect(err).NotTo(HaveOccurred())
		c, err := e.console(p2p.Params{Session: sid, GatewayID: e.gw.ID(), DeviceUUID: devUUID, ConsoleID: "console-a"}, ck, e.gw.PublicKey())
		Expect(err).NotTo(HaveOccurred())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		Expect(e.ctl.CancelSession(ctx, control.CancelSession{Session: sid.String(), Reason: "operator ended it"})).To(Succeed())
		Eventually(c.Done(), "5s").Should(BeClosed())
		Eventually(dev.Done(), "5s").Should(BeClosed())
	})

	It("carries a failover device's channels to the server when the server authorises it", func() {
		e := newEnv()
		_, err := e.rawDevice(devUUID, "dev1", "secret", gwext.CapPairing|gwext.CapFailover)
		Expect(err).To(HaveOccurred())
		Expect(e.logs.String()).To(ContainSubstring("server did not authorise the device"))
		e.reg.AllowDevice(devUUID, "dev1", "secret")
		_, err = e.rawDevice(devUUID, "dev1", "secret", gwext.CapPairing)
		Expect(err).To(HaveOccurred())
		Expect(e.logs.String()).To(ContainSubstring("did not advertise the failover capability"))

		_, err = e.rawDevice(devUUID, "dev1", "secret", gwext.CapPairing|gwext.CapFailover)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() map[string]control.DeviceOnline {
			g, _ := e.reg.Gateway(e.gw.ID())
			return g.Devices
		}, "10s").Should(HaveKeyWithValue(devUUID, HaveField("Ports", ContainElements(uint32(16992), uint32(16994), uint32(5900)))))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ch, err := e.ctl.OpenDeviceChannel(ctx, devUUID, 16992)
		Expect(err).NotTo(HaveOccurred())
		roundTrip(ch, []byte("POST /wsman HTTP/1.1\r\n\r\n"))
		ch.Close()
		_, err = e.ctl.OpenDeviceChannel(ctx, "87654321-9abc-def0-1122-334455667788", 16992)
		Expect(err).To(MatchError(ContainSubstring("not connected to this gateway")))
	})

	It("leases an address by DHCP with option 15 and its identifiers in option 43", func() {
		e := newEnv()
		mac, _ := net.ParseMAC("02:00:00:00:00:42")
		cl := dhcpd.Client{Server: e.gw.DHCPAddr().String(), Listen: "127.0.0.1:0", MAC: mac}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := cl.Acquire(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Addr).To(Equal(netip.MustParseAddr("198.18.1.100")))
		Expect(r.Domain).To(Equal("lan.oobtb.test"))
		Expect(r.Router).To(Equal(netip.MustParseAddr("198.18.1.1")))
		Expect(r.Prefix.String()).To(Equal("198.18.1.0/24"))
		Expect(r.GatewayErr).NotTo(HaveOccurred())
		Expect(r.Gateway).NotTo(BeNil())
		Expect(r.Gateway.Key).To(Equal(e.gw.PublicKey()))
		ep, _ := gwext.Endpoint(tokenHexPort(e.gw.LANMPSAddr()))
		Expect(r.Gateway.IDs).To(ContainElement(ep))
		Expect(r.Gateway.IDs).To(HaveLen(7))
	})

	It("answers a DNS-SD browse for _oobgw._tcp with its endpoint, identifiers and key", func() {
		e := newEnv()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		found, err := dnssd.Browser{Server: e.gw.MDNSAddr().String(), Listen: "127.0.0.1:0", Max: 1, Wait: 5 * time.Second}.Browse(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(found).To(HaveLen(1))
		Expect(found[0].Err).NotTo(HaveOccurred())
		Expect(found[0].Instance).To(Equal("GW-0001." + dnssd.Service))
		ap, ok := found[0].Endpoint()
		Expect(ok).To(BeTrue())
		Expect(ap).To(Equal(tokenHexPort(e.gw.LANMPSAddr())))
		Expect(found[0].Gateway.Key).To(Equal(e.gw.PublicKey()))
		Expect(found[0].Gateway.IDs).To(HaveLen(7))
	})

	It("reconnects its control channel after the server drops it", func() {
		e := newEnv()
		e.ctl.Close()
		Eventually(func() int { return e.gw.Status().Control.Connects }, "15s").Should(Equal(2))
		Eventually(func() bool { return e.gw.Status().Control.Connected }, "10s").Should(BeTrue())
	})
})

var _ = Describe("Stream targets", func() {
	It("map kvm and sol to 16994 and wsman to 16992", func() {
		for t, want := range map[string]uint32{"kvm": 16994, "sol": 16994, "wsman": 16992} {
			p, ok := gateway.StreamPort(t)
			Expect(ok).To(BeTrue())
			Expect(p).To(Equal(want))
		}
		_, ok := gateway.StreamPort("rdp")
		Expect(ok).To(BeFalse())
	})
})
