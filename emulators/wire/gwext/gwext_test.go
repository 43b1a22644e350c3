package gwext_test

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// must is used for fixtures built at package init, before Gomega is set up.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func asWireErr(err error) *wireerr.Error {
	var we *wireerr.Error
	ExpectWithOffset(1, errors.As(err, &we)).To(BeTrue(), "want *wireerr.Error, got %T %v", err, err)
	ExpectWithOffset(1, we.Proto).To(Equal("oobtb-gwext"))
	return we
}

var key = [32]byte(wire(hexKey))

var gw = netip.MustParseAddrPort("198.18.1.1:4433")

var _ = Describe("reserved block", func() {
	deviceBlock := gwext.Block{
		Role:       gwext.RoleDevice,
		Capability: gwext.CapPairing | gwext.CapGatewayConnect | gwext.CapFailover | gwext.CapGatewayInfo,
		Gateways:   []gwext.Identifier{must(gwext.Endpoint(gw))},
	}

	It("encodes the device golden vector", func() {
		Expect(must(gwext.EncodeReserved(deviceBlock))).To(Equal(reserved(hexDeviceBlock)))
	})

	It("decodes the device golden vector", func() {
		b, p, err := gwext.DecodeReserved(reserved(hexDeviceBlock))
		Expect(err).NotTo(HaveOccurred())
		Expect(p).To(Equal(gwext.Present))
		deviceBlock.Version = 1
		Expect(b).To(Equal(deviceBlock))
		deviceBlock.Version = 0
	})

	It("builds the device's whole PROTOCOL_VERSION", func() {
		pv := must(gwext.DeviceVersion(apf.MustParseGUID("12345678-9abc-def0-1122-334455667788"), apf.TriggerUserInitiated, deviceBlock))
		Expect(apf.Marshal(pv)).To(Equal(wire(hexDeviceVersion)))
	})

	It("encodes and decodes the server answer", func() {
		dev := must(gwext.DeviceVersion(apf.GUID{1}, apf.TriggerPeriodic, deviceBlock))
		ans := must(gwext.Answer(dev, gwext.RoleServer, gwext.CapPairing|gwext.CapGatewayConnect|gwext.CapGatewayInfo))
		Expect(ans).NotTo(BeNil())
		Expect(ans.Reserved).To(Equal(reserved(hexServerBlock)))
		Expect(ans.UUID).To(Equal(dev.UUID))
		Expect(ans.Trigger).To(Equal(apf.TriggerPeriodic))
		caps, ok, err := gwext.ServerSupport(ans)
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeTrue())
		Expect(gwext.Negotiate(deviceBlock.Capability, caps)).To(Equal(gwext.Capability(0x000b)))
	})

	It("does not answer stock devices, and devices ignore echoes and stock servers", func() {
		stock := &apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic}
		Expect(gwext.Answer(stock, gwext.RoleServer, gwext.CapPairing)).To(BeNil())
		// The DMT console answers with a PROTOCOL_VERSION of its own: zero
		// reserved bytes, or in the worst case a copy of ours.
		_, ok, err := gwext.ServerSupport(stock)
		Expect(ok).To(BeFalse())
		Expect(err).NotTo(HaveOccurred())
		echo := must(gwext.DeviceVersion(apf.GUID{1}, apf.TriggerPeriodic, deviceBlock))
		_, ok, err = gwext.ServerSupport(echo)
		Expect(ok).To(BeFalse())
		Expect(err).NotTo(HaveOccurred())
		Expect(gwext.Answer(echo, gwext.RoleServer, gwext.CapPairing)).NotTo(BeNil())
	})

	It("names a long identifier by its hash", func() {
		udi := must(gwext.UDI("GW-0001"))
		h := gwext.Compact(must(gwext.URL("https://gw1.lan.oobtb.test:8443/")))
		Expect(h).To(Equal(gwext.Identifier{Type: gwext.IDHash, Value: wire(`922500da2a714c07`)}))
		b := gwext.Block{Role: gwext.RoleDevice, Capability: 7, Gateways: []gwext.Identifier{gwext.HashOf(udi)}}
		Expect(must(gwext.EncodeReserved(b))).To(Equal(reserved(hexHashBlock)))
		got, p, err := gwext.DecodeReserved(reserved(hexHashBlock))
		Expect(err).NotTo(HaveOccurred())
		Expect(p).To(Equal(gwext.Present))
		Expect(got.Gateways[0].Matches(udi)).To(BeTrue())
		Expect(got.Gateways[0].Matches(must(gwext.UDI("GW-0002")))).To(BeFalse())
		Expect(gwext.Compact(udi)).To(Equal(udi))
	})

	DescribeTable("classifies stock and foreign reserved bytes as absent", func(spec string) {
		b, p, err := gwext.DecodeReserved(reserved(spec))
		Expect(err).NotTo(HaveOccurred())
		Expect(p).To(Equal(gwext.Absent))
		Expect(b).To(Equal(gwext.Block{}))
	},
		Entry("stock AMT: 64 zeros", `zeros(64)`),
		Entry("another vendor's bytes", `ffffffff 01 01 04 400200ff zeros(53)`),
		Entry("near-miss magic", `6f6f6275 01 01 04 4002000f zeros(53)`),
	)

	It("skips unknown TLVs and accepts a later version with v1 framing", func() {
		b, p, err := gwext.DecodeReserved(reserved(`6f6f6274 02 01 0b | f0 03 aabbcc | 40 02 0001 | 3f 00 | zeros(46)`))
		Expect(err).NotTo(HaveOccurred())
		Expect(p).To(Equal(gwext.Present))
		Expect(b.Version).To(Equal(uint8(2)))
		Expect(b.Capability).To(Equal(gwext.CapPairing))
		Expect(b.Unknown).To(Equal([]gwext.TLV{{Type: 0xf0, Value: []byte{0xaa, 0xbb, 0xcc}}, {Type: 0x3f, Value: []byte{}}}))
		again, p2, err := gwext.DecodeReserved(must(gwext.EncodeReserved(b)))
		Expect(err).NotTo(HaveOccurred())
		Expect(p2).To(Equal(gwext.Present))
		Expect(again).To(Equal(b))
	})

	type bad struct {
		spec           string
		field          string
		offset         int
		expectedSubstr string
	}
	DescribeTable("rejects malformed blocks with a clear reason", func(c bad) {
		_, p, err := gwext.DecodeReserved(reserved(c.spec))
		Expect(p).To(Equal(gwext.Malformed))
		we := asWireErr(err)
		Expect(we.Message).To(Equal("PROTOCOL_VERSION oobtb block"))
		Expect(we.Field).To(Equal(c.field))
		Expect(we.Offset).To(Equal(c.offset))
		Expect(we.Expected).To(ContainSubstring(c.expectedSubstr))
	},
		Entry("version 0", bad{`6f6f6274 00 01 04 4002000f zeros(53)`, "version", 33, "1 or later"}),
		Entry("role 0", bad{`6f6f6274 01 00 04 4002000f zeros(53)`, "role", 34, "device"}),
		Entry("TLV length past the field", bad{`6f6f6274 01 01 3a 4002000f zeros(53)`, "TLV length", 35, "at most 57"}),
		Entry("non-zero padding", bad{`6f6f6274 01 01 04 4002000f 00 01 zeros(51)`, "padding", 41, "zero"}),
		Entry("TLV value overruns", bad{`6f6f6274 01 01 04 40 05 000f zeros(53)`, "capability value", 38, "5 bytes"}),
		Entry("TLV header cut", bad{`6f6f6274 01 01 05 4002000f 09 zeros(52)`, "ipv4-endpoint identifier length", 41, "length byte"}),
		Entry("capability of 3 bytes", bad{`6f6f6274 01 01 05 40 03 000f00 zeros(52)`, "capability length", 37, "2"}),
		Entry("two capabilities", bad{`6f6f6274 01 01 08 4002000f 40020001 zeros(49)`, "capability", 40, "one capability"}),
		Entry("no capability", bad{`6f6f6274 01 01 08 0906c61201011151 zeros(49)`, "capability", 36, "capability TLV"}),
		Entry("endpoint with port 0", bad{`6f6f6274 01 01 0c 4002000f 0906c61201010000 zeros(45)`, "ipv4-endpoint identifier value", 42, "valid ipv4-endpoint"}),
		Entry("IPv4 of 5 bytes", bad{`6f6f6274 01 01 0b 4002000f 0105c612010101 zeros(46)`, "ipv4 identifier value", 42, "valid ipv4"}),
		Entry("token in the block", bad{`6f6f6274 01 01 16 4002000f 4310 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf zeros(35)`, "pairing token", 40, "capability or identifier"}),
		Entry("type 0 inside the TLVs", bad{`6f6f6274 01 01 06 4002000f 0000 zeros(51)`, "TLV type", 40, "non-zero"}),
	)

	It("refuses to encode what does not fit or is invalid", func() {
		long := must(gwext.URL("https://gw1.lan.oobtb.test:8443/"))
		_, err := gwext.EncodeReserved(gwext.Block{Role: gwext.RoleDevice, Gateways: []gwext.Identifier{long, long}})
		Expect(err).To(MatchError(ContainSubstring("Compact")))
		_, err = gwext.EncodeReserved(gwext.Block{Capability: 1})
		Expect(err).To(MatchError(ContainSubstring("role")))
		_, err = gwext.EncodeReserved(gwext.Block{Role: 1, Gateways: []gwext.Identifier{{Type: gwext.IDPort, Value: []byte{0, 0}}}})
		Expect(err).To(MatchError(ContainSubstring("port 0")))
		_, err = gwext.EncodeReserved(gwext.Block{Role: 1, Unknown: []gwext.TLV{{Type: 0x40}}})
		Expect(err).To(HaveOccurred())
	})

	It("prints capabilities", func() {
		Expect(gwext.Capability(0x000f).String()).To(Equal("pairing|gateway-connect|failover|gateway-info"))
		Expect(gwext.Capability(0x0101).String()).To(Equal("pairing|0x0100"))
		Expect(gwext.Capability(0).String()).To(Equal("none"))
		Expect(gwext.Capability(0x0b).Has(gwext.CapFailover)).To(BeFalse())
	})
})

