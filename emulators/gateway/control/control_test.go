package control_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/backoff"
	"github.com/oobtb/oobtb/emulators/gateway/control"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

var ca *pki.CA

var _ = BeforeSuite(func() {
	var err error
	ca, err = pki.NewCA(pki.CAOptions{KeyType: pki.ECDSAP256})
	Expect(err).NotTo(HaveOccurred())
})

type server struct {
	reg *control.MemRegistry
	h   *control.ServerHandler
	ln  net.Listener
	wg  sync.WaitGroup
}

func startServer(reg *control.MemRegistry, addr string) *server {
	crt, err := ca.IssueServer(pki.LeafOptions{CommonName: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyType: pki.ECDSAP256})
	Expect(err).NotTo(HaveOccurred())
	ln, err := tls.Listen("tcp", addr, pki.ServerTLSConfig(crt.TLS()))
	Expect(err).NotTo(HaveOccurred())
	h, err := control.NewServerHandler(control.ServerConfig{Registry: reg, HeartbeatInterval: time.Second})
	Expect(err).NotTo(HaveOccurred())
	s := &server{reg: reg, h: h, ln: ln}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); _ = h.Serve(ln) }()
	return s
}

func (s *server) stop() {
	s.ln.Close()
	s.h.Close()
	s.wg.Wait()
}

// handler is the gateway side's command handler in tests.
type handler struct {
	mu      sync.Mutex
	devices []control.ExpectDevice
	cons    []control.ExpectConsole
	cancels []control.CancelSession
}

func (h *handler) ExpectDevice(_ context.Context, e control.ExpectDevice) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := e.TokenHash(); err != nil {
		return err
	}
	h.devices = append(h.devices, e)
	return nil
}
func (h *handler) ExpectConsole(_ context.Context, e control.ExpectConsole) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cons = append(h.cons, e)
	return nil
}
func (h *handler) CancelSession(_ context.Context, c control.CancelSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cancels = append(h.cancels, c)
	return nil
}
func (h *handler) OpenDeviceChannel(_ context.Context, uuid string, port uint32) (net.Conn, error) {
	if uuid != "12345678-9abc-def0-1122-334455667788" || port != 16992 {
		return nil, errors.New("device not connected")
	}
	a, b := net.Pipe()
	go func() { _, _ = io.Copy(b, b); b.Close() }()
	return a, nil
}

func (h *handler) AcceptRelay(_ context.Context, sid gwext.SessionID) (net.Conn, error) {
	if sid != (gwext.SessionID{7}) {
		return nil, errors.New("unknown session (no expect-console)")
	}
	a, b := net.Pipe()
	go func() { _, _ = io.Copy(b, b); b.Close() }()
	return a, nil
}

func registration() control.Registration {
	ep, _ := gwext.UDI("GW-0001")
	return control.Registration{Key: "0700000000000000000000000000000000000000000000000000000000000000",
		Identifiers: control.FromGWExt([]gwext.Identifier{ep}), WANEndpoints: []string{"127.0.0.1:7000"}, LANMPS: "127.0.0.1:4433"}
}

type client struct {
	c      *control.Client
	h      *handler
	saved  chan control.Identity
	cancel context.CancelFunc
	done   chan error
	exited chan struct{}
}

func startClient(addr string, id *control.Identity, token string) *client {
	cl := &client{h: &handler{}, saved: make(chan control.Identity, 1), done: make(chan error, 1), exited: make(chan struct{})}
	c, err := control.NewClient(control.ClientConfig{Addr: addr, TLS: pki.ClientTLSConfig(ca.Pool(), "127.0.0.1", false),
		Identity: id, EnrolToken: token, Handler: cl.h, Registration: registration,
		SaveIdentity: func(i control.Identity) error { cl.saved <- i; return nil },
		Backoff:      backoff.Config{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond, Multiplier: 2, JitterFraction: 0.5}})
	Expect(err).NotTo(HaveOccurred())
	cl.c = c
	ctx, cancel := context.WithCancel(context.Background())
	cl.cancel = cancel
	go func() { cl.done <- c.Run(ctx); close(cl.exited) }()
	DeferCleanup(func() { cancel(); Eventually(cl.exited, "10s").Should(BeClosed()) })
	return cl
}

