package registry_test

import (
	"net/netip"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/server/registry"
)

var gw1IDs = []registry.Identifier{
	{Type: registry.IDIPv4, Value: "192.168.50.1"},
	{Type: registry.IDIPv6, Value: "fd00:50::1"},
	{Type: registry.IDPort, Value: "4433"},
	{Type: registry.IDMAC, Value: "02:00:5e:00:50:01"},
	{Type: registry.IDDomain, Value: "site50.oobtb.test"},
	{Type: registry.IDUDI, Value: "UDI-GW-0050"},
	{Type: registry.IDURL, Value: "https://gw50.oobtb.test:4433/"},
}

func enrolGateway(s registry.Store, id string, ids []registry.Identifier) registry.Gateway {
	tok, err := s.CreateGateway(ctx, id, t0)
	Expect(err).NotTo(HaveOccurred())
	g, err := s.EnrolGateway(ctx, registry.GatewayEnrolment{ID: id, Token: tok, GatewayRegistration: registry.GatewayRegistration{
		PublicKey: key32(0x11), Identifiers: ids, WANEndpoints: []string{"203.0.113.10:7443"},
		LANDomain: "Site50.oobtb.test.", LANPrefixes: []string{"192.168.50.7/24"}}}, t0)
	Expect(err).NotTo(HaveOccurred())
	return g
}

