package main

import (
	"net/netip"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/policy"
)

var _ = Describe("gateway discovery flags", func() {
	key := strings.Repeat("ab", 32)

	It("parse a static hint into the endpoint, key and identifiers DHCP would announce", func() {
		h, err := parseStaticHint("127.0.0.1:14443,key=" + key + ",udi=GW-0001,domain=lan.oobtb.test")
		Expect(err).NotTo(HaveOccurred())
		Expect(h.Addr).To(Equal(netip.MustParseAddrPort("127.0.0.1:14443")))
		Expect(h.PublicKey[0]).To(BeEquivalentTo(0xab))
		Expect(h.ID).To(Equal("ipv4-endpoint:127.0.0.1:14443"))
		Expect(h.Identifiers).To(ContainElements(policy.Identifier{Kind: policy.IDUDI, Value: "GW-0001"},
			policy.Identifier{Kind: policy.IDDomain, Value: "lan.oobtb.test"}))
	})

	DescribeTable("refuse a bad static hint clearly",
		func(arg, want string) {
			_, err := parseStaticHint(arg)
			Expect(err).To(MatchError(ContainSubstring(want)))
		},
		Entry("no endpoint", "gw.lan:4433,key="+key, "must be the LAN MPS endpoint ADDR:PORT"),
		Entry("no key", "127.0.0.1:4433", "key=HEX is required"),
		Entry("short key", "127.0.0.1:4433,key=abcd", "key: expected 64 hex digits"),
		Entry("unknown field", "127.0.0.1:4433,key="+key+",colour=blue", `unknown field "colour"`),
		Entry("no equals sign", "127.0.0.1:4433,key="+key+",udi", "expected key=HEX"),
	)

	It("use a loopback client socket for a loopback server, the well-known port otherwise", func() {
		Expect(clientListen("127.0.0.1:6767", "0.0.0.0:68")).To(Equal("127.0.0.1:0"))
		Expect(clientListen("[::1]:5353", ":0")).To(Equal("[::1]:0"))
		Expect(clientListen("255.255.255.255:67", "0.0.0.0:68")).To(Equal("0.0.0.0:68"))
		Expect(clientListen("nonsense", "0.0.0.0:68")).To(Equal("0.0.0.0:68"))
	})
})
