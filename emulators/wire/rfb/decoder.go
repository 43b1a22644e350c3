package rfb

import (
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/oobtb/oobtb/emulators/framebuf"
)

// EventKind says what Decoder.Next consumed.
type EventKind uint8

const (
	EventUpdateBegin EventKind = iota // FramebufferUpdate header; NumRects follow
	EventRect                         // a pixel rectangle applied to the image
	EventDesktopSize                  // the image was replaced by one of the new size
	EventBell
	EventCutText   // ServerCutText; see ParseCutText for Intel's extensions
	EventColourMap // SetColourMapEntries (AMT servers never send it; ignored)
)

// Event is one unit of the server stream.
type Event struct {
	Kind     EventKind
	NumRects int // EventUpdateBegin
	// Rect and Encoding describe a rectangle (EventRect, EventDesktopSize).
	Rect     Rect
	Encoding int32
	// Subencoding is the encoding-16 tile subencoding, Stored whether the
	// rectangle used the stored-block fast path.
	Subencoding uint8
	Stored      bool
	// Last marks the final rectangle of the update: time to request the next.
	Last bool
	Text []byte // EventCutText
}

// Decoder is the console side: it consumes the server's message stream
// after ServerInit and applies rectangles to an image. It holds the pixel
// format and the encoding-16 inflate stream. Not safe for concurrent use.
type Decoder struct {
	// MaxArea bounds the pixels a DesktopSize may ask for.
	MaxArea int

	conv      *Converter
	pix       pixelCodec
	td        tileDecoder
	img       *framebuf.Image
	rectsLeft int
	inf       inflater
	tile      []byte
}

// NewDecoder returns a decoder for pixel format pf drawing into img.
func NewDecoder(pf PixelFormat, img *framebuf.Image) (*Decoder, error) {
	if img == nil {
		return nil, fmt.Errorf("rfb: decoder needs an image")
	}
	d := &Decoder{MaxArea: framebuf.MaxSide * framebuf.MaxSide, img: img, tile: make([]byte, 0, 1+TileSize*TileSize*4)}
	if err := d.SetPixelFormat(pf); err != nil {
		return nil, err
	}
	return d, nil
}

// SetPixelFormat changes the format; call it when sending SetPixelFormat.
func (d *Decoder) SetPixelFormat(pf PixelFormat) error {
	c, err := NewConverter(pf)
	if err != nil {
		return err
	}
	d.conv, d.pix = c, newPixelCodec(pf)
	d.td.conv, d.td.cp = c, newCPixelCodec(pf)
	return nil
}

// Image returns the current image (replaced by a DesktopSize rectangle).
func (d *Decoder) Image() *framebuf.Image { return d.img }

// InUpdate reports whether rectangles of an update are still expected.
func (d *Decoder) InUpdate() bool { return d.rectsLeft > 0 }

// Next consumes one unit from the front of b — a server message, or inside
// an update one whole rectangle — and returns what it was and how many
// bytes it used. With an incomplete unit it returns an error matching
// ErrShort and consumes nothing: append more bytes and call again. Other
// errors are malformed input; the session cannot continue after them.
func (d *Decoder) Next(b []byte) (Event, int, error) {
	if d.rectsLeft > 0 {
		return d.nextRect(b)
	}
	if len(b) >= 4 && b[0] == TypeFramebufferUpdate { // the hot case, without boxing a message
		nr := be16(b[2:])
		d.rectsLeft = int(nr)
		return Event{Kind: EventUpdateBegin, NumRects: int(nr), Last: nr == 0}, 4, nil
	}
	m, n, err := DecodeServerMsg(b)
	if err != nil {
		return Event{}, 0, err
	}
	switch m := m.(type) {
	case *FramebufferUpdate:
		d.rectsLeft = int(m.NumRects)
		return Event{Kind: EventUpdateBegin, NumRects: int(m.NumRects), Last: m.NumRects == 0}, n, nil
	case *Bell:
		return Event{Kind: EventBell}, n, nil
	case *ServerCutText:
		return Event{Kind: EventCutText, Text: m.Text}, n, nil
	default:
		return Event{Kind: EventColourMap}, n, nil
	}
}