var _ = Describe("gateways", func() {
	var s *registry.SQLite
	BeforeEach(func() { s = open(GinkgoT().TempDir()) })

	It("enrols once with its one-time token", func() {
		tok, err := s.CreateGateway(ctx, "gw1", t0)
		Expect(err).NotTo(HaveOccurred())
		reg := registry.GatewayRegistration{PublicKey: key32(1), Identifiers: gw1IDs}
		_, err = s.EnrolGateway(ctx, registry.GatewayEnrolment{ID: "gw1", Token: "wrong", GatewayRegistration: reg}, t0)
		Expect(err).To(MatchError(registry.ErrToken))
		Expect(err.(*registry.TokenError).Reason).To(Equal(registry.TokenUnknown))
		_, err = s.EnrolGateway(ctx, registry.GatewayEnrolment{ID: "gw2", Token: tok, GatewayRegistration: reg}, t0)
		Expect(err).To(MatchError(ContainSubstring("unknown gateway")))

		g, err := s.EnrolGateway(ctx, registry.GatewayEnrolment{ID: "gw1", Token: tok, GatewayRegistration: reg}, t0)
		Expect(err).NotTo(HaveOccurred())
		Expect(g.Enrolled).To(BeTrue())
		Expect(g.PublicKey).To(Equal(key32(1)))
		Expect(g.Identifiers).To(HaveLen(7))

		_, err = s.EnrolGateway(ctx, registry.GatewayEnrolment{ID: "gw1", Token: tok, GatewayRegistration: reg}, t0)
		Expect(err).To(MatchError(registry.ErrToken))
		Expect(err.(*registry.TokenError).Reason).To(Equal(registry.TokenReused))
		_, err = s.CreateGateway(ctx, "gw1", t0)
		Expect(err).To(MatchError(registry.ErrExists))

		_, err = s.CreateGateway(ctx, "bad id!", t0)
		Expect(err).To(MatchError(registry.ErrInvalid))
		tok3, _ := s.CreateGateway(ctx, "gw3", t0)
		_, err = s.EnrolGateway(ctx, registry.GatewayEnrolment{ID: "gw3", Token: tok3,
			GatewayRegistration: registry.GatewayRegistration{PublicKey: make([]byte, 31)}}, t0)
		Expect(err).To(MatchError(registry.ErrInvalid))
		// A refused declaration does not spend the token.
		_, err = s.EnrolGateway(ctx, registry.GatewayEnrolment{ID: "gw3", Token: tok3,
			GatewayRegistration: registry.GatewayRegistration{PublicKey: key32(3)}}, t0)
		Expect(err).NotTo(HaveOccurred())
	})

	It("finds a gateway by every identifier type, in any spelling, with one indexed query", func() {
		enrolGateway(s, "gw50", gw1IDs)
		other := []registry.Identifier{{Type: registry.IDIPv4, Value: "192.168.60.1"}, {Type: registry.IDPort, Value: "4433"},
			{Type: registry.IDUDI, Value: "UDI-GW-0060"}}
		enrolGateway(s, "gw60", other)

		spellings := map[registry.IdentifierType]string{
			registry.IDIPv4:   "192.168.50.1",
			registry.IDIPv6:   "FD00:0050:0000:0000:0000:0000:0000:0001",
			registry.IDMAC:    "02-00-5E-00-50-01",
			registry.IDDomain: "SITE50.oobtb.test.",
			registry.IDUDI:    " UDI-GW-0050 ",
			registry.IDURL:    "HTTPS://GW50.oobtb.test:4433/",
		}
		for typ, v := range spellings {
			g, err := s.FindGatewayByIdentifier(ctx, registry.Identifier{Type: typ, Value: v})
			Expect(err).NotTo(HaveOccurred(), string(typ))
			Expect(g.ID).To(Equal("gw50"), string(typ))
		}
		_, err := s.FindGatewayByIdentifier(ctx, registry.Identifier{Type: registry.IDPort, Value: "4433"})
		Expect(err).To(MatchError(registry.ErrAmbiguous))
		_, err = s.FindGatewayByIdentifier(ctx, registry.Identifier{Type: registry.IDUDI, Value: "nope"})
		Expect(err).To(MatchError(registry.ErrNotFound))
		_, err = s.FindGatewayByIdentifier(ctx, registry.Identifier{Type: "serial", Value: "x"})
		Expect(err).To(MatchError(registry.ErrInvalid))
		g, err := s.FindGatewayByIdentifier(ctx, registry.Identifier{Type: registry.IDUDI, Value: "UDI-GW-0060"})
		Expect(err).NotTo(HaveOccurred())
		Expect(g.ID).To(Equal("gw60"))

		var plan strings.Builder
		rows, err := rawDB(s).Query(`EXPLAIN QUERY PLAN SELECT gateway_id FROM gateway_identifiers WHERE type = ? AND value = ? LIMIT 2`, "udi", "x")
		Expect(err).NotTo(HaveOccurred())
		for rows.Next() {
			var id, parent, unused int
			var detail string
			Expect(rows.Scan(&id, &parent, &unused, &detail)).To(Succeed())
			plan.WriteString(detail + "\n")
		}
		rows.Close()
		Expect(plan.String()).To(ContainSubstring("USING INDEX gateway_identifiers_lookup"))
	})

	It("re-registration replaces identifiers; heartbeats set reachability; delete cascades", func() {
		enrolGateway(s, "gw50", gw1IDs)
		g, err := s.RegisterGateway(ctx, "gw50", registry.GatewayRegistration{PublicKey: key32(2),
			Identifiers: []registry.Identifier{{Type: registry.IDUDI, Value: "NEW"}}, WANEndpoints: []string{"[2001:db8::1]:7443"}}, t0)
		Expect(err).NotTo(HaveOccurred())
		Expect(g.WANEndpoints).To(Equal([]string{"[2001:db8::1]:7443"}))
		_, err = s.FindGatewayByIdentifier(ctx, registry.Identifier{Type: registry.IDUDI, Value: "UDI-GW-0050"})
		Expect(err).To(MatchError(registry.ErrNotFound))
		_, err = s.RegisterGateway(ctx, "ghost", registry.GatewayRegistration{PublicKey: key32(2)}, t0)
		Expect(err).To(MatchError(registry.ErrNotFound))
		_, err = s.RegisterGateway(ctx, "gw50", registry.GatewayRegistration{PublicKey: key32(2), WANEndpoints: []string{"nohost"}}, t0)
		Expect(err).To(MatchError(registry.ErrInvalid))

		g, _ = s.GetGateway(ctx, "gw50")
		Expect(g.Reachable(t0, time.Minute)).To(BeFalse())
		Expect(s.GatewayHeartbeat(ctx, "gw50", true, t0)).To(Succeed())
		g, _ = s.GetGateway(ctx, "gw50")
		Expect(g.Reachable(t0.Add(30*time.Second), time.Minute)).To(BeTrue())
		Expect(g.Reachable(t0.Add(2*time.Minute), time.Minute)).To(BeFalse())
		Expect(s.GatewayHeartbeat(ctx, "gw50", false, t0)).To(Succeed())
		g, _ = s.GetGateway(ctx, "gw50")
		Expect(g.Reachable(t0, time.Minute)).To(BeFalse())
		Expect(s.GatewayHeartbeat(ctx, "ghost", true, t0)).To(MatchError(registry.ErrNotFound))

		all, err := s.ListGateways(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(all).To(HaveLen(1))
		Expect(s.DeleteGateway(ctx, "gw50")).To(Succeed())
		_, err = s.FindGatewayByIdentifier(ctx, registry.Identifier{Type: registry.IDUDI, Value: "NEW"})
		Expect(err).To(MatchError(registry.ErrNotFound))
		var n int
		Expect(rawDB(s).QueryRow(`SELECT count(*) FROM gateway_identifiers`).Scan(&n)).To(Succeed())
		Expect(n).To(BeZero())
	})

	It("tells whether it serves a device's LAN", func() {
		g := enrolGateway(s, "gw50", gw1IDs)
		Expect(g.LANDomain).To(Equal("site50.oobtb.test"))
		Expect(g.LANPrefixes).To(Equal([]string{"192.168.50.0/24"}))
		Expect(g.ServesLAN("site50.oobtb.test.", netip.Addr{})).To(BeTrue())
		Expect(g.ServesLAN("", netip.MustParseAddr("192.168.50.77"))).To(BeTrue())
		Expect(g.ServesLAN("", netip.MustParseAddr("::ffff:192.168.50.77"))).To(BeTrue())
		Expect(g.ServesLAN("other.test", netip.MustParseAddr("192.168.51.1"))).To(BeFalse())
		Expect(g.ServesLAN("", netip.Addr{})).To(BeFalse())
	})
})

var _ = Describe("NormalizeIdentifier", func() {
	DescribeTable("canonical forms",
		func(t registry.IdentifierType, in, want string) {
			got, err := registry.NormalizeIdentifier(registry.Identifier{Type: t, Value: in})
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Value).To(Equal(want))
		},
		Entry("ipv4", registry.IDIPv4, " 10.0.0.1 ", "10.0.0.1"),
		Entry("ipv6", registry.IDIPv6, "2001:DB8:0:0::1", "2001:db8::1"),
		Entry("port", registry.IDPort, "04433", "4433"),
		Entry("mac", registry.IDMAC, "AABB.CCDD.EEFF", "aa:bb:cc:dd:ee:ff"),
		Entry("domain", registry.IDDomain, "A.Example.", "a.example"),
		Entry("udi", registry.IDUDI, "Case-Kept", "Case-Kept"),
		Entry("url", registry.IDURL, "HTTP://Host:80/Path", "http://host:80/Path"),
	)
	DescribeTable("refusals",
		func(t registry.IdentifierType, in string) {
			_, err := registry.NormalizeIdentifier(registry.Identifier{Type: t, Value: in})
			Expect(err).To(MatchError(registry.ErrInvalid))
		},
		Entry("ipv4 given v6", registry.IDIPv4, "::1"),
		Entry("ipv6 given v4", registry.IDIPv6, "10.0.0.1"),
		Entry("ipv6 v4-mapped", registry.IDIPv6, "::ffff:10.0.0.1"),
		Entry("port 0", registry.IDPort, "0"),
		Entry("port 65536", registry.IDPort, "65536"),
		Entry("eui-64", registry.IDMAC, "00:00:00:00:00:00:00:01"),
		Entry("domain label", registry.IDDomain, "a..b"),
		Entry("udi control", registry.IDUDI, "a\x00b"),
		Entry("relative url", registry.IDURL, "/path"),
		Entry("empty", registry.IDUDI, "  "),
		Entry("unknown type", registry.IdentifierType("x"), "1"),
		Entry("too long", registry.IDUDI, strings.Repeat("a", 3000)),
	)
})
