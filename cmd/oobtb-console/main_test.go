package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/server"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/services"
)

// run executes the CLI with args and returns stdout, stderr and the error.
func run(stdin string, args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	cmd := command(strings.NewReader(stdin), &out, &errb)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

var _ = Describe("argument errors", func() {
	DescribeTable("are clear",
		func(want string, args ...string) {
			_, _, err := run("", args...)
			Expect(err).To(MatchError(ContainSubstring(want)))
		},
		Entry("power without device", "power needs an action and a device", "power", "cycle"),
		Entry("unknown power action", `unknown power action "explode"`, "power", "explode", "x"),
		Entry("kvm without device", "kvm needs exactly one device", "kvm"),
		Entry("inventory with two", "inventory needs exactly one device", "inventory", "a", "b"),
		Entry("bad bpp", "--bpp 12: expected 16", "kvm", "--bpp", "12", "x"),
		Entry("bad stats", `--stats "xml"`, "kvm", "--stats", "xml", "x"),
		Entry("untypable text", "no Latin-1 keysym", "kvm", "--type", "\u20ac", "x"),
		Entry("no server", "--server URL or set OOBTB_SERVER", "--server", "", "--token", "t", "devices"),
		Entry("no token", "--token T or set OOBTB_TOKEN", "--server", "http://127.0.0.1:1", "--token", "", "devices"),
		Entry("bad server URL", "expected http://host:port", "--server", "ftp://x", "--token", "t", "devices"),
		Entry("unknown command", "unknown command", "frobnicate"),
		Entry("sol direct with two", "sol --direct takes at most one device", "sol", "--direct", "127.0.0.1:1", "a", "b"),
	)
})

var _ = Describe("against a server and a vMC", Ordered, func() {
	const dev = "4c4c4544-0000-4000-8000-000000000001"
	var srv *server.Server
	var base []string
	var svcs map[uint32]vmc.Service

	BeforeAll(func() {
		var err error
		srv, err = server.New(server.Config{DataDir: GinkgoT().TempDir(), CIRAListen: "127.0.0.1:0", APIListen: "127.0.0.1:0",
			KeyType: pki.ECDSAP256, PasswordIterations: 1000})
		Expect(err).NotTo(HaveOccurred())
		Expect(srv.Start(context.Background())).To(Succeed())
		_, err = srv.Enrol(context.Background(), registry.DeviceEnrolment{UUID: dev, CIRAUser: "d1", CIRAPassword: "c", AMTPassword: "P@ssw0rd"})
		Expect(err).NotTo(HaveOccurred())
		d, err := vmc.Build(vmc.Spec{UUID: dev, Servers: []string{srv.CIRAAddr().String()}, User: "d1", Pass: "c", AMTPass: "P@ssw0rd",
			Resolution: "640x480", Workload: "terminal", Seed: 3},
			vmc.Deps{RootCAs: srv.CAPool(), Services: func(h *host.Host) map[uint32]vmc.Service {
				svcs = services.For(h)
				return svcs
			}})
		Expect(err).NotTo(HaveOccurred())
		d.Start()
		DeferCleanup(func() {
			d.Stop()
			Expect(srv.Close()).To(Succeed())
		})
		Eventually(func() int { return len(srv.Connected()) }, 30*time.Second).Should(Equal(1))
		base = []string{"--server", srv.APIURL(), "--token", srv.AdminToken()}
	})

	It("lists devices", func() {
		out, _, err := run("", append(base, "devices")...)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring(dev))
		Expect(out).To(ContainSubstring("true"))
		out, _, err = run("", append(base, "devices", "--json")...)
		Expect(err).NotTo(HaveOccurred())
		var ds []map[string]any
		Expect(json.Unmarshal([]byte(out), &ds)).To(Succeed())
		Expect(ds[0]["uuid"]).To(Equal(dev))
	})

	It("prints the inventory and the power state", func() {
		out, _, err := run("", append(base, "inventory", "4c4c")...)
		Expect(err).NotTo(HaveOccurred())
		var inv map[string]any
		Expect(json.Unmarshal([]byte(out), &inv)).To(Succeed())
		Expect(inv).To(HaveKey("classes"))
		out, _, err = run("", append(base, "power", "status", dev)...)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring("power state 2"))
	})

	It("opens KVM: types, writes a PNG, prints JSON figures", func() {
		shot := filepath.Join(GinkgoT().TempDir(), "s.png")
		out, errOut, err := run("", append(base, "kvm", dev, "--type", "hi there\n", "--screenshot", shot,
			"--stats", "json", "--duration", "200ms", "--bpp", "8", "--deflate")...)
		Expect(err).NotTo(HaveOccurred(), errOut)
		var st map[string]any
		Expect(json.Unmarshal([]byte(out), &st)).To(Succeed(), out)
		Expect(st["bpp"]).To(BeEquivalentTo(8))
		Expect(st["inputLatencyMs"].(map[string]any)["samples"]).To(BeEquivalentTo(18))
		Expect(st["integrity"].(map[string]any)["failures"]).To(BeEquivalentTo(0))
		Expect(errOut).To(ContainSubstring("screenshot written"))
		fi, err := os.Stat(shot)
		Expect(err).NotTo(HaveOccurred())
		Expect(fi.Size()).To(BeNumerically(">", 100))
	})

	It("serves a VNC endpoint for the session's duration", func() {
		_, errOut, err := run("", append(base, "kvm", dev, "--listen", "127.0.0.1:0", "--duration", "300ms", "--stats", "text")...)
		Expect(err).NotTo(HaveOccurred())
		Expect(errOut).To(ContainSubstring("VNC viewers can connect to 127.0.0.1:"))
		Expect(errOut).To(ContainSubstring("frame integrity"))
	})

	It("opens KVM and SOL with --direct to the device's redirection port, with the device's AMT credentials", func() {
		// The vMC's redirection service on a plain TCP port, as a LAN
		// console would reach port 16994.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				wg.Add(1)
				go func() { defer wg.Done(); svcs[16994](c) }()
			}
		}()
		DeferCleanup(func() { ln.Close(); wg.Wait() })
		addr := ln.Addr().String()
		// The previous spec's session may still hold the device's KVM lock
		// for a moment after its console left.
		var out, errOut string
		Eventually(func() error {
			var err error
			out, errOut, err = run("", "kvm", "--direct", addr, "--pass", "P@ssw0rd", "--stats", "json", "--duration", "200ms")
			return err
		}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
		var st map[string]any
		Expect(json.Unmarshal([]byte(out), &st)).To(Succeed(), out)
		Expect(st["updates"]).To(BeNumerically(">", 0))
		out, errOut, err = run("", "sol", "--direct", addr, "--pass", "P@ssw0rd", "--send", `ls\n`, "--duration", "500ms")
		Expect(err).NotTo(HaveOccurred(), errOut)
		Expect(out).To(ContainSubstring(": ls"))
		_, _, err = run("", "kvm", "--direct", addr, "--pass", "wrong", "--duration", "200ms")
		Expect(err).To(HaveOccurred())
	})

	It("runs SOL with --send and with piped input", func() {
		out, _, err := run("", append(base, "sol", dev, "--send", `ls\n`, "--duration", "500ms")...)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring(": ls"))
		out, _, err = run("pwd\n", append(base, "sol", dev, "--duration", "500ms")...)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring(": pwd"))
	})

	It("power-cycles a device and reports an unknown one", func() {
		out, _, err := run("", append(base, "power", "cycle", dev)...)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring("cycle accepted"))
		_, _, err = run("", append(base, "power", "on", "ffff")...)
		Expect(err).To(MatchError(ContainSubstring(`no device matches "ffff"`)))
	})
})