var _ = Describe("identifiers", func() {
	DescribeTable("construct and print", func(id gwext.Identifier, err error, want string) {
		Expect(err).NotTo(HaveOccurred())
		Expect(id.Validate()).To(Succeed())
		Expect(id.String()).To(Equal(want))
	},
		Entry("ipv4", must(gwext.IP(netip.MustParseAddr("198.18.1.1"))), nil, "ipv4:198.18.1.1"),
		Entry("ipv4 mapped", must(gwext.IP(netip.MustParseAddr("::ffff:198.18.1.1"))), nil, "ipv4:198.18.1.1"),
		Entry("ipv6", must(gwext.IP(netip.MustParseAddr("2001:db8::1"))), nil, "ipv6:2001:db8::1"),
		Entry("port", must(gwext.Port(4433)), nil, "port:4433"),
		Entry("mac", must(gwext.MAC(net.HardwareAddr{2, 0, 0x5e, 0x10, 0, 1})), nil, "mac:02:00:5e:10:00:01"),
		Entry("domain", must(gwext.Domain("lan.oobtb.test")), nil, "domain:lan.oobtb.test"),
		Entry("udi", must(gwext.UDI("GW-0001")), nil, "udi:GW-0001"),
		Entry("url", must(gwext.URL("https://gw1.lan.oobtb.test:8443/")), nil, "url:https://gw1.lan.oobtb.test:8443/"),
		Entry("key", must(gwext.Key(key)), nil, "key:"+strings.ReplaceAll(hexKey, " ", "")),
		Entry("ipv4 endpoint", must(gwext.Endpoint(gw)), nil, "ipv4-endpoint:198.18.1.1:4433"),
		Entry("ipv6 endpoint", must(gwext.Endpoint(netip.MustParseAddrPort("[2001:db8::1]:4433"))), nil, "ipv6-endpoint:[2001:db8::1]:4433"),
		Entry("hash", gwext.HashOf(must(gwext.UDI("GW-0001"))), nil, "hash:7c881473698438d9"),
	)

	DescribeTable("reject bad values", func(f func() (gwext.Identifier, error)) {
		_, err := f()
		Expect(err).To(HaveOccurred())
	},
		Entry("ipv6 as ipv4", func() (gwext.Identifier, error) { return gwext.IPv4(netip.MustParseAddr("::1")) }),
		Entry("ipv4 as ipv6", func() (gwext.Identifier, error) { return gwext.IPv6(netip.MustParseAddr("1.2.3.4")) }),
		Entry("port 0", func() (gwext.Identifier, error) { return gwext.Port(0) }),
		Entry("EUI-64", func() (gwext.Identifier, error) { return gwext.MAC(make(net.HardwareAddr, 8)) }),
		Entry("empty domain", func() (gwext.Identifier, error) { return gwext.Domain("") }),
		Entry("domain label with underscore", func() (gwext.Identifier, error) { return gwext.Domain("a_b.test") }),
		Entry("domain label too long", func() (gwext.Identifier, error) { return gwext.Domain(strings.Repeat("a", 64) + ".test") }),
		Entry("domain label starting with -", func() (gwext.Identifier, error) { return gwext.Domain("-a.test") }),
		Entry("empty domain label", func() (gwext.Identifier, error) { return gwext.Domain("a..test") }),
		Entry("udi with space", func() (gwext.Identifier, error) { return gwext.UDI("GW 1") }),
		Entry("udi too long", func() (gwext.Identifier, error) { return gwext.UDI(strings.Repeat("x", 65)) }),
		Entry("relative url", func() (gwext.Identifier, error) { return gwext.URL("/path") }),
		Entry("url too long", func() (gwext.Identifier, error) { return gwext.URL("https://a.test/" + strings.Repeat("x", 250)) }),
		Entry("zero key", func() (gwext.Identifier, error) { return gwext.Key([32]byte{}) }),
		Entry("endpoint port 0", func() (gwext.Identifier, error) { return gwext.Endpoint(netip.MustParseAddrPort("1.2.3.4:0")) }),
	)

	It("prints invalid and unknown identifiers in hex", func() {
		Expect(gwext.Identifier{Type: gwext.IDIPv4, Value: []byte{1}}.String()).To(Equal("ipv4:invalid:01"))
		Expect(gwext.Identifier{Type: 0x30, Value: []byte{1}}.String()).To(Equal("id-type 0x30:invalid:01"))
	})
})

