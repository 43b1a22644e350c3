package policy_test

import (
	"net/netip"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/policy"
)

var _ = Describe("Gateway extension (the patent's additions)", func() {
	var cfg policy.Config
	BeforeEach(func() { cfg = twoMPSConfig() })

	// up brings a tunnel to MPS A up at 1 s and returns its Connect.
	up := func(r *rig) policy.Connect {
		c := one[policy.Connect](r.do(at(0), policy.Start{}))
		r.do(at(1), policy.Connected{MPS: c.MPS.Name})
		return c
	}

	Describe("PROTOCOL_VERSION extension block", func() {
		It("carries the failover capability field and the compact gateway identifier once a gateway is learned", func() {
			r := newRig(cfg, 1)
			r.do(at(0), policy.GatewayLearned{Hint: gwHint})
			c := up(r)
			Expect(c.WithExtension).To(BeTrue())
			Expect(c.Extension).To(Equal(policy.Extension{Capabilities: policy.Capabilities{GatewayFailover: true}, GatewayID: "gw-7f3a"}))
		})

		It("carries the capability field without an identifier when no gateway is known", func() {
			c := up(newRig(cfg, 1))
			Expect(c.WithExtension).To(BeTrue())
			Expect(c.Extension.GatewayID).To(BeEmpty())
			Expect(c.Extension.Capabilities.GatewayFailover).To(BeTrue())
		})

		It("clears the capability field on an incapable device", func() {
			cfg.FailoverCapable = false
			c := up(newRig(cfg, 1))
			Expect(c.WithExtension).To(BeTrue())
			Expect(c.Extension.Capabilities.GatewayFailover).To(BeFalse())
		})

		It("sends no block at all in stock mode, and ignores a server's claim of support", func() {
			cfg.Extension = policy.ExtensionStock
			r := newRig(cfg, 1)
			r.do(at(0), policy.GatewayLearned{Hint: gwHint})
			c := up(r)
			Expect(c.WithExtension).To(BeFalse())
			Expect(c.Extension).To(Equal(policy.Extension{}))
			Expect(c.String()).To(ContainSubstring("no extension"))
			acts := r.do(at(2), policy.ServerSupportsExtension{})
			none[policy.SendGatewayInfo](acts)
			Expect(one[policy.Notice](acts).Text).To(ContainSubstring("sent no extension block"))
		})

		It("asks for a deliberately malformed block in malformed mode, and never sends gateway-info", func() {
			cfg.Extension = policy.ExtensionMalformed
			r := newRig(cfg, 1)
			r.do(at(0), policy.GatewayLearned{Hint: gwHint})
			c := up(r)
			Expect(c.WithExtension).To(BeTrue())
			Expect(c.Extension.Malformed).To(BeTrue())
			Expect(c.String()).To(ContainSubstring("MALFORMED"))
			acts := r.do(at(2), policy.ServerSupportsExtension{})
			none[policy.SendGatewayInfo](acts)
			Expect(one[policy.Notice](acts).Text).To(ContainSubstring("malformed"))
		})
	})

	Describe("gateway-info", func() {
		It("is sent once the server shows support, and only once per tunnel", func() {
			r := newRig(cfg, 1)
			r.do(at(0), policy.GatewayLearned{Hint: gwHint})
			up(r)
			gi := one[policy.SendGatewayInfo](r.do(at(2), policy.ServerSupportsExtension{}))
			Expect(gi.Gateway.ID).To(Equal("gw-7f3a"))
			Expect(gi.Gateway.Identifiers).To(HaveLen(4))
			none[policy.SendGatewayInfo](r.do(at(3), policy.ServerSupportsExtension{}))
			none[policy.SendGatewayInfo](r.do(at(4), policy.GatewayLearned{Hint: gwHint})) // unchanged
		})

		It("is not sent before the server shows support", func() {
			r := newRig(cfg, 1)
			up(r)
			none[policy.SendGatewayInfo](r.do(at(2), policy.GatewayLearned{Hint: gwHint}))
		})

		It("is sent when a gateway is learned (or changes) after support was shown", func() {
			r := newRig(cfg, 1)
			up(r)
			none[policy.SendGatewayInfo](r.do(at(2), policy.ServerSupportsExtension{}))
			one[policy.SendGatewayInfo](r.do(at(3), policy.GatewayLearned{Hint: gwHint}))
			moved := gwHint
			moved.Addr = netip.MustParseAddrPort("198.18.1.2:4433")
			Expect(one[policy.SendGatewayInfo](r.do(at(4), policy.GatewayLearned{Hint: moved})).Gateway.Addr).To(Equal(moved.Addr))
		})

		It("rejects an announcement without identifier or address", func() {
			r := newRig(cfg, 1)
			bad := gwHint
			bad.Addr = netip.AddrPort{}
			Expect(one[policy.Notice](r.do(at(0), policy.GatewayLearned{Hint: bad})).Text).To(ContainSubstring("ignored"))
			_, ok := r.p.Gateway()
			Expect(ok).To(BeFalse())
		})
	})

	Describe("gateway-connect", func() {
		req := func(expiry time.Time) policy.GatewayConnectRequest {
			return policy.GatewayConnectRequest{Session: "s-1", GatewayID: "gw-7f3a", Addr: gwHint.Addr,
				Token: []byte("one-time-token-secret"), Expiry: expiry, PublicKey: [32]byte{9}}
		}
		negotiated := func() *rig {
			r := newRig(cfg, 1)
			r.do(at(0), policy.GatewayLearned{Hint: gwHint})
			up(r)
			r.do(at(2), policy.ServerSupportsExtension{})
			return r
		}

		It("opens an out-of-band CIRA connection to the gateway's LAN address with the token", func() {
			r := negotiated()
			o := one[policy.OpenGatewayConnection](r.do(at(10), policy.GatewayConnect{Request: req(at(40))}))
			Expect(o.Addr).To(Equal(gwHint.Addr))
			Expect(o.Token).To(Equal([]byte("one-time-token-secret")))
			Expect(o.Session).To(Equal("s-1"))
			Expect(o.PublicKey).To(Equal([32]byte{9}))
			Expect(o.String()).NotTo(ContainSubstring("secret"))
			rep := one[policy.ReportGatewayConnect](r.do(at(11), policy.GatewayConnected{Session: "s-1"}))
			Expect(rep).To(Equal(policy.ReportGatewayConnect{Session: "s-1", OK: true}))
			// The CIRA tunnel to the server stays up alongside.
			Expect(r.p.Tunnel()).To(Equal(policy.TunnelUp))
		})

		It("refuses an expired pairing with the reason", func() {
			r := negotiated()
			acts := r.do(at(10), policy.GatewayConnect{Request: req(at(9))})
			none[policy.OpenGatewayConnection](acts)
			rep := one[policy.ReportGatewayConnect](acts)
			Expect(rep.OK).To(BeFalse())
			Expect(rep.Reason).To(Equal("pairing expired at 2026-12-04T12:00:09Z (now 2026-12-04T12:00:10Z)"))
		})

		It("refuses a pairing expiring exactly now", func() {
			r := negotiated()
			Expect(one[policy.ReportGatewayConnect](r.do(at(10), policy.GatewayConnect{Request: req(at(10))})).Reason).To(ContainSubstring("expired"))
		})

		It("reports the failure reason when the gateway connection fails", func() {
			r := negotiated()
			r.do(at(10), policy.GatewayConnect{Request: req(at(40))})
			rep := one[policy.ReportGatewayConnect](r.do(at(12), policy.GatewayFailed{Session: "s-1", Reason: "TLS: bad certificate"}))
			Expect(rep).To(Equal(policy.ReportGatewayConnect{Session: "s-1", Reason: "TLS: bad certificate"}))
		})

		It("aborts and reports when the pairing expires before the connection is ready", func() {
			r := negotiated()
			acts := r.do(at(10), policy.GatewayConnect{Request: req(at(15))})
			Expect(one[policy.ScheduleWake](acts).At).To(Equal(at(15)))
			acts = r.do(at(15), policy.Tick{})
			Expect(one[policy.CloseGatewayConnection](acts).Session).To(Equal("s-1"))
			Expect(one[policy.ReportGatewayConnect](acts).Reason).To(ContainSubstring("expired before"))
			none[policy.ReportGatewayConnect](r.do(at(16), policy.GatewayConnected{Session: "s-1"}))
		})

		It("refuses a second pairing while one is open", func() {
			r := negotiated()
			r.do(at(10), policy.GatewayConnect{Request: req(at(40))})
			second := req(at(40))
			second.Session = "s-2"
			Expect(one[policy.ReportGatewayConnect](r.do(at(11), policy.GatewayConnect{Request: second})).Reason).To(ContainSubstring("busy"))
		})

		DescribeTable("refuses malformed or unnegotiated requests with a reason",
			func(mod func(*policy.Config), change func(*policy.GatewayConnectRequest), negotiate bool, reason string) {
				if mod != nil {
					mod(&cfg)
				}
				r := newRig(cfg, 1)
				up(r)
				if negotiate {
					r.do(at(2), policy.ServerSupportsExtension{})
				}
				q := req(at(40))
				if change != nil {
					change(&q)
				}
				acts := r.do(at(10), policy.GatewayConnect{Request: q})
				none[policy.OpenGatewayConnection](acts)
				Expect(one[policy.ReportGatewayConnect](acts).Reason).To(ContainSubstring(reason))
			},
			Entry("stock mode", func(c *policy.Config) { c.Extension = policy.ExtensionStock }, nil, false, "stock AMT mode"),
			Entry("incapable device", func(c *policy.Config) { c.FailoverCapable = false }, nil, true, "not gateway-capable"),
			Entry("no support shown", nil, nil, false, "has not shown extension support"),
			Entry("no token", nil, func(q *policy.GatewayConnectRequest) { q.Token = nil }, true, "no pairing token"),
			Entry("no address", nil, func(q *policy.GatewayConnectRequest) { q.Addr = netip.AddrPort{} }, true, "invalid gateway LAN address"),
			Entry("no expiry", nil, func(q *policy.GatewayConnectRequest) { q.Expiry = time.Time{} }, true, "no expiry"),
			Entry("no session", nil, func(q *policy.GatewayConnectRequest) { q.Session = "" }, true, "no session id"),
		)
	})

	Describe("failover to the gateway (flow F3)", func() {
		It("connects to the gateway as an internal MPS when the direct path is lost", func() {
			r := newRig(cfg, 1)
			r.do(at(0), policy.GatewayLearned{Hint: gwHint})
			direct := up(r)
			acts := r.do(at(40), policy.DirectPathLost{Reason: "keep-alive timeout"})
			d := one[policy.Disconnect](acts)
			Expect(d.MPS).To(Equal(direct.MPS.Name))
			Expect(d.Reason).To(ContainSubstring("keep-alive timeout"))
			c := one[policy.Connect](acts)
			Expect(c.ViaGateway).To(BeTrue())
			Expect(c.Internal).To(BeTrue())
			Expect(c.MPS.Addr()).To(Equal("198.18.1.1:4433"))
			Expect(c.MPS.Username).To(Equal(direct.MPS.Username)) // the server still authenticates the device
			Expect(c.MPS.Password).To(Equal(direct.MPS.Password))
			Expect(c.Trigger).To(Equal(policy.TriggerPeriodic))
			Expect(c.WithExtension).To(BeTrue())
			r.do(at(41), policy.Connected{MPS: c.MPS.Name})
			Expect(r.p.OnGateway()).To(BeTrue())
			// Keep-alives continue on the gateway tunnel.
			Expect(only[policy.SendKeepalive](r.until(at(71)))).To(HaveLen(1))
			// A second loss report changes nothing.
			none[policy.Connect](r.do(at(80), policy.DirectPathLost{Reason: "again"}))
		})

		It("returns to the server when the direct path is restored", func() {
			r := newRig(cfg, 1)
			r.do(at(0), policy.GatewayLearned{Hint: gwHint})
			up(r)
			c := one[policy.Connect](r.do(at(40), policy.DirectPathLost{Reason: "x"}))
			r.do(at(41), policy.Connected{MPS: c.MPS.Name})
			acts := r.do(at(100), policy.DirectPathRestored{})
			Expect(one[policy.Disconnect](acts).MPS).To(Equal(c.MPS.Name))
			back := one[policy.Connect](acts)
			Expect(back.ViaGateway).To(BeFalse())
			Expect(back.MPS.Name).To(Equal(cfg.MPS[0].Name))
		})

		It("retries the direct path on the back-off when the gateway connection fails", func() {
			r := newRig(cfg, 1)
			r.do(at(0), policy.GatewayLearned{Hint: gwHint})
			up(r)
			c := one[policy.Connect](r.do(at(40), policy.DirectPathLost{Reason: "x"}))
			acts := r.do(at(41), policy.ConnectFailed{MPS: c.MPS.Name, Reason: "refused"})
			Expect(one[policy.Notice](acts).Text).To(ContainSubstring("retrying the direct path"))
			Expect(r.p.OnGateway()).To(BeFalse())
			next := one[policy.Connect](r.until(at(60)))
			Expect(next.ViaGateway).To(BeFalse())
		})

		DescribeTable("does not fail over without a gateway or the capability; reconnects on the back-off instead",
			func(mod func(*policy.Config), learn bool, why string) {
				if mod != nil {
					mod(&cfg)
				}
				r := newRig(cfg, 1)
				if learn {
					r.do(at(0), policy.GatewayLearned{Hint: gwHint})
				}
				up(r)
				acts := r.do(at(40), policy.DirectPathLost{Reason: "link down"})
				none[policy.Connect](acts)
				Expect(only[policy.Notice](acts)[0].Text).To(ContainSubstring(why))
				Expect(r.p.Tunnel()).To(Equal(policy.TunnelIdle))
				_, pending := r.p.NextWake()
				Expect(pending).To(BeTrue())
			},
			Entry("no gateway known", nil, false, "no gateway known"),
			Entry("stock mode", func(c *policy.Config) { c.Extension = policy.ExtensionStock }, true, "stock AMT mode"),
			Entry("incapable", func(c *policy.Config) { c.FailoverCapable = false }, true, "not failover-capable"),
		)
	})

	It("never prints passwords or tokens in actions", func() {
		c := policy.Connect{MPS: mps(1, "198.18.0.10"), WithExtension: true}
		Expect(c.String()).NotTo(ContainSubstring("P@ssw0rd"))
		o := policy.OpenGatewayConnection{Token: []byte("tok-SECRET")}
		Expect(strings.Contains(o.String(), "SECRET")).To(BeFalse())
	})
})
