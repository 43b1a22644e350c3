package rfb_test

import (
	"errors"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/wire/rfb"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

func expectShortPrefixes(b []byte, dec func([]byte) error) {
	for i := 0; i < len(b); i++ {
		err := dec(b[:i])
		ExpectWithOffset(1, errors.Is(err, wireerr.ErrShort)).To(BeTrue(), "prefix %d: %v", i, err)
	}
}

func expectWireErr(err error, field string) {
	var we *wireerr.Error
	ExpectWithOffset(1, errors.As(err, &we)).To(BeTrue(), "%v", err)
	ExpectWithOffset(1, errors.Is(err, wireerr.ErrShort)).To(BeFalse(), "%v", err)
	ExpectWithOffset(1, we.Proto).To(Equal(rfb.Proto))
	ExpectWithOffset(1, we.Field).To(Equal(field))
}

var _ = Describe("client messages", func() {
	DescribeTable("round trip, with every prefix short",
		func(m rfb.ClientMsg, size int) {
			b := m.Append(nil)
			Expect(b).To(HaveLen(size))
			got, n, err := rfb.DecodeClientMsg(append(b, 0xEE))
			Expect(err).NotTo(HaveOccurred())
			Expect(n).To(Equal(size))
			Expect(got).To(Equal(m))
			expectShortPrefixes(b, func(p []byte) error { _, _, err := rfb.DecodeClientMsg(p); return err })
		},
		Entry("SetPixelFormat grey", &rfb.SetPixelFormat{Format: rfb.PFGrey8}, 20),
		Entry("SetEncodings", &rfb.SetEncodings{Encodings: []int32{16, 0, 1092, -223}}, 20),
		Entry("FramebufferUpdateRequest", &rfb.FramebufferUpdateRequest{Incremental: true, Rect: rfb.Rect{X: 1, Y: 2, W: 1920, H: 1080}}, 10),
		Entry("KeyEvent", &rfb.KeyEvent{Down: true, Key: rfb.KeyDelete}, 8),
		Entry("PointerEvent", &rfb.PointerEvent{Mask: rfb.ButtonLeft | rfb.ButtonWheelUp, X: 640, Y: 480}, 6),
		Entry("ClientCutText keep-alive", &rfb.ClientCutText{Text: []byte(rfb.KvmDataChannelPrefix)}, 24),
	)

	It("rejects unknown types and oversized lengths", func() {
		_, _, err := rfb.DecodeClientMsg([]byte{9})
		expectWireErr(err, "message-type")
		_, _, err = rfb.DecodeClientMsg(hx("02 00 ffff"))
		expectWireErr(err, "number-of-encodings")
		_, _, err = rfb.DecodeClientMsg(hx("06 000000 7fffffff"))
		expectWireErr(err, "length")
	})

	It("reports SetEncodings membership", func() {
		m := &rfb.SetEncodings{Encodings: rfb.AMTConsoleEncodings}
		Expect(m.Has(rfb.EncodingAMT16)).To(BeTrue())
		Expect(m.Has(rfb.EncodingCopyRect)).To(BeFalse())
	})
})

var _ = Describe("server messages", func() {
	DescribeTable("round trip, with every prefix short",
		func(m rfb.ServerMsg, size int) {
			b := m.Append(nil)
			Expect(b).To(HaveLen(size))
			got, n, err := rfb.DecodeServerMsg(append(b, 0xEE))
			Expect(err).NotTo(HaveOccurred())
			Expect(n).To(Equal(size))
			Expect(got).To(Equal(m))
			expectShortPrefixes(b, func(p []byte) error { _, _, err := rfb.DecodeServerMsg(p); return err })
		},
		Entry("FramebufferUpdate header", &rfb.FramebufferUpdate{NumRects: 510}, 4),
		Entry("Bell", &rfb.Bell{}, 1),
		Entry("ServerCutText", &rfb.ServerCutText{Text: []byte("clipboard")}, 17),
		Entry("SetColourMapEntries", &rfb.SetColourMapEntries{First: 3, Colours: []rfb.Colour{{1, 2, 3}, {0xffff, 0, 0x8000}}}, 18),
	)

	It("round-trips rectangle headers, DesktopSize and CopyRect", func() {
		h := rfb.RectHeader{Rect: rfb.Rect{X: 1, Y: 2, W: 3, H: 4}, Encoding: rfb.EncodingDesktopSize}
		got, err := rfb.DecodeRectHeader(h.Append(nil))
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(h))
		Expect(rfb.AppendDesktopSize(nil, 1280, 1024)).To(Equal(hx("00 00 0001 | 0000 0000 0500 0400 ffffff21")))
		Expect(rfb.AppendCopyRect(nil, rfb.Rect{X: 8, Y: 9, W: 10, H: 11}, 1, 2)).To(Equal(hx("0008 0009 000a 000b 00000001 0001 0002")))
	})

	It("rejects unknown types and oversized colour maps", func() {
		_, _, err := rfb.DecodeServerMsg([]byte{4})
		expectWireErr(err, "message-type")
		_, _, err = rfb.DecodeServerMsg(hx("01 00 0000 1000"))
		expectWireErr(err, "number-of-colours")
	})
})

