package rfb

import (
	"fmt"
	"math/bits"
	"sync"
)

// PixelFormat is RFB's 16-byte pixel format (RFC 6143 §7.4). Only true-colour
// formats are supported: AMT consoles cannot take colour maps.
type PixelFormat struct {
	BPP, Depth                      uint8
	BigEndian, TrueColour           bool
	RedMax, GreenMax, BlueMax       uint16
	RedShift, GreenShift, BlueShift uint8
}

// The formats AMT consoles use (reference §2.5), plus the usual 32-bpp one.
var (
	// PF565 is AMT's default: 16 bpp RGB565, little-endian on the wire.
	PF565 = PixelFormat{BPP: 16, Depth: 16, TrueColour: true, RedMax: 31, GreenMax: 63, BlueMax: 31, RedShift: 11, GreenShift: 5}
	// PF332 is 8 bpp RGB332 (MeshCentral bpp=1, ui-toolkit's default).
	PF332 = PixelFormat{BPP: 8, Depth: 8, TrueColour: true, RedMax: 7, GreenMax: 7, BlueMax: 3, RedShift: 5, GreenShift: 2}
	// PFGrey8 is MeshCentral's "graymode": 8-bit grey carried as red.
	PFGrey8 = PixelFormat{BPP: 8, Depth: 8, TrueColour: true, RedMax: 255}
	// PFGrey4 is MeshCentral's "lowcolor": 4-bit grey in 8-bit pixels.
	PFGrey4 = PixelFormat{BPP: 8, Depth: 4, TrueColour: true, RedMax: 15}
	// PF888 is 32 bpp, depth 24, little-endian 0x00RRGGBB.
	PF888 = PixelFormat{BPP: 32, Depth: 24, TrueColour: true, RedMax: 255, GreenMax: 255, BlueMax: 255, RedShift: 16, GreenShift: 8}
)

// PixelFormatLen is the wire size of a pixel format.
const PixelFormatLen = 16

// ParsePixelFormat reads a 16-byte pixel format. It does not validate it.
func ParsePixelFormat(b []byte) (PixelFormat, error) {
	if len(b) < PixelFormatLen {
		return PixelFormat{}, short("PixelFormat", "pixel format", PixelFormatLen, len(b))
	}
	return PixelFormat{
		BPP: b[0], Depth: b[1], BigEndian: b[2] != 0, TrueColour: b[3] != 0,
		RedMax: be16(b[4:]), GreenMax: be16(b[6:]), BlueMax: be16(b[8:]),
		RedShift: b[10], GreenShift: b[11], BlueShift: b[12],
	}, nil
}

// Append appends the 16-byte wire form.
func (pf PixelFormat) Append(b []byte) []byte {
	b = append(b, pf.BPP, pf.Depth, b2u(pf.BigEndian), b2u(pf.TrueColour))
	b = put16(b, pf.RedMax)
	b = put16(b, pf.GreenMax)
	b = put16(b, pf.BlueMax)
	return append(b, pf.RedShift, pf.GreenShift, pf.BlueShift, 0, 0, 0)
}

