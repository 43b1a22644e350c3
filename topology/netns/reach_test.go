package netns_test

import (
	"context"
	"crypto/sha256"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/topology"
	"github.com/oobtb/oobtb/topology/netns"
)

// echoServer accepts on node:port and echoes; it returns the remote
// address of every accepted connection on the channel.
func echoServer(n *netns.Node, port string) (net.Listener, <-chan net.Addr) {
	GinkgoHelper()
	l, err := n.Network().Listen(context.Background(), "tcp", "0.0.0.0:"+port)
	Expect(err).NotTo(HaveOccurred())
	peers := make(chan net.Addr, 16)
	var mu sync.Mutex
	var conns []net.Conn
	DeferCleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case peers <- c.RemoteAddr():
			default:
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	DeferCleanup(l.Close)
	return l, peers
}

func echoOnce(n *netns.Node, addr string) {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := n.Network().Dial(ctx, "tcp", addr)
	Expect(err).NotTo(HaveOccurred())
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Write([]byte("hello"))
	Expect(err).NotTo(HaveOccurred())
	buf := make([]byte, 5)
	_, err = io.ReadFull(c, buf)
	Expect(err).NotTo(HaveOccurred())
	Expect(string(buf)).To(Equal("hello"))
}

var _ = Describe("one-site", func() {
	It("connects every party through TAP links, with the server seeing the gateway's WAN address", func() {
		spec, err := topology.LoadFile("../examples/one-site.yaml")
		Expect(err).NotTo(HaveOccurred())
		t := upSpec(spec)
		Expect(t.Namespaces()).To(HaveLen(8))
		for _, ns := range t.Namespaces() {
			Expect(netns.Leftovers(t.Prefix)).To(ContainElement("/run/netns/" + ns))
		}
		_, peers := echoServer(t.Node("server"), "7000")
		gwWAN := t.Node("gw").AddrOn("wan0")
		for _, d := range []string{"dev1", "dev2", "dev3"} {
			echoOnce(t.Node(d), "server:7000")
			var p net.Addr
			Eventually(peers).Should(Receive(&p))
			ap := netip.MustParseAddrPort(p.String())
			Expect(ap.Addr()).To(Equal(gwWAN), "client %s is NATed behind the gateway", d)
		}
		echoOnce(t.Node("console"), "server:7000")
		var p net.Addr
		Eventually(peers).Should(Receive(&p))
		Expect(netip.MustParseAddrPort(p.String()).Addr()).To(Equal(t.Node("console").Addr()))
		// LAN devices talk to each other directly on the bridge.
		echoServer(t.Node("dev1"), "7001")
		echoOnce(t.Node("dev2"), "dev1:7001")
	})

	It("does not let the WAN reach into the LAN", func() {
		spec, err := topology.LoadFile("../examples/one-site.yaml")
		Expect(err).NotTo(HaveOccurred())
		t := upSpec(spec)
		echoServer(t.Node("dev1"), "7002")
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err = t.Node("server").Network().Dial(ctx, "tcp", t.Node("dev1").Addr().String()+":7002")
		Expect(err).To(HaveOccurred(), "the server has no route to the LAN")
	})
})

var _ = Describe("two-sites", func() {
	It("routes both sites through the ISP router, each behind its own NAT", func() {
		spec, err := topology.LoadFile("../examples/two-sites.yaml")
		Expect(err).NotTo(HaveOccurred())
		t := upSpec(spec)
		_, peers := echoServer(t.Node("server"), "7010")
		for _, c := range []struct{ dev, gw string }{{"a1", "gw-a"}, {"b2", "gw-b"}} {
			echoOnce(t.Node(c.dev), "server:7010")
			var p net.Addr
			Eventually(peers).Should(Receive(&p))
			Expect(netip.MustParseAddrPort(p.String()).Addr()).To(Equal(t.Node(c.gw).AddrOn("wan0")))
		}
		echoOnce(t.Node("console"), "server:7010")
	})
})

var _ = Describe("lan-200", func() {
	It("brings 200 clients up behind one gateway and down again", func() {
		spec, err := topology.LoadFile("../examples/lan-200.yaml")
		Expect(err).NotTo(HaveOccurred())
		t := upSpec(spec)
		Expect(t.Nodes()).To(HaveLen(202))
		Expect(t.Namespaces()).To(HaveLen(203))
		echoServer(t.Node("server"), "7020")
		echoOnce(t.Node("c1"), "server:7020")
		echoOnce(t.Node("c200"), "server:7020")
		// Node.Do runs inside the namespace.
		var ifaces []net.Interface
		Expect(t.Node("c17").Do(func() error {
			var err error
			ifaces, err = net.Interfaces()
			return err
		})).To(Succeed())
		var names []string
		for _, i := range ifaces {
			names = append(names, i.Name)
		}
		Expect(names).To(ConsistOf("lo", "eth0"))
	})
})

var _ = Describe("offload", func() {
	It("carries TCP intact over TAPs with segmentation offload, through a bridge", func() {
		t := up(`name: offload
nodes:
  - {name: a, role: host}
  - {name: b, role: host}
  - {name: c, role: host}
segments: [{name: lan}]
links:
  - {name: ab, a: a, b: b, offload: true}
  - {name: a-lan, a: a, b: lan, offload: true}
  - {name: c-lan, a: c, b: lan}
`)
		payload := make([]byte, 8<<20)
		for i := range payload {
			payload[i] = byte(i*7 + i>>9)
		}
		want := sha256.Sum256(payload)
		for _, dst := range []string{"b", "c"} {
			l, err := t.Node(dst).Network().Listen(context.Background(), "tcp", "0.0.0.0:7700")
			Expect(err).NotTo(HaveOccurred())
			sums := make(chan [32]byte, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				h := sha256.New()
				_, _ = io.Copy(h, c)
				var s [32]byte
				copy(s[:], h.Sum(nil))
				sums <- s
			}()
			c, err := t.Node("a").Network().Dial(context.Background(), "tcp", dst+":7700")
			Expect(err).NotTo(HaveOccurred())
			_, err = c.Write(payload)
			Expect(err).NotTo(HaveOccurred())
			Expect(c.Close()).To(Succeed())
			Eventually(sums, 10*time.Second).Should(Receive(Equal(want)), "to %s", dst)
			Expect(l.Close()).To(Succeed())
		}
		ab, _ := t.Link("ab").Stats()
		Expect(ab.DeliveredBytes/ab.DeliveredPackets).To(BeNumerically(">", 1514), "super-frames crossed the emulator")
	})
})