const rectMsg = "rectangle"

func (d *Decoder) nextRect(b []byte) (Event, int, error) {
	h, err := DecodeRectHeader(b)
	if err != nil {
		return Event{}, 0, err
	}
	r := h.Rect
	ev := Event{Kind: EventRect, Rect: r, Encoding: h.Encoding, Last: d.rectsLeft == 1}
	x, y, w, ht := int(r.X), int(r.Y), int(r.W), int(r.H)
	inside := func() error {
		if x+w > d.img.W || y+ht > d.img.H {
			return bad(rectMsg, "position", 0, fmt.Sprintf("inside the %dx%d framebuffer", d.img.W, d.img.H), r.String())
		}
		return nil
	}
	tileSize := func() error {
		if w < 1 || w > TileSize || ht < 1 || ht > TileSize {
			return bad(rectMsg, "size", 4, "width and height 1..64 (AMT tiles)", fmt.Sprintf("%dx%d", w, ht))
		}
		return inside()
	}
	n := RectHeaderLen
	switch h.Encoding {
	case EncodingRaw:
		if err := tileSize(); err != nil {
			return Event{}, 0, err
		}
		bpp := d.pix.size
		n += w * ht * bpp
		if len(b) < n {
			return Event{}, 0, short(rectMsg, "raw pixels", n, len(b))
		}
		p := b[RectHeaderLen:n]
		for row := 0; row < ht; row++ {
			dst := d.img.Pix[(y+row)*d.img.Stride+x : (y+row)*d.img.Stride+x+w]
			src := p[row*w*bpp : (row+1)*w*bpp]
			switch {
			case bpp == 1:
				for i := range dst {
					dst[i] = d.conv.ToRGB(uint32(src[i]))
				}
			case bpp == 2 && !d.pix.be:
				for i := range dst {
					dst[i] = d.conv.ToRGB(uint32(src[2*i]) | uint32(src[2*i+1])<<8)
				}
			default:
				for i := range dst {
					dst[i] = d.conv.ToRGB(d.pix.get(src[i*bpp:]))
				}
			}
		}
	case EncodingCopyRect:
		n += 4
		if len(b) < n {
			return Event{}, 0, short(rectMsg, "source position", n, len(b))
		}
		if err := inside(); err != nil {
			return Event{}, 0, err
		}
		sx, sy := int(be16(b[12:])), int(be16(b[14:]))
		if sx+w > d.img.W || sy+ht > d.img.H {
			return Event{}, 0, bad(rectMsg, "source position", 12, "a source inside the framebuffer", fmt.Sprintf("%d,%d", sx, sy))
		}
		copyRect(d.img, x, y, w, ht, sx, sy)
	case EncodingDesktopSize:
		if w < 1 || ht < 1 || w > framebuf.MaxSide || ht > framebuf.MaxSide || w*ht > d.MaxArea {
			return Event{}, 0, bad(rectMsg, "size", 4, fmt.Sprintf("a desktop of 1..%d pixels a side and at most %d pixels", framebuf.MaxSide, d.MaxArea), fmt.Sprintf("%dx%d", w, ht))
		}
		img, err := framebuf.New(w, ht)
		if err != nil {
			return Event{}, 0, bad(rectMsg, "size", 4, "a valid desktop size", err.Error())
		}
		d.img = img
		ev.Kind = EventDesktopSize
	case EncodingAMT16:
		if err := tileSize(); err != nil {
			return Event{}, 0, err
		}
		if len(b) < n+4 {
			return Event{}, 0, short(rectMsg, "datalen", n+4, len(b))
		}
		dl := int(be32(b[n:]))
		if dl > MaxRectData || dl < 1 {
			return Event{}, 0, bad(rectMsg, "datalen", n, fmt.Sprintf("1..%d", MaxRectData), fmt.Sprint(dl))
		}
		n += 4 + dl
		if len(b) < n {
			return Event{}, 0, short(rectMsg, "data", n, len(b))
		}
		data := b[RectHeaderLen+4 : n]
		if err := d.decode16(&ev, data, x, y, w, ht); err != nil {
			return Event{}, 0, err
		}
	default:
		return Event{}, 0, bad(rectMsg, "encoding-type", 8, "0, 1, 16 or -223", fmt.Sprint(h.Encoding))
	}
	d.rectsLeft--
	return ev, n, nil
}

