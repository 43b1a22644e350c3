package power_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/power"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func newMachine(mod func(*power.Config)) *power.Machine {
	cfg := power.DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	m, err := power.New(cfg)
	Expect(err).NotTo(HaveOccurred())
	return m
}

func request(m *power.Machine, now time.Time, r power.Request) []power.Action {
	rv, acts := m.Request(now, r)
	Expect(rv).To(Equal(power.ReturnOK), "request %s", r)
	return acts
}

var _ = Describe("Power state machine", func() {
	It("reports a running host like a captured AMT response", func() {
		m := newMachine(nil)
		r := m.Report()
		Expect(r.PowerState).To(Equal(power.On))
		Expect(r.OSPowerSavingState).To(Equal(power.OSPowerFull))
		Expect(r.AvailableRequestedPowerStates).To(Equal([]power.Request{2, 4, 5, 7, 8, 10, 12, 14}))
		ok, _ := m.KVMStatus()
		Expect(ok).To(BeTrue())
	})

	It("powers off soft: screen off, KVM refused with a reason, only power-on available", func() {
		m := newMachine(nil)
		acts := request(m, at(0), power.ReqOffSoft)
		Expect(acts).To(ContainElement(power.StateChanged{From: power.On, To: power.OffSoft}))
		Expect(acts).To(ContainElement(BeAssignableToTypeOf(power.ScreenOff{})))
		Expect(acts).To(ContainElement(power.KVM{Allowed: false, Reason: "host is powered off (PowerState 8, off-soft)"}))
		Expect(m.Report()).To(Equal(power.Report{PowerState: power.OffSoft, AvailableRequestedPowerStates: []power.Request{power.ReqOn}, OSPowerSavingState: power.OSPowerUnknown}))
	})

	It("powers on with a cold boot that completes on Tick past its deadline", func() {
		m := newMachine(func(c *power.Config) { c.Initial = power.OffSoft })
		acts := request(m, at(0), power.ReqOn)
		Expect(acts).To(ContainElements(
			power.StateChanged{From: power.OffSoft, To: power.On},
			power.ScreenOn{},
			power.BootStart{Kind: power.BootCold, Duration: 8 * time.Second},
			power.KVM{Allowed: true},
			power.ScheduleWake{At: at(8)},
		))
		Expect(m.OSRunning()).To(BeFalse())
		Expect(m.Phase()).To(Equal("booting"))
		Expect(m.Tick(at(7.9))).To(BeEmpty())
		Expect(m.Tick(at(8))).To(Equal([]power.Action{power.BootDone{}}))
		Expect(m.OSRunning()).To(BeTrue())
		_, pending := m.NextDeadline()
		Expect(pending).To(BeFalse())
	})

	It("power-cycles: off for CycleOff, then a cold boot, KVM refused only during the off time", func() {
		m := newMachine(nil)
		acts := request(m, at(0), power.ReqCycle)
		Expect(acts).To(ContainElements(power.StateChanged{From: power.On, To: power.OffSoft},
			power.ScreenOff{Reason: "power cycle"}, power.ScheduleWake{At: at(4)}))
		Expect(acts).To(ContainElement(BeAssignableToTypeOf(power.KVM{})))
		Expect(m.Available()).To(BeEmpty())
		rv, _ := m.Request(at(1), power.ReqOn)
		Expect(rv).To(Equal(power.ReturnFailed))

		acts = m.Tick(at(4))
		Expect(acts).To(Equal([]power.Action{
			power.StateChanged{From: power.OffSoft, To: power.On},
			power.ScreenOn{},
			power.BootStart{Kind: power.BootCold, Duration: 8 * time.Second},
			power.KVM{Allowed: true},
			power.ScheduleWake{At: at(12)},
		}))
		Expect(m.Tick(at(12))).To(Equal([]power.Action{power.BootDone{}}))
	})

	It("runs chained phases from their deadlines when Tick comes late", func() {
		m := newMachine(nil)
		request(m, at(0), power.ReqCycle)
		acts := m.Tick(at(100))
		Expect(acts).To(ContainElements(power.BootStart{Kind: power.BootCold, Duration: 8 * time.Second}, power.BootDone{}))
		Expect(m.Phase()).To(Equal("stable"))
		Expect(m.PowerState()).To(Equal(power.On))
	})

	It("resets warm: black screen, KVM stays open, boot sequence on screen", func() {
		m := newMachine(nil)
		acts := request(m, at(0), power.ReqReset)
		Expect(acts).To(Equal([]power.Action{power.ScreenOff{Reason: "reset"}, power.ScheduleWake{At: at(0.5)}}))
		Expect(m.PowerState()).To(Equal(power.On))
		ok, _ := m.KVMStatus()
		Expect(ok).To(BeTrue())
		acts = m.Tick(at(0.5))
		Expect(acts).To(Equal([]power.Action{power.ScreenOn{}, power.BootStart{Kind: power.BootWarm, Duration: 6 * time.Second}, power.ScheduleWake{At: at(6.5)}}))
		Expect(m.Tick(at(6.5))).To(Equal([]power.Action{power.BootDone{}}))
	})

	It("sleeps and resumes; KVM is refused while asleep", func() {
		m := newMachine(nil)
		request(m, at(0), power.ReqSleep)
		Expect(m.PowerState()).To(Equal(power.DeepSleep))
		ok, why := m.KVMStatus()
		Expect(ok).To(BeFalse())
		Expect(why).To(ContainSubstring("asleep"))
		Expect(m.Available()).To(Equal([]power.Request{power.ReqOn, power.ReqOffSoft}))
		acts := request(m, at(10), power.ReqOn)
		Expect(acts).To(ContainElement(power.BootStart{Kind: power.BootResume, Duration: 2 * time.Second}))
	})

	It("hibernates: KVM refused, resume takes HibernateResume", func() {
		m := newMachine(nil)
		acts := request(m, at(0), power.ReqHibernate)
		Expect(acts).To(ContainElement(power.KVM{Allowed: false, Reason: "host is hibernating (PowerState 7)"}))
		acts = request(m, at(1), power.ReqOn)
		Expect(acts).To(ContainElement(power.BootStart{Kind: power.BootResume, Duration: 5 * time.Second}))
	})

	It("shuts down gracefully before powering off", func() {
		m := newMachine(nil)
		acts := request(m, at(0), power.ReqOffSoftGraceful)
		Expect(acts).To(Equal([]power.Action{power.ScheduleWake{At: at(3)}}))
		Expect(m.Phase()).To(Equal("shutting-down"))
		Expect(m.PowerState()).To(Equal(power.On))
		acts = m.Tick(at(3))
		Expect(acts).To(ContainElements(power.StateChanged{From: power.On, To: power.OffSoft}, power.ScreenOff{Reason: "OS shut down"}))
	})

	It("restarts gracefully with a warm boot", func() {
		m := newMachine(nil)
		request(m, at(0), power.ReqResetGraceful)
		acts := m.Tick(at(3))
		Expect(acts).To(ContainElement(power.BootStart{Kind: power.BootWarm, Duration: 6 * time.Second}))
	})

	DescribeTable("answers ReturnValue codes as documented",
		func(initial power.State, r power.Request, want power.ReturnValue) {
			m := newMachine(func(c *power.Config) { c.Initial = initial })
			rv, acts := m.Request(at(0), r)
			Expect(rv).To(Equal(want))
			if want != power.ReturnOK {
				Expect(acts).To(BeEmpty())
				Expect(m.PowerState()).To(Equal(initial))
			}
		},
		Entry("power on while on is a no-op success", power.On, power.ReqOn, power.ReturnOK),
		Entry("sleep while off fails", power.OffSoft, power.ReqSleep, power.ReturnFailed),
		Entry("reset while off fails", power.OffHard, power.ReqReset, power.ReturnFailed),
		Entry("graceful off while asleep fails", power.DeepSleep, power.ReqOffSoftGraceful, power.ReturnFailed),
		Entry("NMI is not supported by default", power.On, power.ReqNMI, power.ReturnNotSupported),
		Entry("off-hard is not supported by default", power.On, power.ReqOffHard, power.ReturnNotSupported),
		Entry("an undefined value is not supported", power.On, power.Request(42), power.ReturnNotSupported),
		Entry("zero is not supported", power.On, power.Request(0), power.ReturnNotSupported),
	)

	It("implements the optional DMTF values when configured", func() {
		m := newMachine(func(c *power.Config) {
			c.Supported = append(c.Supported, power.ReqOffHard, power.ReqNMI, power.ReqCycleHardGraceful)
		})
		_, acts := m.Request(at(0), power.ReqNMI)
		Expect(acts).To(Equal([]power.Action{power.DiagnosticInterrupt{}}))
		request(m, at(1), power.ReqCycleHardGraceful)
		acts = m.Tick(at(4))
		Expect(acts).To(ContainElement(power.StateChanged{From: power.On, To: power.OffHard}))
		Expect(m.Tick(at(8))).To(ContainElement(power.BootStart{Kind: power.BootCold, Duration: 8 * time.Second}))
		request(m, at(20), power.ReqOffHard)
		Expect(m.PowerState()).To(Equal(power.OffHard))
	})

	It("lets a hard action abort a boot in progress", func() {
		m := newMachine(func(c *power.Config) { c.Initial = power.OffSoft })
		request(m, at(0), power.ReqOn)
		Expect(m.Available()).To(ContainElement(power.ReqOffSoft))
		Expect(m.Available()).NotTo(ContainElement(power.ReqSleep))
		acts := request(m, at(2), power.ReqOffSoft)
		Expect(acts).To(ContainElement(power.StateChanged{From: power.On, To: power.OffSoft}))
		_, pending := m.NextDeadline()
		Expect(pending).To(BeFalse())
		Expect(m.Tick(at(20))).To(BeEmpty())
	})

	Describe("host-side events", func() {
		It("power button on a running host shuts the OS down", func() {
			m := newMachine(nil)
			m.Host(at(0), power.PowerButton)
			Expect(m.Tick(at(3))).To(ContainElement(power.StateChanged{From: power.On, To: power.OffSoft}))
		})
		It("power button on an off host boots it even if power-on were not supported", func() {
			m := newMachine(func(c *power.Config) { c.Initial = power.OffHard; c.Supported = nil })
			Expect(m.Host(at(0), power.PowerButton)).To(ContainElement(power.BootStart{Kind: power.BootCold, Duration: 8 * time.Second}))
		})
		It("power button hold turns off at once", func() {
			m := newMachine(nil)
			Expect(m.Host(at(0), power.PowerButtonHold)).To(ContainElement(power.StateChanged{From: power.On, To: power.OffSoft}))
		})
		It("the OS blanking the display reports power saving and keeps KVM open", func() {
			m := newMachine(nil)
			Expect(m.Host(at(0), power.OSDisplayOff)).To(Equal([]power.Action{power.ScreenOff{Reason: "OS display power saving"}}))
			Expect(m.OSPowerSavingState()).To(Equal(power.OSPowerSaving))
			ok, _ := m.KVMStatus()
			Expect(ok).To(BeTrue())
			Expect(m.Host(at(1), power.OSDisplayOn)).To(Equal([]power.Action{power.ScreenOn{}}))
			Expect(m.OSPowerSavingState()).To(Equal(power.OSPowerFull))
		})
		It("OS sleep, hibernate and restart act like the requests", func() {
			m := newMachine(nil)
			m.Host(at(0), power.OSSleep)
			Expect(m.PowerState()).To(Equal(power.DeepSleep))
			m.Host(at(1), power.PowerButton)
			m.Tick(at(3))
			m.Host(at(4), power.OSHibernate)
			Expect(m.PowerState()).To(Equal(power.Hibernate))
			m.Host(at(5), power.PowerButton)
			m.Tick(at(10))
			m.Host(at(11), power.OSRestart)
			Expect(m.Tick(at(14))).To(ContainElement(power.BootStart{Kind: power.BootWarm, Duration: 6 * time.Second}))
		})
		It("ignores OS events while the OS is not running", func() {
			m := newMachine(func(c *power.Config) { c.Initial = power.OffSoft })
			for _, ev := range []power.HostEvent{power.OSShutdown, power.OSRestart, power.OSSleep, power.OSHibernate, power.OSDisplayOff} {
				Expect(m.Host(at(0), ev)).To(BeEmpty())
			}
			Expect(m.PowerState()).To(Equal(power.OffSoft))
		})
	})

	It("rejects bad configurations", func() {
		cfg := power.DefaultConfig()
		cfg.Initial = 5
		_, err := power.New(cfg)
		Expect(err).To(MatchError(ContainSubstring("Config.Initial")))
		cfg = power.DefaultConfig()
		cfg.ColdBoot = -1
		_, err = power.New(cfg)
		Expect(err).To(MatchError(ContainSubstring("Config.ColdBoot")))
		cfg = power.DefaultConfig()
		cfg.Supported = []power.Request{99}
		_, err = power.New(cfg)
		Expect(err).To(MatchError(ContainSubstring("Config.Supported")))
	})

	It("prints actions readably", func() {
		Expect(power.KVM{Reason: "x"}.String()).To(Equal("KVM refused: x"))
		Expect(power.BootStart{Kind: power.BootWarm, Duration: time.Second}.String()).To(Equal("warm boot for 1s"))
		Expect(power.ReqCycle.String()).To(Equal("power-cycle(5)"))
		Expect(power.ReturnFailed.String()).To(ContainSubstring("2"))
	})
})
