package netns_test

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/topology"
	"github.com/oobtb/oobtb/topology/netns"
)

const natSpec = `name: nat
nodes:
  - {name: server, role: server}
  - name: gw-eim
    role: gateway
    nat: {outside: wan0, mapping: endpoint-independent}
  - name: gw-sym
    role: gateway
    nat: {outside: wan0, mapping: symmetric}
  - {name: c1, role: client}
  - {name: c2, role: client}
segments:
  - name: wan
links:
  - {name: s-wan, a: server, b: wan}
  - {name: e-wan, a: gw-eim:wan0, b: wan}
  - {name: y-wan, a: gw-sym:wan0, b: wan}
  - {name: c1-e, a: c1, b: gw-eim:lan0}
  - {name: c2-y, a: c2, b: gw-sym:lan0}
`

// mappedPorts sends one datagram from a single client socket to several
// server ports and returns the source ports the server saw.
func mappedPorts(t *netns.Topology, client string, server []net.PacketConn) ([]int, netip.Addr) {
	GinkgoHelper()
	c, err := t.Node(client).Network().ListenPacket(context.Background(), "udp4", "0.0.0.0:40000")
	Expect(err).NotTo(HaveOccurred())
	defer c.Close()
	var ports []int
	var src netip.Addr
	for _, s := range server {
		Eventually(func() bool {
			_, err := c.WriteTo([]byte("x"), s.LocalAddr().(*net.UDPAddr))
			Expect(err).NotTo(HaveOccurred())
			_ = s.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			_, from, err := s.ReadFrom(make([]byte, 16))
			if err != nil {
				return false
			}
			ap := from.(*net.UDPAddr).AddrPort()
			ports = append(ports, int(ap.Port()))
			src = ap.Addr().Unmap()
			return true
		}).WithTimeout(3 * time.Second).Should(BeTrue())
	}
	return ports, src
}

var _ = Describe("NAT", func() {
	It("maps endpoint-independently or symmetrically as configured", func() {
		t := up(natSpec)
		srv := t.Node("server")
		var socks []net.PacketConn
		for _, p := range []string{"7400", "7401", "7402", "7403"} {
			s, err := srv.Network().ListenPacket(context.Background(), "udp4", srv.Addr().String()+":"+p)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(s.Close)
			socks = append(socks, s)
		}
		eim, src := mappedPorts(t, "c1", socks)
		Expect(src).To(Equal(t.Node("gw-eim").AddrOn("wan0")))
		Expect(eim).To(HaveEach(eim[0]), "one external port for every destination")
		sym, src := mappedPorts(t, "c2", socks)
		Expect(src).To(Equal(t.Node("gw-sym").AddrOn("wan0")))
		distinct := map[int]bool{}
		for _, p := range sym {
			distinct[p] = true
		}
		Expect(len(distinct)).To(BeNumerically(">=", 3), "a fresh port per destination: %v", sym)
	})
})

var _ = Describe("hygiene", func() {
	It("removes everything when setup fails halfway", func() {
		spec, err := topology.LoadFile("../examples/one-site.yaml")
		Expect(err).NotTo(HaveOccurred())
		prefix := netns.NewPrefix()
		// A stray file where dev2's namespace must go makes its creation fail.
		blocker := filepath.Join(netns.NetnsDir, netns.NSName(prefix, "dev2"))
		Expect(os.MkdirAll(netns.NetnsDir, 0o755)).To(Succeed())
		Expect(os.WriteFile(blocker, nil, 0o444)).To(Succeed())
		DeferCleanup(func() { _ = os.Remove(blocker) })
		dir := GinkgoT().TempDir()
		_, err = netns.Up(context.Background(), spec, netns.WithPrefix(prefix), netns.WithStateDir(dir))
		Expect(err).To(MatchError(ContainSubstring("dev2")))
		// Teardown of the failed run removes the blocker too: it carries the prefix.
		Expect(netns.Leftovers(prefix)).To(BeEmpty())
		Expect(filepath.Join(dir, prefix+".json")).NotTo(BeAnExistingFile())
	})

	It("cleans up after a SIGKILLed runner", func() {
		prefix := netns.NewPrefix()
		dir := GinkgoT().TempDir()
		self, err := os.Executable()
		Expect(err).NotTo(HaveOccurred())
		file, err := filepath.Abs("../examples/one-site.yaml")
		Expect(err).NotTo(HaveOccurred())
		cmd := exec.Command(self, prefix, dir)
		cmd.Env = append(os.Environ(), runnerEnv+"="+file)
		out, err := cmd.StdoutPipe()
		Expect(err).NotTo(HaveOccurred())
		cmd.Stderr = GinkgoWriter
		Expect(cmd.Start()).To(Succeed())
		line, err := bufio.NewReader(out).ReadString('\n')
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.TrimSpace(line)).To(Equal("ready"))
		Expect(netns.Leftovers(prefix)).To(HaveLen(8))
		st, err := netns.ReadState(dir, prefix)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.PID).To(Equal(cmd.Process.Pid))

		// A prefix-less clean leaves a live run alone.
		rep, err := netns.Clean(netns.CleanOptions{StateDir: dir})
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Skipped).To(ContainElement(prefix))
		Expect(netns.Leftovers(prefix)).To(HaveLen(8))

		Expect(cmd.Process.Kill()).To(Succeed())
		_ = cmd.Wait()
		Expect(netns.Leftovers(prefix)).To(HaveLen(8), "namespaces outlive their runner")
		rep, err = netns.Clean(netns.CleanOptions{StateDir: dir})
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Runs).To(ContainElement(prefix))
		Expect(rep.Namespaces).To(Equal(8))
		Expect(netns.Leftovers(prefix)).To(BeEmpty())
		Expect(netns.StatePath(dir, prefix)).NotTo(BeAnExistingFile())
	})

	It("kills a live runner when cleaning its prefix explicitly", func() {
		prefix := netns.NewPrefix()
		dir := GinkgoT().TempDir()
		self, err := os.Executable()
		Expect(err).NotTo(HaveOccurred())
		file, err := filepath.Abs("../examples/one-site.yaml")
		Expect(err).NotTo(HaveOccurred())
		cmd := exec.Command(self, prefix, dir)
		cmd.Env = append(os.Environ(), runnerEnv+"="+file)
		out, err := cmd.StdoutPipe()
		Expect(err).NotTo(HaveOccurred())
		Expect(cmd.Start()).To(Succeed())
		_, err = bufio.NewReader(out).ReadString('\n')
		Expect(err).NotTo(HaveOccurred())
		waited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(waited) }() // reap, so the runner does not linger as a zombie
		rep, err := netns.Clean(netns.CleanOptions{Prefix: prefix, StateDir: dir})
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Killed).To(ConsistOf(cmd.Process.Pid))
		Eventually(waited).Should(BeClosed())
		Expect(netns.Leftovers(prefix)).To(BeEmpty())
	})
})
