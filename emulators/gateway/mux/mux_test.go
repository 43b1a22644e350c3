package mux_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/gateway/mux"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// pipeTransport frames messages as u32 length ‖ bytes over a net.Conn.
type pipeTransport struct{ net.Conn }

func (t pipeTransport) ReadMsg() ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(t.Conn, h[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(h[:]))
	_, err := io.ReadFull(t.Conn, b)
	return b, err
}

func (t pipeTransport) WriteMsg(p []byte) error {
	_, err := t.Conn.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(p))), p...))
	return err
}

func tcpPair() (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); ch <- c }()
	a, err := net.Dial("tcp", ln.Addr().String())
	Expect(err).NotTo(HaveOccurred())
	return a, <-ch
}

func echoHandler(ctx context.Context, target string) (net.Conn, error) {
	if target != "echo" {
		return nil, errors.New("no such target")
	}
	a, b := net.Pipe()
	go func() { _, _ = io.Copy(b, b); b.Close() }()
	return a, nil
}

func pair(acceptCfg mux.Config) (*mux.Session, *mux.Session) {
	return pairWith(mux.Config{}, acceptCfg)
}

func pairWith(dialCfg, acceptCfg mux.Config) (*mux.Session, *mux.Session) {
	a, b := tcpPair()
	dialCfg.Dialer = true
	d := mux.New(pipeTransport{a}, dialCfg)
	acceptCfg.Dialer = false
	s := mux.New(pipeTransport{b}, acceptCfg)
	DeferCleanup(func() {
		d.Close()
		s.Close()
		<-d.Done()
		<-s.Done()
	})
	return d, s
}

var _ = Describe("Session", func() {
	It("opens a stream to a target and carries bytes both ways, beyond one window", func() {
		d, _ := pair(mux.Config{HandleOpen: echoHandler})
		st, err := d.Open(context.Background(), "echo")
		Expect(err).NotTo(HaveOccurred())
		Expect(st.ID() % 2).To(Equal(uint32(1)))
		payload := make([]byte, 3*mux.InitialWindow+12345)
		_, _ = rand.Read(payload)
		go func() { _, _ = st.Write(payload) }()
		got := make([]byte, len(payload))
		_ = st.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadFull(st, got)
		Expect(err).NotTo(HaveOccurred())
		Expect(bytes.Equal(got, payload)).To(BeTrue())
		in, out := d.Stats()
		Expect(in).To(BeEquivalentTo(len(payload)))
		Expect(out).To(BeEquivalentTo(len(payload)))
		Expect(st.Close()).To(Succeed())
	})

	It("refuses an unknown target with the acceptor's reason", func() {
		d, _ := pair(mux.Config{HandleOpen: echoHandler})
		_, err := d.Open(context.Background(), "nope")
		var oe *mux.OpenError
		Expect(errors.As(err, &oe)).To(BeTrue())
		Expect(oe.Reason).To(Equal("no such target"))
	})

	It("refuses every open when no handler is set", func() {
		d, _ := pair(mux.Config{})
		_, err := d.Open(context.Background(), "echo")
		Expect(err).To(MatchError(ContainSubstring("streams are not accepted here")))
	})

	It("blocks a writer at the peer's window and honours write deadlines", func() {
		block := make(chan net.Conn, 1)
		d, _ := pair(mux.Config{HandleOpen: func(ctx context.Context, t string) (net.Conn, error) {
			a, b := net.Pipe() // nobody reads b: the window fills
			block <- b
			return a, nil
		}})
		st, err := d.Open(context.Background(), "sink")
		Expect(err).NotTo(HaveOccurred())
		b := <-block
		defer b.Close()
		_ = st.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := st.Write(make([]byte, 2*mux.InitialWindow))
		Expect(errors.Is(err, os.ErrDeadlineExceeded)).To(BeTrue())
		Expect(n).To(Equal(mux.InitialWindow))
	})

	It("ends the peer's reads with EOF after close, and every stream when the session closes", func() {
		d, _ := pair(mux.Config{HandleOpen: echoHandler})
		st, err := d.Open(context.Background(), "echo")
		Expect(err).NotTo(HaveOccurred())
		d.Close()
		_ = st.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = st.Read(make([]byte, 1))
		Expect(err).To(HaveOccurred())
		Eventually(d.Done()).Should(BeClosed())
	})

	It("delivers MESSAGE frames in order", func() {
		got := make(chan string, 3)
		d, _ := pair(mux.Config{OnMessage: func(p []byte) { got <- string(p) }})
		for _, m := range []string{"a", "b", "c"} {
			Expect(d.SendMessage([]byte(m))).To(Succeed())
		}
		Eventually(got).Should(Receive(Equal("a")))
		Eventually(got).Should(Receive(Equal("b")))
		Eventually(got).Should(Receive(Equal("c")))
	})

	It("closes the session on a window overrun", func() {
		a, b := tcpPair()
		sink := make(chan net.Conn, 1)
		s := mux.New(pipeTransport{b}, mux.Config{HandleOpen: func(context.Context, string) (net.Conn, error) {
			x, y := net.Pipe() // nobody reads y: nothing reopens the window
			sink <- y
			return x, nil
		}})
		defer func() { s.Close(); <-s.Done(); a.Close(); (<-sink).Close() }()
		raw := pipeTransport{a}
		Expect(raw.WriteMsg(mux.Frame{Type: mux.FrameOpen, Stream: 1, Payload: []byte("echo")}.Append(nil))).To(Succeed())
		ok, err := raw.ReadMsg()
		Expect(err).NotTo(HaveOccurred())
		Expect(ok[0]).To(Equal(byte(mux.FrameOpenOK)))
		big := make([]byte, 60000)
		for i := 0; i < 6; i++ {
			if raw.WriteMsg(mux.Frame{Type: mux.FrameData, Stream: 1, Payload: big}.Append(nil)) != nil {
				break
			}
		}
		Eventually(s.Done(), "5s").Should(BeClosed())
		Expect(s.Err()).To(MatchError(ContainSubstring("overran its window")))
	})
})

