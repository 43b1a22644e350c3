package rfb

import "fmt"

// Server message types (RFC 6143 §7.6). AMT consoles understand only 0, 2 and 3.
const (
	TypeFramebufferUpdate   uint8 = 0
	TypeSetColourMapEntries uint8 = 1
	TypeBell                uint8 = 2
	TypeServerCutText       uint8 = 3
)

// ServerMsg is a server-to-client message.
type ServerMsg interface {
	Type() uint8
	Append(b []byte) []byte
}

// FramebufferUpdate is the 4-byte header; NumRects rectangles follow, each a
// RectHeader and an encoding-specific body (see Decoder for the stream).
// AMT consoles hang on NumRects == 0, so encoders never send it.
type FramebufferUpdate struct{ NumRects uint16 }

func (*FramebufferUpdate) Type() uint8 { return TypeFramebufferUpdate }
func (m *FramebufferUpdate) Append(b []byte) []byte {
	return put16(append(b, TypeFramebufferUpdate, 0), m.NumRects)
}

// RectHeader is the 12-byte rectangle header.
type RectHeader struct {
	Rect     Rect
	Encoding int32
}

// RectHeaderLen is the wire size of a RectHeader.
const RectHeaderLen = 12

func (h RectHeader) Append(b []byte) []byte { return put32(appendRect(b, h.Rect), uint32(h.Encoding)) }

// DecodeRectHeader reads a rectangle header.
func DecodeRectHeader(b []byte) (RectHeader, error) {
	if len(b) < RectHeaderLen {
		return RectHeader{}, short("rectangle", "encoding-type", RectHeaderLen, len(b))
	}
	return RectHeader{Rect: readRect(b), Encoding: int32(be32(b[8:]))}, nil
}

// Bell (1 byte).
type Bell struct{}

func (*Bell) Type() uint8            { return TypeBell }
func (*Bell) Append(b []byte) []byte { return append(b, TypeBell) }

// ServerCutText carries clipboard text or Intel's extensions (cuttext.go).
type ServerCutText struct{ Text []byte }

func (*ServerCutText) Type() uint8              { return TypeServerCutText }
func (m *ServerCutText) Append(b []byte) []byte { return appendCutText(b, TypeServerCutText, m.Text) }

// Colour is one SetColourMapEntries entry (16-bit channels).
type Colour struct{ R, G, B uint16 }

// SetColourMapEntries is decoded for completeness only: AMT consoles cannot
// take it and this package never builds colour-mapped output.
type SetColourMapEntries struct {
	First   uint16
	Colours []Colour
}

func (*SetColourMapEntries) Type() uint8 { return TypeSetColourMapEntries }
func (m *SetColourMapEntries) Append(b []byte) []byte {
	b = put16(put16(append(b, TypeSetColourMapEntries, 0), m.First), uint16(len(m.Colours)))
	for _, c := range m.Colours {
		b = put16(put16(put16(b, c.R), c.G), c.B)
	}
	return b
}

// DecodeServerMsg cuts one server message from the front of b. For a
// FramebufferUpdate only the 4-byte header is consumed; the rectangles
// follow (Decoder handles them). The result does not alias b.
func DecodeServerMsg(b []byte) (ServerMsg, int, error) {
	if len(b) < 1 {
		return nil, 0, short("server message", "message-type", 1, 0)
	}
	switch b[0] {
	case TypeFramebufferUpdate:
		if len(b) < 4 {
			return nil, 0, short("FramebufferUpdate", "number-of-rectangles", 4, len(b))
		}
		return &FramebufferUpdate{NumRects: be16(b[2:])}, 4, nil
	case TypeSetColourMapEntries:
		if len(b) < 6 {
			return nil, 0, short("SetColourMapEntries", "number-of-colours", 6, len(b))
		}
		first, c := be16(b[2:]), int(be16(b[4:]))
		if c > MaxColours || int(first)+c > 1<<16 {
			return nil, 0, bad("SetColourMapEntries", "number-of-colours", 4, fmt.Sprintf("at most %d inside the map", MaxColours), fmt.Sprint(c))
		}
		n := 6 + 6*c
		if len(b) < n {
			return nil, 0, short("SetColourMapEntries", "colours", n, len(b))
		}
		m := &SetColourMapEntries{First: first, Colours: make([]Colour, c)}
		for i := range m.Colours {
			o := 6 + 6*i
			m.Colours[i] = Colour{be16(b[o:]), be16(b[o+2:]), be16(b[o+4:])}
		}
		return m, n, nil
	case TypeBell:
		return &Bell{}, 1, nil
	case TypeServerCutText:
		t, n, err := decodeCutText(b, "ServerCutText")
		if err != nil {
			return nil, 0, err
		}
		return &ServerCutText{Text: t}, n, nil
	default:
		return nil, 0, bad("server message", "message-type", 0, "0, 1, 2 or 3", fmt.Sprint(b[0]))
	}
}
