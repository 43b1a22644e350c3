package console_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/console"
	"github.com/oobtb/oobtb/emulators/console/apiclient"
	"github.com/oobtb/oobtb/emulators/console/kvmclient"
	"github.com/oobtb/oobtb/emulators/console/solclient"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/server"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/vmc/services"
)

const amtPass = "P@ssw0rd"

func uuidN(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-000000000000", i+1) }

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var _ = Describe("console through the management server's relay", Ordered, func() {
	var (
		srv   *server.Server
		devs  []*vmc.Device
		mu    sync.Mutex
		hosts = map[string]*host.Host{}
		c     *console.Console
		ctx   = context.Background()
	)

	BeforeAll(func() {
		var err error
		srv, err = server.New(server.Config{DataDir: GinkgoT().TempDir(), CIRAListen: "127.0.0.1:0", APIListen: "127.0.0.1:0",
			KeyType: pki.ECDSAP256, PasswordIterations: 1000})
		Expect(err).NotTo(HaveOccurred())
		Expect(srv.Start(context.Background())).To(Succeed())
		for i := 0; i < 2; i++ {
			_, err := srv.Enrol(ctx, registry.DeviceEnrolment{UUID: uuidN(i), CIRAUser: fmt.Sprintf("dev%d", i),
				CIRAPassword: "cira-secret", AMTPassword: amtPass})
			Expect(err).NotTo(HaveOccurred())
			u := uuidN(i)
			d, err := vmc.Build(vmc.Spec{UUID: u, Servers: []string{srv.CIRAAddr().String()}, User: fmt.Sprintf("dev%d", i),
				Pass: "cira-secret", AMTPass: amtPass, Seed: uint64(i + 1), Resolution: "640x480", Workload: "terminal"},
				vmc.Deps{RootCAs: srv.CAPool(), Services: func(h *host.Host) map[uint32]vmc.Service {
					mu.Lock()
					hosts[u] = h
					mu.Unlock()
					return services.For(h)
				}})
			Expect(err).NotTo(HaveOccurred())
			d.Start()
			devs = append(devs, d)
		}
		Eventually(func() int { return len(srv.Connected()) }, 30*time.Second).Should(Equal(2))
		c, err = console.New(srv.APIURL(), srv.AdminToken())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			for _, d := range devs {
				d.Stop()
			}
			Expect(srv.Close()).To(Succeed())
		})
	})

	It("lists the devices, online", func() {
		ds, err := c.API.ListDevices(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(ds).To(HaveLen(2))
		for _, d := range ds {
			Expect(d.Online).To(BeTrue())
		}
		u, err := c.ResolveDevice(ctx, uuidN(1)[:8])
		Expect(err).NotTo(HaveOccurred())
		Expect(u).To(Equal(uuidN(1)))
		_, err = c.ResolveDevice(ctx, "0000")
		Expect(err).To(MatchError(ContainSubstring("matches 2 devices")))
	})

	It("reads inventory and power, and power-cycles a device", func() {
		inv, err := c.API.Inventory(ctx, uuidN(1))
		Expect(err).NotTo(HaveOccurred())
		Expect(inv.Classes).NotTo(BeEmpty())
		p, err := c.API.Power(ctx, uuidN(1))
		Expect(err).NotTo(HaveOccurred())
		Expect(p.PowerState).To(Equal(2))
		r, err := c.API.PowerAction(ctx, uuidN(1), "off")
		Expect(err).NotTo(HaveOccurred())
		Expect(r.ReturnValue).To(BeZero())
		Eventually(func() int { p, _ := c.API.Power(ctx, uuidN(1)); return p.PowerState }, 20*time.Second).ShouldNot(Equal(2))
		// KVM to a powered-off host is refused with a clear reason.
		_, err = c.OpenKVM(ctx, uuidN(1), kvmclient.Config{Timeout: 10 * time.Second})
		Expect(err).To(MatchError(ContainSubstring("powered off")))
		r, err = c.API.PowerAction(ctx, uuidN(1), "on")
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() int { p, _ := c.API.Power(ctx, uuidN(1)); return p.PowerState }, 20*time.Second).Should(Equal(2))
	})

	It("runs KVM through the relay: typed text on screen, a PNG, figures; a second console is refused", func() {
		// The console's own credentials are wrong: the relay injects the right ones.
		kc, err := c.OpenKVM(ctx, uuidN(0), kvmclient.Config{Timeout: 10 * time.Second})
		Expect(err).NotTo(HaveOccurred())

		_, err = c.OpenKVM(ctx, uuidN(0), kvmclient.Config{Timeout: 10 * time.Second})
		Expect(apiclient.IsCode(err, "kvm_busy")).To(BeTrue(), fmt.Sprint(err))
		Expect(err.Error()).To(ContainSubstring("a KVM session is already active on this device"))

		shot := filepath.Join(GinkgoT().TempDir(), "kvm.png")
		notes := &syncBuf{}
		st, err := console.RunKVM(ctx, kc, console.KVMOptions{Type: "hello oobtb\n", Duration: 300 * time.Millisecond,
			Screenshot: shot, Notify: notes})
		Expect(err).NotTo(HaveOccurred())
		Expect(notes.String()).To(ContainSubstring("typed 12 characters"))
		Expect(st.Inputs.Seen).To(BeEquivalentTo(24))
		Expect(st.Latency.Samples).To(Equal(24))
		Expect(st.Latency.P50).To(BeNumerically(">", 0))
		Expect(st.Integrity.Failures).To(BeZero())
		Expect(st.Updates).To(BeNumerically(">", 1))
		Expect(st.FramesPerSecond).To(BeNumerically(">", 0))
		Expect(st.MbitPerSecond).To(BeNumerically(">", 0))
		f, err := os.Open(shot)
		Expect(err).NotTo(HaveOccurred())
		img, err := png.Decode(f)
		f.Close()
		Expect(err).NotTo(HaveOccurred())
		Expect(img.Bounds().Dx()).To(Equal(640))

		mu.Lock()
		h := hosts[uuidN(0)]
		mu.Unlock()
		var last uint32
		h.WithScreen(func(s *screen.Screen) { last = s.LastInputID() })
		Expect(st.Stamp.InputID).To(Equal(last))

		// The lock is released once the session ended.
		Eventually(func() error {
			kc, err := c.OpenKVM(ctx, uuidN(0), kvmclient.Config{Timeout: 10 * time.Second})
			if err == nil {
				kc.Close()
			}
			return err
		}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
	})

	It("runs SOL through the relay", func() {
		sc, err := c.OpenSOL(ctx, uuidN(0), solclient.Config{Timeout: 10 * time.Second})
		Expect(err).NotTo(HaveOccurred())
		out := &syncBuf{}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- sc.Run(rctx, out) }()
		_, err = sc.Write([]byte("whoami\n"))
		Expect(err).NotTo(HaveOccurred())
		Eventually(out.String, 10*time.Second).Should(ContainSubstring(": whoami"))
		cancel()
		Eventually(done, 10*time.Second).Should(Receive(BeNil()))
		Expect(sc.Close()).To(Succeed())
	})

	It("explains an offline device and a bad token", func() {
		_, err := c.API.Enrol(ctx, apiclient.EnrolRequest{UUID: uuidN(9), CIRAUser: "x9", CIRAPass: "p", AMTPass: "a"})
		Expect(err).NotTo(HaveOccurred())
		_, err = c.OpenKVM(ctx, uuidN(9), kvmclient.Config{})
		Expect(err).To(MatchError(ContainSubstring("the device is offline")))
		bad, err := console.New(srv.APIURL(), "nope")
		Expect(err).NotTo(HaveOccurred())
		_, err = bad.API.ListDevices(ctx)
		Expect(apiclient.IsCode(err, "unauthorized")).To(BeTrue())
		_, err = console.New("", "t")
		Expect(err).To(MatchError(ContainSubstring("OOBTB_SERVER")))
	})
})
