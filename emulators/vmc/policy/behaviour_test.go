package policy_test

import (
	"math/rand/v2"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/backoff"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
)

var _ = Describe("Remote-access behaviour", func() {
	var cfg policy.Config
	BeforeEach(func() { cfg = twoMPSConfig() })

	Describe("periodic trigger", func() {
		It("connects at start, and after a server close at the next 25 s period", func() {
			r := newRig(cfg, 1)
			acts := r.do(at(0), policy.Start{})
			c := one[policy.Connect](acts)
			Expect(c.MPS.Name).To(Equal(cfg.MPS[0].Name))
			Expect(c.Trigger).To(Equal(policy.TriggerPeriodic))
			Expect(c.Trigger.APFReason()).To(Equal(uint32(4)))
			Expect(one[policy.ScheduleWake](acts).At).To(Equal(at(25)))

			r.do(at(1), policy.Connected{MPS: c.MPS.Name})
			Expect(r.p.Tunnel()).To(Equal(policy.TunnelUp))
			// Lifetime 0: periodic firings while up change nothing on the wire.
			none[policy.Connect](r.until(at(25)))

			r.do(at(30), policy.TunnelClosedByServer{Reason: "CloseRemoteAccessConnection"})
			Expect(r.p.Tunnel()).To(Equal(policy.TunnelIdle))
			Expect(r.until(at(49.9))).To(BeEmpty())
			acts = r.until(at(50))
			Expect(one[policy.Connect](acts).MPS.Name).To(Equal(cfg.MPS[0].Name))
		})

		It("fires a daily schedule at the next hh:mm UTC", func() {
			cfg.Rules[0].ExtendedData = policy.EncodeExtendedData(policy.Schedule{Kind: policy.ScheduleDaily, Hour: 13, Minute: 30})
			r := newRig(cfg, 1)
			acts := r.do(at(0), policy.Start{}) // 12:00
			none[policy.Connect](acts)
			Expect(one[policy.ScheduleWake](acts).At).To(Equal(t0.Add(90 * time.Minute)))
			Expect(one[policy.Connect](r.until(t0.Add(90 * time.Minute))).Trigger).To(Equal(policy.TriggerPeriodic))
		})
	})

	Describe("keep-alives", func() {
		It("sends every 30 s until KEEPALIVE_OPTIONS, then at the server's interval", func() {
			r := newRig(cfg, 1)
			r.do(at(0), policy.Start{})
			r.do(at(0), policy.Connected{MPS: cfg.MPS[0].Name})
			Expect(r.p.KeepaliveInterval()).To(Equal(policy.DefaultKeepalive))
			Expect(r.until(at(29))).NotTo(ContainElement(policy.SendKeepalive{}))
			Expect(only[policy.SendKeepalive](r.until(at(30)))).To(HaveLen(1))
			Expect(only[policy.SendKeepalive](r.until(at(60)))).To(HaveLen(1))

			r.do(at(61), policy.KeepaliveOptions{Interval: 10 * time.Second})
			Expect(only[policy.SendKeepalive](r.until(at(100)))).To(HaveLen(3)) // 71, 81, 91
		})

		It("sends one keep-alive, not a burst, after a late Tick", func() {
			r := newRig(cfg, 1)
			r.do(at(0), policy.Start{})
			r.do(at(0), policy.Connected{MPS: cfg.MPS[0].Name})
			Expect(only[policy.SendKeepalive](r.do(at(200), policy.Tick{}))).To(HaveLen(1))
		})
	})

	Describe("priorities", func() {
		It("lets a user-initiated request preempt a periodic tunnel to a different MPS", func() {
			r := newRig(cfg, 1)
			r.do(at(0), policy.Start{})
			r.do(at(1), policy.Connected{MPS: cfg.MPS[0].Name})
			acts := r.do(at(5), policy.UserRequest{Source: policy.FromOS})
			d := one[policy.Disconnect](acts)
			Expect(d.MPS).To(Equal(cfg.MPS[0].Name))
			Expect(d.Reason).To(ContainSubstring("preempted by the user-initiated trigger"))
			c := one[policy.Connect](acts)
			Expect(c.MPS.Name).To(Equal(cfg.MPS[2].Name))
			Expect(c.Trigger.APFReason()).To(Equal(uint32(1)))
			Expect(one[policy.SendLocalEvent](acts).EventID).To(Equal("iAMT0036"))
			owner, _ := r.p.Owner()
			Expect(owner).To(Equal(policy.TriggerUser))
		})

		It("does not let a lower-priority trigger preempt; the tunnel stays", func() {
			r := newRig(cfg, 1)
			r.do(at(0), policy.Start{})
			r.do(at(0), policy.UserRequest{Source: policy.FromOS}) // preempts the periodic attempt
			r.do(at(1), policy.Connected{MPS: cfg.MPS[2].Name})
			acts := r.until(at(100)) // periodic fires at 25, 50, 75, 100
			none[policy.Disconnect](acts)
			none[policy.Connect](acts)
			tgt, _ := r.p.Target()
			Expect(tgt.Name).To(Equal(cfg.MPS[2].Name))
		})

		It("extends the lifetime when a lower-priority trigger with a longer lifetime fires", func() {
			cfg.Rules = cfg.Rules[1:] // no periodic: user (300 s) and alert (600 s)
			cfg.Applies = cfg.Applies[2:]
			cfg.Applies[1].MPS = cfg.MPS[2].Name // alert on the same MPS as user
			r := newRig(cfg, 1)
			r.do(at(0), policy.Start{})
			r.do(at(0), policy.UserRequest{})
			r.do(at(1), policy.Connected{MPS: cfg.MPS[2].Name})
			Expect(r.p.LifetimeEnd()).To(Equal(at(301)))
			acts := r.do(at(100), policy.Alert{})
			none[policy.Disconnect](acts)
			Expect(r.p.LifetimeEnd()).To(Equal(at(700)))
			owner, _ := r.p.Owner()
			Expect(owner).To(Equal(policy.TriggerUser))
			none[policy.Disconnect](r.until(at(699)))
			d := one[policy.Disconnect](r.until(at(700)))
			Expect(d.Reason).To(ContainSubstring("lifetime"))
			Expect(r.p.Tunnel()).To(Equal(policy.TunnelIdle))
		})

		It("closes a tunnel when its lifetime expires", func() {
			cfg.Rules, cfg.Applies = cfg.Rules[1:2], cfg.Applies[2:3]
			r := newRig(cfg, 1)
			r.do(at(0), policy.Start{})
			r.do(at(0), policy.UserRequest{Source: policy.FromBIOS})
			r.do(at(2), policy.Connected{MPS: cfg.MPS[2].Name})
			acts := r.until(at(302))
			Expect(one[policy.Disconnect](acts).Reason).To(Equal("tunnel lifetime of 5m0s expired"))
		})

		It("lets a higher-priority trigger take over a tunnel to the same MPS without reconnecting", func() {
			cfg.Applies[2].MPS = cfg.MPS[0].Name // user on A too
			r := newRig(cfg, 1)
			r.do(at(0), policy.Start{})
			r.do(at(1), policy.Connected{MPS: cfg.MPS[0].Name})
			acts := r.do(at(5), policy.UserRequest{})
			none[policy.Disconnect](acts)
			owner, _ := r.p.Owner()
			Expect(owner).To(Equal(policy.TriggerUser))
			Expect(r.p.LifetimeEnd().IsZero()).To(BeTrue()) // periodic's lifetime 0 is already the longest
		})

		It("reconnects for a user request on the same MPS when configured (flow F2)", func() {
			cfg.Applies[2].MPS = cfg.MPS[0].Name
			cfg.ReconnectForUserRequest = true
			r := newRig(cfg, 1)
			r.do(at(0), policy.Start{})
			r.do(at(1), policy.Connected{MPS: cfg.MPS[0].Name})
			acts := r.do(at(5), policy.UserRequest{})
			Expect(one[policy.Disconnect](acts).Reason).To(ContainSubstring("announce"))
			Expect(one[policy.Connect](acts).Trigger).To(Equal(policy.TriggerUser))
		})
	})

	Describe("user-initiated connection service", func() {
		It("refuses requests when disabled", func() {
			cfg.UIC = policy.UICDisabled
			r := newRig(cfg, 1)
			r.do(at(0), policy.Start{})
			acts := r.do(at(1), policy.UserRequest{})
			none[policy.Connect](acts)
			none[policy.SendLocalEvent](acts)
			Expect(one[policy.Notice](acts).Text).To(ContainSubstring("EnabledState is 32768"))
		})
		It("accepts only BIOS requests in BIOS-only mode", func() {
			cfg.UIC = policy.UICBIOSOnly
			r := newRig(cfg, 1)
			r.do(at(0), policy.Start{})
			none[policy.SendLocalEvent](r.do(at(1), policy.UserRequest{Source: policy.FromOS}))
			one[policy.SendLocalEvent](r.do(at(2), policy.UserRequest{Source: policy.FromBIOS}))
		})
	})

	Describe("environment detection", func() {
		It("is inside when the DHCP domain ends in a detection string; user requests become CILA", func() {
			r := newRig(cfg, 1)
			r.do(at(0), policy.DHCPDomain{Domain: "Site1.Corp.Example."})
			Expect(r.p.Environment()).To(Equal(policy.EnvInside))
			acts := r.do(at(0), policy.Start{})
			none[policy.Connect](acts) // periodic MPS entries are external only
			Expect(one[policy.Notice](acts).Text).To(ContainSubstring("inside the enterprise"))
			acts = r.do(at(1), policy.UserRequest{})
			none[policy.Connect](acts)
			ev := one[policy.SendLocalEvent](acts)
			Expect(ev.EventID).To(Equal("iAMT0036"))
			Expect(ev.Reason).To(ContainSubstring("CILA"))
		})

		It("does not match a domain that merely ends with the same letters", func() {
			r := newRig(cfg, 1)
			r.do(at(0), policy.DHCPDomain{Domain: "evilcorp.example"})
			Expect(r.p.Environment()).To(Equal(policy.EnvOutside))
		})

		It("treats a static IP as outside (no detection)", func() {
			r := newRig(cfg, 1)
			r.do(at(0), policy.DHCPDomain{Domain: "corp.example", Static: true})
			Expect(r.p.Environment()).To(Equal(policy.EnvOutside))
			Expect(one[policy.Connect](r.do(at(0), policy.Start{})).Internal).To(BeFalse())
		})

		It("uses an internal MPS inside (MpsType 1), the external one outside", func() {
			cfg = policy.DefaultRPS("198.18.0.10", "dev0001", "pw", "rand.com").WithGatewayMPS("198.18.1.1", 4433, "lan.example")
			r := newRig(cfg, 1)
			r.do(at(0), policy.DHCPDomain{Domain: "lan.example"})
			c := one[policy.Connect](r.do(at(0), policy.Start{}))
			Expect(c.MPS.AccessInfo).To(Equal("198.18.1.1"))
			Expect(c.Internal).To(BeTrue())
			r.do(at(1), policy.Connected{MPS: c.MPS.Name})

			// Moving outside drops the internal tunnel and reconnects to the cloud MPS.
			acts := r.do(at(10), policy.DHCPDomain{Domain: "hotel.example"})
			Expect(one[policy.Disconnect](acts).Reason).To(ContainSubstring("environment changed to outside"))
			c = one[policy.Connect](acts)
			Expect(c.MPS.AccessInfo).To(Equal("198.18.0.10"))
			Expect(c.Internal).To(BeFalse())
		})

		It("opens CIRA to an internal MPS for a user request inside when one applies (MpsType 2)", func() {
			cfg = policy.DefaultRPS("198.18.0.10", "dev0001", "pw", "corp.example")
			r := newRig(cfg, 1)
			r.do(at(0), policy.DHCPDomain{Domain: "corp.example"})
			Expect(one[policy.Connect](r.do(at(0), policy.Start{})).Internal).To(BeTrue())
		})
	})

	Describe("failover and back-off", func() {
		It("tries the backup (OrderOfAccess 1) when the primary fails", func() {
			r := newRig(cfg, 1)
			c := one[policy.Connect](r.do(at(0), policy.Start{}))
			Expect(c.OrderOfAccess).To(BeZero())
			acts := r.do(at(1), policy.ConnectFailed{MPS: c.MPS.Name, Reason: "connection refused"})
			b := one[policy.Connect](acts)
			Expect(b.MPS.Name).To(Equal(cfg.MPS[1].Name))
			Expect(b.OrderOfAccess).To(Equal(uint8(1)))
			Expect(one[policy.Notice](acts).Text).To(ContainSubstring("trying backup"))
		})

		It("ignores a failure report for an MPS that is not being dialled", func() {
			r := newRig(cfg, 1)
			r.do(at(0), policy.Start{})
			none[policy.Connect](r.do(at(1), policy.ConnectFailed{MPS: cfg.MPS[2].Name}))
		})

		It("retries a periodic policy at a period boundary no earlier than the back-off", func() {
			cfg.Backoff = backoff.Config{Initial: 30 * time.Second, Max: 120 * time.Second, Multiplier: 2}
			r := newRig(cfg, 1)
			r.do(at(0), policy.Start{})
			r.do(at(1), policy.ConnectFailed{MPS: cfg.MPS[0].Name, Reason: "timeout"})
			acts := r.do(at(2), policy.ConnectFailed{MPS: cfg.MPS[1].Name, Reason: "timeout"})
			// back-off 30 s → 32 s; the grid is 0, 25, 50 → 50.
			Expect(one[policy.ScheduleWake](acts).At).To(Equal(at(50)))
			Expect(one[policy.Connect](r.until(at(50))).MPS.Name).To(Equal(cfg.MPS[0].Name))
			r.do(at(51), policy.ConnectFailed{MPS: cfg.MPS[0].Name})
			r.do(at(52), policy.ConnectFailed{MPS: cfg.MPS[1].Name})
			// back-off 60 s → 112 s → boundary 125.
			Expect(r.until(at(124))).To(BeEmpty())
			Expect(one[policy.Connect](r.until(at(125))).MPS.Name).To(Equal(cfg.MPS[0].Name))
		})

		It("retries a user request on the bounded back-off, and gives up when its lifetime ends", func() {
			cfg.Rules, cfg.Applies = cfg.Rules[1:2], cfg.Applies[2:3]
			cfg.Backoff = backoff.Config{Initial: 50 * time.Second, Max: 100 * time.Second, Multiplier: 2}
			r := newRig(cfg, 1)
			r.do(at(0), policy.Start{})
			var retries []time.Time
			now := at(0)
			one[policy.Connect](r.do(now, policy.UserRequest{}))
			for {
				acts := r.do(now, policy.ConnectFailed{MPS: cfg.MPS[2].Name, Reason: "refused"})
				w, ok := r.p.NextWake()
				if !ok {
					Expect(one[policy.Notice](acts).Text).To(ContainSubstring("giving up"))
					break
				}
				retries = append(retries, w)
				now = w
				one[policy.Connect](r.do(now, policy.Tick{}))
			}
			// 50, 150 (+100), 250 (+100, capped); the next (350) is past 300.
			Expect(retries).To(Equal([]time.Time{at(50), at(150), at(250)}))
			_, has := r.p.Owner()
			Expect(has).To(BeFalse())
		})

		It("keeps jittered retry delays within bounds and identical for the same seed", func() {
			cfg.Rules, cfg.Applies = cfg.Rules[1:2], cfg.Applies[2:3]
			cfg.Rules[0].TunnelLifeTime = 0 // retry forever
			cfg.Backoff = backoff.Config{Initial: time.Second, Max: 20 * time.Second, Multiplier: 2, JitterFraction: 1, Mode: backoff.JitterEqual}
			run := func(seed uint64) []time.Duration {
				r := newRig(cfg, seed)
				r.do(at(0), policy.Start{})
				r.do(at(0), policy.UserRequest{})
				now := at(0)
				var ds []time.Duration
				for n := range 12 {
					r.do(now, policy.ConnectFailed{MPS: cfg.MPS[2].Name})
					w, ok := r.p.NextWake()
					Expect(ok).To(BeTrue())
					lo, hi := cfg.Backoff.Bounds(n)
					Expect(w.Sub(now)).To(And(BeNumerically(">=", lo), BeNumerically("<=", hi)))
					ds = append(ds, w.Sub(now))
					now = w
					r.do(now, policy.Tick{})
				}
				return ds
			}
			Expect(run(99)).To(Equal(run(99)))
			Expect(run(99)).NotTo(Equal(run(100)))
		})

		It("resets the back-off after a successful connection and reconnects after an unexpected drop", func() {
			cfg.Rules, cfg.Applies = cfg.Rules[1:2], cfg.Applies[2:3]
			r := newRig(cfg, 1)
			r.do(at(0), policy.Start{})
			r.do(at(0), policy.UserRequest{})
			r.do(at(0), policy.ConnectFailed{MPS: cfg.MPS[2].Name})
			Expect(r.p.RetryAttempts()).To(Equal(1))
			r.until(at(2))
			r.do(at(3), policy.Connected{MPS: cfg.MPS[2].Name})
			Expect(r.p.RetryAttempts()).To(BeZero())
			acts := r.do(at(10), policy.Disconnected{Reason: "TLS reset"})
			Expect(one[policy.ScheduleWake](acts).At).To(Equal(at(12)))
			c := one[policy.Connect](r.until(at(12)))
			Expect(c.Trigger).To(Equal(policy.TriggerUser))
			r.do(at(13), policy.Connected{MPS: cfg.MPS[2].Name})
			Expect(r.p.LifetimeEnd()).To(Equal(at(303))) // the original end, not a fresh 300 s
		})
	})

	It("ignores events before Start, except DHCP and gateway announcements", func() {
		r := newRig(cfg, 1)
		acts := r.do(at(0), policy.UserRequest{})
		Expect(one[policy.Notice](acts).Text).To(ContainSubstring("not started"))
		none[policy.SendLocalEvent](acts)
		r.do(at(0), policy.GatewayLearned{Hint: gwHint})
		_, ok := r.p.Gateway()
		Expect(ok).To(BeTrue())
	})

	It("builds a policy from the RPS default and connects with TriggerReason 4", func() {
		p, err := policy.New(policy.DefaultRPS("198.18.0.10", "dev0001", "pw", "x.com"), rand.NewPCG(1, 2))
		Expect(err).NotTo(HaveOccurred())
		c := one[policy.Connect](p.Handle(at(0), policy.Start{}))
		Expect(c.MPS.Addr()).To(Equal("198.18.0.10:4433"))
		Expect(c.Trigger.APFReason()).To(Equal(uint32(4)))
	})
})
