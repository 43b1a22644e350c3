package rfb_test

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/bench/content"
	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// exact565 returns colour i of a set whose members stay distinct in RGB565.
func exact565(i int) uint32 {
	return framebuf.RGB(uint8(i*8), uint8((i*36)&0xFC), uint8(255-i*8))
}

// tileKind paints one tile area so a given subencoding wins at 16 bpp.
type tileKind struct {
	name string
	sub  func(sub uint8) bool // the subencoding expected at RGB565
	draw func(img *framebuf.Image, rng *rand.Rand, x0, y0, w, h int)
}

func randomOf(colours int) func(*framebuf.Image, *rand.Rand, int, int, int, int) {
	return func(img *framebuf.Image, rng *rand.Rand, x0, y0, w, h int) {
		for y := y0; y < y0+h; y++ {
			for x := x0; x < x0+w; x++ {
				img.Set(x, y, exact565(rng.IntN(colours)))
			}
		}
	}
}

var tileKinds = []tileKind{
	{"solid", func(s uint8) bool { return s == rfb.SubSolid }, func(img *framebuf.Image, rng *rand.Rand, x0, y0, w, h int) {
		img.Fill(x0, y0, x0+w, y0+h, exact565(rng.IntN(30)))
	}},
	{"2 colours scattered", func(s uint8) bool { return s == 2 }, randomOf(2)},
	{"4 colours scattered", func(s uint8) bool { return s == 4 || s == 3 }, randomOf(4)},
	{"12 colours scattered", func(s uint8) bool { return s >= 5 && s <= 16 }, randomOf(12)},
	{"stripes", func(s uint8) bool { return s >= 130 }, func(img *framebuf.Image, rng *rand.Rand, x0, y0, w, h int) {
		for y := y0; y < y0+h; y++ {
			img.Fill(x0, y, x0+w, y+1, exact565(y/3%5))
		}
		img.Set(x0, y0, exact565(7)) // a lone pixel: palette RLE without run
	}},
	{"60 colours scattered", func(s uint8) bool { return s >= 130 || s == rfb.SubRaw }, randomOf(60)},
	{"long runs of many colours", func(s uint8) bool { return s == rfb.SubPlainRLE }, func(img *framebuf.Image, rng *rand.Rand, x0, y0, w, h int) {
		n := 0
		for y := y0; y < y0+h; y++ {
			for x := x0; x < x0+w; x++ {
				img.Set(x, y, framebuf.RGB(uint8(n/7), uint8(n/7*3), uint8(n/7*7)))
				n++
			}
		}
	}},
	{"noise", func(s uint8) bool { return s == rfb.SubRaw }, func(img *framebuf.Image, rng *rand.Rand, x0, y0, w, h int) {
		for y := y0; y < y0+h; y++ {
			for x := x0; x < x0+w; x++ {
				img.Set(x, y, rng.Uint32()&0xFFFFFF)
			}
		}
	}},
}

// mosaic returns a w×h image whose 64-grid tiles cycle through tileKinds,
// and the kind index of each tile.
func mosaic(w, h int, seed uint64) (*framebuf.Image, map[[2]int]int) {
	img, _ := framebuf.New(w, h)
	rng := rand.New(rand.NewPCG(seed, 1))
	kinds := map[[2]int]int{}
	k := int(seed)
	for y := 0; y < h; y += 64 {
		for x := 0; x < w; x += 64 {
			i := k % len(tileKinds)
			tileKinds[i].draw(img, rng, x, y, min(64, w-x), min(64, h-y))
			kinds[[2]int{x, y}] = i
			k++
		}
	}
	return img, kinds
}

// quantised is what a client can see of img in pf.
func quantised(img *framebuf.Image, pf rfb.PixelFormat) *framebuf.Image {
	c, err := rfb.NewConverter(pf)
	Expect(err).NotTo(HaveOccurred())
	q := img.Clone()
	for i, p := range q.Pix {
		q.Pix[i] = c.ToRGB(c.ToWire(p))
	}
	return q
}

