package apf_test

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

func asWireErr(err error) *wireerr.Error {
	var we *wireerr.Error
	ExpectWithOffset(1, errors.As(err, &we)).To(BeTrue(), "want *wireerr.Error, got %T %v", err, err)
	return we
}

var _ = Describe("golden vectors", func() {
	for _, v := range vectors {
		It("encodes "+v.name, func() {
			want := wire(v.hex)
			Expect(apf.Marshal(v.msg)).To(Equal(want))
			Expect(v.msg.Len()).To(Equal(len(want)))
		})
		It("decodes "+v.name, func() {
			b := wire(v.hex)
			m, n, err := apf.Decode(b, apf.Options{Reply: v.reply})
			Expect(err).NotTo(HaveOccurred())
			Expect(n).To(Equal(len(b)))
			Expect(m).To(Equal(v.msg))
		})
		It("decodes "+v.name+" followed by another message", func() {
			b := append(wire(v.hex), wire(`61 00000004`)...)
			m, n, err := apf.Decode(b, apf.Options{Reply: v.reply})
			Expect(err).NotTo(HaveOccurred())
			Expect(n).To(Equal(len(b) - 5))
			Expect(m).To(Equal(v.msg))
		})
		It("reports every proper prefix of "+v.name+" as short", func() {
			b := wire(v.hex)
			for i := 0; i < len(b); i++ {
				_, _, err := apf.Decode(b[:i], apf.Options{Reply: v.reply})
				if i > 0 && (v.reply == apf.ReplyNoPort || v.msg.Type() == apf.TypeUserauthSuccess ||
					v.msg.Type() == apf.TypeRequestFailure) {
					// one-byte messages have no proper prefix but the empty one
					continue
				}
				if uf, ok := v.msg.(*apf.UserauthFailure); ok && uf.ExtraZero && i == len(b)-1 {
					continue // the 14-byte form is itself a whole message
				}
				Expect(err).To(MatchError(wireerr.ErrShort), "prefix %d of %d", i, len(b))
				asWireErr(err)
			}
		})
	}

	It("maps the §1.4 UUID example both ways", func() {
		g := apf.MustParseGUID("12345678-9ABC-DEF0-1122-334455667788")
		Expect(g[:]).To(Equal(wire(`78563412 bc9af0de 11223344 55667788`)))
		Expect(g.String()).To(Equal("12345678-9abc-def0-1122-334455667788"))
		c := g.Canonical()
		Expect(c[:]).To(Equal(wire(`12345678 9abcdef0 11223344 55667788`)))
		Expect(apf.GUIDFromCanonical(c)).To(Equal(g))
	})

	DescribeTable("rejects malformed UUID strings", func(s string) {
		_, err := apf.ParseGUID(s)
		Expect(err).To(HaveOccurred())
	},
		Entry("short", "12345678-9abc-def0-1122-33445566778"),
		Entry("no dashes", "123456789abcdef0112233445566778899"),
		Entry("bad hex", "1234567g-9abc-def0-1122-334455667788"),
		Entry("dash moved", "1234567-89abc-def0-1122-334455667788"),
	)

	It("keeps AMT's forwarded port order", func() {
		Expect(apf.ForwardedPortOrder[:]).To(Equal([]uint32{16993, 16992, 664, 623, 16995, 16994, 5900}))
	})

	It("names message types", func() {
		Expect(apf.TypeChannelOpenConfirmation.String()).To(Equal("CHANNEL_OPEN_CONFIRMATION"))
		Expect(apf.MsgType(250).String()).To(Equal("type 0xfa"))
		Expect(apf.MsgType(250).Known()).To(BeFalse())
	})
})

func randStr(r *rand.Rand, max int) string {
	b := make([]byte, r.IntN(max+1))
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return string(b)
}

