package rfb

import (
	"compress/zlib"
	"errors"
	"fmt"

	"github.com/oobtb/oobtb/emulators/framebuf"
)

// Settings choose how the Encoder ships pixels.
type Settings struct {
	// Encoding is EncodingAMT16 (when the client listed 16) or EncodingRaw.
	Encoding int32
	// Deflate switches encoding 16 from stored-block framing (the default,
	// which both AMT consoles decode without an inflater) to one zlib stream
	// across all rectangles, each ending in a sync flush — what a client
	// asks for with KvmExtCmd 4 value 1.
	Deflate bool
	// DeflateLevel is the zlib level; 0 means zlib.DefaultCompression,
	// whose stream header is the 78 9C seen from real AMT.
	DeflateLevel int
}

// ErrEmptyUpdate is returned instead of a FramebufferUpdate with no
// rectangles, which hangs AMT consoles; delay the reply instead.
var ErrEmptyUpdate = errors.New("rfb: update has no rectangles (AMT consoles hang on those; delay the reply)")

// Encoder builds FramebufferUpdate messages from a framebuf.Image. It holds
// the session's pixel format and the persistent deflate stream, and reuses
// its buffers: with a reused dst it allocates nothing in steady state.
// It is not safe for concurrent use.
type Encoder struct {
	s    Settings
	conv *Converter
	pix  pixelCodec // PIXEL for Raw
	te   tileEncoder
	tile []byte // tile staging for deflate framing
	// per-tile solid flags of the current 64-row band
	solid [framebuf.MaxSide / TileSize]bool
	first [framebuf.MaxSide / TileSize]uint32
	zw    *zlib.Writer
	zout  appendWriter
}

// appendWriter is the io.Writer the deflate stream writes through; it
// appends to the message being built.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// NewEncoder returns an encoder for pf with settings s.
func NewEncoder(pf PixelFormat, s Settings) (*Encoder, error) {
	e := &Encoder{tile: make([]byte, 0, 1+TileSize*TileSize*4)}
	if err := e.SetPixelFormat(pf); err != nil {
		return nil, err
	}
	if err := e.SetSettings(s); err != nil {
		return nil, err
	}
	return e, nil
}

// SetPixelFormat changes the format (the client's SetPixelFormat). The
// deflate stream, if any, continues.
func (e *Encoder) SetPixelFormat(pf PixelFormat) error {
	c, err := NewConverter(pf)
	if err != nil {
		return err
	}
	e.conv = c
	e.pix = newPixelCodec(pf)
	e.te.conv = c
	e.te.cp = newCPixelCodec(pf)
	return nil
}

// SetSettings changes encoding and framing. Switching deflate on the first
// time starts the zlib stream; it then persists for the session.
func (e *Encoder) SetSettings(s Settings) error {
	if s.Encoding != EncodingRaw && s.Encoding != EncodingAMT16 {
		return fmt.Errorf("rfb: encoder supports encodings 0 and 16, not %d", s.Encoding)
	}
	if s.DeflateLevel == 0 {
		s.DeflateLevel = zlib.DefaultCompression
	}
	if s.Deflate && e.zw == nil {
		zw, err := zlib.NewWriterLevel(&e.zout, s.DeflateLevel)
		if err != nil {
			return fmt.Errorf("rfb: deflate level: %w", err)
		}
		e.zw = zw
	}
	e.s = s
	return nil
}

// Settings returns the current settings.
func (e *Encoder) Settings() Settings { return e.s }

// PixelFormat returns the current pixel format.
func (e *Encoder) PixelFormat() PixelFormat { return e.conv.pf }

// AppendFull appends a FramebufferUpdate covering the whole image in 64×64
// tiles (the answer to a client's first request, whatever its flag).
func (e *Encoder) AppendFull(dst []byte, img *framebuf.Image) ([]byte, error) {
	return e.appendUpdate(dst, img, nil, true)
}

// AppendUpdate appends a FramebufferUpdate for the dirty rectangles, each
// clipped to the image and cut into ≤64×64 tiles from its own origin (pass
// 64-aligned rectangles to follow AMT's grid). With nothing left it returns
// ErrEmptyUpdate and dst unchanged.
func (e *Encoder) AppendUpdate(dst []byte, img *framebuf.Image, dirty []Rect) ([]byte, error) {
	return e.appendUpdate(dst, img, dirty, false)
}

func tiles(n int) int { return (n + TileSize - 1) / TileSize }

func clip(r Rect, img *framebuf.Image) (x0, y0, x1, y1 int) {
	x0, y0 = int(r.X), int(r.Y)
	x1, y1 = min(x0+int(r.W), img.W), min(y0+int(r.H), img.H)
	return
}

func (e *Encoder) appendUpdate(dst []byte, img *framebuf.Image, dirty []Rect, full bool) ([]byte, error) {
	if img == nil || img.W <= 0 || img.H <= 0 {
		return dst, ErrEmptyUpdate
	}
	count := 0
	if full {
		count = tiles(img.W) * tiles(img.H)
	} else {
		for _, r := range dirty {
			x0, y0, x1, y1 := clip(r, img)
			if x1 > x0 && y1 > y0 {
				count += tiles(x1-x0) * tiles(y1-y0)
			}
		}
	}
	if count == 0 {
		return dst, ErrEmptyUpdate
	}
	if count > 0xFFFF {
		return dst, fmt.Errorf("rfb: update needs %d rectangles, more than 65535", count)
	}
	dst = (&FramebufferUpdate{NumRects: uint16(count)}).Append(dst)
	if full {
		return e.appendArea(dst, img, 0, 0, img.W, img.H), nil
	}
	for _, r := range dirty {
		x0, y0, x1, y1 := clip(r, img)
		if x1 > x0 && y1 > y0 {
			dst = e.appendArea(dst, img, x0, y0, x1, y1)
		}
	}
	return dst, nil
}