var info = gwext.GatewayInfo{
	IDs: []gwext.Identifier{
		must(gwext.IPv4(netip.MustParseAddr("198.18.1.1"))),
		must(gwext.IPv6(netip.MustParseAddr("2001:db8::1"))),
		must(gwext.Port(4433)),
		must(gwext.MAC(net.HardwareAddr{2, 0, 0x5e, 0x10, 0, 1})),
		must(gwext.Domain("lan.oobtb.test")),
		must(gwext.UDI("GW-0001")),
		must(gwext.URL("https://gw1.lan.oobtb.test:8443/")),
	},
	Key: key,
}

var connect = gwext.GatewayConnect{
	Gateway:   []gwext.Identifier{must(gwext.Endpoint(gw)), must(gwext.UDI("GW-0001"))},
	Key:       key,
	SessionID: gwext.SessionID(wire(`00112233445566778899aabbccddeeff`)),
	Expiry:    time.Unix(1800000000, 0).UTC(),
	Token:     gwext.Token(wire(`a0a1a2a3a4a5a6a7a8a9aaabacadaeaf`)),
}

var _ = Describe("gateway-info@oobtb", func() {
	It("matches the golden payload both ways", func() {
		Expect(must(info.Marshal())).To(Equal(wire(hexGatewayInfo)))
		Expect(must(gwext.UnmarshalGatewayInfo(wire(hexGatewayInfo)))).To(Equal(info))
	})

	It("travels in an APF GLOBAL_REQUEST", func() {
		req := must(info.Request())
		b := apf.Marshal(req)
		Expect(b[:24]).To(Equal(wire(`50 00000012 "gateway-info@oobtb" 01`)))
		m, n, err := apf.Decode(b, apf.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(len(b)))
		Expect(m.(apf.GlobalRequest).ReplyKind()).To(Equal(apf.ReplyNoPort))
		Expect(must(gwext.ParseGatewayInfo(m.(*apf.ExtensionRequest)))).To(Equal(info))
		_, err = gwext.ParseGatewayConnect(m.(*apf.ExtensionRequest))
		Expect(err).To(HaveOccurred())
	})

	It("skips unknown TLVs", func() {
		g := must(gwext.UnmarshalGatewayInfo(wire(`01 f1 02 abcd 03 02 1151 08 20 ` + hexKey)))
		Expect(g.IDs).To(Equal([]gwext.Identifier{must(gwext.Port(4433))}))
		Expect(g.Unknown).To(Equal([]gwext.TLV{{Type: 0xf1, Value: []byte{0xab, 0xcd}}}))
		Expect(must(g.Marshal())).To(Equal(wire(`01 03 02 1151 08 20 ` + hexKey + ` f1 02 abcd`)))
	})

	type bad struct {
		spec, field string
		offset      int
	}
	DescribeTable("rejects malformed payloads", func(c bad) {
		_, err := gwext.UnmarshalGatewayInfo(wire(c.spec))
		we := asWireErr(err)
		Expect(we.Message).To(Equal("gateway-info@oobtb payload"))
		Expect(we.Field).To(Equal(c.field))
		Expect(we.Offset).To(Equal(c.offset))
	},
		Entry("empty", bad{``, "version", 0}),
		Entry("version 0", bad{`00 03 02 1151`, "version", 0}),
		Entry("no key", bad{`01 03 02 1151`, "key identifier", 5}),
		Entry("only a key", bad{`01 08 20 ` + hexKey, "identifiers", 35}),
		Entry("two keys", bad{`01 03 02 1151 08 20 ` + hexKey + ` 08 20 ` + hexKey, "key identifier", 39}),
		Entry("zero key", bad{`01 03 02 1151 08 20 zeros(32)`, "key identifier value", 7}),
		Entry("bad domain", bad{`01 05 03 "a b" 08 20 ` + hexKey, "domain identifier value", 3}),
		Entry("token in gateway-info", bad{`01 43 10 zeros(16)`, "pairing token", 1}),
		Entry("value overruns", bad{`01 03 05 1151`, "port identifier value", 3}),
	)

	It("bounds payload length", func() {
		_, err := gwext.UnmarshalGatewayInfo(make([]byte, 2049))
		Expect(asWireErr(err).Field).To(Equal("payload length"))
		big := gwext.GatewayInfo{Key: key}
		for range 33 {
			big.IDs = append(big.IDs, must(gwext.Port(1)))
		}
		_, err = big.Marshal()
		Expect(err).To(MatchError(ContainSubstring("at most 32")))
	})
})

