package wsmansrv_test

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/vmc/wsmansrv"
	"github.com/oobtb/oobtb/emulators/wire/digest"
	"github.com/oobtb/oobtb/emulators/wire/httpwire"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
	"github.com/oobtb/oobtb/sim/clock"
)

const (
	tUUID   = "12345678-9abc-def0-1122-334455667788"
	tRealm  = "Digest:0123456789ABCDEF0123456789ABCDEF"
	tUser   = "admin"
	tPass   = "P@ssw0rd"
	tHost   = "12345678-9abc-def0-1122-334455667788:16992"
	tCNonce = "0a1b2c3d4e5f60718293a4b5c6d7e8f9" // MeshCentral: 32 hex, fixed per comm object
)

var (
	mesh = wsman.Builder{Style: wsman.StyleMeshCentral}
	dmt  = wsman.Builder{Style: wsman.StyleDMT}
	t0   = time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
)

type env struct {
	clk     *clock.Manual
	host    *host.Host
	srv     *wsmansrv.Server
	pol     policy.Config
	applied int // SetPolicy calls
}

func newEnv(mod func(*wsmansrv.Options)) *env {
	clk := clock.NewManual(t0)
	h, err := host.New(host.Config{
		Identity: host.Identity{UUID: tUUID, Hostname: "vmc1", Domain: "lan.example",
			MAC: net.HardwareAddr{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01},
			IP:  netip.MustParsePrefix("198.18.1.23/24"), Gateway: netip.MustParseAddr("198.18.1.1"), DHCP: true,
			AMTVersion: "16.1.27.2225", Realm: tRealm, AMTUser: tUser, AMTPass: tPass, ControlMode: 2,
			Manufacturer: "oobtb", Model: "vPro emulated PC", Serial: "OOB12345678", BIOSVersion: "OOBTB.1.0",
			CPU: "Intel(R) Core(TM) i7-1365U (emulated)", MemoryMiB: 16384},
		Settings: host.DefaultSettings(),
		Screen:   screen.Config{Width: 320, Height: 200, Workload: screen.W0Idle, Seed: 1},
		Clock:    clk,
	})
	Expect(err).NotTo(HaveOccurred())
	e := &env{clk: clk, host: h}
	e.pol = policy.DefaultRPS("mps.example.com", "admin1", "Secret123", "corp.example")
	o := wsmansrv.Options{
		Clock:     clk,
		Policy:    func() policy.Config { return e.pol },
		SetPolicy: func(c policy.Config) error { e.pol = c; e.applied++; return nil },
	}
	if mod != nil {
		mod(&o)
	}
	e.srv = wsmansrv.New(h, o)
	return e
}

func (e *env) close() { e.host.Close() }

// client is one APF channel as the management server sees it; the server
// side runs Serve in its own goroutine.
type client struct {
	conn   net.Conn
	buf    []byte
	done   chan error // Serve's result
	writes chan error
}

func (e *env) dial() *client {
	a, b := net.Pipe()
	c := &client{conn: a, done: make(chan error, 1), writes: make(chan error, 16)}
	go func() { c.done <- e.srv.Serve(b) }()
	return c
}

// send writes raw bytes without waiting for the server to read them (a
// pipelining client writes ahead of the responses).
func (c *client) send(b []byte) {
	go func() {
		_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err := c.conn.Write(b)
		c.writes <- err
	}()
}

// recv reads one HTTP response.
func (c *client) recv() *httpwire.Response {
	GinkgoHelper()
	r, err := c.tryRecv()
	Expect(err).NotTo(HaveOccurred())
	return r
}