func randomMessages(r *rand.Rand) []apf.Message {
	u := r.Uint32
	var g apf.GUID
	for i := range g {
		g[i] = byte(r.IntN(256))
	}
	pv := &apf.ProtocolVersion{Major: u(), Minor: u(), Trigger: apf.TriggerReason(u()), UUID: g}
	for i := range pv.Reserved {
		pv.Reserved[i] = byte(r.IntN(256))
	}
	data := []byte(randStr(r, 3000))
	method := "password"
	if r.IntN(2) == 0 {
		method = "none"
	}
	ua := &apf.UserauthRequest{Username: randStr(r, 64), Service: randStr(r, 30), Method: method}
	if method == "password" {
		ua.ChangePassword = r.IntN(2) == 0
		ua.Password = randStr(r, 64)
	}
	return []apf.Message{
		&apf.Disconnect{Reason: apf.DisconnectReason(u()), Reserved: uint16(u())},
		&apf.ServiceRequest{Service: randStr(r, 40)},
		&apf.ServiceAccept{Service: randStr(r, 40)},
		ua,
		&apf.UserauthFailure{Methods: randStr(r, 20), PartialSuccess: r.IntN(2) == 0, ExtraZero: r.IntN(2) == 0},
		&apf.UserauthSuccess{},
		&apf.TCPIPForward{WantReply: r.IntN(2) == 0, Address: randStr(r, 50), Port: u()},
		&apf.CancelTCPIPForward{WantReply: r.IntN(2) == 0, Address: randStr(r, 50), Port: u()},
		&apf.UDPSendTo{WantReply: true, Address: randStr(r, 20), Port: u(), OriginatorAddr: randStr(r, 20), OriginatorPort: u(), Data: []byte(randStr(r, 100))},
		&apf.ExtensionRequest{Name: "x" + randStr(r, 10) + "@oobtb", WantReply: r.IntN(2) == 0, Payload: []byte(randStr(r, 500))},
		&apf.RequestSuccess{HasPort: true, Port: u()},
		&apf.RequestSuccess{},
		&apf.RequestFailure{},
		&apf.ChannelOpen{ChannelType: randStr(r, 20), Sender: u(), Window: u(), Reserved: u(), TargetAddr: randStr(r, 40),
			TargetPort: u(), OriginatorAddr: randStr(r, 40), OriginatorPort: u()},
		&apf.ChannelOpenConfirmation{Recipient: u(), Sender: u(), Window: u(), Reserved: u()},
		&apf.ChannelOpenFailure{Recipient: u(), Reason: apf.OpenFailureReason(u()), Description: randStr(r, 30), Language: randStr(r, 5)},
		&apf.ChannelWindowAdjust{Recipient: u(), BytesToAdd: u()},
		&apf.ChannelData{Recipient: u(), Data: data},
		&apf.ChannelClose{Recipient: u()},
		pv,
		&apf.KeepaliveRequest{Cookie: u()},
		&apf.KeepaliveReply{Cookie: u()},
		&apf.KeepaliveOptionsRequest{Interval: u(), Timeout: u()},
		&apf.KeepaliveOptionsReply{Interval: u(), Timeout: u()},
	}
}

func replyFor(m apf.Message) apf.ReplyKind {
	if rs, ok := m.(*apf.RequestSuccess); ok {
		if rs.HasPort {
			return apf.ReplyWithPort
		}
		return apf.ReplyNoPort
	}
	return apf.ReplyGuess
}

var _ = Describe("round trips", func() {
	It("decodes what it encodes, for every type", func() {
		r := rand.New(rand.NewPCG(1, 2))
		seen := map[apf.MsgType]bool{}
		for range 50 {
			for _, m := range randomMessages(r) {
				b := apf.Marshal(m)
				Expect(b).To(HaveLen(m.Len()))
				got, n, err := apf.Decode(b, apf.Options{Reply: replyFor(m)})
				Expect(err).NotTo(HaveOccurred(), "%s", m.Type())
				Expect(n).To(Equal(len(b)))
				Expect(got).To(Equal(m))
				Expect(apf.Check(m, apf.Options{})).To(Succeed())
				seen[m.Type()] = true
			}
		}
		Expect(seen).To(HaveLen(20))
	})

	It("appends without allocating into a large enough buffer", func() {
		m := &apf.ChannelData{Recipient: 7, Data: make([]byte, 4087)}
		buf := make([]byte, 0, 4096)
		Expect(testing_AllocsPerRun(100, func() { buf = m.Append(buf[:0]) })).To(BeZero())
		Expect(apf.AppendChannelDataHeader(nil, 7, 4087)).To(Equal(buf[:9]))
	})
})

