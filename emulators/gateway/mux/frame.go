// Package mux multiplexes byte streams with window-based flow control over a
// message transport: the console↔gateway Noise channel (package p2p) and the
// gateway↔server control channel (package control) both carry it, so the two
// share one implementation and one specification (docs/protocols/
// console-gateway.md §5, gateway-control.md §4).
//
// A frame is one transport message: u8 type ‖ u32 stream id ‖ payload.
// Streams are opened by either side with a target string; the side that
// dialled the transport uses odd ids, the side that accepted it even ids,
// so both may open at once without a collision.
package mux

import (
	"encoding/binary"
	"fmt"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// Proto names this codec in errors.
const Proto = "oobtb-mux"

// FrameType is the first byte of a frame.
type FrameType uint8

const (
	FrameOpen     FrameType = 0x01 // payload: target, 1–255 bytes of UTF-8
	FrameOpenOK   FrameType = 0x02 // payload: empty
	FrameOpenFail FrameType = 0x03 // payload: reason, UTF-8, ≤ 1024 bytes
	FrameData     FrameType = 0x04 // payload: 1 … MaxData bytes
	FrameWindow   FrameType = 0x05 // payload: u32 increment, > 0
	FrameClose    FrameType = 0x06 // payload: optional reason, ≤ 1024 bytes
	FrameMessage  FrameType = 0x07 // stream 0; payload: application message
	FramePing     FrameType = 0x08 // stream 0; payload: 8 opaque bytes
	FramePong     FrameType = 0x09 // stream 0; payload: the ping's 8 bytes
)

func (t FrameType) String() string {
	switch t {
	case FrameOpen:
		return "OPEN"
	case FrameOpenOK:
		return "OPEN_OK"
	case FrameOpenFail:
		return "OPEN_FAIL"
	case FrameData:
		return "DATA"
	case FrameWindow:
		return "WINDOW"
	case FrameClose:
		return "CLOSE"
	case FrameMessage:
		return "MESSAGE"
	case FramePing:
		return "PING"
	case FramePong:
		return "PONG"
	}
	return fmt.Sprintf("FrameType(0x%02x)", uint8(t))
}

const (
	// HeaderLen is the frame header: type and stream id.
	HeaderLen = 5
	// InitialWindow is every stream's receive window in each direction at
	// open; it is a protocol constant, so no frame announces it.
	InitialWindow = 256 << 10
	// MaxTarget bounds an OPEN target.
	MaxTarget = 255
	// MaxReason bounds OPEN_FAIL and CLOSE reasons.
	MaxReason = 1024
)

// Frame is one decoded frame. Payload aliases the input.
type Frame struct {
	Type    FrameType
	Stream  uint32
	Payload []byte
}

// Append encodes f after b.
func (f Frame) Append(b []byte) []byte {
	b = append(b, byte(f.Type))
	b = binary.BigEndian.AppendUint32(b, f.Stream)
	return append(b, f.Payload...)
}

// Decode parses one frame of at most maxFrame bytes and checks each type's
// payload rules; errors are *wireerr.Error naming the field and offset.
func Decode(p []byte, maxFrame int) (Frame, error) {
	if len(p) < HeaderLen {
		return Frame{}, wireerr.Short(Proto, "frame", "header", 0, HeaderLen, len(p))
	}
	if len(p) > maxFrame {
		return Frame{}, wireerr.New(Proto, "frame", "length", 0, fmt.Sprintf("≤ %d bytes", maxFrame), fmt.Sprint(len(p)))
	}
	f := Frame{Type: FrameType(p[0]), Stream: binary.BigEndian.Uint32(p[1:5]), Payload: p[HeaderLen:]}
	msg := f.Type.String()
	switch f.Type {
	case FrameMessage, FramePing, FramePong:
		if f.Stream != 0 {
			return f, wireerr.New(Proto, msg, "stream", 1, "0", fmt.Sprint(f.Stream))
		}
		if f.Type != FrameMessage && len(f.Payload) != 8 {
			return f, wireerr.New(Proto, msg, "payload", HeaderLen, "8 bytes", fmt.Sprintf("%d bytes", len(f.Payload)))
		}
		return f, nil
	}
	if f.Stream == 0 {
		return f, wireerr.New(Proto, msg, "stream", 1, "non-zero", "0")
	}
	switch f.Type {
	case FrameOpen:
		if len(f.Payload) < 1 || len(f.Payload) > MaxTarget {
			return f, wireerr.New(Proto, msg, "target", HeaderLen, fmt.Sprintf("1–%d bytes", MaxTarget), fmt.Sprintf("%d bytes", len(f.Payload)))
		}
	case FrameOpenOK:
		if len(f.Payload) != 0 {
			return f, wireerr.New(Proto, msg, "payload", HeaderLen, "empty", fmt.Sprintf("%d bytes", len(f.Payload)))
		}
	case FrameOpenFail, FrameClose:
		if len(f.Payload) > MaxReason {
			return f, wireerr.New(Proto, msg, "reason", HeaderLen, fmt.Sprintf("≤ %d bytes", MaxReason), fmt.Sprintf("%d bytes", len(f.Payload)))
		}
	case FrameData:
		if len(f.Payload) == 0 {
			return f, wireerr.New(Proto, msg, "payload", HeaderLen, "≥ 1 byte", "0 bytes")
		}
	case FrameWindow:
		if len(f.Payload) != 4 {
			return f, wireerr.New(Proto, msg, "increment", HeaderLen, "4 bytes", fmt.Sprintf("%d bytes", len(f.Payload)))
		}
		if binary.BigEndian.Uint32(f.Payload) == 0 {
			return f, wireerr.New(Proto, msg, "increment", HeaderLen, "> 0", "0")
		}
	default:
		return f, wireerr.New(Proto, "frame", "type", 0, "0x01–0x09", fmt.Sprintf("0x%02x", uint8(f.Type)))
	}
	return f, nil
}
