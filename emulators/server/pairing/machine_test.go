package pairing_test

import (
	"net/netip"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/server/pairing"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func capable() pairing.Device {
	ep, _ := gwext.Endpoint(netip.MustParseAddrPort("198.18.1.1:4433"))
	return pairing.Device{UUID: "u1", Connected: true, Presence: gwext.Present,
		Capability: gwext.CapPairing | gwext.CapGatewayConnect | gwext.CapFailover | gwext.CapGatewayInfo,
		Reported:   []gwext.Identifier{ep}}
}

func onlineGateway() *pairing.Gateway {
	return &pairing.Gateway{Gateway: registry.Gateway{ID: "gw-1", Enrolled: true, Online: true, LastHeartbeat: t0.Add(-5 * time.Second),
		PublicKey: append(make([]byte, 31), 1), WANEndpoints: []string{"127.0.0.1:7000"},
		Identifiers: []registry.Identifier{{Type: registry.IDIPv4, Value: "198.18.1.1"}, {Type: registry.IDPort, Value: "4433"},
			{Type: registry.IDDomain, Value: "lan.example"}, {Type: registry.IDURL, Value: "https://gw1.lan.example:8443/"}}},
		ControlUp: true, LANMPS: "198.18.1.1:4433"}
}

func finish(acts []pairing.Action) pairing.Result {
	ExpectWithOffset(1, acts).NotTo(BeEmpty())
	f, ok := acts[len(acts)-1].(pairing.Finish)
	ExpectWithOffset(1, ok).To(BeTrue(), "last action is %T, not Finish", acts[len(acts)-1])
	return f.Result
}