// decodeAll feeds msg to dec in chunks of the given size, as a network
// would deliver it, and returns the events.
func decodeAll(dec *rfb.Decoder, msg []byte, chunk int) []rfb.Event {
	var evs []rfb.Event
	var buf []byte
	for off := 0; off < len(msg) || len(buf) > 0; {
		if off < len(msg) {
			end := min(off+chunk, len(msg))
			buf = append(buf, msg[off:end]...)
			off = end
		}
		for len(buf) > 0 {
			ev, n, err := dec.Next(buf)
			if errors.Is(err, wireerr.ErrShort) {
				ExpectWithOffset(1, off).To(BeNumerically("<", len(msg)), "short at end of message: %v", err)
				break
			}
			ExpectWithOffset(1, err).NotTo(HaveOccurred())
			evs = append(evs, ev)
			buf = buf[n:]
		}
	}
	return evs
}

func samePixels(got, want *framebuf.Image) {
	ExpectWithOffset(1, got.W).To(Equal(want.W))
	ExpectWithOffset(1, got.H).To(Equal(want.H))
	for y := 0; y < want.H; y++ {
		for x := 0; x < want.W; x++ {
			if got.At(x, y) != want.At(x, y) {
				Fail(fmt.Sprintf("pixel %d,%d: got %06x want %06x", x, y, got.At(x, y), want.At(x, y)), 1)
			}
		}
	}
}

var formats = []struct {
	name string
	pf   rfb.PixelFormat
}{
	{"RGB565 LE", rfb.PF565},
	{"RGB565 BE", func() rfb.PixelFormat { p := rfb.PF565; p.BigEndian = true; return p }()},
	{"RGB555 BE", rfb.PixelFormat{BPP: 16, Depth: 15, BigEndian: true, TrueColour: true, RedMax: 31, GreenMax: 31, BlueMax: 31, RedShift: 10, GreenShift: 5}},
	{"RGB332", rfb.PF332},
	{"BGR233", rfb.PixelFormat{BPP: 8, Depth: 8, TrueColour: true, RedMax: 7, GreenMax: 7, BlueMax: 3, RedShift: 0, GreenShift: 3, BlueShift: 6}},
	{"grey 8", rfb.PFGrey8},
	{"grey 4", rfb.PFGrey4},
	{"32bpp LE", rfb.PF888},
	{"32bpp BE", func() rfb.PixelFormat { p := rfb.PF888; p.BigEndian = true; return p }()},
	{"32bpp high bytes", rfb.PixelFormat{BPP: 32, Depth: 24, TrueColour: true, RedMax: 255, GreenMax: 255, BlueMax: 255, RedShift: 24, GreenShift: 16, BlueShift: 8}},
	{"32bpp 10-bit", rfb.PixelFormat{BPP: 32, Depth: 30, TrueColour: true, RedMax: 1023, GreenMax: 1023, BlueMax: 1023, RedShift: 20, GreenShift: 10}},
}

var framings = []struct {
	name string
	s    rfb.Settings
}{
	{"raw", rfb.Settings{Encoding: rfb.EncodingRaw}},
	{"enc16 stored", rfb.Settings{Encoding: rfb.EncodingAMT16}},
	{"enc16 deflate", rfb.Settings{Encoding: rfb.EncodingAMT16, Deflate: true}},
	{"enc16 deflate fast", rfb.Settings{Encoding: rfb.EncodingAMT16, Deflate: true, DeflateLevel: 1}},
}