var _ = Describe("0-RTT open (EarlyData)", func() {
	It("returns at once; the acceptor holds early data until its target is connected, then delivers it in order", func() {
		release := make(chan struct{})
		served := make(chan net.Conn, 1)
		d, _ := pairWith(mux.Config{EarlyData: true}, mux.Config{HandleOpen: func(ctx context.Context, t string) (net.Conn, error) {
			select { // the target connects only when the test says so
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			a, b := net.Pipe()
			served <- b
			return a, nil
		}})
		Expect(d.EarlyData()).To(BeTrue())
		st, err := d.Open(context.Background(), "slow")
		Expect(err).NotTo(HaveOccurred())
		early := make([]byte, 100000)
		_, _ = rand.Read(early)
		_ = st.SetWriteDeadline(time.Now().Add(5 * time.Second))
		n, err := st.Write(early) // before any answer: within the initial window
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(len(early)))
		Consistently(served, "100ms").ShouldNot(Receive())
		close(release)
		var b net.Conn
		Eventually(served, "5s").Should(Receive(&b))
		defer b.Close()
		_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, len(early))
		_, err = io.ReadFull(b, got)
		Expect(err).NotTo(HaveOccurred())
		Expect(bytes.Equal(got, early)).To(BeTrue())
		// And the answer flows back once the stream is open.
		go func() { _, _ = b.Write([]byte("pong")) }()
		_ = st.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp := make([]byte, 4)
		_, err = io.ReadFull(st, resp)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(resp)).To(Equal("pong"))
		Expect(st.Close()).To(Succeed())
	})

	It("holds the opener to the initial window before the peer's answer", func() {
		release := make(chan struct{})
		d, _ := pairWith(mux.Config{EarlyData: true}, mux.Config{HandleOpen: func(ctx context.Context, t string) (net.Conn, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, errors.New("gave up")
		}})
		defer close(release)
		st, err := d.Open(context.Background(), "slow")
		Expect(err).NotTo(HaveOccurred())
		_ = st.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := st.Write(make([]byte, mux.InitialWindow+1))
		Expect(errors.Is(err, os.ErrDeadlineExceeded)).To(BeTrue())
		Expect(n).To(Equal(mux.InitialWindow))
		Expect(d.Err()).NotTo(HaveOccurred()) // no overrun: the session lives
	})

	It("fails reads and writes with the refusal reason; the acceptor discards the early data", func() {
		d, s := pairWith(mux.Config{EarlyData: true}, mux.Config{HandleOpen: echoHandler})
		st, err := d.Open(context.Background(), "nope")
		Expect(err).NotTo(HaveOccurred())
		_, _ = st.Write([]byte("early bytes for nobody"))
		_ = st.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = st.Read(make([]byte, 1))
		var oe *mux.OpenError
		Expect(errors.As(err, &oe)).To(BeTrue())
		Expect(oe.Reason).To(Equal("no such target"))
		_, err = st.Write([]byte("more"))
		Expect(errors.As(err, &oe)).To(BeTrue())
		// The channel survives and serves the next stream.
		st2, err := d.Open(context.Background(), "echo")
		Expect(err).NotTo(HaveOccurred())
		_, err = st2.Write([]byte("hi"))
		Expect(err).NotTo(HaveOccurred())
		_ = st2.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, 2)
		_, err = io.ReadFull(st2, got)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(got)).To(Equal("hi"))
		Expect(s.Err()).NotTo(HaveOccurred())
		Expect(st2.Close()).To(Succeed())
	})

	It("waits for the answer when the peer did not announce early data", func() {
		d, _ := pair(mux.Config{HandleOpen: echoHandler})
		Expect(d.EarlyData()).To(BeFalse())
		_, err := d.Open(context.Background(), "nope")
		Expect(err).To(MatchError(ContainSubstring("no such target")))
	})
})

var _ = Describe("Decode", func() {
	It("rejects bad frames naming the field", func() {
		_, err := mux.Decode([]byte{4, 0, 0}, 100)
		Expect(errors.Is(err, wireerr.ErrShort)).To(BeTrue())
		_, err = mux.Decode([]byte{4, 0, 0, 0, 0, 1}, 100)
		Expect(err).To(MatchError(ContainSubstring(`"stream"`)))
		_, err = mux.Decode([]byte{5, 0, 0, 0, 1, 0, 0, 0, 0}, 100)
		Expect(err).To(MatchError(ContainSubstring("increment")))
		_, err = mux.Decode([]byte{0x0a, 0, 0, 0, 1}, 100)
		Expect(err).To(MatchError(ContainSubstring("type")))
		_, err = mux.Decode(make([]byte, 101), 100)
		Expect(err).To(MatchError(ContainSubstring("length")))
		f, err := mux.Decode(mux.Frame{Type: mux.FrameData, Stream: 7, Payload: []byte("x")}.Append(nil), 100)
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Stream).To(Equal(uint32(7)))
	})
})
