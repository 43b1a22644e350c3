package screen_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
)

func typeText(s *screen.Screen, text string, id uint32) {
	for _, r := range text {
		s.KeyEvent(true, uint32(r), id)
		s.KeyEvent(false, uint32(r), id)
	}
}

// region copies [x0,x0+w)×[y0,y0+h) of img.
func region(img *framebuf.Image, x0, y0, w, h int) []uint32 {
	var out []uint32
	for y := y0; y < y0+h; y++ {
		for x := x0; x < x0+w; x++ {
			out = append(out, img.At(x, y))
		}
	}
	return out
}

var _ = Describe("keyboard input", func() {
	for _, w := range []screen.Workload{screen.W0Idle, screen.W1BIOS, screen.W5Noise} {
		It("draws typed text that matches the glyphs rendered directly: "+w.String(), func() {
			s := mustNew(screen.Config{Width: 640, Height: 480, Workload: w})
			s.Step(t0)
			typeText(s, "Hello", 7)
			s.Advance(frame)
			x, y := screen.PanelTextOrigin(s)

			ref, _ := framebuf.New(640, 480)
			ref.Fill(0, 0, 640, 480, screen.PanelBg)
			screen.DrawPanelText(ref, x, y, "Hello", screen.PanelFg)
			got := region(s.Image(), x, y, 5*screen.PanelCellW, screen.PanelCellH)
			Expect(got).To(Equal(region(ref, x, y, 5*screen.PanelCellW, screen.PanelCellH)))

			ink := 0
			for _, p := range got {
				if p == screen.PanelFg {
					ink++
				}
			}
			Expect(ink).To(BeNumerically(">", 40), "the glyphs have ink")

			st, err := screen.DecodeStamp(s.Image())
			Expect(err).NotTo(HaveOccurred())
			Expect(st.InputID).To(Equal(uint32(7)))
			Expect(st.Frame).To(Equal(s.Frame()))
		})
	}

	It("draws Latin-1 letters as themselves", func() {
		s := mustNew(screen.Config{Width: 640, Height: 480})
		text := "Grüße, ÀÉÎõ ¿¡ ÿ"
		for _, r := range text {
			s.KeyEvent(true, uint32(r), 1) // Latin-1 keysyms equal the code points
		}
		s.Advance(frame)
		x, y := screen.PanelTextOrigin(s)
		n := len([]rune(text))
		ref, _ := framebuf.New(640, 480)
		ref.Fill(0, 0, 640, 480, screen.PanelBg)
		screen.DrawPanelText(ref, x, y, text, screen.PanelFg)
		Expect(region(s.Image(), x, y, n*screen.PanelCellW, screen.PanelCellH)).
			To(Equal(region(ref, x, y, n*screen.PanelCellW, screen.PanelCellH)))
		// And each accented letter differs from its base letter.
		ü, u := glyphPixels("ü"), glyphPixels("u")
		Expect(ü).NotTo(Equal(u))
	})

	It("handles Return, BackSpace, Tab, Latin-1, wrapping and scrolling", func() {
		s := mustNew(screen.Config{Width: 640, Height: 480})
		typeText(s, "Helo", 1)
		s.KeyEvent(true, screen.KeysymBackSpace, 2)
		typeText(s, "lo", 3)
		s.KeyEvent(true, screen.KeysymReturn, 4)
		s.KeyEvent(true, screen.KeysymTab, 5)
		s.KeyEvent(true, 0xe9, 6)         // é: Latin-1, drawn as the replacement glyph
		s.KeyEvent(true, 0xffe1, 7)       // Shift_L: no character
		s.KeyEvent(false, uint32('x'), 8) // release: nothing typed
		Expect(screen.PanelLines(s)[:2]).To(Equal([]string{"Hello", "    é"}))
		Expect(s.LastInputID()).To(Equal(uint32(8)))

		for range 6 {
			s.KeyEvent(true, screen.KeysymReturn, 9)
		}
		typeText(s, "last", 10)
		lines := screen.PanelLines(s)
		Expect(lines[len(lines)-1]).To(Equal("last"))
		Expect(lines[0]).To(BeEmpty(), "older lines scrolled away")
	})

	It("ignores keys while the display is dark but still applies their id", func() {
		s := mustNew(screen.Config{Width: 640, Height: 480})
		Expect(s.SetPower(screen.PowerSleep)).To(Succeed())
		typeText(s, "zzz", 99)
		Expect(screen.PanelLines(s)[0]).To(BeEmpty())
		Expect(s.LastInputID()).To(Equal(uint32(99)))
	})
})

var _ = Describe("pointer input", func() {
	It("draws the arrow, restores what was under it and leaves click dots", func() {
		s := mustNew(screen.Config{Width: 640, Height: 480, Workload: screen.W1BIOS})
		s.Step(t0)
		under := s.Image().At(303, 208)
		s.PointerEvent(0, 300, 200, 1)
		s.Advance(frame)
		img := s.Image()
		Expect(img.At(300, 200)).To(Equal(uint32(0x000000)), "arrow outline at the hot spot")
		Expect(img.At(303, 208)).To(Equal(uint32(0xFFFFFF)), "arrow body")

		s.PointerEvent(1, 300, 200, 2) // left press: red dot at the hot spot
		s.PointerEvent(1, 400, 300, 3) // drag: no new dot
		s.PointerEvent(0, 400, 300, 4)
		s.PointerEvent(4, 410, 310, 5) // right press: blue dot
		s.Advance(frame)
		img = s.Image()
		Expect(img.At(300, 200)).To(Equal(uint32(0xE02020)))
		Expect(img.At(303, 208)).To(Equal(under), "the arrow is gone from its old place")
		Expect(img.At(400, 300)).To(Equal(uint32(0x000000)), "arrow at the new place")
		Expect(img.At(407, 312)).To(Equal(uint32(0x2050E0)))
		Expect(img.At(350, 250)).NotTo(Equal(uint32(0xE02020)), "drags draw no trail")

		st, err := screen.DecodeStamp(img)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.InputID).To(Equal(uint32(5)))
	})

	It("clamps the pointer to the screen", func() {
		s := mustNew(screen.Config{Width: 640, Height: 480})
		s.PointerEvent(0, 5000, -20, 1)
		s.Advance(frame)
		Expect(s.Image().At(639, 0)).To(Equal(uint32(0x000000)))
	})
})

func glyphPixels(s string) []uint32 {
	img, _ := framebuf.New(16, 16)
	screen.DrawPanelText(img, 0, 0, s, 0xFFFFFF)
	return img.Pix
}
