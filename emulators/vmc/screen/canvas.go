package screen

import (
	"image"

	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/font/inconsolata"

	"github.com/oobtb/oobtb/emulators/framebuf"
)

// canvas draws in screen coordinates onto an image whose pixel (0,0) sits
// at screen position (ox, oy). The same drawing code paints the full-size
// base layer (ox = oy = 0) and a 64×64 scratch tile during composition.
// Drawing is further clipped to clip (screen coordinates), so restoring
// the desktop under a moved window never paints outside the old rectangle.
type canvas struct {
	img    *framebuf.Image
	ox, oy int
	clip   image.Rectangle
}

func newCanvas(img *framebuf.Image, ox, oy int) canvas {
	return canvas{img: img, ox: ox, oy: oy, clip: image.Rect(ox, oy, ox+img.W, oy+img.H)}
}

// within narrows the clip to [x0,x1)×[y0,y1).
func (c canvas) within(x0, y0, x1, y1 int) canvas {
	c.clip = c.clip.Intersect(image.Rect(x0, y0, x1, y1))
	return c
}

func (c canvas) overlaps(x0, y0, x1, y1 int) bool {
	return x0 < c.clip.Max.X && x1 > c.clip.Min.X && y0 < c.clip.Max.Y && y1 > c.clip.Min.Y
}

func (c canvas) fill(x0, y0, x1, y1 int, p uint32) {
	x0, y0 = max(x0, c.clip.Min.X), max(y0, c.clip.Min.Y)
	x1, y1 = min(x1, c.clip.Max.X), min(y1, c.clip.Max.Y)
	if x0 >= x1 || y0 >= y1 {
		return
	}
	c.img.Fill(x0-c.ox, y0-c.oy, x1-c.ox, y1-c.oy, p)
}

func (c canvas) set(x, y int, p uint32) {
	if x >= c.clip.Min.X && x < c.clip.Max.X && y >= c.clip.Min.Y && y < c.clip.Max.Y {
		c.img.Pix[(y-c.oy)*c.img.Stride+x-c.ox] = p
	}
}

// frame draws a 1-pixel outline of [x0,x1)×[y0,y1).
func (c canvas) frame(x0, y0, x1, y1 int, p uint32) {
	c.fill(x0, y0, x1, y0+1, p)
	c.fill(x0, y1-1, x1, y1, p)
	c.fill(x0, y0, x0+1, y1, p)
	c.fill(x1-1, y0, x1, y1, p)
}

// Text faces are unpacked once from x/image's bitmap fonts into row
// bitmasks, so drawing a glyph is a few shifts per row. Workloads use the
// X11 misc-fixed 7×13 face (ASCII only); the input panel uses Inconsolata
// 8×16, which covers all of Latin-1, so every printable keysym an RFB
// client can type is drawn as itself.
type bitmapFont struct {
	adv, lineH int // advance and line height
	w, h       int // glyph box
	rows       [256][]uint16
	repl       []uint16 // U+FFFD, for runes the face lacks
}

// Layout of the 7×13 face.
const (
	glyphW   = 7  // advance
	glyphH   = 13 // line height
	glyphBox = 6  // inked width
)

var (
	fixed7x13 = loadFont(basicfont.Face7x13, glyphH)
	latin8x16 = loadFont(inconsolata.Regular8x16, 16)
)

func loadFont(f *basicfont.Face, lineH int) *bitmapFont {
	bf := &bitmapFont{adv: f.Advance, lineH: lineH, w: min(f.Width, 16), h: f.Ascent + f.Descent}
	glyph := func(r rune) []uint16 {
		for _, rg := range f.Ranges {
			if r < rg.Low || r >= rg.High {
				continue
			}
			top := (int(r-rg.Low) + rg.Offset) * bf.h
			rows := make([]uint16, bf.h)
			for y := range rows {
				for x := 0; x < bf.w; x++ {
					if _, _, _, a := f.Mask.At(x, top+y).RGBA(); a >= 0x8000 {
						rows[y] |= 1 << x
					}
				}
			}
			return rows
		}
		return nil
	}
	for r := range bf.rows {
		bf.rows[r] = glyph(rune(r))
	}
	bf.repl = glyph(0xFFFD)
	if bf.repl == nil {
		bf.repl = bf.rows['?']
	}
	return bf
}

// glyphOf returns r's rows, the replacement glyph if the face lacks it.
func (f *bitmapFont) glyphOf(r rune) []uint16 {
	if r >= 0 && r < 256 && f.rows[r] != nil {
		return f.rows[r]
	}
	return f.repl
}

// glyphIn draws r in face f with its cell's top-left at (x, y),
// foreground pixels only.
func (c canvas) glyphIn(f *bitmapFont, x, y int, r rune, fg uint32) {
	if r == ' ' || !c.overlaps(x, y, x+f.w, y+f.h) {
		return
	}
	for row, b := range f.glyphOf(r) {
		for col := 0; b != 0; col++ {
			if b&1 != 0 {
				c.set(x+col, y+row, fg)
			}
			b >>= 1
		}
	}
}

// glyph draws r in the 7×13 face.
func (c canvas) glyph(x, y int, r rune, fg uint32) { c.glyphIn(fixed7x13, x, y, r, fg) }

// text draws s from (x, y) in the 7×13 face, one cell per byte.
func (c canvas) text(x, y int, s string, fg uint32) {
	if !c.overlaps(x, y, x+len(s)*glyphW, y+glyphH) {
		return
	}
	for i := 0; i < len(s); i++ {
		c.glyph(x+i*glyphW, y, rune(s[i]), fg)
	}
}
