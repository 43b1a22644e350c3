package rfb

import (
	"fmt"
	"io"
	"slices"

	"github.com/oobtb/oobtb/emulators/framebuf"
)

// tileDecoder decodes encoding-16 tiles into an image.
type tileDecoder struct {
	conv *Converter
	cp   pixelCodec
	pal  [maxPalette]uint32 // RGB of the current palette
}

const tileMsg = "encoding 16 tile"

func tileShort(field string, off, need, have int) error {
	return bad(tileMsg, field, off, fmt.Sprintf("%d bytes", need), fmt.Sprintf("%d bytes", have))
}

// decode decodes one tile from the front of data into the w×h area at (x, y)
// of img (checked by the caller) and returns the bytes used. data is the
// whole tile: running out is malformed input, not a short read.
func (t *tileDecoder) decode(data []byte, img *framebuf.Image, x, y, w, h int) (int, error) {
	if len(data) < 1 {
		return 0, tileShort("subencoding", 0, 1, 0)
	}
	sub := data[0]
	off := 1
	n := w * h
	cps := t.cp.size
	stride := img.Stride
	base := y*stride + x
	switch {
	case sub == SubRaw:
		if len(data) < off+n*cps {
			return 0, tileShort("raw pixels", off, n*cps, len(data)-off)
		}
		for r := 0; r < h; r++ {
			row := img.Pix[base+r*stride : base+r*stride+w]
			d := data[off+r*w*cps:]
			switch {
			case cps == 1:
				for i := range row {
					row[i] = t.conv.ToRGB(uint32(d[i]))
				}
			case cps == 2 && !t.cp.be:
				for i := range row {
					row[i] = t.conv.ToRGB(uint32(d[2*i]) | uint32(d[2*i+1])<<8)
				}
			default:
				for i := range row {
					row[i] = t.conv.ToRGB(t.cp.get(d[i*cps:]))
				}
			}
		}
		return off + n*cps, nil
	case sub == SubSolid:
		if len(data) < off+cps {
			return 0, tileShort("solid pixel", off, cps, len(data)-off)
		}
		img.Fill(x, y, x+w, y+h, t.conv.ToRGB(t.cp.get(data[off:])))
		return off + cps, nil
	case sub >= SubPackedMin && sub <= SubPackedMax:
		p := int(sub)
		if off = t.readPalette(data, off, p); off < 0 {
			return 0, tileShort("palette", 1, p*cps, len(data)-1)
		}
		bits := uint(paletteBits(p))
		need := (n*int(bits) + 7) / 8
		if len(data) < off+need {
			return 0, tileShort("packed indices", off, need, len(data)-off)
		}
		d := data[off : off+need]
		mask := uint32(1)<<bits - 1
		var bitPos uint
		for r := 0; r < h; r++ {
			row := img.Pix[base+r*stride : base+r*stride+w]
			for i := range row {
				byteI := bitPos >> 3
				shift := 8 - bits - (bitPos & 7)
				idx := uint32(d[byteI]>>shift) & mask
				if int(idx) >= p {
					return 0, bad(tileMsg, "palette index", off+int(byteI), fmt.Sprintf("below %d", p), fmt.Sprint(idx))
				}
				row[i] = t.pal[idx]
				bitPos += bits
			}
		}
		return off + need, nil
	case sub == SubPlainRLE:
		pos := 0
		for pos < n {
			if len(data) < off+cps {
				return 0, tileShort("run pixel", off, cps, len(data)-off)
			}
			c := t.conv.ToRGB(t.cp.get(data[off:]))
			off += cps
			run, o, err := readRunLen(data, off, n-pos)
			if err != nil {
				return 0, err
			}
			off = o
			fillRun(img, x, y, w, pos, run, c)
			pos += run
		}
		return off, nil
	case sub >= SubPaletteRLE+2:
		p := int(sub - SubPaletteRLE)
		if off = t.readPalette(data, off, p); off < 0 {
			return 0, tileShort("palette", 1, p*cps, len(data)-1)
		}
		pos := 0
		for pos < n {
			if len(data) < off+1 {
				return 0, tileShort("palette index", off, 1, 0)
			}
			idx := int(data[off] & 0x7F)
			if idx >= p {
				return 0, bad(tileMsg, "palette index", off, fmt.Sprintf("below %d", p), fmt.Sprint(idx))
			}
			run := 1
			if data[off]&0x80 != 0 {
				var err error
				if run, off, err = readRunLen(data, off+1, n-pos); err != nil {
					return 0, err
				}
			} else {
				off++
			}
			fillRun(img, x, y, w, pos, run, t.pal[idx])
			pos += run
		}
		return off, nil
	default:
		return 0, bad(tileMsg, "subencoding", 0, "0, 1, 2..16, 128 or 130..255", fmt.Sprint(sub))
	}
}

