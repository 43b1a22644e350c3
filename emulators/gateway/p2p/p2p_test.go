package p2p_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/gateway/mux"
	"github.com/oobtb/oobtb/emulators/gateway/p2p"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/sim/clock"
)

const devUUID = "12345678-9abc-def0-1122-334455667788"

type fixture struct {
	gwKey, consoleKey p2p.Key
	params            p2p.Params
	expiry            time.Time
	clk               *clock.Manual
	mu                sync.Mutex
	claimed           bool
	ln                net.Listener
	results           chan error
	wg                sync.WaitGroup
}

func newFixture() *fixture {
	var err error
	f := &fixture{clk: clock.NewManual(time.Unix(1_800_000_000, 0)), results: make(chan error, 8)}
	f.gwKey, err = p2p.GenerateKey()
	Expect(err).NotTo(HaveOccurred())
	f.consoleKey, err = p2p.GenerateKey()
	Expect(err).NotTo(HaveOccurred())
	f.params = p2p.Params{Session: gwext.SessionID{1, 2, 3}, GatewayID: "gw-1", DeviceUUID: devUUID, ConsoleID: "console-a"}
	f.expiry = f.clk.Now().Add(time.Minute)
	f.ln, err = net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	f.wg.Add(1)
	go f.serve()
	DeferCleanup(func() { f.ln.Close(); f.wg.Wait() })
	return f
}

func (f *fixture) serve() {
	defer f.wg.Done()
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := p2p.Accept(ctx, nc, p2p.AcceptConfig{Static: f.gwKey, Clock: f.clk,
				Lookup: func(sid gwext.SessionID) (p2p.Expectation, error) {
					if sid != f.params.Session {
						return p2p.Expectation{}, errors.New("unknown session")
					}
					return p2p.Expectation{Params: f.params, ConsoleKey: [32]byte(f.consoleKey.Public), Expiry: f.expiry}, nil
				},
				Claim: func(gwext.SessionID) error {
					f.mu.Lock()
					defer f.mu.Unlock()
					if f.claimed {
						return errors.New("session already used by a console (replay)")
					}
					f.claimed = true
					return nil
				},
				Mux: mux.Config{HandleOpen: func(ctx context.Context, target string) (net.Conn, error) {
					a, b := net.Pipe()
					go func() { _, _ = io.Copy(b, b); b.Close() }()
					return a, nil
				}},
			})
			f.results <- err
			if err == nil {
				<-c.Done()
			}
		}()
	}
}

func (f *fixture) dial(p p2p.Params, static p2p.Key, gwKey [32]byte) (*p2p.Conn, error) {
	nc, err := net.Dial("tcp", f.ln.Addr().String())
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := p2p.Dial(ctx, nc, p2p.DialConfig{Params: p, Static: static, GatewayKey: gwKey})
	if c != nil {
		DeferCleanup(func() { c.Close(); <-c.Done() })
	}
	return c, err
}

var _ = Describe("Noise KK channel", func() {
	It("completes the handshake and carries a stream intact both ways", func() {
		f := newFixture()
		c, err := f.dial(f.params, f.consoleKey, [32]byte(f.gwKey.Public))
		Expect(err).NotTo(HaveOccurred())
		Eventually(f.results).Should(Receive(BeNil()))
		st, err := c.Open(context.Background(), "kvm")
		Expect(err).NotTo(HaveOccurred())
		msg := bytes.Repeat([]byte("RFB 003.008\n"), 20000) // 240 KB: many records
		go func() { _, _ = st.Write(msg) }()
		got := make([]byte, len(msg))
		_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadFull(st, got)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(msg))
	})

	It("learns the gateway's early-data capability from message 2, unless told not to use it", func() {
		f := newFixture()
		c, err := f.dial(f.params, f.consoleKey, [32]byte(f.gwKey.Public))
		Expect(err).NotTo(HaveOccurred())
		Expect(c.EarlyData()).To(BeTrue())

		g := newFixture()
		nc, err := net.Dial("tcp", g.ln.Addr().String())
		Expect(err).NotTo(HaveOccurred())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c2, err := p2p.Dial(ctx, nc, p2p.DialConfig{Params: g.params, Static: g.consoleKey, GatewayKey: [32]byte(g.gwKey.Public), NoEarlyData: true})
		Expect(err).NotTo(HaveOccurred())
		defer func() { c2.Close(); <-c2.Done() }()
		Expect(c2.EarlyData()).To(BeFalse())
		st, err := c2.Open(ctx, "kvm") // waits for OPEN_OK
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Close()).To(Succeed())
	})

	It("fails closed with a wrong console key", func() {
		f := newFixture()
		other, _ := p2p.GenerateKey()
		_, err := f.dial(f.params, other, [32]byte(f.gwKey.Public))
		var he *p2p.HandshakeError
		Expect(errors.As(err, &he)).To(BeTrue())
		Expect(he.Refused).To(BeTrue())
		Expect(he.Reason).To(ContainSubstring("wrong console key or tampered pairing fields"))
		Eventually(f.results).Should(Receive(MatchError(ContainSubstring("does not authenticate"))))
	})

	It("fails closed with a tampered prologue field", func() {
		f := newFixture()
		p := f.params
		p.ConsoleID = "console-b"
		_, err := f.dial(p, f.consoleKey, [32]byte(f.gwKey.Public))
		Expect(err).To(MatchError(ContainSubstring("tampered pairing fields")))
		p = f.params
		p.DeviceUUID = "12345678-9abc-def0-1122-334455667789"
		_, err = f.dial(p, f.consoleKey, [32]byte(f.gwKey.Public))
		Expect(err).To(MatchError(ContainSubstring("tampered pairing fields")))
	})

	It("fails closed when the console was given a wrong gateway key (a man in the middle)", func() {
		f := newFixture()
		mitm, _ := p2p.GenerateKey()
		_, err := f.dial(f.params, f.consoleKey, [32]byte(mitm.Public))
		Expect(err).To(HaveOccurred())
		Eventually(f.results).Should(Receive(HaveOccurred()))
	})

	It("refuses an expired session and a replayed one", func() {
		f := newFixture()
		f.clk.Advance(2 * time.Minute)
		_, err := f.dial(f.params, f.consoleKey, [32]byte(f.gwKey.Public))
		Expect(err).To(MatchError(ContainSubstring("session expired")))

		g := newFixture()
		c, err := g.dial(g.params, g.consoleKey, [32]byte(g.gwKey.Public))
		Expect(err).NotTo(HaveOccurred())
		_ = c
		_, err = g.dial(g.params, g.consoleKey, [32]byte(g.gwKey.Public))
		Expect(err).To(MatchError(ContainSubstring("replay")))
	})

	It("refuses an unknown session", func() {
		f := newFixture()
		p := f.params
		p.Session = gwext.SessionID{9}
		_, err := f.dial(p, f.consoleKey, [32]byte(f.gwKey.Public))
		Expect(err).To(MatchError(ContainSubstring("unknown session")))
	})
})

