package rfb_test

import (
	"encoding/hex"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

var _ = Describe("golden vectors (reference §6)", func() {
	It("encodes and decodes AMT's ServerInit byte for byte", func() {
		want := hx(`0400 0300 | 10 10 00 01 001f 003f 001f 0b 05 00 000000 | 00000010 "Intel(r) AMT KVM"`)
		got := rfb.AMTServerInit(1024, 768).Append(nil)
		Expect(hex.EncodeToString(got)).To(Equal(hex.EncodeToString(want)))
		si, n, err := rfb.DecodeServerInit(want)
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(len(want)))
		Expect(si).To(Equal(rfb.AMTServerInit(1024, 768)))
		Expect(si.Format.Validate()).To(Succeed())
	})

	fbu := `00 00 0001 | 0040 0000 0040 0040 00000010 | 00000008 | 00 0300 fcff | 01 00f8`

	It("encodes the solid red tile FramebufferUpdate byte for byte", func() {
		img, _ := framebuf.New(128, 64)
		img.Fill(64, 0, 128, 64, framebuf.RGB(255, 0, 0))
		enc, err := rfb.NewEncoder(rfb.PF565, rfb.Settings{Encoding: rfb.EncodingAMT16})
		Expect(err).NotTo(HaveOccurred())
		got, err := enc.AppendUpdate(nil, img, []rfb.Rect{{X: 64, Y: 0, W: 64, H: 64}})
		Expect(err).NotTo(HaveOccurred())
		Expect(hex.EncodeToString(got)).To(Equal(hex.EncodeToString(hx(fbu))))
	})

	It("decodes it through the stored-block fast path", func() {
		img, _ := framebuf.New(128, 64)
		dec, err := rfb.NewDecoder(rfb.PF565, img)
		Expect(err).NotTo(HaveOccurred())
		b := hx(fbu)
		ev, n, err := dec.Next(b)
		Expect(err).NotTo(HaveOccurred())
		Expect(ev.Kind).To(Equal(rfb.EventUpdateBegin))
		Expect(ev.NumRects).To(Equal(1))
		ev, m, err := dec.Next(b[n:])
		Expect(err).NotTo(HaveOccurred())
		Expect(n + m).To(Equal(len(b)))
		Expect(ev).To(Equal(rfb.Event{Kind: rfb.EventRect, Rect: rfb.Rect{X: 64, W: 64, H: 64}, Encoding: 16,
			Subencoding: rfb.SubSolid, Stored: true, Last: true}))
		Expect(img.At(64, 0)).To(Equal(framebuf.RGB(255, 0, 0)))
		Expect(img.At(127, 63)).To(Equal(framebuf.RGB(255, 0, 0)))
		Expect(img.At(63, 0)).To(Equal(uint32(0)))
	})

	It("decodes the captured AMT deflate rectangles (zlib 78 9C, sync flush, solid 8-bit tiles)", func() {
		// Two 64×64 rectangles whose data inflate to `01 00`, as recorded
		// from real AMT: the stream starts with a zlib header and each
		// rectangle ends with 00 00 FF FF.
		img, _ := framebuf.New(128, 64)
		img.Fill(0, 0, 128, 64, 0xFFFFFF)
		dec, _ := rfb.NewDecoder(rfb.PF332, img)
		b := hx(`00 00 0002 | 0000 0000 0040 0040 00000010 | 0000000a | 78 9c 62 64 00 00 00 00 ff ff
		                     | 0040 0000 0040 0040 00000010 | 00000008 | 62 64 00 00 00 00 ff ff`)
		var evs []rfb.Event
		for len(b) > 0 {
			ev, n, err := dec.Next(b)
			Expect(err).NotTo(HaveOccurred())
			evs = append(evs, ev)
			b = b[n:]
		}
		Expect(evs).To(HaveLen(3))
		Expect(evs[1].Subencoding).To(Equal(rfb.SubSolid))
		Expect(evs[1].Stored).To(BeFalse())
		Expect(evs[2].Last).To(BeTrue())
		Expect(img.At(0, 0)).To(Equal(uint32(0)))
		Expect(img.At(127, 63)).To(Equal(uint32(0)))
	})

	It("formats and parses the version banners", func() {
		for _, c := range []struct {
			v    rfb.Version
			wire string
		}{{rfb.V33, "RFB 003.003\n"}, {rfb.V37, "RFB 003.007\n"}, {rfb.V38, "RFB 003.008\n"}, {rfb.V40, "RFB 004.000\n"}} {
			Expect(string(c.v.Append(nil))).To(Equal(c.wire))
			v, n, err := rfb.ParseVersion([]byte(c.wire + "x"))
			Expect(err).NotTo(HaveOccurred())
			Expect(n).To(Equal(12))
			Expect(v).To(Equal(c.v))
		}
	})

	It("lays out the AMT pixel formats as §2.5 gives them", func() {
		Expect(hex.EncodeToString(rfb.PF565.Append(nil))).To(Equal("10100001001f003f001f0b0500000000"))
		Expect(hex.EncodeToString(rfb.PF332.Append(nil))).To(Equal("08080001000700070003050200000000"))
		Expect(hex.EncodeToString(rfb.PFGrey8.Append(nil))).To(Equal("0808000100ff00000000000000000000"))
		Expect(hex.EncodeToString(rfb.PFGrey4.Append(nil))).To(Equal("08040001000f00000000000000000000"))
		set := &rfb.SetPixelFormat{Format: rfb.PF332}
		Expect(hex.EncodeToString(set.Append(nil))).To(Equal("00000000" + "08080001000700070003050200000000"))
	})

	It("encodes the consoles' SetEncodings list", func() {
		m := &rfb.SetEncodings{Encodings: rfb.AMTConsoleEncodings}
		Expect(hex.EncodeToString(m.Append(nil))).To(Equal("02000004" + "00000010" + "00000000" + "00000444" + "ffffff21"))
	})

	It("computes the VNC authentication response with the bit-reversed key", func() {
		// Key "password" bit-reversed is 0e 86 ce ce ee f6 4e 26; the
		// reference value is DES-ECB of the challenge under that key.
		var ch [16]byte
		for i := range ch {
			ch[i] = byte(i)
		}
		got := rfb.VNCAuthResponse("password", ch)
		Expect(got).NotTo(Equal(ch))
		Expect(rfb.VNCAuthResponse("password", ch)).To(Equal(got))
		Expect(rfb.VNCAuthResponse("passwordEXTRA", ch)).To(Equal(got), "only 8 bytes count")
		Expect(rfb.VNCAuthResponse("passwore", ch)).NotTo(Equal(got))
		Expect(hex.EncodeToString(got[:])).To(Equal(vncRef))
	})
})