// decode16 applies one encoding-16 rectangle's data.
func (d *Decoder) decode16(ev *Event, data []byte, x, y, w, h int) error {
	// The consoles' fast path: a lone stored block whose LEN covers the rest.
	if len(data) > 5 && data[0] == 0 && int(binary.LittleEndian.Uint16(data[1:])) == len(data)-5 {
		tile := data[5:]
		used, err := d.td.decode(tile, d.img, x, y, w, h)
		if err != nil {
			return err
		}
		if used != len(tile) {
			return bad(tileMsg, "stored block", used, fmt.Sprintf("a tile of %d bytes filling the block", len(tile)), fmt.Sprintf("%d bytes", used))
		}
		ev.Subencoding, ev.Stored = tile[0], true
		return nil
	}
	r, err := d.inf.feed(data)
	if err != nil {
		return err
	}
	d.tile, err = readTile(r, d.tile, w, h, d.td.cp)
	if err != nil {
		d.inf.err = err // the stream is out of step from here on
		return err
	}
	if _, err := d.td.decode(d.tile, d.img, x, y, w, h); err != nil {
		return err
	}
	ev.Subencoding = d.tile[0]
	return nil
}

func copyRect(img *framebuf.Image, x, y, w, h, sx, sy int) {
	if sy < y { // overlapping downward move: copy bottom-up
		for r := h - 1; r >= 0; r-- {
			copy(img.Pix[(y+r)*img.Stride+x:(y+r)*img.Stride+x+w], img.Pix[(sy+r)*img.Stride+sx:])
		}
		return
	}
	for r := 0; r < h; r++ {
		copy(img.Pix[(y+r)*img.Stride+x:(y+r)*img.Stride+x+w], img.Pix[(sy+r)*img.Stride+sx:])
	}
}

// inflater is the persistent encoding-16 deflate stream. MeshCentral's
// inflater takes raw deflate and ui-toolkit's a zlib stream; this one takes
// either, by looking for a zlib header in the first compressed rectangle.
type inflater struct {
	q   byteQueue
	fr  io.ReadCloser
	err error
}

func (f *inflater) feed(data []byte) (io.Reader, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.q.push(data)
	if f.fr == nil {
		b := f.q.b[f.q.off:]
		if len(b) >= 2 && b[0]&0x0F == 8 && b[0]>>4 <= 7 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0 {
			if b[1]&0x20 != 0 {
				f.err = bad(tileMsg, "zlib header", 1, "no preset dictionary", fmt.Sprintf("FLG 0x%02x", b[1]))
				return nil, f.err
			}
			f.q.off += 2
		}
		f.fr = flate.NewReader(&f.q)
	}
	return f.fr, nil
}

// byteQueue holds compressed bytes not yet consumed by the inflater; it is
// an io.ByteReader so flate reads exactly what it needs and no further.
type byteQueue struct {
	b   []byte
	off int
}

func (q *byteQueue) push(p []byte) {
	if q.off > 0 {
		n := copy(q.b, q.b[q.off:])
		q.b, q.off = q.b[:n], 0
	}
	q.b = append(q.b, p...)
}

func (q *byteQueue) Read(p []byte) (int, error) {
	if q.off >= len(q.b) {
		return 0, io.EOF
	}
	n := copy(p, q.b[q.off:])
	q.off += n
	return n, nil
}

func (q *byteQueue) ReadByte() (byte, error) {
	if q.off >= len(q.b) {
		return 0, io.EOF
	}
	c := q.b[q.off]
	q.off++
	return c, nil
}
