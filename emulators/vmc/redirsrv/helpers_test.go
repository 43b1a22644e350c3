package redirsrv_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream/kvmtest"
	"github.com/oobtb/oobtb/emulators/vmc/redirsrv"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/redir"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
	"github.com/oobtb/oobtb/sim/clock"
)

// The worked example of reference §6.
const (
	exUser   = "admin"
	exRealm  = "Digest:0123456789ABCDEF0123456789ABCDEF"
	exPass   = "P@ssw0rd"
	exCNonce = "0a1b2c3d4e"
	exNC     = "00000001"
)

type env struct {
	clk   *clock.Manual
	host  *host.Host
	srv   *redirsrv.Server
	count *kvmstream.Counters
	ln    net.Listener
	done  chan error // one per accepted session
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func newEnv(w, h int, wl screen.Workload, mod func(*redirsrv.Config)) *env {
	clk := clock.NewManual(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	hst, err := host.New(host.Config{
		Identity: host.Identity{UUID: "12345678-9abc-def0-1122-334455667788", Hostname: "pc",
			Realm: exRealm, AMTUser: exUser, AMTPass: exPass},
		Settings: host.DefaultSettings(),
		Screen:   screen.Config{Width: w, Height: h, Workload: wl, Seed: 7},
		Clock:    clk,
	})
	Expect(err).NotTo(HaveOccurred())
	e := &env{clk: clk, host: hst, count: &kvmstream.Counters{}, done: make(chan error, 64)}
	cfg := redirsrv.Config{Host: hst, Clock: clk, Counters: e.count}
	if mod != nil {
		mod(&cfg)
	}
	e.srv = redirsrv.New(cfg)
	e.ln, err = net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	go func() {
		for {
			c, err := e.ln.Accept()
			if err != nil {
				return
			}
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				e.done <- e.srv.Serve(context.Background(), c)
			}()
		}
	}()
	return e
}

func (e *env) close() {
	e.ln.Close()
	e.mu.Lock()
	for _, c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
	e.host.Close()
}

// sessionErr waits for the next session to end.
func (e *env) sessionErr() error {
	select {
	case err := <-e.done:
		return err
	case <-time.After(10 * time.Second):
		return errors.New("test: session did not end")
	}
}

// step advances the manual clock frame by frame until the screen shows a
// new frame.
func (e *env) step() {
	var f0 uint32
	e.host.WithScreen(func(s *screen.Screen) { f0 = s.Frame() })
	f := f0
	for i := 0; i < 200 && f == f0; i++ {
		e.clk.Advance(time.Second / 30)
		e.host.WithScreen(func(s *screen.Screen) { f = s.Frame() })
	}
	Expect(f).NotTo(Equal(f0), "the screen produced no frame")
}

func (e *env) snapshot() (img *framebuf.Image) {
	e.host.WithScreen(func(s *screen.Screen) { img = s.Snapshot() })
	return img
}

// console is the redirection side of a management console.
type console struct {
	conn net.Conn
	buf  []byte
}

func (e *env) dial() *console {
	c, err := net.Dial("tcp", e.ln.Addr().String())
	Expect(err).NotTo(HaveOccurred())
	e.mu.Lock()
	e.conns = append(e.conns, c)
	e.mu.Unlock()
	return &console{conn: c}
}

func (c *console) sendRaw(b []byte) {
	_, err := c.conn.Write(b)
	Expect(err).NotTo(HaveOccurred())
}

func (c *console) send(m redir.Msg) { c.sendRaw(m.Append(nil)) }

// recv reads one redirection message from AMT.
func (c *console) recv() (redir.Msg, error) {
	for {
		if len(c.buf) > 0 {
			m, n, err := redir.Decode(c.buf, redir.FromAMT)
			if err == nil {
				c.buf = c.buf[n:]
				return m, nil
			}
			if !errors.Is(err, redir.ErrShort) {
				return nil, err
			}
		}
		var tmp [4096]byte
		_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.conn.Read(tmp[:])
		c.buf = append(c.buf, tmp[:n]...)
		if err != nil && n == 0 {
			return nil, err
		}
	}
}

func (c *console) mustRecv() redir.Msg {
	m, err := c.recv()
	Expect(err).NotTo(HaveOccurred())
	return m
}

// readRaw reads exactly n bytes (used where RFB follows).
func (c *console) readRaw(n int) []byte {
	Expect(c.buf).To(BeEmpty())
	b := make([]byte, n)
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.ReadFull(c.conn, b)
	Expect(err).NotTo(HaveOccurred())
	return b
}

// expectClosed checks the server closed the connection.
func (c *console) expectClosed() {
	_, err := c.recv()
	Expect(err).To(HaveOccurred())
}

func (c *console) start(t redir.SessionType) *redir.StartRedirectionSessionReply {
	c.send(redir.NewStart(t))
	r, ok := c.mustRecv().(*redir.StartRedirectionSessionReply)
	Expect(ok).To(BeTrue())
	return r
}

// digestLogin runs the consoles' handshake (§2.3 steps 2–6) with password.
func (c *console) digestLogin(password string) *redir.AuthenticateSessionReply {
	c.send(&redir.AuthenticateSession{Type: redir.AuthQuery})
	q := c.mustRecv().(*redir.AuthenticateSessionReply)
	Expect(q.Types).To(ContainElement(redir.AuthDigestQop))
	c.send(&redir.AuthenticateSession{Type: redir.AuthDigestQop, User: exUser, URI: redir.RedirectionURI})
	ch := c.mustRecv().(*redir.AuthenticateSessionReply)
	Expect(ch.IsChallenge()).To(BeTrue())
	return c.answer(ch, password, exNC)
}

func (c *console) answer(ch *redir.AuthenticateSessionReply, password, nc string) *redir.AuthenticateSessionReply {
	resp := redir.DigestResponse(exUser, ch.Realm, password, ch.Nonce, nc, exCNonce, "auth", redir.RedirectionURI)
	c.send(&redir.AuthenticateSession{Type: redir.AuthDigestQop, User: exUser, Realm: ch.Realm, Nonce: ch.Nonce,
		URI: redir.RedirectionURI, CNonce: exCNonce, NC: nc, Response: resp, Qop: "auth"})
	return c.mustRecv().(*redir.AuthenticateSessionReply)
}

// kvm opens a KVM session the way MeshCentral and the DMT console do and
// returns an RFB client after ServerInit with the consoles' encodings set.
func (e *env) kvm() (*console, *kvmtest.Client, rfb.ServerInit) {
	c := e.dial()
	Expect(c.start(redir.SessionKVM).Status).To(Equal(redir.StartStatusSuccess))
	Expect(c.digestLogin(exPass).Status).To(Equal(redir.AuthStatusSuccess))
	c.send(&redir.KVMStart{})
	Expect(c.readRaw(8)).To(Equal([]byte{0x41, 0, 0, 0, 0, 0, 0, 0}))
	banner, si, err := kvmtest.AMTHandshake(c.conn)
	Expect(err).NotTo(HaveOccurred())
	Expect(banner).To(Equal(rfb.V40))
	cl, err := kvmtest.NewClient(c.conn, si.Format, int(si.Width), int(si.Height))
	Expect(err).NotTo(HaveOccurred())
	Expect(cl.Send(&rfb.SetEncodings{Encodings: rfb.AMTConsoleEncodings})).To(Succeed())
	return c, cl, si
}
