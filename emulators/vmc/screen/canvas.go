package screen

import (
	"image"

	"golang.org/x/image/font/basicfont"

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

// The text face: X11 misc-fixed 7×13 (basicfont.Face7x13), unpacked once
// into row bitmasks so drawing a glyph is a few shifts per row.
const (
	glyphW   = 7  // advance
	glyphH   = 13 // line height
	glyphBox = 6  // inked width
)

var glyphs [96][glyphH]uint8 // 0x20..0x7e, then U+FFFD at index 95

func init() {
	f := basicfont.Face7x13
	for i := range glyphs {
		for y := 0; y < glyphH; y++ {
			var row uint8
			for x := 0; x < glyphBox; x++ {
				if _, _, _, a := f.Mask.At(x, i*glyphH+y).RGBA(); a >= 0x8000 {
					row |= 1 << x
				}
			}
			glyphs[i][y] = row
		}
	}
}

// glyphIndex maps a rune to its glyph; anything the face lacks (Latin-1
// above 0x7e included) draws as the replacement character.
func glyphIndex(r rune) int {
	if r >= 0x20 && r < 0x7f {
		return int(r - 0x20)
	}
	return 95
}

// glyph draws r with its cell's top-left at (x, y), foreground pixels only.
func (c canvas) glyph(x, y int, r rune, fg uint32) {
	if r == ' ' || !c.overlaps(x, y, x+glyphBox, y+glyphH) {
		return
	}
	g := &glyphs[glyphIndex(r)]
	for row := 0; row < glyphH; row++ {
		b := g[row]
		for col := 0; b != 0; col++ {
			if b&1 != 0 {
				c.set(x+col, y+row, fg)
			}
			b >>= 1
		}
	}
}

// text draws s from (x, y), one cell per byte.
func (c canvas) text(x, y int, s string, fg uint32) {
	if !c.overlaps(x, y, x+len(s)*glyphW, y+glyphH) {
		return
	}
	for i := 0; i < len(s); i++ {
		c.glyph(x+i*glyphW, y, rune(s[i]), fg)
	}
}