// readPalette loads p CPIXELs at off; it returns the new offset or -1.
func (t *tileDecoder) readPalette(data []byte, off, p int) int {
	cps := t.cp.size
	if len(data) < off+p*cps {
		return -1
	}
	for i := 0; i < p; i++ {
		t.pal[i] = t.conv.ToRGB(t.cp.get(data[off+i*cps:]))
	}
	return off + p*cps
}

// readRunLen reads a run length (bytes summing to run−1, all 255 but the
// last) at off; the run may not exceed left pixels.
func readRunLen(data []byte, off, left int) (int, int, error) {
	run := 1
	start := off
	for {
		if off >= len(data) {
			return 0, 0, tileShort("run length", off, 1, 0)
		}
		c := data[off]
		off++
		run += int(c)
		if run > left {
			return 0, 0, bad(tileMsg, "run length", start, fmt.Sprintf("at most %d pixels left in the tile", left), fmt.Sprint(run))
		}
		if c != 255 {
			return run, off, nil
		}
	}
}

// fillRun paints run pixels from raster position pos of the w-wide tile at (x, y).
func fillRun(img *framebuf.Image, x, y, w, pos, run int, c uint32) {
	for run > 0 {
		py, px := pos/w, pos%w
		k := min(run, w-px)
		row := img.Pix[(y+py)*img.Stride+x+px:]
		for i := range row[:k] {
			row[i] = c
		}
		pos += k
		run -= k
	}
}

// readTile copies exactly one tile's bytes from r (the inflated stream)
// into buf, following the subencoding to know where the tile ends.
func readTile(r io.Reader, buf []byte, w, h int, cp pixelCodec) ([]byte, error) {
	buf = buf[:0]
	read := func(k int, field string) error {
		o := len(buf)
		buf = slices.Grow(buf, k)[:o+k]
		if _, err := io.ReadFull(r, buf[o:]); err != nil {
			return bad(tileMsg, field, o, fmt.Sprintf("%d inflated bytes", k), "end of the rectangle's data: "+err.Error())
		}
		return nil
	}
	if err := read(1, "subencoding"); err != nil {
		return buf, err
	}
	n, cps, sub := w*h, cp.size, buf[0]
	runLen := func(left int) (int, error) {
		run := 1
		for {
			if err := read(1, "run length"); err != nil {
				return 0, err
			}
			c := buf[len(buf)-1]
			run += int(c)
			if run > left {
				return 0, bad(tileMsg, "run length", len(buf)-1, fmt.Sprintf("at most %d pixels left in the tile", left), fmt.Sprint(run))
			}
			if c != 255 {
				return run, nil
			}
		}
	}
	switch {
	case sub == SubRaw:
		return buf, read(n*cps, "raw pixels")
	case sub == SubSolid:
		return buf, read(cps, "solid pixel")
	case sub >= SubPackedMin && sub <= SubPackedMax:
		return buf, read(int(sub)*cps+(n*paletteBits(int(sub))+7)/8, "packed palette")
	case sub == SubPlainRLE:
		for pos := 0; pos < n; {
			if err := read(cps, "run pixel"); err != nil {
				return buf, err
			}
			run, err := runLen(n - pos)
			if err != nil {
				return buf, err
			}
			pos += run
		}
		return buf, nil
	case sub >= SubPaletteRLE+2:
		if err := read(int(sub-SubPaletteRLE)*cps, "palette"); err != nil {
			return buf, err
		}
		for pos := 0; pos < n; {
			if err := read(1, "palette index"); err != nil {
				return buf, err
			}
			run := 1
			if buf[len(buf)-1]&0x80 != 0 {
				var err error
				if run, err = runLen(n - pos); err != nil {
					return buf, err
				}
			}
			pos += run
		}
		return buf, nil
	default:
		return buf, bad(tileMsg, "subencoding", 0, "0, 1, 2..16, 128 or 130..255", fmt.Sprint(sub))
	}
}

// TileDecoder decodes single encoding-16 tiles (already out of their
// framing) for tools that inspect captures.
type TileDecoder struct{ td tileDecoder }

// NewTileDecoder returns a tile decoder for pixel format pf.
func NewTileDecoder(pf PixelFormat) (*TileDecoder, error) {
	c, err := NewConverter(pf)
	if err != nil {
		return nil, err
	}
	return &TileDecoder{td: tileDecoder{conv: c, cp: newCPixelCodec(pf)}}, nil
}

// Decode decodes one tile from the front of tile into area r of img and
// returns the bytes used. r must be 1..64 a side and inside img.
func (d *TileDecoder) Decode(tile []byte, img *framebuf.Image, r Rect) (int, error) {
	x, y, w, h := int(r.X), int(r.Y), int(r.W), int(r.H)
	if w < 1 || w > TileSize || h < 1 || h > TileSize {
		return 0, bad(tileMsg, "size", 0, "width and height 1..64", fmt.Sprintf("%dx%d", w, h))
	}
	if img == nil || x+w > img.W || y+h > img.H {
		return 0, bad(tileMsg, "position", 0, "inside the image", r.String())
	}
	return d.td.decode(tile, img, x, y, w, h)
}