var _ = Describe("encoder → decoder", func() {
	for _, f := range formats {
		for _, fr := range framings {
			It(fmt.Sprintf("is pixel-exact for %s, %s, across frames and dirty updates", f.name, fr.name), func() {
				const w, h = 64*3 + 37, 64 + 13
				enc, err := rfb.NewEncoder(f.pf, fr.s)
				Expect(err).NotTo(HaveOccurred())
				out, _ := framebuf.New(w, h)
				dec, err := rfb.NewDecoder(f.pf, out)
				Expect(err).NotTo(HaveOccurred())
				var msg []byte
				for frame := uint64(0); frame < 3; frame++ {
					img, _ := mosaic(w, h, frame)
					msg, err = enc.AppendFull(msg[:0], img)
					Expect(err).NotTo(HaveOccurred())
					evs := decodeAll(dec, msg, 1000+int(frame)*777)
					Expect(evs[0].NumRects).To(Equal(4 * 2))
					Expect(evs[len(evs)-1].Last).To(BeTrue())
					samePixels(dec.Image(), quantised(img, f.pf))
				}
				// a dirty update with unaligned rectangles on top
				img, _ := mosaic(w, h, 9)
				base := quantised(dec.Image(), f.pf)
				dirty := []rfb.Rect{{X: 10, Y: 5, W: 70, H: 20}, {X: 200, Y: 60, W: 100, H: 100}}
				msg, err = enc.AppendUpdate(msg[:0], img, dirty)
				Expect(err).NotTo(HaveOccurred())
				evs := decodeAll(dec, msg, 4096)
				Expect(evs[0].NumRects).To(Equal(2 + 1))
				want := base.Clone()
				q := quantised(img, f.pf)
				for _, r := range dirty {
					for y := int(r.Y); y < min(h, int(r.Y+r.H)); y++ {
						for x := int(r.X); x < min(w, int(r.X+r.W)); x++ {
							want.Set(x, y, q.At(x, y))
						}
					}
				}
				samePixels(dec.Image(), want)
			})
		}
	}

	It("chooses the subencoding each structured tile calls for (RGB565, stored)", func() {
		img, kinds := mosaic(64*8, 64*2, 0)
		enc, _ := rfb.NewEncoder(rfb.PF565, rfb.Settings{Encoding: rfb.EncodingAMT16})
		msg, err := enc.AppendFull(nil, img)
		Expect(err).NotTo(HaveOccurred())
		out, _ := framebuf.New(img.W, img.H)
		dec, _ := rfb.NewDecoder(rfb.PF565, out)
		seen := map[uint8]bool{}
		for _, ev := range decodeAll(dec, msg, len(msg))[1:] {
			k := tileKinds[kinds[[2]int{int(ev.Rect.X), int(ev.Rect.Y)}]]
			Expect(k.sub(ev.Subencoding)).To(BeTrue(), "%s tile got subencoding %d", k.name, ev.Subencoding)
			Expect(ev.Stored).To(BeTrue())
			switch s := ev.Subencoding; {
			case s >= 2 && s <= 16:
				seen[2] = true
			case s >= 130:
				seen[130] = true
			default:
				seen[s] = true
			}
		}
		Expect(seen).To(HaveLen(5), "raw, solid, packed, plain RLE and palette RLE all used")
		samePixels(out, quantised(img, rfb.PF565))
	})

	It("compresses a desktop frame at least 8:1 at 16 bpp with stored blocks", func() {
		img, _ := content.Generate(content.Desktop, 1920, 1080, 1)
		enc, _ := rfb.NewEncoder(rfb.PF565, rfb.Settings{Encoding: rfb.EncodingAMT16})
		msg, err := enc.AppendFull(nil, img)
		Expect(err).NotTo(HaveOccurred())
		Expect(float64(1920*1080*2) / float64(len(msg))).To(BeNumerically(">=", 8))
		out, _ := framebuf.New(1920, 1080)
		dec, _ := rfb.NewDecoder(rfb.PF565, out)
		decodeAll(dec, msg, 1<<16)
		samePixels(out, quantised(img, rfb.PF565))
	})

	It("frames deflate as one zlib stream: 78 9C first, a sync flush ending every rectangle", func() {
		img, _ := mosaic(64*3, 64, 3)
		enc, _ := rfb.NewEncoder(rfb.PF565, rfb.Settings{Encoding: rfb.EncodingAMT16, Deflate: true})
		msg, _ := enc.AppendFull(nil, img)
		var stream, tiles []byte
		b := msg[4:]
		for i := 0; i < 3; i++ {
			dl := int(b[12])<<24 | int(b[13])<<16 | int(b[14])<<8 | int(b[15])
			data := b[16 : 16+dl]
			if i == 0 {
				Expect(data[:2]).To(Equal([]byte{0x78, 0x9C}))
			}
			Expect(data[len(data)-4:]).To(Equal([]byte{0, 0, 0xFF, 0xFF}))
			stream = append(stream, data...)
			b = b[16+dl:]
		}
		// An independent inflater reads the tiles back.
		zr, err := zlib.NewReader(bytes.NewReader(stream))
		Expect(err).NotTo(HaveOccurred())
		tiles, _ = io.ReadAll(zr)
		Expect(len(tiles)).To(BeNumerically(">", 3))
	})

	It("frames stored blocks that a standard raw inflater accepts", func() {
		img, _ := mosaic(64, 64, 1)
		enc, _ := rfb.NewEncoder(rfb.PF565, rfb.Settings{Encoding: rfb.EncodingAMT16})
		msg, _ := enc.AppendFull(nil, img)
		data := msg[4+16:]
		Expect(data[0]).To(Equal(byte(0)))
		l := int(data[1]) | int(data[2])<<8
		Expect(l).To(Equal(len(data) - 5))
		Expect(int(data[3]) | int(data[4])<<8).To(Equal(l ^ 0xFFFF))
		tile := make([]byte, l)
		_, err := io.ReadFull(flate.NewReader(bytes.NewReader(data)), tile)
		Expect(err).NotTo(HaveOccurred())
		Expect(tile).To(Equal(data[5:]))
	})

	It("sends 3-byte CPIXELs for 32 bpp depth 24 (ZRLE rule)", func() {
		img, _ := framebuf.New(64, 64)
		img.Fill(0, 0, 64, 64, 0x123456)
		enc, _ := rfb.NewEncoder(rfb.PF888, rfb.Settings{Encoding: rfb.EncodingAMT16})
		msg, _ := enc.AppendFull(nil, img)
		Expect(msg[4+16+5:]).To(Equal([]byte{1, 0x56, 0x34, 0x12}))
	})

	It("allocates nothing per frame in steady state", func() {
		img, _ := content.Generate(content.Desktop, 640, 480, 2)
		for _, fr := range framings {
			enc, _ := rfb.NewEncoder(rfb.PF565, fr.s)
			buf, _ := enc.AppendFull(nil, img)
			allocs := testing.AllocsPerRun(5, func() { buf, _ = enc.AppendFull(buf[:0], img) })
			Expect(allocs).To(BeZero(), fr.name)
		}
	})

	It("encodes dirty tiles by grid index, clipped at the edges, and single rectangles", func() {
		img, _ := mosaic(100, 70, 4)
		enc, _ := rfb.NewEncoder(rfb.PF565, rfb.Settings{Encoding: rfb.EncodingAMT16})
		msg, err := enc.AppendUpdate(nil, img, []rfb.Rect{rfb.TileRect(1, 1)})
		Expect(err).NotTo(HaveOccurred())
		out, _ := framebuf.New(100, 70)
		dec, _ := rfb.NewDecoder(rfb.PF565, out)
		evs := decodeAll(dec, msg, len(msg))
		Expect(evs).To(HaveLen(2))
		Expect(evs[1].Rect).To(Equal(rfb.Rect{X: 64, Y: 64, W: 36, H: 6}))
		_, err = enc.AppendRect(nil, img, 64, 64, 37, 6)
		Expect(err).To(HaveOccurred())
		_, err = enc.AppendRect(nil, img, 0, 0, 65, 6)
		Expect(err).To(HaveOccurred())
		one, err := enc.AppendRect(nil, img, 64, 64, 36, 6)
		Expect(err).NotTo(HaveOccurred())
		Expect(one).To(Equal(msg[4:]))
	})

	It("refuses updates with no rectangles", func() {
		img, _ := framebuf.New(100, 100)
		enc, _ := rfb.NewEncoder(rfb.PF565, rfb.Settings{Encoding: rfb.EncodingAMT16})
		out, err := enc.AppendUpdate([]byte{9}, img, nil)
		Expect(err).To(MatchError(rfb.ErrEmptyUpdate))
		Expect(out).To(Equal([]byte{9}))
		_, err = enc.AppendUpdate(nil, img, []rfb.Rect{{X: 200, Y: 0, W: 10, H: 10}})
		Expect(err).To(MatchError(rfb.ErrEmptyUpdate))
		Expect(enc.SetSettings(rfb.Settings{Encoding: rfb.EncodingCopyRect})).NotTo(Succeed())
	})
})

