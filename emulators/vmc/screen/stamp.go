package screen

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// The frame stamp is 128 bits drawn at the top-left corner as a 16×8 grid
// of 8×8 blocks (128×64 pixels, exactly tiles (0,0) and (1,0)), pure white
// for 1 and pure black for 0, row-major, most significant bit of each byte
// first. Pure black and white survive every pixel format the KVM server
// offers (RGB565, RGB332, 8-bit grey) unchanged in meaning.
//
//	bytes 0-1   magic 0xB7 0x1E
//	byte  2     version (1)
//	byte  3     workload number
//	bytes 4-7   frame counter, big endian
//	bytes 8-11  id of the last input event applied, big endian
//	bytes 12-15 CRC-32 (IEEE) of bytes 0-11, big endian
const (
	StampBlock  = 8
	StampCols   = 16
	StampRows   = 8
	StampWidth  = StampCols * StampBlock // 128
	StampHeight = StampRows * StampBlock // 64
	StampBytes  = StampCols * StampRows / 8

	stampMagic0  = 0xB7
	stampMagic1  = 0x1E
	stampVersion = 1
	stampProto   = "stamp"
	stampMsg     = "frame stamp"
)

// Stamp is what a frame says about itself.
type Stamp struct {
	Frame    uint32   // frames produced since the screen was created
	InputID  uint32   // id of the last keyboard or pointer event applied
	Workload Workload // what the screen was showing
}

// Bytes is the stamp's 16-byte payload.
func (s Stamp) Bytes() [StampBytes]byte {
	var b [StampBytes]byte
	b[0], b[1], b[2], b[3] = stampMagic0, stampMagic1, stampVersion, byte(s.Workload)
	binary.BigEndian.PutUint32(b[4:], s.Frame)
	binary.BigEndian.PutUint32(b[8:], s.InputID)
	binary.BigEndian.PutUint32(b[12:], crc32.ChecksumIEEE(b[:12]))
	return b
}

// ParseStampBytes checks and decodes a 16-byte payload.
func ParseStampBytes(b []byte) (Stamp, error) {
	if len(b) < StampBytes {
		return Stamp{}, wireerr.Short(stampProto, stampMsg, "payload", 0, StampBytes, len(b))
	}
	if b[0] != stampMagic0 || b[1] != stampMagic1 {
		return Stamp{}, wireerr.New(stampProto, stampMsg, "magic", 0,
			fmt.Sprintf("%02x%02x", stampMagic0, stampMagic1), fmt.Sprintf("%02x%02x", b[0], b[1]))
	}
	if b[2] != stampVersion {
		return Stamp{}, wireerr.New(stampProto, stampMsg, "version", 2, fmt.Sprint(stampVersion), fmt.Sprint(b[2]))
	}
	want := crc32.ChecksumIEEE(b[:12])
	if got := binary.BigEndian.Uint32(b[12:]); got != want {
		return Stamp{}, wireerr.New(stampProto, stampMsg, "checksum", 12, fmt.Sprintf("%08x", want), fmt.Sprintf("%08x", got))
	}
	if b[3] >= byte(numWorkloads) {
		return Stamp{}, wireerr.New(stampProto, stampMsg, "workload", 3, fmt.Sprintf("0..%d", numWorkloads-1), fmt.Sprint(b[3]))
	}
	return Stamp{
		Frame:    binary.BigEndian.Uint32(b[4:]),
		InputID:  binary.BigEndian.Uint32(b[8:]),
		Workload: Workload(b[3]),
	}, nil
}

const (
	black uint32 = 0x000000
	white uint32 = 0xFFFFFF
)

// draw paints the stamp onto c (clipped to c).
func (s Stamp) draw(c canvas) {
	if !c.overlaps(0, 0, StampWidth, StampHeight) {
		return
	}
	b := s.Bytes()
	for i := 0; i < StampCols*StampRows; i++ {
		p := black
		if b[i>>3]&(0x80>>(i&7)) != 0 {
			p = white
		}
		x, y := (i%StampCols)*StampBlock, (i/StampCols)*StampBlock
		c.fill(x, y, x+StampBlock, y+StampBlock, p)
	}
}

// DecodeStamp reads the stamp at the top-left of a frame as a console
// reconstructed it, in any colour depth expanded back to 0x00RRGGBB. Each
// block's central 4×4 pixels must agree; brightness above half is a 1.
// A frame without a stamp (black screen, corrupted or non-vMC frame) is an
// error.
func DecodeStamp(img *framebuf.Image) (Stamp, error) {
	if img == nil || img.W < StampWidth || img.H < StampHeight || img.Stride < img.W ||
		len(img.Pix) < (StampHeight-1)*img.Stride+StampWidth {
		got := "no image"
		if img != nil {
			got = fmt.Sprintf("%dx%d", img.W, img.H)
		}
		return Stamp{}, wireerr.New(stampProto, stampMsg, "frame size", 0,
			fmt.Sprintf("at least %dx%d", StampWidth, StampHeight), got)
	}
	var b [StampBytes]byte
	for i := 0; i < StampCols*StampRows; i++ {
		x0, y0 := (i%StampCols)*StampBlock, (i/StampCols)*StampBlock
		ones := 0
		for y := y0 + 2; y < y0+6; y++ {
			for x := x0 + 2; x < x0+6; x++ {
				if bright(img.Pix[y*img.Stride+x]) {
					ones++
				}
			}
		}
		switch ones {
		case 16:
			b[i>>3] |= 0x80 >> (i & 7)
		case 0:
		default:
			return Stamp{}, wireerr.New(stampProto, stampMsg, fmt.Sprintf("block %d,%d", i%StampCols, i/StampCols), i>>3,
				"uniform black or white", fmt.Sprintf("%d of 16 pixels bright", ones))
		}
	}
	return ParseStampBytes(b[:])
}

func bright(p uint32) bool {
	return (p>>16&0xFF)+(p>>8&0xFF)+(p&0xFF) >= 3*128
}
