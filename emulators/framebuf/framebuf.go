// Package framebuf is the pixel store shared by the virtual screen that draws
// it and the RFB encoders that ship it.
//
// Pixels are packed 0x00RRGGBB words: one load per pixel for the encoders'
// hot loops and exact 8-bit channels for screenshots and integrity checks.
// Wire formats (RGB565, RGB332, grey, 32 bpp) are derived from it by the rfb
// codec.
package framebuf

import (
	"fmt"
	"image"
	"image/color"
)

// Image is a W×H picture, row-major with Stride pixels per row.
type Image struct {
	W, H   int
	Stride int
	Pix    []uint32
}

// MaxSide bounds either side of an image; AMT's consoles refuse buffers over
// 9,216,000 bytes, and no emulated display here is larger than 8K.
const MaxSide = 8192

// New returns a black image of the given size.
func New(w, h int) (*Image, error) {
	if w <= 0 || h <= 0 || w > MaxSide || h > MaxSide {
		return nil, fmt.Errorf("framebuf: size %dx%d out of range 1..%d", w, h, MaxSide)
	}
	return &Image{W: w, H: h, Stride: w, Pix: make([]uint32, w*h)}, nil
}

// RGB packs 8-bit channels.
func RGB(r, g, b uint8) uint32 { return uint32(r)<<16 | uint32(g)<<8 | uint32(b) }

// At returns the pixel at (x, y); out-of-range reads return 0.
func (m *Image) At(x, y int) uint32 {
	if x < 0 || y < 0 || x >= m.W || y >= m.H {
		return 0
	}
	return m.Pix[y*m.Stride+x]
}

// Set writes the pixel at (x, y); out-of-range writes are ignored.
func (m *Image) Set(x, y int, p uint32) {
	if x < 0 || y < 0 || x >= m.W || y >= m.H {
		return
	}
	m.Pix[y*m.Stride+x] = p
}

// Fill paints the rectangle [x0,x1)×[y0,y1), clipped to the image.
func (m *Image) Fill(x0, y0, x1, y1 int, p uint32) {
	x0, y0 = max(x0, 0), max(y0, 0)
	x1, y1 = min(x1, m.W), min(y1, m.H)
	for y := y0; y < y1; y++ {
		row := m.Pix[y*m.Stride+x0 : y*m.Stride+x1]
		for i := range row {
			row[i] = p
		}
	}
}

// Clone returns a deep copy with Stride == W.
func (m *Image) Clone() *Image {
	c := &Image{W: m.W, H: m.H, Stride: m.W, Pix: make([]uint32, m.W*m.H)}
	for y := 0; y < m.H; y++ {
		copy(c.Pix[y*c.W:(y+1)*c.W], m.Pix[y*m.Stride:y*m.Stride+m.W])
	}
	return c
}

// ToRGBA converts to a standard library image for PNG output.
func (m *Image) ToRGBA() *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, m.W, m.H))
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			p := m.Pix[y*m.Stride+x]
			out.SetRGBA(x, y, color.RGBA{uint8(p >> 16), uint8(p >> 8), uint8(p), 0xff})
		}
	}
	return out
}
