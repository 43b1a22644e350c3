package rfb

import (
	"slices"

	"github.com/oobtb/oobtb/emulators/framebuf"
)

// Encoding-16 tile subencodings (reference §2.5).
const (
	SubRaw        uint8 = 0
	SubSolid      uint8 = 1
	SubPackedMin  uint8 = 2 // 2..16: packed palette of that many colours
	SubPackedMax  uint8 = 16
	SubPlainRLE   uint8 = 128
	SubPaletteRLE uint8 = 128 // + palette size (2..127): 130..255
	maxPalette          = 127
)

// tileEncoder turns one ≤64×64 tile into encoding-16 tile bytes, picking the
// smallest subencoding. Its scratch lives with the frame Encoder so steady
// state allocates nothing.
//
// One pass over the source pixels finds the runs of equal wire values and
// the palette. A pixel equal to its left neighbour costs one compare; the
// conversion to wire format and the palette lookup happen once per change
// of source colour, so flat and text tiles never convert every pixel.
type tileEncoder struct {
	conv *Converter
	cp   pixelCodec
	wire [TileSize * TileSize]uint32 // raw output staging
	runV [TileSize * TileSize]uint32 // run values
	runN [TileSize * TileSize]uint16 // run lengths
	runI [TileSize * TileSize]uint8  // run palette indices
	nRun int
	slot [256]uint8  // palette index + 1 per hash slot; 0 = empty
	key  [256]uint32 // wire value per used slot
	pal  [maxPalette]uint32
	np   int
}

// appendTile encodes the w×h tile at (x, y) of img, which the caller has
// checked lies inside the image; solid says the caller already knows it is
// one colour.
func (t *tileEncoder) appendTile(b []byte, img *framebuf.Image, x, y, w, h int, solid bool) []byte {
	stride := img.Stride
	src := img.Pix[y*stride+x:]
	if solid {
		return t.cp.put(append(b, SubSolid), t.conv.ToWire(src[0]))
	}
	n := w * h
	cps := t.cp.size
	raw := n * cps
	t.slot = [256]uint8{}
	t.np = 0
	t.nRun = 0
	overflow := false
	rle, prle := 0, 0 // plain RLE bytes, palette RLE index+run bytes
	prevSrc := src[0]
	prevW := t.conv.ToWire(prevSrc)
	run := 0
	kind := t.conv.kind
	idx, _ := t.insert(prevW)
	for r := 0; r < h; r++ {
		for _, p := range src[r*stride : r*stride+w] {
			if p == prevSrc {
				run++
				continue
			}
			prevSrc = p
			var v uint32
			switch kind { // ToWire, inlined for the common formats
			case conv565:
				v = (p>>8)&0xF800 | (p>>5)&0x07E0 | (p>>3)&0x1F
			case conv332:
				v = (p>>16)&0xE0 | (p>>11)&0x1C | (p>>6)&0x03
			default:
				v = t.conv.ToWire(p)
			}
			if v == prevW {
				run++
				continue
			}
			// close the run of prevW
			rl := runBytes(run)
			rle += cps + rl
			if run == 1 {
				prle++
			} else {
				prle += 1 + rl
			}
			t.runV[t.nRun], t.runN[t.nRun], t.runI[t.nRun] = prevW, uint16(run), idx
			t.nRun++
			prevW, run = v, 1
			if !overflow {
				var ok bool
				if idx, ok = t.insert(v); !ok {
					overflow = true
				}
			}
			if overflow && rle >= raw {
				// Too many colours for a palette and RLE already
				// losing to raw: a photo or noise tile.
				return t.appendRaw(b, src, stride, w, h)
			}
		}
	}
	rl := runBytes(run)
	rle += cps + rl
	if run == 1 {
		prle++
	} else {
		prle += 1 + rl
	}
	t.runV[t.nRun], t.runN[t.nRun], t.runI[t.nRun] = prevW, uint16(run), idx
	t.nRun++

	if !overflow && t.np == 1 {
		return t.cp.put(append(b, SubSolid), t.pal[0])
	}
	best, sub := raw, SubRaw
	if rle < best {
		best, sub = rle, SubPlainRLE
	}
	if !overflow {
		p := t.np
		if p <= int(SubPackedMax) {
			if sz := p*cps + (n*paletteBits(p)+7)/8; sz < best {
				best, sub = sz, uint8(p)
			}
		}
		if sz := p*cps + prle; sz < best {
			sub = SubPaletteRLE + uint8(p)
		}
	}
	switch {
	case sub == SubRaw:
		return t.appendRaw(b, src, stride, w, h)
	case sub == SubPlainRLE:
		return t.appendPlainRLE(b)
	case sub <= SubPackedMax:
		return t.appendPacked(b)
	default:
		return t.appendPaletteRLE(b)
	}
}