var _ = Describe("handshake", func() {
	It("round-trips security type lists for 3.3 and 3.7+", func() {
		for _, v := range []rfb.Version{rfb.V37, rfb.V38, rfb.V40} {
			b := rfb.AppendSecurityTypes(nil, v, []uint8{rfb.SecNone}, "")
			Expect(b).To(Equal([]byte{1, 1}))
			ts, _, n, err := rfb.DecodeSecurityTypes(b, v)
			Expect(err).NotTo(HaveOccurred())
			Expect(n).To(Equal(2))
			Expect(ts).To(Equal([]uint8{1}))
		}
		b := rfb.AppendSecurityTypes(nil, rfb.V33, []uint8{rfb.SecVNCAuth}, "")
		Expect(b).To(Equal(hx("00000002")))
		ts, _, n, err := rfb.DecodeSecurityTypes(b, rfb.V33)
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(4))
		Expect(ts).To(Equal([]uint8{2}))

		for _, v := range []rfb.Version{rfb.V33, rfb.V38} {
			b := rfb.AppendSecurityTypes(nil, v, nil, "too many")
			ts, reason, n, err := rfb.DecodeSecurityTypes(b, v)
			Expect(err).NotTo(HaveOccurred())
			Expect(ts).To(BeEmpty())
			Expect(reason).To(Equal("too many"))
			Expect(n).To(Equal(len(b)))
			expectShortPrefixes(b, func(p []byte) error { _, _, _, err := rfb.DecodeSecurityTypes(p, v); return err })
		}
		_, _, _, err = rfb.DecodeSecurityTypes(hx("00000100"), rfb.V33)
		expectWireErr(err, "security-type")
	})

	It("round-trips SecurityResult with and without the 3.8 reason", func() {
		Expect(rfb.AppendSecurityResult(nil, rfb.V38, rfb.SecurityOK, "")).To(Equal(hx("00000000")))
		b := rfb.AppendSecurityResult(nil, rfb.V38, rfb.SecurityFailed, "bad password")
		st, reason, n, err := rfb.DecodeSecurityResult(b, rfb.V38)
		Expect(err).NotTo(HaveOccurred())
		Expect(st).To(Equal(rfb.SecurityFailed))
		Expect(reason).To(Equal("bad password"))
		Expect(n).To(Equal(len(b)))
		expectShortPrefixes(b, func(p []byte) error { _, _, _, err := rfb.DecodeSecurityResult(p, rfb.V38); return err })
		b = rfb.AppendSecurityResult(nil, rfb.V37, rfb.SecurityFailed, "ignored")
		Expect(b).To(Equal(hx("00000001")))
		_, _, _, err = rfb.DecodeSecurityResult(hx("00000001 00100000"), rfb.V38)
		expectWireErr(err, "reason-length")
	})

	It("round-trips ClientInit and ServerInit, bounding the name", func() {
		ci, n, err := rfb.DecodeClientInit(rfb.ClientInit{Shared: true}.Append(nil))
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(1))
		Expect(ci.Shared).To(BeTrue())
		_, _, err = rfb.DecodeClientInit(nil)
		Expect(errors.Is(err, wireerr.ErrShort)).To(BeTrue())
		b := rfb.AMTServerInit(1920, 1080).Append(nil)
		expectShortPrefixes(b, func(p []byte) error { _, _, err := rfb.DecodeServerInit(p); return err })
		big := append(append([]byte{}, b[:20]...), 0x00, 0x10, 0x00, 0x00)
		_, _, err = rfb.DecodeServerInit(big)
		expectWireErr(err, "name-length")
	})

	It("rejects malformed banners and reports short ones", func() {
		_, _, err := rfb.ParseVersion([]byte("RFB 003.0"))
		Expect(errors.Is(err, wireerr.ErrShort)).To(BeTrue())
		_, _, err = rfb.ParseVersion([]byte("HTTP/1.1 200"))
		expectWireErr(err, "banner")
		_, _, err = rfb.ParseVersion([]byte("SSH-"))
		expectWireErr(err, "banner")
		_, _, err = rfb.ParseVersion([]byte("RFB 00a.000\n"))
		expectWireErr(err, "version digits")
		Expect(rfb.V40.AtLeast(rfb.V38)).To(BeTrue())
		Expect(rfb.V33.AtLeast(rfb.V37)).To(BeFalse())
	})
})

