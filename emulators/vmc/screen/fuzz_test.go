package screen_test

import (
	"testing"

	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
)

// FuzzParseStampBytes: any payload parses or fails cleanly, and whatever
// parses re-encodes to the same bytes.
func FuzzParseStampBytes(f *testing.F) {
	good := screen.Stamp{Frame: 7, InputID: 99, Workload: screen.W2Terminal}.Bytes()
	f.Add(good[:])
	f.Add(good[:8])
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := screen.ParseStampBytes(b)
		if err != nil {
			return
		}
		if re := st.Bytes(); string(re[:]) != string(b[:screen.StampBytes]) {
			t.Fatalf("re-encoded %x, parsed from %x", re, b[:screen.StampBytes])
		}
	})
}

// stampImage builds a frame from fuzz bytes: two bytes of size, then one
// byte per 8×8 block (below 0x80 black, 0x80 white, above that a mix of
// both inside the block), wrapping around.
func stampImage(b []byte) *framebuf.Image {
	if len(b) < 2 {
		return nil
	}
	w, h := 100+int(b[0]), 40+int(b[1]%64)
	img, _ := framebuf.New(w, h)
	body := b[2:]
	if len(body) == 0 {
		return img
	}
	for by := 0; by*8 < h; by++ {
		for bx := 0; bx*8 < w; bx++ {
			v := body[(by*((w+7)/8)+bx)%len(body)]
			switch {
			case v < 0x80:
			case v == 0x80:
				img.Fill(bx*8, by*8, bx*8+8, by*8+8, 0xFFFFFF)
			default:
				img.Set(bx*8+int(v&7), by*8+int(v>>3&7), uint32(v)*0x010101)
			}
		}
	}
	return img
}

// FuzzDecodeStamp: arbitrary frames never panic, and a decoded stamp drawn
// back decodes the same.
func FuzzDecodeStamp(f *testing.F) {
	s, err := screen.New(screen.Config{Width: 320, Height: 200})
	if err != nil {
		f.Fatal(err)
	}
	img := s.Image()
	seed := []byte{byte(img.W - 100), 24}
	for by := 0; by < 8; by++ {
		for bx := 0; bx < (img.W+7)/8; bx++ {
			if img.At(bx*8+4, by*8+4) != 0 {
				seed = append(seed, 0x80)
			} else {
				seed = append(seed, 0)
			}
		}
	}
	if _, err := screen.DecodeStamp(stampImage(seed)); err != nil {
		f.Fatalf("the seed frame must decode: %v", err)
	}
	f.Add(seed)
	f.Add([]byte{28, 24, 0x80, 0, 0x81, 0xff})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := screen.DecodeStamp(stampImage(b))
		if err != nil {
			return
		}
		pb := st.Bytes()
		if again, err := screen.ParseStampBytes(pb[:]); err != nil || again != st {
			t.Fatalf("decoded %+v does not round-trip: %+v, %v", st, again, err)
		}
	})
}