var _ = Describe("malformed input", func() {
	type bad struct {
		hex      string
		opts     apf.Options
		msg      string
		field    string
		offset   int
		expected string
	}
	DescribeTable("names message, field and offset",
		func(c bad) {
			_, _, err := apf.Decode(wire(c.hex), c.opts)
			Expect(err).To(HaveOccurred())
			Expect(err).NotTo(MatchError(wireerr.ErrShort))
			we := asWireErr(err)
			Expect(we.Proto).To(Equal("APF"))
			Expect(we.Message).To(Equal(c.msg))
			Expect(we.Field).To(Equal(c.field))
			Expect(we.Offset).To(Equal(c.offset))
			Expect(we.Expected).To(ContainSubstring(c.expected))
			Expect(err.Error()).To(ContainSubstring(c.field))
		},
		Entry("unknown type", bad{`07 00000000`, apf.Options{}, "message", "type", 0, "known APF"}),
		Entry("JSON_CONTROL", bad{`fa 00000000`, apf.Options{}, "message", "type", 0, "known APF"}),
		Entry("service name over 2048", bad{`05 00000801`, apf.Options{}, "SERVICE_REQUEST", "service name length", 1, "at most 2048"}),
		Entry("username length huge", bad{`32 ffffffff`, apf.Options{}, "USERAUTH_REQUEST", "username length", 1, "at most 2048"}),
		Entry("password over bound", bad{`32 00000005 "admin" 00000012 "pfwd@amt.intel.com" 00000008 "password" 00 00000900`,
			apf.Options{}, "USERAUTH_REQUEST", "password length", 45, "at most 2048"}),
		Entry("unknown method", bad{`32 00000000 00000000 00000009 "publickey" 00`, apf.Options{}, "USERAUTH_REQUEST", "method", 9, "password"}),
		Entry("change-password not boolean", bad{`32 00000000 00000000 00000008 "password" 02 00000000`,
			apf.Options{}, "USERAUTH_REQUEST", "change password", 21, "0 or 1"}),
		Entry("want reply not boolean", bad{`50 0000000d "tcpip-forward" 07 00000000 00004260`,
			apf.Options{}, "GLOBAL_REQUEST", "want reply", 18, "0 or 1"}),
		Entry("unknown global request", bad{`50 00000007 "foo@bar" 01`, apf.Options{}, "GLOBAL_REQUEST", "request name", 5, "*@oobtb"}),
		Entry("bare @oobtb", bad{`50 00000006 "@oobtb" 01 00000000`, apf.Options{}, "GLOBAL_REQUEST", "request name", 5, "*@oobtb"}),
		Entry("forward address too long", bad{`50 0000000d "tcpip-forward" 01 00001000`,
			apf.Options{}, "GLOBAL_REQUEST tcpip-forward", "address length", 19, "at most 2048"}),
		Entry("extension payload too long", bad{`50 00000012 "gateway-info@oobtb" 01 00000801`,
			apf.Options{}, "GLOBAL_REQUEST gateway-info@oobtb", "payload length", 24, "at most 2048"}),
		Entry("channel data over 1 MiB", bad{`5e 00000001 00100001`, apf.Options{}, "CHANNEL_DATA", "data length", 5, "at most 1048576"}),
		Entry("channel data over a configured max", bad{`5e 00000001 00000fff`, apf.Options{MaxData: 4087},
			"CHANNEL_DATA", "data length", 5, "at most 4087"}),
		Entry("channel type too long", bad{`5a 00000801`, apf.Options{}, "CHANNEL_OPEN", "channel type length", 1, "at most 2048"}),
		Entry("originator address too long", bad{`5a 0000000f "forwarded-tcpip" 00000004 00008000 ffffffff 00000000 00004260 00008000`,
			apf.Options{}, "CHANNEL_OPEN", "originator address length", 40, "at most 2048"}),
		Entry("open failure with a huge description", bad{`5c 00000004 00000002 ffffffff`, apf.Options{}, "CHANNEL_OPEN_FAILURE", "description length", 9, "at most 2048"}),
		Entry("partial success not boolean", bad{`33 00000008 "password" 05`, apf.Options{}, "USERAUTH_FAILURE", "partial success", 13, "0 or 1"}),
		Entry("a smaller configured string bound", bad{`05 00000012 "auth@amt.intel.com"`, apf.Options{MaxString: 16},
			"SERVICE_REQUEST", "service name length", 1, "at most 16"}),
	)

	DescribeTable("truncated input names the field it stops in",
		func(hexs string, msg, field string, offset int) {
			_, _, err := apf.Decode(wire(hexs), apf.Options{})
			Expect(err).To(MatchError(wireerr.ErrShort))
			we := asWireErr(err)
			Expect(we.Message).To(Equal(msg))
			Expect(we.Field).To(Equal(field))
			Expect(we.Offset).To(Equal(offset))
		},
		Entry("empty", ``, "message", "type", 0),
		Entry("CHANNEL_DATA payload", `5e 00000001 00000010 "abc"`, "CHANNEL_DATA", "data", 9),
		Entry("CHANNEL_OPEN target port", `5a 0000000f "forwarded-tcpip" 00000004 00008000 ffffffff 00000000 0000`, "CHANNEL_OPEN", "target port", 36),
		Entry("PROTOCOL_VERSION uuid", `c0 00000001 00000000 00000004 7856`, "PROTOCOL_VERSION", "uuid", 1),
		Entry("DISCONNECT reserved", `01 0000000b 00`, "DISCONNECT", "reserved", 5),
		Entry("REQUEST_SUCCESS port (guessed)", `51 0000`, "REQUEST_SUCCESS", "port", 1),
	)

	It("tolerates an unknown global request only when asked, as the stock servers do", func() {
		b := wire(`50 00000007 "foo@bar" 01 61 00000004`)
		m, n, err := apf.Decode(b, apf.Options{TolerateUnknownGlobal: true})
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(13))
		Expect(m).To(Equal(&apf.UnknownGlobalRequest{Name: "foo@bar", WantReply: true}))
		Expect(apf.Marshal(m)).To(Equal(b[:13]))
	})

	It("reports a huge declared length before waiting for its bytes", func() {
		b := make([]byte, 9)
		b[0] = byte(apf.TypeChannelData)
		binary.BigEndian.PutUint32(b[5:], 0xFFFFFFFF)
		_, _, err := apf.Decode(b, apf.Options{})
		Expect(err).NotTo(MatchError(wireerr.ErrShort))
	})

	It("Check refuses values a peer would refuse", func() {
		err := apf.Check(&apf.ServiceRequest{Service: strings.Repeat("a", 3000)}, apf.Options{})
		Expect(asWireErr(err).Field).To(Equal("service name length"))
		Expect(apf.Check(&apf.UserauthRequest{Method: "publickey"}, apf.Options{})).NotTo(Succeed())
	})
})

