package host_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/power"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/sim/clock"
)

var _ = Describe("Host", func() {
	var (
		clk *clock.Manual
		h   *host.Host
	)
	BeforeEach(func() {
		clk = clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		var err error
		h, err = host.New(host.Config{Identity: host.Identity{UUID: "12345678-9abc-def0-1122-334455667788", Hostname: "pc1"},
			Settings: host.DefaultSettings(), Screen: screen.Config{Width: 640, Height: 480, Workload: screen.W2Terminal}, Clock: clk})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(h.Close)
	})

	It("allows one KVM session at a time and refuses the second clearly", func() {
		release, err := h.AcquireKVM("console-a")
		Expect(err).NotTo(HaveOccurred())
		_, err = h.AcquireKVM("console-b")
		Expect(err).To(MatchError(host.ErrKVMBusy))
		Expect(err).To(MatchError(ContainSubstring("console-a")))
		release()
		release2, err := h.AcquireKVM("console-b")
		Expect(err).NotTo(HaveOccurred())
		release2()
	})

	It("advances frames on the clock only while watched", func() {
		release, err := h.AcquireKVM("c")
		Expect(err).NotTo(HaveOccurred())
		next := h.NextFrame()
		clk.Advance(100 * time.Millisecond)
		Expect(next).To(BeClosed())
		var frame uint32
		h.WithScreen(func(s *screen.Screen) { frame = s.Frame() })
		Expect(frame).To(BeNumerically(">", 0))
		release()
		next = h.NextFrame()
		clk.Advance(time.Second)
		Expect(next).NotTo(BeClosed())
	})

	It("turns the screen off and refuses KVM after a power-off, then boots on power-on", func() {
		Expect(h.RequestPower(power.ReqOffSoft)).To(Equal(power.ReturnOK))
		clk.Advance(10 * time.Second)
		Expect(h.PowerReport().PowerState).To(Equal(power.OffSoft))
		ok, why := h.KVMAllowed()
		Expect(ok).To(BeFalse())
		Expect(why).NotTo(BeEmpty())
		_, err := h.AcquireKVM("c")
		Expect(err).To(HaveOccurred())
		Expect(h.RequestPower(power.ReqOn)).To(Equal(power.ReturnOK))
		clk.Advance(time.Minute)
		Expect(h.PowerReport().PowerState).To(Equal(power.On))
		release, err := h.AcquireKVM("c")
		Expect(err).NotTo(HaveOccurred())
		release()
	})

	It("echoes SOL input and answers each line", func() {
		h.Serial().Input([]byte("ls\r"))
		out, _, closed := h.Serial().Output(1024)
		Expect(closed).To(BeFalse())
		Expect(string(out)).To(Equal("ls\r\npc1: ls\r\npc1$ "))
	})
})
