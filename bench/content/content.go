// Package content generates deterministic synthetic framebuffer frames for
// KVM benchmarks: the same kind, size and seed always give the same pixels.
//
// The kinds span the range a KVM encoder meets: a solid screen (best case),
// a desktop (windows, title bars, text, a photo inset covering 8 % of the
// screen — the realistic case), a photo (smooth gradients plus sensor noise)
// and pure noise (worst case).
package content

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/oobtb/oobtb/emulators/framebuf"
)

// Kind names a content generator.
type Kind string

// Content kinds.
const (
	Solid   Kind = "solid"
	Desktop Kind = "desktop"
	Photo   Kind = "photo"
	Noise   Kind = "noise"
)

// Kinds lists every kind, cheapest to encode first.
var Kinds = []Kind{Solid, Desktop, Photo, Noise}

// Full HD, the benchmark size.
const (
	W1080 = 1920
	H1080 = 1080
)

// PhotoShare is the fraction of a desktop frame covered by the photo inset.
const PhotoShare = 0.08

// Generate draws a w×h frame of kind k from seed.
func Generate(k Kind, w, h int, seed uint64) (*framebuf.Image, error) {
	img, err := framebuf.New(w, h)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6f6f6274622d6b76))
	switch k {
	case Solid:
		fill(img, 0, 0, w, h, framebuf.RGB(0x00, 0x5a, 0x9e))
	case Desktop:
		drawDesktop(img, rng)
	case Photo:
		drawPhoto(img, rng, 0, 0, w, h)
	case Noise:
		for i := range img.Pix {
			img.Pix[i] = rng.Uint32() & 0xFFFFFF
		}
	default:
		return nil, fmt.Errorf("content: unknown kind %q", k)
	}
	return img, nil
}

// Frame1080 is Generate at 1920×1080; it panics only on an unknown kind.
func Frame1080(k Kind, seed uint64) *framebuf.Image {
	img, err := Generate(k, W1080, H1080, seed)
	if err != nil {
		panic(err)
	}
	return img
}

// drawPhoto fills the area with a few smooth colour waves plus noise.
func drawPhoto(img *framebuf.Image, rng *rand.Rand, x0, y0, w, h int) {
	type wave struct{ fx, fy, ph, amp float64 }
	var waves [3][3]wave
	for c := range waves {
		for i := range waves[c] {
			waves[c][i] = wave{
				fx: (rng.Float64()*3 + 0.3) * 2 * math.Pi / float64(w),
				fy: (rng.Float64()*3 + 0.3) * 2 * math.Pi / float64(h),
				ph: rng.Float64() * 2 * math.Pi, amp: 25 + rng.Float64()*25,
			}
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var ch [3]uint8
			for c := range ch {
				v := 128.0
				for _, wv := range waves[c] {
					v += wv.amp * math.Sin(wv.fx*float64(x)+wv.fy*float64(y)+wv.ph)
				}
				v += float64(rng.IntN(13) - 6) // sensor noise
				ch[c] = uint8(max(0, min(255, v)))
			}
			img.Set(x0+x, y0+y, framebuf.RGB(ch[0], ch[1], ch[2]))
		}
	}
}

// glyphs is a seeded 95-glyph pseudo-font: 7×12 cells made of strokes so
// text tiles have the run structure of real text.
type glyphs [95][12]uint8

func newGlyphs(rng *rand.Rand) *glyphs {
	var g glyphs
	for i := range g {
		top := 2 + rng.IntN(3)
		if rng.IntN(3) == 0 {
			top = 0 // ascender
		}
		bottom := 9
		if rng.IntN(6) == 0 {
			bottom = 11 // descender
		}
		// a vertical stem, a bowl or bar, and a dot of detail
		stem := rng.IntN(5)
		for y := top; y <= bottom; y++ {
			g[i][y] |= 0x40 >> stem
		}
		bar := top + rng.IntN(bottom-top+1)
		g[i][bar] |= 0x7C
		if rng.IntN(2) == 0 {
			b2 := top + rng.IntN(bottom-top+1)
			g[i][b2] |= 0x3E
		}
		if rng.IntN(2) == 0 {
			for y := bar; y <= bottom; y++ {
				g[i][y] |= 0x04
			}
		}
	}
	return &g
}

func (g *glyphs) draw(img *framebuf.Image, ch byte, x, y int, c uint32) {
	if ch < 32 || ch > 126 {
		return
	}
	for r, bits := range g[ch-32] {
		for b := 0; b < 7; b++ {
			if bits&(0x40>>b) != 0 {
				img.Set(x+b, y+r, c)
			}
		}
	}
}

const cellW, cellH = 8, 16