var _ = Describe("REQUEST_SUCCESS and USERAUTH_FAILURE variants", func() {
	DescribeTable("REQUEST_SUCCESS",
		func(hexs string, reply apf.ReplyKind, want apf.Message, n int) {
			m, got, err := apf.Decode(wire(hexs), apf.Options{Reply: reply})
			Expect(err).NotTo(HaveOccurred())
			Expect(m).To(Equal(want))
			Expect(got).To(Equal(n))
		},
		Entry("guess: lone byte", `51`, apf.ReplyGuess, &apf.RequestSuccess{}, 1),
		Entry("guess: zero high byte means a port", `51 00004260`, apf.ReplyGuess, &apf.RequestSuccess{HasPort: true, Port: 16992}, 5),
		Entry("guess: next message follows", `51 34`, apf.ReplyGuess, &apf.RequestSuccess{}, 1),
		Entry("expected no port although a 0x00 follows", `51 00`, apf.ReplyNoPort, &apf.RequestSuccess{}, 1),
		Entry("expected port", `51 00001770`, apf.ReplyWithPort, &apf.RequestSuccess{HasPort: true, Port: 6000}, 5),
		Entry("expected port, high byte set", `51 01000000`, apf.ReplyWithPort, &apf.RequestSuccess{HasPort: true, Port: 1 << 24}, 5),
	)

	It("waits for the port when one is expected", func() {
		_, _, err := apf.Decode(wire(`51`), apf.Options{Reply: apf.ReplyWithPort})
		Expect(err).To(MatchError(wireerr.ErrShort))
	})

	It("takes a 14-byte USERAUTH_FAILURE followed by another message", func() {
		m, n, err := apf.Decode(wire(`33 00000008 "password" 00 01 00000002 0000`), apf.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(14))
		Expect(m).To(Equal(&apf.UserauthFailure{Methods: "password"}))
	})

	It("accepts PROTOCOL_VERSION arriving from a server (DMT console echo)", func() {
		b := wire(`c0 00000001 00000000 00000004 78563412 bc9af0de 11223344 55667788 zeros(64)`)
		m, _, err := apf.Decode(b, apf.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(m.(*apf.ProtocolVersion).UUID.String()).To(Equal("12345678-9abc-def0-1122-334455667788"))
	})
})

var _ = Describe("reason names", func() {
	It("names triggers, disconnect and open-failure reasons", func() {
		Expect(apf.TriggerPeriodic.String()).To(Equal("periodic"))
		Expect(apf.TriggerReason(9).String()).To(Equal("trigger 9"))
		Expect(apf.DisconnectIllegalUserName.String()).To(Equal("illegal user name"))
		Expect(apf.DisconnectReason(99).String()).To(Equal("reason 99"))
		Expect(apf.OpenConnectFailed.String()).To(Equal("connect failed"))
	})
})
