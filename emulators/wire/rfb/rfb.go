// Package rfb is the codec for RFB (RFC 6143) as Intel AMT speaks it over the
// redirection protocol: the handshake pieces, every client and server
// message, the pixel formats AMT consoles use, the Raw, CopyRect and
// DesktopSize encodings, and AMT's encoding 16 — a ZRLE relative that ships
// one ≤64×64 tile per rectangle, normally as a single stored deflate block.
//
// Byte order: RFB integers are big-endian; pixels follow the negotiated pixel
// format (AMT's default RGB565 is little-endian on the wire). The package is
// pure: no I/O, no goroutines, no clocks. The frame Encoder and Decoder keep
// the per-session state (pixel format, persistent deflate stream) that the
// encoding needs. Layouts: docs/protocols/rfb.md (reference §2.5).
package rfb

import (
	"encoding/binary"
	"fmt"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// Proto is the protocol name carried in every *wireerr.Error of this package.
const Proto = "RFB"

// ErrShort is matched (errors.Is) by errors for a valid but incomplete prefix.
var ErrShort = wireerr.ErrShort

// Encodings and pseudo-encodings (RFC 6143 §7.7, reference §2.5).
const (
	EncodingRaw            int32 = 0
	EncodingCopyRect       int32 = 1
	EncodingAMT16          int32 = 16 // ZRLE's number; AMT's one-tile "RLE"
	EncodingDesktopSize    int32 = -223
	EncodingKVMDataChannel int32 = 1092
)

// TileSize is the side of AMT's tiles; Raw and encoding-16 rectangles may not
// be larger on either side.
const TileSize = 64

// Limits bounding every embedded length.
const (
	MaxCutText   = 1 << 20 // bytes of cut text in one message
	MaxEncodings = 1024    // entries in SetEncodings
	MaxName      = 4096    // ServerInit desktop name
	MaxReason    = 4096    // failure reason strings
	MaxRectData  = 1 << 17 // encoding-16 datalen; a 64×64 tile is at most ~20 KiB
	MaxColours   = 256     // SetColourMapEntries entries accepted
)

// Rect is a rectangle in framebuffer coordinates.
type Rect struct {
	X, Y, W, H uint16
}

func (r Rect) String() string { return fmt.Sprintf("%dx%d+%d+%d", r.W, r.H, r.X, r.Y) }

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

func put16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func put32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

func short(msg, field string, need, have int) error {
	return wireerr.Short(Proto, msg, field, have, need, have)
}

func bad(msg, field string, off int, expected, got string) error {
	return wireerr.New(Proto, msg, field, off, expected, got)
}