var _ = Describe("gateway-connect@oobtb", func() {
	It("matches the golden payload both ways", func() {
		Expect(must(connect.Marshal())).To(Equal(wire(hexGatewayConnect)))
		Expect(must(gwext.UnmarshalGatewayConnect(wire(hexGatewayConnect)))).To(Equal(connect))
	})

	It("travels in an APF GLOBAL_REQUEST", func() {
		b := apf.Marshal(must(connect.Request()))
		Expect(b[:27]).To(Equal(wire(`50 00000015 "gateway-connect@oobtb" 01`)))
		m, _, err := apf.Decode(b, apf.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(must(gwext.ParseGatewayConnect(m.(*apf.ExtensionRequest)))).To(Equal(connect))
	})

	It("tells the device where to go", func() {
		h, p, err := connect.Target()
		Expect(err).NotTo(HaveOccurred())
		Expect(h).To(Equal("198.18.1.1"))
		Expect(p).To(Equal(uint16(4433)))
		Expect(must(connect.TargetAddrPort())).To(Equal(gw))
		byName := connect
		byName.Gateway = []gwext.Identifier{must(gwext.Domain("gw1.lan.oobtb.test")), must(gwext.Port(4433))}
		h, p, err = byName.Target()
		Expect(err).NotTo(HaveOccurred())
		Expect(h).To(Equal("gw1.lan.oobtb.test"))
		Expect(p).To(Equal(uint16(4433)))
		_, err = byName.TargetAddrPort()
		Expect(err).To(HaveOccurred())
		noPort := connect
		noPort.Gateway = []gwext.Identifier{must(gwext.IPv4(netip.MustParseAddr("198.18.1.1")))}
		_, err = noPort.Marshal()
		Expect(err).To(HaveOccurred())
		noExpiry := connect
		noExpiry.Expiry = time.Time{}
		_, err = noExpiry.Marshal()
		Expect(err).To(HaveOccurred())
	})

	type bad struct {
		spec, field string
		offset      int
	}
	base := `09 06 c6120101 1151 | 08 20 ` + hexKey
	sid := ` 41 10 00112233445566778899aabbccddeeff`
	exp := ` 42 08 000000006b49d200`
	tok := ` 43 10 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf`
	DescribeTable("rejects malformed payloads", func(c bad) {
		_, err := gwext.UnmarshalGatewayConnect(wire(c.spec))
		we := asWireErr(err)
		Expect(we.Message).To(Equal("gateway-connect@oobtb payload"))
		Expect(we.Field).To(Equal(c.field))
		Expect(we.Offset).To(Equal(c.offset))
	},
		Entry("no token", bad{`01 ` + base + sid + exp, "pairing token", 71}),
		Entry("no session id", bad{`01 ` + base + exp + tok, "session id", 71}),
		Entry("no expiry", bad{`01 ` + base + sid + tok, "expiry", 79}),
		Entry("no key", bad{`01 09 06 c6120101 1151` + sid + exp + tok, "key identifier", 55}),
		Entry("no address", bad{`01 08 20 ` + hexKey + sid + exp + tok, "gateway address", 81}),
		Entry("expiry 0", bad{`01 ` + base + sid + ` 42 08 0000000000000000` + tok, "expiry value", 63}),
		Entry("expiry past 2^63", bad{`01 ` + base + sid + ` 42 08 8000000000000000` + tok, "expiry value", 63}),
		Entry("short token", bad{`01 ` + base + sid + exp + ` 43 0f a0a1a2a3a4a5a6a7a8a9aaabacadae`, "pairing token length", 72}),
		Entry("two session ids", bad{`01 ` + base + sid + sid + exp + tok, "session id", 61}),
		Entry("capability in a request", bad{`01 40 02 000f`, "capability", 1}),
	)
})

var _ = Describe("pairing credentials", func() {
	It("encodes session and token for USERAUTH", func() {
		Expect(connect.SessionID.Username()).To(Equal("oobtb-s1-00112233445566778899aabbccddeeff"))
		Expect(connect.Token.Password()).To(Equal("oobtb-t1-a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"))
		Expect(must(gwext.ParseUsername("oobtb-s1-00112233445566778899aabbccddeeff"))).To(Equal(connect.SessionID))
		Expect(must(gwext.ParsePassword("oobtb-t1-a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"))).To(Equal(connect.Token))
		Expect(gwext.IsPairingUsername(connect.SessionID.Username())).To(BeTrue())
		Expect(gwext.IsPairingUsername("admin")).To(BeFalse())
		Expect(connect.Token.String()).NotTo(ContainSubstring("a0a1"))
		Expect(connect.Token.Equal(connect.Token)).To(BeTrue())
		Expect(connect.Token.Equal(gwext.Token{})).To(BeFalse())
	})

	DescribeTable("rejects other spellings", func(s string) {
		_, err := gwext.ParsePassword(s)
		Expect(err).To(HaveOccurred())
	},
		Entry("upper-case hex", "oobtb-t1-A0A1A2A3A4A5A6A7A8A9AAABACADAEAF"),
		Entry("username prefix", "oobtb-s1-a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"),
		Entry("short", "oobtb-t1-a0a1"),
		Entry("non-hex", "oobtb-t1-a0a1a2a3a4a5a6a7a8a9aaabacadaeag"),
	)
})