// vncRef is DES-ECB(key 0e86ceceeef64e26, 000102…0f) computed with
// `openssl enc -des-ecb -nopad`.
const vncRef = "b866924125c8eebb9debc1db61c538e2"

var _ = Describe("docs/protocols/rfb.md tile examples", func() {
	decode := func(pf rfb.PixelFormat, w, h int, tile []byte) *framebuf.Image {
		img, _ := framebuf.New(w, h)
		d, err := rfb.NewTileDecoder(pf)
		Expect(err).NotTo(HaveOccurred())
		n, err := d.Decode(tile, img, rfb.Rect{W: uint16(w), H: uint16(h)})
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		ExpectWithOffset(1, n).To(Equal(len(tile)))
		return img
	}
	It("packed palette without row padding", func() {
		img := decode(rfb.PF332, 3, 3, hx("02 00 ff aa 80"))
		for i, p := range img.Pix {
			want := uint32(0)
			if i%2 == 0 {
				want = 0xFFFFFF
			}
			Expect(p).To(Equal(want), "pixel %d", i)
		}
	})
	It("plain RLE", func() {
		img := decode(rfb.PF565, 64, 64, hx("80 00f8 ff2c 1f00 ffffffffffffffffffffffffffff e1"))
		Expect(img.Pix[299]).To(Equal(uint32(0xFF0000)))
		Expect(img.Pix[300]).To(Equal(uint32(0x0000FF)))
		Expect(img.Pix[4095]).To(Equal(uint32(0x0000FF)))
	})
	It("palette RLE", func() {
		img := decode(rfb.PF332, 4, 1, hx("82 e0 03 00 81 02"))
		Expect(img.Pix).To(Equal([]uint32{0xFF0000, 0x0000FF, 0x0000FF, 0x0000FF}))
	})
})