func b2u(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// IsGrey reports a grey format: only the red channel carries intensity.
func (pf PixelFormat) IsGrey() bool { return pf.RedMax > 0 && pf.GreenMax == 0 && pf.BlueMax == 0 }

// BytesPerPixel is the size of one PIXEL on the wire.
func (pf PixelFormat) BytesPerPixel() int { return int(pf.BPP) / 8 }

func (pf PixelFormat) String() string {
	e := "LE"
	if pf.BigEndian {
		e = "BE"
	}
	return fmt.Sprintf("bpp%d depth%d %s max %d/%d/%d shift %d/%d/%d", pf.BPP, pf.Depth, e,
		pf.RedMax, pf.GreenMax, pf.BlueMax, pf.RedShift, pf.GreenShift, pf.BlueShift)
}

// Validate checks that the format is one this codec can produce: 8, 16 or
// 32 bpp true colour, each maximum 2^k−1, every channel inside the pixel.
func (pf PixelFormat) Validate() error {
	const msg = "PixelFormat"
	switch pf.BPP {
	case 8, 16, 32:
	default:
		return bad(msg, "bits-per-pixel", 0, "8, 16 or 32", fmt.Sprint(pf.BPP))
	}
	if pf.Depth == 0 || pf.Depth > pf.BPP {
		return bad(msg, "depth", 1, fmt.Sprintf("1..%d", pf.BPP), fmt.Sprint(pf.Depth))
	}
	if !pf.TrueColour {
		return bad(msg, "true-colour-flag", 3, "1 (colour maps are not supported by AMT consoles)", "0")
	}
	if pf.RedMax == 0 && pf.GreenMax == 0 && pf.BlueMax == 0 {
		return bad(msg, "red-max", 4, "at least one non-zero maximum", "all zero")
	}
	chans := [3]struct {
		name  string
		max   uint16
		shift uint8
		off   int
	}{{"red", pf.RedMax, pf.RedShift, 4}, {"green", pf.GreenMax, pf.GreenShift, 6}, {"blue", pf.BlueMax, pf.BlueShift, 8}}
	for i, c := range chans {
		if c.max&(c.max+1) != 0 {
			return bad(msg, c.name+"-max", c.off, "2^n - 1", fmt.Sprint(c.max))
		}
		if c.max != 0 && int(c.shift)+bits.Len16(c.max) > int(pf.BPP) {
			return bad(msg, c.name+"-shift", 10+i, fmt.Sprintf("channel inside %d bits", pf.BPP), fmt.Sprintf("shift %d with max %d", c.shift, c.max))
		}
	}
	return nil
}

// chanScale converts an 8-bit intensity to a channel value 0..max (max 2^k−1).
func chanScale(v uint32, max uint16) uint32 {
	if max == 0 {
		return 0
	}
	k := bits.Len16(max)
	if k <= 8 {
		return v >> (8 - k)
	}
	return (v*uint32(max) + 127) / 255
}

// chanExpand converts a channel value back to 8 bits, rounding.
func chanExpand(c uint32, max uint16) uint32 {
	if max == 0 {
		return 0
	}
	c &= uint32(max)
	return (c*255 + uint32(max)/2) / uint32(max)
}

// convKind selects a specialised conversion loop.
type convKind uint8

const (
	convLUT convKind = iota
	conv565
	conv332
	conv888
)

// Converter maps 0x00RRGGBB pixels to and from wire pixel values of one
// format. It is built once per format; all methods are allocation-free.
type Converter struct {
	pf         PixelFormat
	kind       convKind
	lr, lg, lb [256]uint32 // encode lookup: 8-bit channel → shifted wire bits
	rev        []uint32    // decode lookup by wire value for bpp ≤ 16
	er, eg, eb [256]uint32 // decode lookup by channel value when max ≤ 255
}

// converters caches built converters: they are immutable, and a vMC serving
// many sessions, or a fuzzer, would otherwise rebuild the same 64K-entry
// tables. The cache is bounded since clients choose the formats.
var converters struct {
	sync.Mutex
	m map[PixelFormat]*Converter
}

const maxCachedConverters = 64

// NewConverter validates pf and returns its (shared, immutable) converter.
func NewConverter(pf PixelFormat) (*Converter, error) {
	if err := pf.Validate(); err != nil {
		return nil, err
	}
	converters.Lock()
	c, ok := converters.m[pf]
	converters.Unlock()
	if ok {
		return c, nil
	}
	c = buildConverter(pf)
	converters.Lock()
	if converters.m == nil {
		converters.m = map[PixelFormat]*Converter{}
	}
	if len(converters.m) < maxCachedConverters {
		converters.m[pf] = c
	}
	converters.Unlock()
	return c, nil
}

func buildConverter(pf PixelFormat) *Converter {
	c := &Converter{pf: pf}
	switch {
	case pf.RedMax == 31 && pf.GreenMax == 63 && pf.BlueMax == 31 && pf.RedShift == 11 && pf.GreenShift == 5 && pf.BlueShift == 0:
		c.kind = conv565
	case pf.RedMax == 7 && pf.GreenMax == 7 && pf.BlueMax == 3 && pf.RedShift == 5 && pf.GreenShift == 2 && pf.BlueShift == 0:
		c.kind = conv332
	case pf.RedMax == 255 && pf.GreenMax == 255 && pf.BlueMax == 255 && pf.RedShift == 16 && pf.GreenShift == 8 && pf.BlueShift == 0:
		c.kind = conv888
	}
	for v := uint32(0); v < 256; v++ {
		if pf.IsGrey() {
			// BT.601 luma weights summing to 256, so grey stays grey.
			c.lr[v] = 77 * v
			c.lg[v] = 150 * v
			c.lb[v] = 29 * v
		} else {
			c.lr[v] = chanScale(v, pf.RedMax) << pf.RedShift
			c.lg[v] = chanScale(v, pf.GreenMax) << pf.GreenShift
			c.lb[v] = chanScale(v, pf.BlueMax) << pf.BlueShift
		}
		if v <= uint32(pf.RedMax) {
			c.er[v] = chanExpand(v, pf.RedMax)
		}
		if v <= uint32(pf.GreenMax) {
			c.eg[v] = chanExpand(v, pf.GreenMax)
		}
		if v <= uint32(pf.BlueMax) {
			c.eb[v] = chanExpand(v, pf.BlueMax)
		}
	}
	if pf.BPP <= 16 {
		c.rev = make([]uint32, 1<<pf.BPP)
		for w := range c.rev {
			c.rev[w] = c.toRGBSlow(uint32(w))
		}
	}
	return c
}

// PixelFormat returns the converter's format.
func (c *Converter) PixelFormat() PixelFormat { return c.pf }

// ToWire converts one 0x00RRGGBB pixel to its wire value.
func (c *Converter) ToWire(p uint32) uint32 {
	switch c.kind {
	case conv565:
		return (p>>8)&0xF800 | (p>>5)&0x07E0 | (p>>3)&0x1F
	case conv332:
		return (p>>16)&0xE0 | (p>>11)&0x1C | (p>>6)&0x03
	case conv888:
		return p & 0xFFFFFF
	}
	if c.pf.IsGrey() {
		y := (c.lr[(p>>16)&0xFF] + c.lg[(p>>8)&0xFF] + c.lb[p&0xFF]) >> 8
		return chanScale(y, c.pf.RedMax) << c.pf.RedShift
	}
	return c.lr[(p>>16)&0xFF] | c.lg[(p>>8)&0xFF] | c.lb[p&0xFF]
}

// ConvertRow converts src to wire values in dst (len(dst) ≥ len(src)).
func (c *Converter) ConvertRow(dst, src []uint32) {
	dst = dst[:len(src)]
	switch c.kind {
	case conv565:
		for i, p := range src {
			dst[i] = (p>>8)&0xF800 | (p>>5)&0x07E0 | (p>>3)&0x1F
		}
	case conv332:
		for i, p := range src {
			dst[i] = (p>>16)&0xE0 | (p>>11)&0x1C | (p>>6)&0x03
		}
	case conv888:
		for i, p := range src {
			dst[i] = p & 0xFFFFFF
		}
	default:
		if c.pf.IsGrey() {
			for i, p := range src {
				dst[i] = c.ToWire(p)
			}
			return
		}
		lr, lg, lb := &c.lr, &c.lg, &c.lb
		for i, p := range src {
			dst[i] = lr[(p>>16)&0xFF] | lg[(p>>8)&0xFF] | lb[p&0xFF]
		}
	}
}

// ToRGB converts a wire value back to 0x00RRGGBB.
func (c *Converter) ToRGB(w uint32) uint32 {
	if c.rev != nil {
		return c.rev[w&uint32(len(c.rev)-1)]
	}
	if c.kind == conv888 {
		return w & 0xFFFFFF
	}
	return c.toRGBSlow(w)
}

func (c *Converter) toRGBSlow(w uint32) uint32 {
	pf := c.pf
	r := (w >> pf.RedShift) & uint32(pf.RedMax)
	if pf.IsGrey() {
		y := c.expand(r, pf.RedMax, &c.er)
		return y<<16 | y<<8 | y
	}
	g := (w >> pf.GreenShift) & uint32(pf.GreenMax)
	b := (w >> pf.BlueShift) & uint32(pf.BlueMax)
	return c.expand(r, pf.RedMax, &c.er)<<16 | c.expand(g, pf.GreenMax, &c.eg)<<8 | c.expand(b, pf.BlueMax, &c.eb)
}

func (c *Converter) expand(v uint32, max uint16, lut *[256]uint32) uint32 {
	if max <= 255 {
		return lut[v&0xFF]
	}
	return chanExpand(v, max)
}

// pixelCodec writes and reads PIXEL or CPIXEL values of a format.
type pixelCodec struct {
	size  int  // bytes per value: 1, 2, 3 or 4
	be    bool // byte order
	shift uint // CPIXEL holding the top 3 bytes of a 32-bit pixel: shift 8
}

func newPixelCodec(pf PixelFormat) pixelCodec {
	return pixelCodec{size: pf.BytesPerPixel(), be: pf.BigEndian}
}

// newCPixelCodec applies ZRLE's CPIXEL rule (RFC 6143 §7.7.6): a 32-bpp
// true-colour format of depth ≤ 24 whose channels all fit in the low or
// high three bytes is sent as three bytes.
func newCPixelCodec(pf PixelFormat) pixelCodec {
	pc := newPixelCodec(pf)
	if pf.BPP != 32 || pf.Depth > 24 || !pf.TrueColour {
		return pc
	}
	var mask uint32
	for _, ch := range [3]struct {
		max   uint16
		shift uint8
	}{{pf.RedMax, pf.RedShift}, {pf.GreenMax, pf.GreenShift}, {pf.BlueMax, pf.BlueShift}} {
		mask |= uint32(ch.max) << ch.shift
	}
	switch {
	case mask&0xFF000000 == 0:
		pc.size = 3
	case mask&0x000000FF == 0:
		pc.size, pc.shift = 3, 8
	}
	return pc
}

func (pc pixelCodec) put(b []byte, v uint32) []byte {
	v >>= pc.shift
	switch pc.size {
	case 1:
		return append(b, byte(v))
	case 2:
		if pc.be {
			return append(b, byte(v>>8), byte(v))
		}
		return append(b, byte(v), byte(v>>8))
	case 3:
		if pc.be {
			return append(b, byte(v>>16), byte(v>>8), byte(v))
		}
		return append(b, byte(v), byte(v>>8), byte(v>>16))
	default:
		if pc.be {
			return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
		}
		return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
	}
}

// get reads one value from b, which holds at least pc.size bytes.
func (pc pixelCodec) get(b []byte) uint32 {
	var v uint32
	switch pc.size {
	case 1:
		v = uint32(b[0])
	case 2:
		if pc.be {
			v = uint32(b[0])<<8 | uint32(b[1])
		} else {
			v = uint32(b[0]) | uint32(b[1])<<8
		}
	case 3:
		if pc.be {
			v = uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
		} else {
			v = uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
		}
	default:
		if pc.be {
			v = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		} else {
			v = uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		}
	}
	return v << pc.shift
}