func (c *client) tryRecv() (*httpwire.Response, error) {
	tmp := make([]byte, 4096)
	for {
		r, n, err := httpwire.ParseResponse(c.buf, httpwire.Limits{})
		if err == nil {
			c.buf = c.buf[n:]
			return r, nil
		}
		if !errors.Is(err, wireerr.ErrShort) {
			return nil, err
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, rerr := c.conn.Read(tmp)
		c.buf = append(c.buf, tmp[:k]...)
		if rerr != nil && k == 0 {
			return nil, rerr
		}
	}
}

// closed waits for the server to end the channel and returns Serve's error.
func (c *client) closed() error {
	GinkgoHelper()
	var err error
	Eventually(c.done, 5*time.Second).Should(Receive(&err))
	_ = c.conn.Close()
	c.drainWrites()
	return err
}

// hangUp closes the client side and waits for Serve.
func (c *client) hangUp() error {
	GinkgoHelper()
	_ = c.conn.Close()
	var err error
	Eventually(c.done, 5*time.Second).Should(Receive(&err))
	c.drainWrites()
	return err
}

func (c *client) drainWrites() {
	for {
		select {
		case <-c.writes:
		default:
			return
		}
	}
}

func httpReq(auth string, body []byte) []byte {
	return httpwire.AppendRequest(nil, httpwire.WSManRequest(tHost, auth, "", body))
}

// authz answers ch as a server would: qop auth, the given nc text and style.
func authz(ch digest.Challenge, pass, nc, cnonce string, style digest.Style) string {
	a := &digest.Authorization{Username: tUser, Realm: ch.Realm, Nonce: ch.Nonce, URI: "/wsman",
		QOP: digest.QOPAuth, NC: nc, CNonce: cnonce, Style: style}
	a.Sign(pass, "POST")
	return a.String()
}

// session is a client that has its challenge and counts nc itself.
type session struct {
	e     *env
	ch    digest.Challenge
	nc    uint32
	hexNC bool
}

// login sends one unauthenticated request and keeps the challenge, as both
// servers do.
func (e *env) login(hexNC bool) *session {
	GinkgoHelper()
	c := e.dial()
	c.send(httpReq("", mesh.Get("0", wsman.ResourceURI("AMT_GeneralSettings"))))
	r := c.recv()
	Expect(r.StatusCode).To(Equal(401))
	Expect(c.closed()).To(MatchError(wsmansrv.ErrUnauthorized))
	ch, err := digest.ParseChallenge(r.Header.Get("WWW-Authenticate"))
	Expect(err).NotTo(HaveOccurred())
	return &session{e: e, ch: ch, hexNC: hexNC}
}

func (s *session) auth() string {
	s.nc++
	nc := digest.NCDecimal(s.nc)
	if s.hexNC {
		nc = digest.NCHex(s.nc)
	}
	return authz(s.ch, tPass, nc, tCNonce, digest.StyleQuoted)
}

// do sends one request on a fresh channel and returns the parsed reply.
func (s *session) do(body []byte) (*httpwire.Response, *wsman.Response) {
	GinkgoHelper()
	c := s.e.dial()
	defer func() { Expect(c.hangUp()).To(Succeed()) }()
	return c.exchange(s.auth(), body)
}

func (c *client) exchange(auth string, body []byte) (*httpwire.Response, *wsman.Response) {
	GinkgoHelper()
	c.send(httpReq(auth, body))
	r := c.recv()
	Expect(r.StatusCode).To(BeElementOf(200, 400, 500), string(r.Body))
	w, err := wsman.ParseResponse(r.Body, wsman.Limits{})
	if r.StatusCode == 200 {
		Expect(err).NotTo(HaveOccurred())
	}
	return r, w
}

// get is a successful Get on a fresh channel.
func (s *session) get(class string, sel ...wsman.Selector) *wsman.Instance {
	GinkgoHelper()
	r, w := s.do(dmt.Get("1", wsman.ResourceURI(class), sel...))
	Expect(r.StatusCode).To(Equal(200), string(r.Body))
	Expect(w.Instance).NotTo(BeNil())
	return w.Instance
}

// enumerate runs Enumerate then Pull until EndOfSequence on one channel.
func (s *session) enumerate(class string, maxElements int) ([]wsman.Instance, int) {
	GinkgoHelper()
	c := s.e.dial()
	defer func() { Expect(c.hangUp()).To(Succeed()) }()
	uri := wsman.ResourceURI(class)
	r, w := c.exchange(s.auth(), dmt.Enumerate("10", uri))
	Expect(r.StatusCode).To(Equal(200), string(r.Body))
	ctx := w.EnumerationContext
	Expect(ctx).NotTo(BeEmpty())
	var items []wsman.Instance
	pulls := 0
	for i := 0; i < 100; i++ {
		r, w = c.exchange(s.auth(), dmt.Pull(strconv.Itoa(11+i), uri, ctx, maxElements, 99999))
		Expect(r.StatusCode).To(Equal(200), string(r.Body))
		pulls++
		items = append(items, w.Items...)
		if w.EndOfSequence {
			Expect(w.EnumerationContext).To(BeEmpty(), "no context once the sequence is finished")
			return items, pulls
		}
		Expect(w.EnumerationContext).To(Equal(ctx))
	}
	Fail("no EndOfSequence after 100 pulls")
	return nil, 0
}

func (s *session) invoke(class, method string, args ...wsman.Prop) (*httpwire.Response, *wsman.Response) {
	GinkgoHelper()
	return s.do(dmt.Invoke("5", wsman.ResourceURI(class), method, args))
}

func (s *session) put(in *wsman.Instance, sel ...wsman.Selector) (*httpwire.Response, *wsman.Response) {
	GinkgoHelper()
	return s.do(mesh.Put("6", in, sel...))
}