var _ = Describe("Machine", func() {
	It("pairs a capable device through an online gateway on its LAN: resolve, create, gateway, device", func() {
		m := pairing.New(pairing.Request{Device: "u1", ConsoleID: "c1", ConsoleKey: [32]byte{9}}, pairing.Config{TTL: time.Minute})
		acts := m.Handle(pairing.Begin{Device: capable()}, t0)
		Expect(acts).To(HaveLen(1))
		Expect(acts[0]).To(BeAssignableToTypeOf(pairing.Resolve{}))
		acts = m.Handle(pairing.Resolved{Gateway: onlineGateway()}, t0)
		Expect(acts).To(ConsistOf(pairing.Create{Gateway: *onlineGateway(), ConsoleKey: [32]byte{9}, Expiry: t0.Add(time.Minute)}))
		acts = m.Handle(pairing.Created{SessionID: "s1", Expiry: t0.Add(time.Minute)}, t0)
		Expect(acts).To(ConsistOf(BeAssignableToTypeOf(pairing.InvokeGateway{})))
		acts = m.Handle(pairing.GatewayInvoked{}, t0)
		Expect(acts).To(ConsistOf(BeAssignableToTypeOf(pairing.InvokeDevice{})))
		r := finish(m.Handle(pairing.DeviceInvoked{}, t0))
		Expect(r.Path).To(Equal(pairing.Direct))
		Expect(r.Outcome).To(Equal("paired"))
		Expect(r.SessionID).To(Equal("s1"))
		Expect(m.State()).To(Equal(pairing.StateDone))
		Expect(m.Handle(pairing.DeviceInvoked{}, t0)).To(BeNil())
	})

	It("inspects the failover capability field first", func() {
		d := capable()
		d.Presence = gwext.Absent
		r := finish(pairing.New(pairing.Request{}, pairing.Config{}).Handle(pairing.Begin{Device: d}, t0))
		Expect(r).To(HaveField("Path", pairing.Classic))
		Expect(r.Reason).To(Equal(pairing.ReasonStock))

		d = capable()
		d.Capability = gwext.CapGatewayInfo
		r = finish(pairing.New(pairing.Request{}, pairing.Config{}).Handle(pairing.Begin{Device: d}, t0))
		Expect(r.Path).To(Equal(pairing.Classic))
		Expect(r.Reason).To(ContainSubstring("not failover-capable"))

		d = capable()
		d.Presence, d.MalformedReason = gwext.Malformed, "TLV runs past the block"
		r = finish(pairing.New(pairing.Request{}, pairing.Config{}).Handle(pairing.Begin{Device: d}, t0))
		Expect(r.Refused).To(BeTrue())
		Expect(r.Code).To(Equal(pairing.CodeMalformed))
		Expect(r.Reason).To(Equal("device sent a malformed failover capability field: TLV runs past the block"))
		r = finish(pairing.New(pairing.Request{Fallback: pairing.FallbackClassic}, pairing.Config{}).Handle(pairing.Begin{Device: d}, t0))
		Expect(r.Path).To(Equal(pairing.Classic))
		Expect(r.Reason).To(ContainSubstring("malformed failover capability field"))

		d = capable()
		d.Connected = false
		r = finish(pairing.New(pairing.Request{}, pairing.Config{}).Handle(pairing.Begin{Device: d}, t0))
		Expect(r.Code).To(Equal(pairing.CodeNotConnected))
	})

	It("refuses an unknown gateway, serves an offline one classically and refuses one off the device's LAN", func() {
		ref := &pairing.GatewayRef{Type: "udi", Value: "nope"}
		m := pairing.New(pairing.Request{Gateway: ref}, pairing.Config{})
		Expect(m.Handle(pairing.Begin{Device: capable()}, t0)).To(ConsistOf(pairing.Resolve{Ref: ref, Reported: capable().Reported}))
		r := finish(m.Handle(pairing.Resolved{Err: "not found"}, t0))
		Expect(r.Refused).To(BeTrue())
		Expect(r.Code).To(Equal(pairing.CodeUnknown))
		Expect(r.Reason).To(HavePrefix("unknown gateway udi:nope"))

		m = pairing.New(pairing.Request{}, pairing.Config{MaxHeartbeatAge: 30 * time.Second})
		m.Handle(pairing.Begin{Device: capable()}, t0)
		r = finish(m.Handle(pairing.Resolved{Gateway: onlineGateway()}, t0.Add(time.Minute)))
		Expect(r.Path).To(Equal(pairing.Classic))
		Expect(r.Reason).To(HavePrefix("gateway offline"))

		off := onlineGateway()
		off.ControlUp = false
		m = pairing.New(pairing.Request{}, pairing.Config{})
		m.Handle(pairing.Begin{Device: capable()}, t0)
		Expect(finish(m.Handle(pairing.Resolved{Gateway: off}, t0)).Reason).To(HavePrefix("gateway offline"))

		d := capable()
		other, _ := gwext.Endpoint(netip.MustParseAddrPort("10.9.9.9:4433"))
		d.Reported = []gwext.Identifier{other}
		m = pairing.New(pairing.Request{Gateway: &pairing.GatewayRef{Type: "id", Value: "gw-1"}}, pairing.Config{})
		m.Handle(pairing.Begin{Device: d}, t0)
		r = finish(m.Handle(pairing.Resolved{Gateway: onlineGateway()}, t0))
		Expect(r.Code).To(Equal(pairing.CodeNotOnLAN))
	})

	It("cancels at the gateway and falls back when the device refuses, and fails an expired setup", func() {
		m := pairing.New(pairing.Request{Fallback: pairing.FallbackClassic}, pairing.Config{TTL: time.Second})
		m.Handle(pairing.Begin{Device: capable()}, t0)
		m.Handle(pairing.Resolved{Gateway: onlineGateway()}, t0)
		m.Handle(pairing.Created{SessionID: "s", Expiry: t0.Add(time.Second)}, t0)
		m.Handle(pairing.GatewayInvoked{}, t0)
		acts := m.Handle(pairing.DeviceInvoked{Err: "expired"}, t0)
		Expect(acts[0]).To(BeAssignableToTypeOf(pairing.Cancel{}))
		Expect(finish(acts)).To(And(HaveField("Path", pairing.Classic), HaveField("Reason", ContainSubstring("device refused gateway-connect"))))

		m = pairing.New(pairing.Request{}, pairing.Config{TTL: time.Second})
		m.Handle(pairing.Begin{Device: capable()}, t0)
		m.Handle(pairing.Resolved{Gateway: onlineGateway()}, t0)
		m.Handle(pairing.Created{SessionID: "s", Expiry: t0.Add(time.Second)}, t0)
		acts = m.Handle(pairing.GatewayInvoked{}, t0.Add(2*time.Second))
		Expect(acts[0]).To(BeAssignableToTypeOf(pairing.Cancel{}))
		Expect(finish(acts).Code).To(Equal(pairing.CodeExpired))
	})
})

var _ = Describe("Identifiers", func() {
	It("match a gateway by endpoint, domain, hash and key but never by a bare port", func() {
		g := onlineGateway().Gateway
		url, _ := gwext.URL("https://gw1.lan.example:8443/")
		dom, _ := gwext.Domain("LAN.example")
		port, _ := gwext.Port(4433)
		for _, id := range []gwext.Identifier{gwext.HashOf(url), dom, capable().Reported[0]} {
			Expect(pairing.MatchesAny(id, g)).To(BeTrue(), id.String())
		}
		Expect(pairing.MatchesAny(port, g)).To(BeFalse())
		Expect(pairing.Lookups(capable().Reported)).To(Equal([]registry.Identifier{{Type: registry.IDIPv4, Value: "198.18.1.1"}}))
	})
})
