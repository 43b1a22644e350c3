package linkemu_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"

	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/sim/clock"
	"github.com/oobtb/oobtb/topology/linkemu"
)

// echoServer echoes every connection until closed.
func echoServer() (addr string, stop func()) {
	ln, err := netx.Host{}.Listen(context.Background(), "tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(c, c)
				if tc, ok := c.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
			}()
		}
	}()
	return ln.Addr().String(), func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}

func newProxy(ab, ba linkemu.Profile) (*linkemu.StreamProxy, net.Conn) {
	target, stop := echoServer()
	p, err := linkemu.NewStreamProxy("127.0.0.1:0", target, ab, ba, 1, clock.Real{}, netx.Host{})
	Expect(err).NotTo(HaveOccurred())
	c, err := net.Dial("tcp", p.Addr().String())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		c.Close()
		Expect(p.Close()).To(Succeed())
		stop()
	})
	return p, c
}

// roundTrip writes msg and reads the echo, returning the elapsed time.
func roundTrip(c net.Conn, msg []byte) time.Duration {
	start := time.Now()
	_, err := c.Write(msg)
	Expect(err).NotTo(HaveOccurred())
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadFull(c, got)
	Expect(err).NotTo(HaveOccurred())
	Expect(got).To(Equal(msg))
	return time.Since(start)
}