var _ = Describe("Intel CutText extensions", func() {
	It("classifies data-channel acks, keep-alives and data", func() {
		ka := rfb.AppendDataChannel(nil, nil)
		Expect(ka).To(Equal(append([]byte{0}, append([]byte("KvmDataChannel"), 0)...)))
		ct, err := rfb.ParseCutText(ka)
		Expect(err).NotTo(HaveOccurred())
		Expect(ct.Kind).To(Equal(rfb.CutDataChannel))
		Expect(ct.Ack).To(BeTrue())
		ct, _ = rfb.ParseCutText(rfb.AppendDataChannel(nil, []byte("payload")))
		Expect(ct.Ack).To(BeFalse())
		Expect(string(ct.Data)).To(Equal("payload"))
		flagged := append([]byte("\x00KvmDataChannel\x01"), "x"...)
		ct, _ = rfb.ParseCutText(flagged)
		Expect(ct.Kind).To(Equal(rfb.CutDataChannel))
		Expect(ct.Ack).To(BeTrue())
	})

	It("encodes and decodes extended commands", func() {
		b := rfb.AppendExtCmd(nil, rfb.ExtCmdSetCompression, 1)
		Expect(b).To(Equal(hx(`00 "KvmExtCmd" 00 04 01`)))
		ct, err := rfb.ParseCutText(b)
		Expect(err).NotTo(HaveOccurred())
		Expect(ct).To(Equal(rfb.CutText{Kind: rfb.CutExtCmd, Cmd: 4, Value: 1, Data: []byte{}}))
		ct, _ = rfb.ParseCutText(rfb.AppendExtCmd(nil, rfb.ExtCmdGetDecimation, 2, 1))
		Expect(ct.Cmd).To(Equal(rfb.ExtCmdGetDecimation))
		Expect(ct.Data).To(Equal([]byte{1}))
		_, err = rfb.ParseCutText(hx(`00 "KvmExtCmd" 00 04`))
		expectWireErr(err, "cmd")
		ct, _ = rfb.ParseCutText([]byte("hello"))
		Expect(ct.Kind).To(Equal(rfb.CutClipboard))
	})
})