// drawText fills the box with lines of pseudo-words.
func drawText(img *framebuf.Image, g *glyphs, rng *rand.Rand, x0, y0, x1, y1 int, colours []uint32) {
	for y := y0; y+cellH <= y1; y += cellH {
		if rng.IntN(7) == 0 {
			continue // paragraph break
		}
		c := colours[rng.IntN(len(colours))]
		end := x0 + (x1-x0)*(50+rng.IntN(51))/100
		for x := x0; x+cellW <= end; {
			word := 2 + rng.IntN(9)
			for i := 0; i < word && x+cellW <= end; i++ {
				g.draw(img, byte('a'+rng.IntN(58)), x, y+2, c)
				x += cellW
			}
			x += cellW
		}
	}
}

func drawDesktop(img *framebuf.Image, rng *rand.Rand) {
	w, h := img.W, img.H
	g := newGlyphs(rng)
	fill(img, 0, 0, w, h, framebuf.RGB(0x1e, 0x4e, 0x6e)) // wallpaper
	// desktop icons with labels
	for i := 0; i < 6; i++ {
		y := 20 + i*90
		fill(img, 30, y, 78, y+48, framebuf.RGB(uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256))))
		drawText(img, g, rng, 14, y+54, 100, y+70, []uint32{0xFFFFFF})
	}
	// taskbar with buttons and a clock
	tb := h - 40
	fill(img, 0, tb, w, h, framebuf.RGB(0x20, 0x20, 0x24))
	for i := 0; i < 8; i++ {
		fill(img, 8+i*48, tb+6, 8+i*48+32, tb+34, framebuf.RGB(uint8(60+rng.IntN(150)), uint8(60+rng.IntN(150)), uint8(60+rng.IntN(150))))
	}
	drawText(img, g, rng, w-90, tb+12, w-10, tb+28, []uint32{0xE0E0E0})

	photoW := min(480*w/W1080, w)
	photoH := int(PhotoShare*float64(w*h)) / max(photoW, 1)
	type win struct{ x0, y0, x1, y1 int }
	wins := []win{
		{140, 60, 1100, 760},  // editor
		{700, 120, 1820, 980}, // browser with the photo inset
		{260, 560, 900, 1000}, // terminal-ish
		{1300, 40, 1880, 420}, // file list
	}
	for i, wn := range wins {
		// frame, title bar, title, buttons
		fill(img, wn.x0-1, wn.y0-1, wn.x1+1, wn.y1+1, framebuf.RGB(0x60, 0x60, 0x60))
		fill(img, wn.x0, wn.y0, wn.x1, wn.y0+28, framebuf.RGB(0x2b, 0x57, 0x9a))
		drawText(img, g, rng, wn.x0+10, wn.y0+6, wn.x0+300, wn.y0+22, []uint32{0xFFFFFF})
		for k := 0; k < 3; k++ {
			bx := wn.x1 - 30*(k+1)
			fill(img, bx+8, wn.y0+8, bx+22, wn.y0+20, framebuf.RGB(0xdd, 0xdd, 0xdd))
		}
		body := framebuf.RGB(0xff, 0xff, 0xff)
		fg := []uint32{0x000000, 0x202020, 0x1a0dab}
		if i == 2 {
			body, fg = framebuf.RGB(0x0c, 0x0c, 0x0c), []uint32{0xc0c0c0, 0x13a10e}
		}
		fill(img, wn.x0, wn.y0+28, wn.x1, wn.y1, body)
		// a menu strip and, for the browser, a side bar
		fill(img, wn.x0, wn.y0+28, wn.x1, wn.y0+50, framebuf.RGB(0xf0, 0xf0, 0xf0))
		drawText(img, g, rng, wn.x0+8, wn.y0+31, wn.x1-8, wn.y0+47, []uint32{0x000000})
		tx0 := wn.x0 + 12
		if i == 1 {
			fill(img, wn.x0, wn.y0+50, wn.x0+220, wn.y1, framebuf.RGB(0xf3, 0xf3, 0xf7))
			drawText(img, g, rng, wn.x0+12, wn.y0+60, wn.x0+210, wn.y1-10, []uint32{0x333333})
			tx0 = wn.x0 + 240
			// the photo inset, then text beneath it
			px, py := tx0, wn.y0+64
			drawPhoto(img, rng, px, py, photoW, photoH)
			drawText(img, g, rng, tx0, py+photoH+16, wn.x1-16, wn.y1-8, fg)
			drawText(img, g, rng, px+photoW+16, py, wn.x1-16, py+photoH, fg)
			continue
		}
		drawText(img, g, rng, tx0, wn.y0+58, wn.x1-16, wn.y1-8, fg)
	}
}

// fill is Image.Fill that tolerates rectangles falling outside small frames.
func fill(img *framebuf.Image, x0, y0, x1, y1 int, c uint32) {
	x0, y0 = max(x0, 0), max(y0, 0)
	x1, y1 = min(x1, img.W), min(y1, img.H)
	if x0 < x1 && y0 < y1 {
		img.Fill(x0, y0, x1, y1, c)
	}
}