func (e *Encoder) appendArea(dst []byte, img *framebuf.Image, x0, y0, x1, y1 int) []byte {
	for y := y0; y < y1; y += TileSize {
		h := min(TileSize, y1-y)
		e.scanBand(img, x0, x1, y, h)
		for i, x := 0, x0; x < x1; i, x = i+1, x+TileSize {
			dst = e.appendRect(dst, img, x, y, min(TileSize, x1-x), h, e.solid[i])
		}
	}
	return dst
}

// scanBand finds the solid tiles of a band by reading it row by row. Tile
// order would visit 64 short row pieces a page apart; reading whole rows
// lets the hardware prefetcher stream the band, so the per-tile pass that
// follows for the other tiles finds it in cache. On a 1080p desktop this
// halves the encoder's time, which is mostly waiting for memory.
func (e *Encoder) scanBand(img *framebuf.Image, x0, x1, y, h int) {
	n := tiles(x1 - x0)
	base := img.Pix[y*img.Stride:]
	for i := 0; i < n; i++ {
		e.first[i] = base[x0+i*TileSize]
		e.solid[i] = true
	}
	for r := 0; r < h; r++ {
		row := img.Pix[(y+r)*img.Stride+x0 : (y+r)*img.Stride+x1]
		for i := 0; i < n; i++ {
			seg := row[i*TileSize : min((i+1)*TileSize, len(row))]
			f, s := e.first[i], e.solid[i]
			for _, p := range seg {
				s = s && p == f
			}
			e.solid[i] = s
		}
	}
}

// AppendRect appends one rectangle (header and body) for the w×h tile at
// (x, y), which must lie inside img with 1 ≤ w, h ≤ 64. It is the building
// block of AppendUpdate for callers that write their own update header.
func (e *Encoder) AppendRect(dst []byte, img *framebuf.Image, x, y, w, h int) ([]byte, error) {
	if img == nil || w < 1 || h < 1 || w > TileSize || h > TileSize || x < 0 || y < 0 || x+w > img.W || y+h > img.H {
		return dst, fmt.Errorf("rfb: tile %dx%d+%d+%d is not a 1..64-sided tile inside the image", w, h, x, y)
	}
	return e.appendRect(dst, img, x, y, w, h, false), nil
}

// TileRect is the rectangle of 64-grid tile (tx, ty); AppendUpdate clips it
// to the image, so dirty-tile bitmaps map straight to the dirty list.
func TileRect(tx, ty int) Rect {
	return Rect{X: uint16(tx * TileSize), Y: uint16(ty * TileSize), W: TileSize, H: TileSize}
}

// appendRect is AppendRect knowing whether the tile is one colour.
func (e *Encoder) appendRect(dst []byte, img *framebuf.Image, x, y, w, h int, solid bool) []byte {
	dst = RectHeader{Rect: Rect{uint16(x), uint16(y), uint16(w), uint16(h)}, Encoding: e.s.Encoding}.Append(dst)
	if e.s.Encoding == EncodingRaw {
		for r := 0; r < h; r++ {
			row := img.Pix[(y+r)*img.Stride+x : (y+r)*img.Stride+x+w]
			wire := e.te.wire[:w]
			e.conv.ConvertRow(wire, row)
			dst = appendPixels(dst, e.pix, wire)
		}
		return dst
	}
	lenAt := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	if !e.s.Deflate {
		// One stored deflate block: 00, LEN, ~LEN (LE), tile bytes.
		dst = append(dst, 0, 0, 0, 0, 0)
		start := len(dst)
		dst = e.te.appendTile(dst, img, x, y, w, h, solid)
		l := len(dst) - start
		dst[start-4], dst[start-3], dst[start-2], dst[start-1] = byte(l), byte(l>>8), ^byte(l), ^byte(l>>8)
	} else {
		e.tile = e.te.appendTile(e.tile[:0], img, x, y, w, h, solid)
		e.zout.b = dst
		// Writes to appendWriter never fail, so neither do these.
		_, _ = e.zw.Write(e.tile)
		_ = e.zw.Flush()
		dst = e.zout.b
		e.zout.b = nil
	}
	l := len(dst) - lenAt - 4
	dst[lenAt], dst[lenAt+1], dst[lenAt+2], dst[lenAt+3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
	return dst
}

// AppendDesktopSize appends a FramebufferUpdate announcing a new size with
// the DesktopSize pseudo-rectangle (−223); consoles then ask for a full,
// non-incremental update.
func AppendDesktopSize(dst []byte, w, h uint16) []byte {
	dst = (&FramebufferUpdate{NumRects: 1}).Append(dst)
	return RectHeader{Rect: Rect{W: w, H: h}, Encoding: EncodingDesktopSize}.Append(dst)
}

// AppendCopyRect appends a CopyRect rectangle (header and source position).
func AppendCopyRect(dst []byte, r Rect, srcX, srcY uint16) []byte {
	dst = RectHeader{Rect: r, Encoding: EncodingCopyRect}.Append(dst)
	return put16(put16(dst, srcX), srcY)
}