var _ = Describe("Preamble and prologue", func() {
	It("round-trips and rejects bad bytes with the field", func() {
		sid := gwext.SessionID{0xaa}
		b := p2p.EncodePreamble(sid)
		Expect(b).To(HaveLen(p2p.PreambleLen))
		got, err := p2p.DecodePreamble(b)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(sid))
		b[4] = 2
		_, err = p2p.DecodePreamble(b)
		Expect(err).To(MatchError(ContainSubstring("version")))
		_, err = p2p.DecodePreamble([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
		Expect(err).To(MatchError(ContainSubstring("magic")))
	})

	It("encodes every field with its length", func() {
		pro, err := p2p.Prologue(p2p.Params{Session: gwext.SessionID{1}, GatewayID: "g", DeviceUUID: devUUID, ConsoleID: "c"})
		Expect(err).NotTo(HaveOccurred())
		Expect(pro).To(HaveLen(len(p2p.PrologueLabel) + 2 + 16 + 2 + 1 + 2 + 16 + 2 + 1))
		_, err = p2p.Prologue(p2p.Params{GatewayID: "g", DeviceUUID: "nope", ConsoleID: "c"})
		Expect(err).To(MatchError(ContainSubstring("canonical")))
	})
})

// recordingRelay forwards one console socket to the gateway like the
// server's relay (it reads the preamble to find the session) and keeps every
// byte it carried.
type recordingRelay struct {
	ln  net.Listener
	mu  sync.Mutex
	buf bytes.Buffer
	sid gwext.SessionID
	wg  sync.WaitGroup
}

func (r *recordingRelay) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func startRelay(gateway string) *recordingRelay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	r := &recordingRelay{ln: ln}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		pre := make([]byte, p2p.PreambleLen)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, pre); err != nil {
			c.Close()
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		r.mu.Lock()
		r.sid, _ = p2p.DecodePreamble(pre)
		r.buf.Write(pre)
		r.mu.Unlock()
		g, err := net.Dial("tcp", gateway)
		if err != nil {
			c.Close()
			return
		}
		_, _ = g.Write(pre)
		mux.Splice(c, recConn{g, r})
	}()
	DeferCleanup(func() { ln.Close(); r.wg.Wait() })
	return r
}

// recConn records what the gateway side sends and receives.
type recConn struct {
	net.Conn
	w io.Writer
}

func (c recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	_, _ = c.w.Write(p[:n])
	return n, err
}

func (c recConn) Write(p []byte) (int, error) {
	_, _ = c.w.Write(p)
	return c.Conn.Write(p)
}

var _ = Describe("Over a relay", func() {
	It("carries the same Noise bytes: the relay learns the session id and sees no plaintext", func() {
		f := newFixture()
		r := startRelay(f.ln.Addr().String())
		nc, err := net.Dial("tcp", r.ln.Addr().String())
		Expect(err).NotTo(HaveOccurred())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := p2p.Dial(ctx, nc, p2p.DialConfig{Params: f.params, Static: f.consoleKey, GatewayKey: [32]byte(f.gwKey.Public)})
		Expect(err).NotTo(HaveOccurred())
		st, err := c.Open(ctx, "kvm")
		Expect(err).NotTo(HaveOccurred())
		msg := bytes.Repeat([]byte("RFB 003.008\nFRAME-STAMP-0042"), 1000)
		go func() { _, _ = st.Write(msg) }()
		got := make([]byte, len(msg))
		_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadFull(st, got)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(msg))
		c.Close()
		<-c.Done()
		r.mu.Lock()
		defer r.mu.Unlock()
		Expect(r.sid).To(Equal(f.params.Session))
		// After the preamble: message 1 (48 bytes), then message 2 (49: the
		// capability byte).
		Expect(r.buf.Bytes()[22:24]).To(Equal([]byte{0x00, 0x30}))
		Expect(r.buf.Bytes()[72:74]).To(Equal([]byte{0x00, 0x31}))
		Expect(r.buf.Len()).To(BeNumerically(">", 2*len(msg)))
		Expect(bytes.Contains(r.buf.Bytes(), []byte("RFB 003.008"))).To(BeFalse())
		Expect(bytes.Contains(r.buf.Bytes(), []byte("FRAME-STAMP"))).To(BeFalse())
		Expect(bytes.Contains(r.buf.Bytes(), []byte("kvm"))).To(BeFalse())
	})
})