func onlineGateway(reg *control.MemRegistry, id string) func() *control.Gateway {
	return func() *control.Gateway {
		g, ok := reg.Gateway(id)
		if !ok {
			return nil
		}
		return g.Conn
	}
}

var _ = Describe("Control channel", func() {
	It("enrols with a one-time token, persists the identity, registers and heartbeats", func() {
		reg := control.NewMemRegistry("tok-1")
		s := startServer(reg, "127.0.0.1:0")
		defer s.stop()
		cl := startClient(s.ln.Addr().String(), nil, "tok-1")
		var id control.Identity
		Eventually(cl.saved, "10s").Should(Receive(&id))
		Expect(id.GatewayID).To(HavePrefix("gw-"))
		Expect(id.Secret).To(HaveLen(32))
		Eventually(onlineGateway(reg, id.GatewayID), "10s").ShouldNot(BeNil())
		g, _ := reg.Gateway(id.GatewayID)
		Expect(g.Registration.WANEndpoints).To(Equal([]string{"127.0.0.1:7000"}))
		ids, err := g.Registration.GWExt()
		Expect(err).NotTo(HaveOccurred())
		Expect(ids[0].String()).To(Equal("udi:GW-0001"))
		Eventually(func() int { g, _ := reg.Gateway(id.GatewayID); return g.Heartbeats }, "10s").Should(BeNumerically(">=", 1))
		Expect(cl.c.Status().Connected).To(BeTrue())
	})

	It("refuses a bad token and a reused token, and the client gives up", func() {
		reg := control.NewMemRegistry("tok-1")
		s := startServer(reg, "127.0.0.1:0")
		defer s.stop()
		bad := startClient(s.ln.Addr().String(), nil, "wrong")
		var err error
		Eventually(bad.done, "10s").Should(Receive(&err))
		var ce *control.Error
		Expect(errors.As(err, &ce)).To(BeTrue())
		Expect(ce.Code).To(Equal(control.CodeTokenInvalid))

		first := startClient(s.ln.Addr().String(), nil, "tok-1")
		Eventually(first.saved, "10s").Should(Receive())
		again := startClient(s.ln.Addr().String(), nil, "tok-1")
		Eventually(again.done, "10s").Should(Receive(&err))
		Expect(errors.As(err, &ce)).To(BeTrue())
		Expect(ce.Code).To(Equal(control.CodeTokenUsed))
	})

	It("refuses a returning gateway with a wrong secret", func() {
		reg := control.NewMemRegistry("tok-1")
		s := startServer(reg, "127.0.0.1:0")
		defer s.stop()
		first := startClient(s.ln.Addr().String(), nil, "tok-1")
		var id control.Identity
		Eventually(first.saved, "10s").Should(Receive(&id))
		id.Secret = "00000000000000000000000000000000"
		bad := startClient(s.ln.Addr().String(), &id, "")
		var err error
		Eventually(bad.done, "10s").Should(Receive(&err))
		Expect(err).To(MatchError(ContainSubstring(control.CodeUnauthorised)))
	})

	It("reconnects with back-off after the server drops, and authenticates with its stored identity", func() {
		reg := control.NewMemRegistry("tok-1")
		s := startServer(reg, "127.0.0.1:0")
		addr := s.ln.Addr().String()
		cl := startClient(addr, nil, "tok-1")
		var id control.Identity
		Eventually(cl.saved, "10s").Should(Receive(&id))
		Eventually(onlineGateway(reg, id.GatewayID), "10s").ShouldNot(BeNil())
		s.stop()
		Eventually(func() bool { return cl.c.Status().Connected }, "10s").Should(BeFalse())
		s2 := startServer(reg, addr)
		defer s2.stop()
		Eventually(func() int { return cl.c.Status().Connects }, "15s").Should(Equal(2))
		Eventually(onlineGateway(reg, id.GatewayID), "10s").ShouldNot(BeNil())
	})

	It("carries commands to the gateway, events to the server, and device channels as streams", func() {
		reg := control.NewMemRegistry("tok-1")
		s := startServer(reg, "127.0.0.1:0")
		defer s.stop()
		cl := startClient(s.ln.Addr().String(), nil, "tok-1")
		var id control.Identity
		Eventually(cl.saved, "10s").Should(Receive(&id))
		Eventually(onlineGateway(reg, id.GatewayID), "10s").ShouldNot(BeNil())
		gw := onlineGateway(reg, id.GatewayID)()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		sid := "00112233445566778899aabbccddeeff"
		Expect(gw.ExpectDevice(ctx, control.ExpectDevice{Session: sid, DeviceUUID: "12345678-9abc-def0-1122-334455667788",
			TokenSHA256: "ab000000000000000000000000000000000000000000000000000000000000ab", Expiry: 2_000_000_000})).To(Succeed())
		err := gw.ExpectDevice(ctx, control.ExpectDevice{Session: sid, TokenSHA256: "zz"})
		Expect(err).To(MatchError(ContainSubstring(control.CodeBadRequest)))
		Expect(gw.CancelSession(ctx, control.CancelSession{Session: sid, Reason: "test"})).To(Succeed())
		cl.h.mu.Lock()
		Expect(cl.h.devices).To(HaveLen(1))
		Expect(cl.h.cancels).To(HaveLen(1))
		cl.h.mu.Unlock()

		Expect(cl.c.SessionEvent(ctx, control.SessionEvent{Session: sid, Event: control.EventDeviceConnected})).To(Succeed())
		Expect(reg.Events()).To(ContainElement(HaveField("Event", control.EventDeviceConnected)))
		Expect(cl.c.SessionEvent(ctx, control.SessionEvent{Session: "nothex", Event: "x"})).To(MatchError(ContainSubstring(control.CodeBadRequest)))

		reg.AllowDevice("12345678-9abc-def0-1122-334455667788", "dev", "pw")
		Expect(cl.c.VerifyDevice(ctx, control.VerifyDevice{UUID: "12345678-9abc-def0-1122-334455667788", Username: "dev", Password: "pw"})).To(Succeed())
		Expect(cl.c.VerifyDevice(ctx, control.VerifyDevice{UUID: "12345678-9abc-def0-1122-334455667788", Username: "dev", Password: "no"})).
			To(MatchError(ContainSubstring(control.CodeDenied)))

		ch, err := gw.OpenDeviceChannel(ctx, "12345678-9abc-def0-1122-334455667788", 16992)
		Expect(err).NotTo(HaveOccurred())
		_, _ = ch.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		buf := make([]byte, 18)
		_ = ch.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadFull(ch, buf)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(buf)).To(Equal("GET / HTTP/1.1\r\n\r\n"))
		ch.Close()
		_, err = gw.OpenDeviceChannel(ctx, "12345678-9abc-def0-1122-334455667788", 16994)
		Expect(err).To(MatchError(ContainSubstring("device not connected")))

		rl, err := gw.OpenRelay(ctx, gwext.SessionID{7})
		Expect(err).NotTo(HaveOccurred())
		_, _ = rl.Write([]byte("OOBK"))
		_ = rl.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadFull(rl, buf[:4])
		Expect(err).NotTo(HaveOccurred())
		rl.Close()
		_, err = gw.OpenRelay(ctx, gwext.SessionID{8})
		Expect(err).To(MatchError(ContainSubstring("unknown session")))
	})
})

var _ = Describe("Device targets", func() {
	It("round-trip and reject malformed ones", func() {
		u, p, err := control.ParseDeviceTarget(control.DeviceTarget("12345678-9abc-def0-1122-334455667788", 16994))
		Expect(err).NotTo(HaveOccurred())
		Expect(u).To(Equal("12345678-9abc-def0-1122-334455667788"))
		Expect(p).To(Equal(uint32(16994)))
		for _, bad := range []string{"kvm", "device/x/1", "device/12345678-9abc-def0-1122-334455667788/0",
			"device/12345678-9abc-def0-1122-334455667788/070", "device/12345678-9abc-def0-1122-334455667788/65536"} {
			_, _, err := control.ParseDeviceTarget(bad)
			Expect(err).To(HaveOccurred(), bad)
		}
	})
})