var _ = Describe("pixel formats", func() {
	It("converts the AMT formats as expected", func() {
		for _, c := range []struct {
			pf      rfb.PixelFormat
			in, out uint32
		}{
			{rfb.PF565, 0xFF0000, 0xF800}, {rfb.PF565, 0x00FF00, 0x07E0}, {rfb.PF565, 0x0000FF, 0x001F},
			{rfb.PF332, 0xFFFFFF, 0xFF}, {rfb.PF332, 0xFF0000, 0xE0}, {rfb.PF332, 0x0000FF, 0x03},
			{rfb.PFGrey8, 0xFFFFFF, 255}, {rfb.PFGrey8, 0x808080, 128}, {rfb.PFGrey4, 0xFFFFFF, 15}, {rfb.PFGrey4, 0, 0},
			{rfb.PF888, 0x123456, 0x123456},
		} {
			cv, err := rfb.NewConverter(c.pf)
			Expect(err).NotTo(HaveOccurred())
			Expect(cv.ToWire(c.in)).To(Equal(c.out), "%s %06x", c.pf, c.in)
		}
	})

	It("round-trips every wire value of the ≤16-bpp formats", func() {
		for _, f := range formats {
			if f.pf.BPP > 16 {
				continue
			}
			cv, _ := rfb.NewConverter(f.pf)
			seen := map[uint32]bool{}
			for p := uint32(0); p < 1<<24; p += 0x010307 {
				seen[cv.ToWire(p)] = true
			}
			for w := range seen {
				Expect(cv.ToWire(cv.ToRGB(w))).To(Equal(w), "%s wire %x", f.name, w)
			}
		}
	})

	DescribeTable("rejects formats the codec cannot produce",
		func(pf rfb.PixelFormat, field string) { expectWireErr(pf.Validate(), field) },
		Entry("24 bpp", rfb.PixelFormat{BPP: 24, Depth: 24, TrueColour: true, RedMax: 255}, "bits-per-pixel"),
		Entry("depth 0", rfb.PixelFormat{BPP: 8, TrueColour: true, RedMax: 7}, "depth"),
		Entry("colour map", rfb.PixelFormat{BPP: 8, Depth: 8, RedMax: 7}, "true-colour-flag"),
		Entry("all maxima zero", rfb.PixelFormat{BPP: 8, Depth: 8, TrueColour: true}, "red-max"),
		Entry("max not 2^n-1", rfb.PixelFormat{BPP: 16, Depth: 16, TrueColour: true, RedMax: 30, GreenMax: 63, BlueMax: 31}, "red-max"),
		Entry("channel outside the pixel", rfb.PixelFormat{BPP: 8, Depth: 8, TrueColour: true, RedMax: 7, GreenMax: 7, BlueMax: 3, RedShift: 6}, "red-shift"),
	)
})