var _ = Describe("StreamProxy", func() {
	It("relays bytes intact and in order, both ways, with jitter", func() {
		p, c := newProxy(linkemu.Profile{Delay: time.Millisecond, Jitter: time.Millisecond}, linkemu.Profile{Jitter: 2 * time.Millisecond})
		msg := make([]byte, 2<<20)
		rnd := rand.New(rand.NewPCG(1, 2))
		for i := range msg {
			msg[i] = byte(rnd.Uint32())
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer GinkgoRecover()
			defer wg.Done()
			_, err := c.Write(msg)
			Expect(err).NotTo(HaveOccurred())
			c.(*net.TCPConn).CloseWrite()
		}()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		got, err := io.ReadAll(c)
		wg.Wait()
		Expect(err).NotTo(HaveOccurred())
		Expect(bytes.Equal(got, msg)).To(BeTrue())
		Eventually(func() int { return p.Stats().Active }).Should(Equal(0))
		st := p.Stats()
		Expect(st.BytesAB).To(Equal(uint64(len(msg))))
		Expect(st.BytesBA).To(Equal(uint64(len(msg))))
		Expect(st.Conns).To(Equal(uint64(1)))
	})

	It("applies the delay of each direction", func() {
		_, c := newProxy(linkemu.Profile{Delay: 30 * time.Millisecond}, linkemu.Profile{Delay: 20 * time.Millisecond})
		roundTrip(c, []byte("warm-up"))
		rtt := roundTrip(c, []byte("ping"))
		Expect(rtt).To(BeNumerically(">=", 50*time.Millisecond))
		Expect(rtt).To(BeNumerically("<", 250*time.Millisecond))
	})

	It("limits the rate", func() {
		// 400 KB at 16 Mbit/s is 200 ms on the wire one way; the echo comes
		// back unlimited.
		_, c := newProxy(linkemu.Profile{RateBps: 16_000_000}, linkemu.Profile{})
		msg := bytes.Repeat([]byte("r"), 400_000)
		el := roundTrip(c, msg)
		Expect(el).To(BeNumerically(">=", 190*time.Millisecond))
		Expect(el).To(BeNumerically("<", 2*time.Second))
	})

	It("models loss as a retransmission delay", func() {
		p, c := newProxy(linkemu.Profile{Loss: 1}, linkemu.Profile{})
		el := roundTrip(c, []byte("lost"))
		Expect(el).To(BeNumerically(">=", 200*time.Millisecond))
		Expect(p.Stats().LostAB).To(BeNumerically(">=", 1))
	})

	It("blackholes traffic during a partition and resumes when it heals", func() {
		p, c := newProxy(linkemu.Profile{}, linkemu.Profile{})
		roundTrip(c, []byte("before"))
		p.SetPartitioned(true)
		_, err := c.Write([]byte("during"))
		Expect(err).NotTo(HaveOccurred())
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 16)
		_, err = c.Read(buf)
		Expect(err).To(MatchError(ContainSubstring("timeout")))
		// A connection made during the partition is held too.
		c2, err := net.Dial("tcp", p.Addr().String())
		Expect(err).NotTo(HaveOccurred())
		defer c2.Close()
		p.SetPartitioned(false)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadFull(c, buf[:6])
		Expect(err).NotTo(HaveOccurred())
		Expect(string(buf[:6])).To(Equal("during"))
		roundTrip(c2, []byte("after"))

		p.SetUp(false)
		c.Write([]byte("down"))
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err = c.Read(buf)
		Expect(err).To(HaveOccurred())
		p.SetUp(true)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadFull(c, buf[:4])
		Expect(err).NotTo(HaveOccurred())
	})

	It("resets connections on request and on a cut when asked to", func() {
		p, c := newProxy(linkemu.Profile{}, linkemu.Profile{})
		roundTrip(c, []byte("x"))
		p.ResetConns()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Read(make([]byte, 1))
		Expect(err).To(HaveOccurred())
		Expect(err).NotTo(MatchError(ContainSubstring("timeout")))

		p.SetResetOnPartition(true)
		c2, err := net.Dial("tcp", p.Addr().String())
		Expect(err).NotTo(HaveOccurred())
		defer c2.Close()
		roundTrip(c2, []byte("y"))
		p.SetPartitioned(true)
		c2.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c2.Read(make([]byte, 1))
		Expect(err).To(HaveOccurred())
		Expect(err).NotTo(MatchError(ContainSubstring("timeout")))
	})

	It("changes its profile at run time", func() {
		p, c := newProxy(linkemu.Profile{}, linkemu.Profile{})
		Expect(roundTrip(c, []byte("fast"))).To(BeNumerically("<", 100*time.Millisecond))
		p.SetProfile(linkemu.Profile{Delay: 60 * time.Millisecond}, linkemu.Profile{Delay: 60 * time.Millisecond})
		Expect(roundTrip(c, []byte("slow"))).To(BeNumerically(">=", 120*time.Millisecond))
	})

	It("leaves no goroutine behind after Close", func() {
		opts := goleak.IgnoreCurrent()
		target, stop := echoServer()
		p, err := linkemu.NewStreamProxy("127.0.0.1:0", target, linkemu.Profile{Delay: 50 * time.Millisecond}, linkemu.Profile{}, 1, clock.Real{}, netx.Host{})
		Expect(err).NotTo(HaveOccurred())
		var cs []net.Conn
		for range 3 {
			c, err := net.Dial("tcp", p.Addr().String())
			Expect(err).NotTo(HaveOccurred())
			c.Write([]byte("pending"))
			cs = append(cs, c)
		}
		p.SetPartitioned(true)
		c, err := net.Dial("tcp", p.Addr().String()) // held in the blackhole
		Expect(err).NotTo(HaveOccurred())
		cs = append(cs, c)
		Eventually(func() uint64 { return p.Stats().Conns }).Should(Equal(uint64(4)))
		Expect(p.Close()).To(Succeed())
		stop()
		for _, c := range cs {
			c.Close()
		}
		Expect(goleak.Find(opts)).To(Succeed())
	})
})

var _ = Describe("StreamProxy under a manual clock", func() {
	It("holds bytes exactly for the delay, then forwards them", func() {
		clk := clock.NewManual(t0)
		target, stop := echoServer()
		p, err := linkemu.NewStreamProxy("127.0.0.1:0", target, linkemu.Profile{Delay: time.Second}, linkemu.Profile{}, 1, clk, netx.Host{})
		Expect(err).NotTo(HaveOccurred())
		c, err := net.Dial("tcp", p.Addr().String())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			c.Close()
			Expect(p.Close()).To(Succeed())
			stop()
		})
		_, err = c.Write([]byte("tick"))
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() int64 { return p.Stats().QueuedAB }).Should(Equal(int64(4)))
		clk.Advance(time.Second - time.Nanosecond)
		Consistently(func() uint64 { return p.Stats().BytesAB }, 100*time.Millisecond).Should(BeZero())
		clk.Advance(time.Nanosecond)
		Eventually(func() uint64 { return p.Stats().BytesAB }).Should(Equal(uint64(4)))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4)
		_, err = io.ReadFull(c, buf)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(buf)).To(Equal("tick"))
		Expect(p.Stats().QueuedAB).To(BeZero())
	})
})
