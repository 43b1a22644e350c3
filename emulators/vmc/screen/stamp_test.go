package screen_test

import (
	"errors"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// quantise maps every pixel through a console's pixel format and back to
// 0x00RRGGBB, as a viewer that negotiated that format would see it.
func quantise(img *framebuf.Image, f func(r, g, b uint32) (uint32, uint32, uint32)) *framebuf.Image {
	out := img.Clone()
	for i, p := range out.Pix {
		r, g, b := f(p>>16&0xFF, p>>8&0xFF, p&0xFF)
		out.Pix[i] = r<<16 | g<<8 | b
	}
	return out
}

func rgb332(r, g, b uint32) (uint32, uint32, uint32) {
	return (r >> 5) * 255 / 7, (g >> 5) * 255 / 7, (b >> 6) * 255 / 3
}

func rgb565(r, g, b uint32) (uint32, uint32, uint32) {
	return (r >> 3) * 255 / 31, (g >> 2) * 255 / 63, (b >> 3) * 255 / 31
}

func grey8(r, g, b uint32) (uint32, uint32, uint32) {
	y := (299*r + 587*g + 114*b) / 1000
	return y, y, y
}

var _ = Describe("frame stamp", func() {
	It("round-trips through its bytes", func() {
		st := screen.Stamp{Frame: 0xDEADBEEF, InputID: 12345, Workload: screen.W4Photo}
		b := st.Bytes()
		got, err := screen.ParseStampBytes(b[:])
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(st))
	})

	It("rejects short, foreign and corrupted payloads with a wire error", func() {
		st := screen.Stamp{Frame: 1, InputID: 2}
		b := st.Bytes()
		_, err := screen.ParseStampBytes(b[:10])
		Expect(errors.Is(err, wireerr.ErrShort)).To(BeTrue())

		for i, field := range map[int]string{0: "magic", 2: "version", 5: "checksum", 13: "checksum"} {
			c := b
			c[i] ^= 0x10
			_, err := screen.ParseStampBytes(c[:])
			var we *wireerr.Error
			Expect(errors.As(err, &we)).To(BeTrue())
			Expect(we.Field).To(Equal(field))
		}
	})

	for _, w := range []screen.Workload{screen.W1BIOS, screen.W3Drag, screen.W5Noise} {
		It("decodes from the frame in 24-bit, RGB565, RGB332 and 8-bit grey: "+w.String(), func() {
			s := mustNew(screen.Config{Width: 640, Height: 480, Workload: w, Seed: 77})
			s.Step(t0)
			runFrames(s, 9)
			s.KeyEvent(true, 'q', 0xCAFEF00D)
			s.Advance(frame)
			want := screen.Stamp{Frame: s.Frame(), InputID: 0xCAFEF00D, Workload: w}
			Expect(want.Frame).To(BeNumerically(">=", 2))
			Expect(s.Stamp()).To(Equal(want))
			img := s.Snapshot()
			for name, f := range map[string]func(r, g, b uint32) (uint32, uint32, uint32){
				"rgb565": rgb565, "rgb332": rgb332, "grey": grey8,
			} {
				got, err := screen.DecodeStamp(quantise(img, f))
				Expect(err).NotTo(HaveOccurred(), name)
				Expect(got).To(Equal(want), name)
			}
			got, err := screen.DecodeStamp(img)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(want))
		})
	}

	It("reports frames without a stamp or with a damaged one", func() {
		_, err := screen.DecodeStamp(nil)
		Expect(err).To(HaveOccurred())
		small, _ := framebuf.New(100, 40)
		_, err = screen.DecodeStamp(small)
		Expect(err).To(MatchError(ContainSubstring("frame size")))

		blank, _ := framebuf.New(640, 480)
		_, err = screen.DecodeStamp(blank)
		Expect(err).To(MatchError(ContainSubstring("magic")))

		s := mustNew(screen.Config{Width: 640, Height: 480})
		img := s.Snapshot()
		img.Set(8*5+3, 8*2+3, 0x808080) // a grey pixel inside a block
		_, err = screen.DecodeStamp(img)
		var we *wireerr.Error
		Expect(errors.As(err, &we)).To(BeTrue())
		Expect(we.Field).To(Equal("block 5,2"))

		img = s.Snapshot()
		// Flip a whole block of the frame counter: the checksum catches it.
		x, y := 8*3, 8*2
		inv := uint32(0xFFFFFF) ^ img.At(x+4, y+4)
		img.Fill(x, y, x+8, y+8, inv)
		_, err = screen.DecodeStamp(img)
		Expect(err).To(MatchError(ContainSubstring("checksum")))
	})

	It("changes in the stamp tiles only when the frame changes", func() {
		s := mustNew(screen.Config{Width: 640, Height: 480, Workload: screen.W0Idle})
		s.Step(t0)
		s.TakeDamage()
		Expect(s.Advance(frame)).To(BeFalse())
		Expect(s.TakeDamage().Empty()).To(BeTrue())
		s.PointerEvent(0, 600, 400, 1)
		Expect(s.Advance(frame)).To(BeTrue())
		d := s.TakeDamage()
		Expect(d.Has(0, 0) || d.Has(1, 0)).To(BeTrue())
	})
})