// rect16 builds a one-rectangle update with encoding-16 data.
func rect16(x, y, w, h int, data []byte) []byte {
	b := (&rfb.FramebufferUpdate{NumRects: 1}).Append(nil)
	b = rfb.RectHeader{Rect: rfb.Rect{X: uint16(x), Y: uint16(y), W: uint16(w), H: uint16(h)}, Encoding: 16}.Append(b)
	return append(append(b, byte(len(data)>>24), byte(len(data)>>16), byte(len(data)>>8), byte(len(data))), data...)
}

func stored(tile ...byte) []byte {
	l := len(tile)
	return append([]byte{0, byte(l), byte(l >> 8), ^byte(l), ^byte(l >> 8)}, tile...)
}

var _ = Describe("decoder errors", func() {
	var dec *rfb.Decoder
	BeforeEach(func() {
		img, _ := framebuf.New(128, 128)
		dec, _ = rfb.NewDecoder(rfb.PF332, img)
	})
	rectErr := func(msg []byte, field string) {
		img, _ := framebuf.New(128, 128)
		dec, _ := rfb.NewDecoder(rfb.PF332, img)
		dec.MaxArea = 1000
		_, n, err := dec.Next(msg)
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		_, _, err = dec.Next(msg[n:])
		var we *wireerr.Error
		ExpectWithOffset(1, errors.As(err, &we)).To(BeTrue(), "%v", err)
		ExpectWithOffset(1, errors.Is(err, wireerr.ErrShort)).To(BeFalse(), "%v", err)
		ExpectWithOffset(1, we.Field).To(Equal(field), "%v", err)
	}
	It("rejects tile sizes outside 1..64", func() {
		rectErr(rect16(0, 0, 65, 64, stored(1, 0)), "size")
		rectErr(rect16(0, 0, 0, 64, stored(1, 0)), "size")
	})
	It("rejects rectangles outside the framebuffer", func() { rectErr(rect16(100, 100, 64, 64, stored(1, 0)), "position") })
	It("rejects unknown encodings", func() {
		b := append((&rfb.FramebufferUpdate{NumRects: 1}).Append(nil), hx("0000 0000 0001 0001 00000005")...)
		rectErr(b, "encoding-type")
	})
	It("bounds datalen", func() {
		b := rect16(0, 0, 8, 8, nil)
		rectErr(b, "datalen")
		b = append(b[:len(b)-4], 0x7f, 0xff, 0xff, 0xff)
		rectErr(b, "datalen")
	})
	It("rejects unknown subencodings", func() {
		rectErr(rect16(0, 0, 8, 8, stored(17, 0)), "subencoding")
		rectErr(rect16(0, 0, 8, 8, stored(129, 0)), "subencoding")
	})
	It("rejects palette indices beyond the palette", func() {
		// 2-colour packed palette for 8×1: index bits must be 0 or 1 — always valid; use 3 colours (2-bit)
		rectErr(rect16(0, 0, 4, 1, stored(3, 1, 2, 3, 0xFF)), "palette index")
		rectErr(rect16(0, 0, 4, 1, stored(130, 1, 2, 0x05)), "palette index")
	})
	It("rejects runs longer than the tile", func() {
		rectErr(rect16(0, 0, 4, 4, stored(128, 7, 16)), "run length")
		rectErr(rect16(0, 0, 4, 4, stored(130, 1, 2, 0x81, 255, 255)), "run length")
	})
	It("rejects truncated tiles and trailing bytes in a stored block", func() {
		rectErr(rect16(0, 0, 4, 4, stored(0, 1, 2, 3)), "raw pixels")
		rectErr(rect16(0, 0, 4, 4, stored(1, 7, 7)), "stored block")
		rectErr(rect16(0, 0, 4, 4, stored(128, 7, 3, 9)), "run length")
	})
	It("rejects garbage that is not deflate", func() {
		rectErr(rect16(0, 0, 4, 4, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}), "subencoding")
	})
	It("waits for whole rectangles", func() {
		msg := rect16(0, 0, 4, 4, stored(1, 7))
		_, n, _ := dec.Next(msg)
		for i := n; i < len(msg); i++ {
			_, used, err := dec.Next(msg[n:i])
			Expect(errors.Is(err, wireerr.ErrShort)).To(BeTrue())
			Expect(used).To(BeZero())
		}
		ev, _, err := dec.Next(msg[n:])
		Expect(err).NotTo(HaveOccurred())
		Expect(ev.Last).To(BeTrue())
		Expect(dec.InUpdate()).To(BeFalse())
	})
	It("applies CopyRect, DesktopSize, Bell and cut text", func() {
		img := dec.Image()
		img.Fill(0, 0, 10, 10, 0xFF0000)
		b := (&rfb.FramebufferUpdate{NumRects: 2}).Append(nil)
		b = rfb.AppendCopyRect(b, rfb.Rect{X: 5, Y: 5, W: 10, H: 10}, 0, 0)
		b = append(b, rfb.AppendDesktopSize(nil, 300, 200)[4:]...)
		b = (&rfb.Bell{}).Append(b)
		b = (&rfb.ServerCutText{Text: rfb.AppendExtCmd(nil, rfb.ExtCmdGetCompression, 1)}).Append(b)
		var evs []rfb.Event
		for len(b) > 0 {
			ev, n, err := dec.Next(b)
			Expect(err).NotTo(HaveOccurred())
			if ev.Kind == rfb.EventRect {
				Expect(img.At(14, 14)).To(Equal(uint32(0xFF0000)))
				Expect(img.At(15, 15)).To(Equal(uint32(0)))
			}
			evs = append(evs, ev)
			b = b[n:]
		}
		Expect(evs).To(HaveLen(5))
		Expect(evs[2].Kind).To(Equal(rfb.EventDesktopSize))
		Expect(dec.Image().W).To(Equal(300))
		Expect(evs[3].Kind).To(Equal(rfb.EventBell))
		ct, err := rfb.ParseCutText(evs[4].Text)
		Expect(err).NotTo(HaveOccurred())
		Expect(ct.Cmd).To(Equal(rfb.ExtCmdGetCompression))
	})
	It("reports an empty update as Last (AMT consoles would hang on it)", func() {
		ev, _, err := dec.Next((&rfb.FramebufferUpdate{}).Append(nil))
		Expect(err).NotTo(HaveOccurred())
		Expect(ev.Last).To(BeTrue())
		Expect(dec.InUpdate()).To(BeFalse())
	})
	It("bounds DesktopSize", func() {
		rectErr(rfb.AppendDesktopSize(nil, 100, 100), "size")
	})
})