// runBytes is the size of a run-length field for a run of r ≥ 1 pixels.
func runBytes(r int) int { return (r-1)/255 + 1 }

func appendRun(b []byte, r int) []byte {
	r--
	for r >= 255 {
		b = append(b, 255)
		r -= 255
	}
	return append(b, byte(r))
}

// paletteBits is the index width of a packed palette of p colours.
func paletteBits(p int) int {
	switch {
	case p <= 2:
		return 1
	case p <= 4:
		return 2
	default:
		return 4
	}
}

// insert adds v to the palette and returns its index; false when the
// palette is full.
func (t *tileEncoder) insert(v uint32) (uint8, bool) {
	h := (v * 0x9E3779B1) >> 24
	for {
		s := t.slot[h]
		if s == 0 {
			if t.np == maxPalette {
				return 0, false
			}
			t.key[h] = v
			t.pal[t.np] = v
			t.np++
			t.slot[h] = uint8(t.np)
			return uint8(t.np - 1), true
		}
		if t.key[h] == v {
			return s - 1, true
		}
		h = (h + 1) & 255
	}
}

func (t *tileEncoder) appendPalette(b []byte, sub uint8) []byte {
	b = append(b, sub)
	for _, v := range t.pal[:t.np] {
		b = t.cp.put(b, v)
	}
	return b
}

func (t *tileEncoder) appendRaw(b []byte, src []uint32, stride, w, h int) []byte {
	b = append(b, SubRaw)
	wire := t.wire[:w]
	for r := 0; r < h; r++ {
		t.conv.ConvertRow(wire, src[r*stride:r*stride+w])
		b = appendPixels(b, t.cp, wire)
	}
	return b
}

// appendPixels writes wire values with the given codec, with the common
// sizes unrolled.
func appendPixels(b []byte, pc pixelCodec, wire []uint32) []byte {
	switch {
	case pc.size == 1:
		for _, v := range wire {
			b = append(b, byte(v))
		}
	case pc.size == 2 && !pc.be:
		o := len(b)
		b = slices.Grow(b, 2*len(wire))[:o+2*len(wire)]
		d := b[o:]
		for i, v := range wire {
			d[2*i] = byte(v)
			d[2*i+1] = byte(v >> 8)
		}
	default:
		for _, v := range wire {
			b = pc.put(b, v)
		}
	}
	return b
}

// appendPacked writes indices as one continuous MSB-first bit stream with no
// per-row padding: that is how both AMT console decoders read them.
func (t *tileEncoder) appendPacked(b []byte) []byte {
	b = t.appendPalette(b, uint8(t.np))
	bits := uint(paletteBits(t.np))
	var acc uint32
	var nb uint
	for i, n := range t.runN[:t.nRun] {
		idx := uint32(t.runI[i])
		for ; n > 0; n-- {
			acc = acc<<bits | idx
			nb += bits
			if nb >= 8 {
				nb -= 8
				b = append(b, byte(acc>>nb))
				acc &= 1<<nb - 1
			}
		}
	}
	if nb > 0 {
		b = append(b, byte(acc<<(8-nb)))
	}
	return b
}

func (t *tileEncoder) appendPlainRLE(b []byte) []byte {
	b = append(b, SubPlainRLE)
	for i, n := range t.runN[:t.nRun] {
		b = appendRun(t.cp.put(b, t.runV[i]), int(n))
	}
	return b
}

func (t *tileEncoder) appendPaletteRLE(b []byte) []byte {
	b = t.appendPalette(b, SubPaletteRLE+uint8(t.np))
	for i, n := range t.runN[:t.nRun] {
		if n == 1 {
			b = append(b, t.runI[i])
		} else {
			b = appendRun(append(b, t.runI[i]|0x80), int(n))
		}
	}
	return b
}
