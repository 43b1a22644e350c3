package redir_test

import (
	"encoding/hex"
	"errors"
	"github.com/oobtb/oobtb/internal/hexvec"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/wire/redir"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// hx reads a golden vector in the reference's notation.
var hx = hexvec.Parse

const (
	realm = "Digest:0123456789ABCDEF0123456789ABCDEF"
	nonce = "AbCdEfGhIjKlMnOpQrStUvWx"
)

var _ = Describe("golden vectors (reference §6)", func() {
	DescribeTable("encode and decode byte for byte",
		func(wire string, dir redir.Direction, m redir.Msg) {
			want := hx(wire)
			Expect(hex.EncodeToString(m.Append(nil))).To(Equal(hex.EncodeToString(want)))
			got, n, err := redir.Decode(append(want, 0xEE), dir)
			Expect(err).NotTo(HaveOccurred())
			Expect(n).To(Equal(len(want)))
			Expect(got).To(Equal(m))
		},
		Entry("StartRedirectionSession KVM", "10 01 00 00 4b 56 4d 52", redir.ToAMT, redir.NewStart(redir.SessionKVM)),
		Entry("StartRedirectionSessionReply", "11 00 00 00 01 00 00 00 00 00 00 00 00", redir.FromAMT,
			&redir.StartRedirectionSessionReply{ProtoMajor: 1}),
		Entry("AuthenticateSession query", "13 00 00 00 00 00 00 00 00", redir.ToAMT, &redir.AuthenticateSession{}),
		Entry("AuthenticateSessionReply (1,3,4)", "14 00 00 00 00 03 00 00 00 01 03 04", redir.FromAMT,
			&redir.AuthenticateSessionReply{Types: []redir.AuthType{1, 3, 4}}),
		Entry("AuthenticateSession digest-probe", `13 00 00 00 04 20 00 00 00 05 "admin" 00 00 13 "/RedirectionService" 00 00 00 00`, redir.ToAMT,
			&redir.AuthenticateSession{Type: redir.AuthDigestQop, User: "admin", URI: "/RedirectionService"}),
		Entry("AuthenticateSessionReply challenge", `14 01 00 00 04 46 00 00 00 27 "`+realm+`" 18 "`+nonce+`" 04 "auth"`, redir.FromAMT,
			&redir.AuthenticateSessionReply{Status: 1, Type: redir.AuthDigestQop, Realm: realm, Nonce: nonce, Qop: "auth"}),
		Entry("KVM start", "40 00 00 00 00 00 00 00", redir.ToAMT, &redir.KVMStart{}),
	)

	It("computes the redirection digest of §6", func() {
		Expect(redir.DigestResponse("admin", realm, "P@ssw0rd", nonce, "00000001", "0a1b2c3d4e", "auth", "/RedirectionService")).
			To(Equal("5d64bf384b66e8e7603bc653ebd6f94e"))
		Expect(redir.DigestResponse("admin", realm, "P@ssw0rd", nonce, "00000001", "0a1b2c3d4e", "auth", "/wsman")).
			To(Equal("477fed87b5b123b90830ba3f03aef85e"))
	})

	It("verifies a full digest request and rejects a wrong password", func() {
		m := &redir.AuthenticateSession{Type: redir.AuthDigestQop, User: "admin", Realm: realm, Nonce: nonce,
			URI: redir.RedirectionURI, CNonce: "0a1b2c3d4e", NC: "00000001", Qop: "auth",
			Response: "5d64bf384b66e8e7603bc653ebd6f94e"}
		Expect(m.IsProbe()).To(BeFalse())
		Expect(redir.VerifyDigest(m, realm, nonce, "P@ssw0rd")).To(BeTrue())
		Expect(redir.VerifyDigest(m, realm, nonce, "wrong")).To(BeFalse())
		Expect(redir.VerifyDigest(m, realm, "othernonce", "P@ssw0rd")).To(BeFalse())
		// type 3: no qop in the hash
		m3 := *m
		m3.Type, m3.Qop = redir.AuthDigest, ""
		m3.Response = redir.DigestResponse("admin", realm, "P@ssw0rd", nonce, "", "", "", redir.RedirectionURI)
		Expect(redir.VerifyDigest(&m3, realm, nonce, "P@ssw0rd")).To(BeTrue())
	})
})

var _ = Describe("round trips", func() {
	DescribeTable("every message",
		func(dir redir.Direction, m redir.Msg, size int) {
			b := m.Append([]byte{0xAA})[1:]
			Expect(b).To(HaveLen(size))
			Expect(b[0]).To(Equal(byte(m.Opcode())))
			got, n, err := redir.Decode(b, dir)
			Expect(err).NotTo(HaveOccurred())
			Expect(n).To(Equal(size))
			Expect(got).To(Equal(m))
			// every strict prefix is short
			for i := 0; i < size; i++ {
				_, _, err := redir.Decode(b[:i], dir)
				Expect(errors.Is(err, wireerr.ErrShort)).To(BeTrue(), "prefix %d: %v", i, err)
			}
		},
		Entry("start SOL session", redir.ToAMT, redir.NewStart(redir.SessionSOL), 8),
		Entry("start reply with OEM data", redir.FromAMT, &redir.StartRedirectionSessionReply{Status: 2, ProtoMajor: 1, FirmwareMajor: 2, FirmwareMinor: 3, OEMIANA: 343, OEMData: []byte{1, 2, 3}}, 16),
		Entry("end to AMT", redir.ToAMT, &redir.EndRedirectionSession{}, 4),
		Entry("end from AMT", redir.FromAMT, &redir.EndRedirectionSession{}, 4),
		Entry("auth plain", redir.ToAMT, &redir.AuthenticateSession{Type: redir.AuthPassword, User: "admin", Password: "P@ssw0rd"}, 9+15),
		Entry("auth digest type 3", redir.ToAMT, &redir.AuthenticateSession{Type: redir.AuthDigest, User: "u", Realm: "r", Nonce: "n", URI: "/RedirectionService", CNonce: "c", NC: "00000001", Response: strings.Repeat("a", 32)}, 9+7+4+19+8+32),
		Entry("auth digest type 4", redir.ToAMT, &redir.AuthenticateSession{Type: redir.AuthDigestQop, User: "u", Realm: "r", Nonce: "n", URI: "/RedirectionService", CNonce: "c", NC: "00000001", Response: strings.Repeat("a", 32), Qop: "auth"}, 9+8+4+19+8+32+4),
		Entry("auth kerberos opaque", redir.ToAMT, &redir.AuthenticateSession{Type: redir.AuthKerberos, Data: []byte{9, 8, 7}}, 12),
		Entry("auth reply success", redir.FromAMT, &redir.AuthenticateSessionReply{Type: redir.AuthDigestQop}, 9),
		Entry("auth reply type 3 challenge", redir.FromAMT, &redir.AuthenticateSessionReply{Status: 1, Type: redir.AuthDigest, Realm: "r", Nonce: "nn"}, 9+5),
		Entry("auth reply failure", redir.FromAMT, &redir.AuthenticateSessionReply{Status: 1, Type: redir.AuthPassword}, 9),
		Entry("kvm start reply", redir.FromAMT, &redir.KVMStartReply{}, 8),
		Entry("start SOL", redir.ToAMT, &redir.StartSOL{Seq: 1, MaxTxBuffer: 10000, TxTimeout: 100, RxTimeout: 10000, RxFlushTimeout: 100}, 24),
		Entry("start SOL reply", redir.FromAMT, &redir.StartSOLReply{Status: 0, Data: [19]byte{1, 2, 3}}, 23),
		Entry("control settings", redir.ToAMT, &redir.SOLControlSettings{Seq: 2, Settings: redir.MeshCentralControlSettings}, 14),
		Entry("data to host", redir.ToAMT, &redir.SOLData{Op: redir.OpSOLDataToHost, Seq: 3, Data: []byte("dir\r")}, 14),
		Entry("data from host", redir.FromAMT, &redir.SOLData{Op: redir.OpSOLDataFromHost, Seq: 4, Data: []byte("C:\\>")}, 14),
		Entry("controls from host", redir.FromAMT, &redir.SOLControlsFromHost{Seq: 5, Control: redir.ControlDTR | redir.ControlRTS, Status: redir.StatusPower}, 10),
		Entry("heartbeat to AMT", redir.ToAMT, &redir.SOLSeqMsg{Op: redir.OpSOLHeartbeat, Seq: 6}, 8),
		Entry("heartbeat from AMT", redir.FromAMT, &redir.SOLSeqMsg{Op: redir.OpSOLHeartbeat, Seq: 6}, 8),
		Entry("ping", redir.ToAMT, &redir.SOLSeqMsg{Op: redir.OpSOLPing, Seq: 7}, 8),
		Entry("pong", redir.FromAMT, &redir.SOLSeqMsg{Op: redir.OpSOLPong, Seq: 7}, 8),
		Entry("end SOL", redir.ToAMT, &redir.SOLSeqMsg{Op: redir.OpEndSOL, Seq: 8}, 8),
		Entry("end SOL reply", redir.FromAMT, &redir.SOLSeqMsg{Op: redir.OpEndSOLReply, Seq: 8}, 8),
	)

	It("encodes the SOL start exactly as §2.6 lays it out", func() {
		m := &redir.StartSOL{Seq: 1, MaxTxBuffer: 10000, TxTimeout: 100, RxTimeout: 10000, RxFlushTimeout: 100}
		Expect(hex.EncodeToString(m.Append(nil))).To(Equal("20000000" + "01000000" + "1027" + "6400" + "0000" + "1027" + "6400" + "0000" + "00000000"))
		cs := &redir.SOLControlSettings{Seq: 2, Settings: redir.MeshCentralControlSettings}
		Expect(hex.EncodeToString(cs.Append(nil))).To(Equal("27000000020000000000" + "1b0000" + "00"))
	})

	It("cuts consecutive messages from one stream", func() {
		var b []byte
		b = (&redir.StartRedirectionSessionReply{}).Append(b)
		b = (&redir.AuthenticateSessionReply{Types: []redir.AuthType{4}}).Append(b)
		b = (&redir.KVMStartReply{}).Append(b)
		b = append(b, "RFB 004.000\n"...)
		var ops []redir.Opcode
		for i := 0; i < 3; i++ {
			m, n, err := redir.Decode(b, redir.FromAMT)
			Expect(err).NotTo(HaveOccurred())
			ops = append(ops, m.Opcode())
			b = b[n:]
		}
		Expect(ops).To(Equal([]redir.Opcode{redir.OpStartRedirectionSessionReply, redir.OpAuthenticateSessionReply, redir.OpKVMStartReply}))
		Expect(string(b)).To(Equal("RFB 004.000\n"))
	})
})

var _ = Describe("malformed input", func() {
	wireErr := func(b []byte, dir redir.Direction, field string) {
		_, _, err := redir.Decode(b, dir)
		var we *wireerr.Error
		ExpectWithOffset(1, errors.As(err, &we)).To(BeTrue(), "%v", err)
		ExpectWithOffset(1, errors.Is(err, wireerr.ErrShort)).To(BeFalse())
		ExpectWithOffset(1, we.Proto).To(Equal(redir.Proto))
		ExpectWithOffset(1, we.Field).To(Equal(field))
	}
	It("rejects unknown opcodes", func() { wireErr([]byte{0x77, 0, 0, 0}, redir.ToAMT, "opcode") })
	It("rejects messages travelling the wrong way", func() {
		wireErr(hx("41 00 00 00 00 00 00 00"), redir.ToAMT, "opcode")
		wireErr(hx("13 00 00 00 00 00 00 00 00"), redir.FromAMT, "opcode")
	})
	It("bounds the auth data length", func() {
		wireErr(hx("13 00 00 00 04 ff ff ff 7f"), redir.ToAMT, "auth data length")
	})
	It("rejects strings that overrun the auth data", func() {
		wireErr(hx(`13 00 00 00 01 04 00 00 00 05 "adm"`), redir.ToAMT, "user")
		wireErr(hx(`13 00 00 00 01 05 00 00 00 01 "a" 01 "b" 00`), redir.ToAMT, "auth data")
		wireErr(hx(`13 00 00 00 04 02 00 00 00 01 "a"`), redir.ToAMT, "realm length")
		wireErr(hx(`14 01 00 00 04 03 00 00 00 00 00 00`), redir.FromAMT, "realm")
	})
	It("rejects a query with data", func() { wireErr(hx("13 00 00 00 00 01 00 00 00 07"), redir.ToAMT, "auth data") })
})
