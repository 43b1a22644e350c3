package rfb

import "fmt"

// Client message types (RFC 6143 §7.5).
const (
	TypeSetPixelFormat           uint8 = 0
	TypeSetEncodings             uint8 = 2
	TypeFramebufferUpdateRequest uint8 = 3
	TypeKeyEvent                 uint8 = 4
	TypePointerEvent             uint8 = 5
	TypeClientCutText            uint8 = 6
)

// ClientMsg is a client-to-server message.
type ClientMsg interface {
	Type() uint8
	Append(b []byte) []byte
}

// SetPixelFormat (20 bytes).
type SetPixelFormat struct{ Format PixelFormat }

func (*SetPixelFormat) Type() uint8 { return TypeSetPixelFormat }
func (m *SetPixelFormat) Append(b []byte) []byte {
	return m.Format.Append(append(b, TypeSetPixelFormat, 0, 0, 0))
}

// SetEncodings lists the encodings the client accepts, preferred first.
type SetEncodings struct{ Encodings []int32 }

// AMTConsoleEncodings is the list MeshCentral and ui-toolkit send.
var AMTConsoleEncodings = []int32{EncodingAMT16, EncodingRaw, EncodingKVMDataChannel, EncodingDesktopSize}

func (*SetEncodings) Type() uint8 { return TypeSetEncodings }
func (m *SetEncodings) Append(b []byte) []byte {
	e := m.Encodings
	if len(e) > MaxEncodings {
		e = e[:MaxEncodings]
	}
	b = put16(append(b, TypeSetEncodings, 0), uint16(len(e)))
	for _, v := range e {
		b = put32(b, uint32(v))
	}
	return b
}

// Has reports whether enc is listed.
func (m *SetEncodings) Has(enc int32) bool {
	for _, v := range m.Encodings {
		if v == enc {
			return true
		}
	}
	return false
}

// FramebufferUpdateRequest (10 bytes).
type FramebufferUpdateRequest struct {
	Incremental bool
	Rect        Rect
}

func (*FramebufferUpdateRequest) Type() uint8 { return TypeFramebufferUpdateRequest }
func (m *FramebufferUpdateRequest) Append(b []byte) []byte {
	return appendRect(append(b, TypeFramebufferUpdateRequest, b2u(m.Incremental)), m.Rect)
}

// KeyEvent (8 bytes).
type KeyEvent struct {
	Down bool
	Key  uint32 // X keysym
}

// Keysyms the consoles send for Ctrl-Alt-Del.
const (
	KeyControlL uint32 = 0xFFE3
	KeyAltL     uint32 = 0xFFE9
	KeyDelete   uint32 = 0xFFFF
)

func (*KeyEvent) Type() uint8 { return TypeKeyEvent }
func (m *KeyEvent) Append(b []byte) []byte {
	return put32(append(b, TypeKeyEvent, b2u(m.Down), 0, 0), m.Key)
}

// Pointer button mask bits.
const (
	ButtonLeft      uint8 = 1
	ButtonMiddle    uint8 = 2
	ButtonRight     uint8 = 4
	ButtonWheelUp   uint8 = 8
	ButtonWheelDown uint8 = 16
)

// PointerEvent (6 bytes).
type PointerEvent struct {
	Mask uint8
	X, Y uint16
}

func (*PointerEvent) Type() uint8 { return TypePointerEvent }
func (m *PointerEvent) Append(b []byte) []byte {
	return put16(put16(append(b, TypePointerEvent, m.Mask), m.X), m.Y)
}

// ClientCutText carries clipboard text or Intel's extensions (cuttext.go).
type ClientCutText struct{ Text []byte }

func (*ClientCutText) Type() uint8              { return TypeClientCutText }
func (m *ClientCutText) Append(b []byte) []byte { return appendCutText(b, TypeClientCutText, m.Text) }

func appendCutText(b []byte, typ uint8, t []byte) []byte {
	if len(t) > MaxCutText {
		t = t[:MaxCutText]
	}
	b = put32(append(b, typ, 0, 0, 0), uint32(len(t)))
	return append(b, t...)
}

func appendRect(b []byte, r Rect) []byte {
	return put16(put16(put16(put16(b, r.X), r.Y), r.W), r.H)
}

func readRect(b []byte) Rect {
	return Rect{X: be16(b), Y: be16(b[2:]), W: be16(b[4:]), H: be16(b[6:])}
}

// DecodeClientMsg cuts one client message from the front of b. The result
// does not alias b.
func DecodeClientMsg(b []byte) (ClientMsg, int, error) {
	if len(b) < 1 {
		return nil, 0, short("client message", "message-type", 1, 0)
	}
	switch b[0] {
	case TypeSetPixelFormat:
		if len(b) < 20 {
			return nil, 0, short("SetPixelFormat", "pixel-format", 20, len(b))
		}
		pf, _ := ParsePixelFormat(b[4:20])
		return &SetPixelFormat{Format: pf}, 20, nil
	case TypeSetEncodings:
		if len(b) < 4 {
			return nil, 0, short("SetEncodings", "number-of-encodings", 4, len(b))
		}
		c := int(be16(b[2:]))
		if c > MaxEncodings {
			return nil, 0, bad("SetEncodings", "number-of-encodings", 2, fmt.Sprintf("at most %d", MaxEncodings), fmt.Sprint(c))
		}
		n := 4 + 4*c
		if len(b) < n {
			return nil, 0, short("SetEncodings", "encoding-type", n, len(b))
		}
		m := &SetEncodings{Encodings: make([]int32, c)}
		for i := range m.Encodings {
			m.Encodings[i] = int32(be32(b[4+4*i:]))
		}
		return m, n, nil
	case TypeFramebufferUpdateRequest:
		if len(b) < 10 {
			return nil, 0, short("FramebufferUpdateRequest", "rectangle", 10, len(b))
		}
		return &FramebufferUpdateRequest{Incremental: b[1] != 0, Rect: readRect(b[2:])}, 10, nil
	case TypeKeyEvent:
		if len(b) < 8 {
			return nil, 0, short("KeyEvent", "key", 8, len(b))
		}
		return &KeyEvent{Down: b[1] != 0, Key: be32(b[4:])}, 8, nil
	case TypePointerEvent:
		if len(b) < 6 {
			return nil, 0, short("PointerEvent", "position", 6, len(b))
		}
		return &PointerEvent{Mask: b[1], X: be16(b[2:]), Y: be16(b[4:])}, 6, nil
	case TypeClientCutText:
		t, n, err := decodeCutText(b, "ClientCutText")
		if err != nil {
			return nil, 0, err
		}
		return &ClientCutText{Text: t}, n, nil
	default:
		return nil, 0, bad("client message", "message-type", 0, "0, 2, 3, 4, 5 or 6", fmt.Sprint(b[0]))
	}
}

func decodeCutText(b []byte, msg string) ([]byte, int, error) {
	if len(b) < 8 {
		return nil, 0, short(msg, "length", 8, len(b))
	}
	l := be32(b[4:])
	if l > MaxCutText {
		return nil, 0, bad(msg, "length", 4, fmt.Sprintf("at most %d", MaxCutText), fmt.Sprint(l))
	}
	n := 8 + int(l)
	if len(b) < n {
		return nil, 0, short(msg, "text", n, len(b))
	}
	return append([]byte{}, b[8:n]...), n, nil
}
