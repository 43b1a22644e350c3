package runner

import (
	"context"
	"io"
	"net"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/scenarios/spec"
	"github.com/oobtb/oobtb/topology/linkemu"
)

const topo = `name: t
topology:
  name: t
  nodes:
    - {name: a, role: host}
    - {name: b, role: host}
    - {name: c, role: host}
  segments: [{name: net}]
  links:
    - {name: a-net, a: a, b: net, profile: "delay=20ms,rate=10Mbit"}
    - {name: b-net, a: b, b: net, a_to_b: {delay: 5ms, loss: 1%}, b_to_a: {delay: 1ms}}
    - {name: c-net, a: c, b: net}
parties: [{name: x, kind: process, node: a, command: ["true"]}]
timeline: [{do: cut, link: a-net}]
`

var _ = Describe("inproc backend", func() {
	It("composes the profiles of a path per direction", func() {
		p := composeProfiles([]linkemu.Profile{{Delay: 20 * time.Millisecond, RateBps: 10e6, Loss: 0.1},
			{Delay: 5 * time.Millisecond, RateBps: 5e6, QueueBytes: 1000, Loss: 0.1}, {}})
		Expect(p.Delay).To(Equal(25 * time.Millisecond))
		Expect(p.RateBps).To(Equal(int64(5e6)))
		Expect(p.QueueBytes).To(Equal(1000))
		Expect(p.Loss).To(BeNumerically("~", 0.19, 1e-9))
	})

	It("routes through a proxy with the path's profiles, and cut/heal act on it", func() {
		cs, err := spec.Load("t.yaml", []byte(topo))
		Expect(err).NotTo(HaveOccurred())
		n, err := inprocBackend{}.Up(context.Background(), cs[0], 1)
		Expect(err).NotTo(HaveOccurred())
		defer func() {
			Expect(n.Close()).To(Succeed())
			Expect(n.Leftovers()).To(BeEmpty())
		}()
		in := n.(*inprocNet)
		Expect(n.Host("a")).To(Equal("127.0.1.1"))
		Expect(n.Host("c")).To(Equal("127.0.1.3"))
		path, ok := in.path("a", "b")
		Expect(ok).To(BeTrue())
		Expect(path).To(HaveLen(2))
		ab, ba := in.compose(path)
		Expect(ab.Delay).To(Equal(21*time.Millisecond), "a→net 20ms, net→b is b-net's b_to_a 1ms")
		Expect(ba.Delay).To(Equal(25 * time.Millisecond))
		Expect(ab.RateBps).To(Equal(int64(10e6)))

		ctx := context.Background()
		ln, err := n.Network("b").Listen(ctx, "tcp", n.Host("b")+":0")
		Expect(err).NotTo(HaveOccurred())
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
			}
		}()
		same, err := n.Route("b", "b", ln.Addr().String())
		Expect(err).NotTo(HaveOccurred())
		Expect(same).To(Equal(ln.Addr().String()))
		addr, err := n.Route("a", "b", ln.Addr().String())
		Expect(err).NotTo(HaveOccurred())
		Expect(addr).NotTo(Equal(ln.Addr().String()))
		again, _ := n.Route("a", "b", ln.Addr().String())
		Expect(again).To(Equal(addr), "one proxy per (from, to, address)")

		conn, err := n.Network("a").Dial(ctx, "tcp", addr)
		Expect(err).NotTo(HaveOccurred())
		defer conn.Close()
		Expect(conn.LocalAddr().(*net.TCPAddr).IP.String()).To(Equal("127.0.1.1"))
		echo := func(wait time.Duration) (time.Duration, error) {
			t0 := time.Now()
			if _, err := conn.Write([]byte("ping")); err != nil {
				return 0, err
			}
			_ = conn.SetReadDeadline(time.Now().Add(wait))
			buf := make([]byte, 4)
			_, err := io.ReadFull(conn, buf)
			return time.Since(t0), err
		}
		rtt, err := echo(5 * time.Second)
		Expect(err).NotTo(HaveOccurred())
		Expect(rtt).To(BeNumerically(">=", 45*time.Millisecond), "21 ms + 25 ms")

		Expect(n.Cut("b-net")).To(Succeed())
		_, err = echo(500 * time.Millisecond)
		Expect(err).To(HaveOccurred(), "a cut link is a blackhole")
		Expect(n.Heal("b-net")).To(Succeed())
		buf := make([]byte, 4)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadFull(conn, buf)
		Expect(err).NotTo(HaveOccurred(), "held bytes arrive after the heal")
		Expect(string(buf)).To(Equal("ping"))

		Expect(n.SetProfiles("a-net", linkemu.Profile{}, linkemu.Profile{})).To(Succeed())
		rtt, err = echo(5 * time.Second)
		Expect(err).NotTo(HaveOccurred())
		Expect(rtt).To(BeNumerically("<", 45*time.Millisecond))
		Expect(n.Cut("nowhere")).To(MatchError(ContainSubstring(`no link "nowhere"`)))
	})
})
