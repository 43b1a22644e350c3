package rfb_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

func mustWireErr(t *testing.T, err error) {
	t.Helper()
	var we *wireerr.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v (%T) is not a *wireerr.Error", err, err)
	}
}

// FuzzClientMsg: no panics, typed errors, stable re-encoding.
func FuzzClientMsg(f *testing.F) {
	for _, m := range []rfb.ClientMsg{
		&rfb.SetPixelFormat{Format: rfb.PF332}, &rfb.SetEncodings{Encodings: rfb.AMTConsoleEncodings},
		&rfb.FramebufferUpdateRequest{Incremental: true, Rect: rfb.Rect{W: 1920, H: 1080}},
		&rfb.KeyEvent{Down: true, Key: 0xFFE3}, &rfb.PointerEvent{Mask: 1, X: 5, Y: 6},
		&rfb.ClientCutText{Text: rfb.AppendExtCmd(nil, 4, 1)},
	} {
		f.Add(m.Append(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n, err := rfb.DecodeClientMsg(b)
		if err != nil {
			mustWireErr(t, err)
			return
		}
		if n < 1 || n > len(b) {
			t.Fatalf("used %d of %d", n, len(b))
		}
		m2, _, err := rfb.DecodeClientMsg(m.Append(nil))
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-decode: %v %#v %#v", err, m, m2)
		}
	})
}

// FuzzServerMsg: no panics, typed errors, stable re-encoding.
func FuzzServerMsg(f *testing.F) {
	for _, m := range []rfb.ServerMsg{
		&rfb.FramebufferUpdate{NumRects: 3}, &rfb.Bell{}, &rfb.ServerCutText{Text: []byte("\x00KvmDataChannel\x00")},
		&rfb.SetColourMapEntries{First: 0, Colours: []rfb.Colour{{1, 2, 3}}},
	} {
		f.Add(m.Append(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n, err := rfb.DecodeServerMsg(b)
		if err != nil {
			mustWireErr(t, err)
			return
		}
		if n < 1 || n > len(b) {
			t.Fatalf("used %d of %d", n, len(b))
		}
		m2, _, err := rfb.DecodeServerMsg(m.Append(nil))
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

// FuzzHandshake runs every handshake decoder and the CutText classifier.
func FuzzHandshake(f *testing.F) {
	f.Add([]byte("RFB 004.000\n"))
	f.Add([]byte{1, 1})
	f.Add(hx("00000001 0000000c \"bad password\""))
	f.Add(rfb.AMTServerInit(1024, 768).Append(nil))
	f.Add(rfb.AppendExtCmd(nil, 1, 2, 3))
	f.Add(rfb.PF565.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error) {
			if err != nil {
				mustWireErr(t, err)
			}
		}
		v, _, err := rfb.ParseVersion(b)
		check(err)
		if err == nil && string(v.Append(nil)) != string(b[:12]) && v.Major < 1000 {
			// leading zeros are the only freedom in the banner
			if w, _, err := rfb.ParseVersion(v.Append(nil)); err != nil || w != v {
				t.Fatalf("version %v does not round-trip", v)
			}
		}
		for _, ver := range []rfb.Version{rfb.V33, rfb.V38} {
			_, _, _, err = rfb.DecodeSecurityTypes(b, ver)
			check(err)
			_, _, _, err = rfb.DecodeSecurityResult(b, ver)
			check(err)
		}
		si, _, err := rfb.DecodeServerInit(b)
		check(err)
		if err == nil {
			if si2, _, err := rfb.DecodeServerInit(si.Append(nil)); err != nil || si2 != si {
				t.Fatalf("ServerInit does not round-trip")
			}
		}
		_, err = rfb.ParseCutText(b)
		check(err)
		if pf, err := rfb.ParsePixelFormat(b); err == nil {
			check(pf.Validate())
		} else {
			check(err)
		}
	})
}

var fuzzFormats = []rfb.PixelFormat{rfb.PF565, rfb.PF332, rfb.PFGrey4, rfb.PF888,
	{BPP: 32, Depth: 32, BigEndian: true, TrueColour: true, RedMax: 255, GreenMax: 255, BlueMax: 255, RedShift: 24, GreenShift: 16, BlueShift: 8}}

// FuzzTile decodes arbitrary tile bytes of arbitrary size and format.
func FuzzTile(f *testing.F) {
	f.Add([]byte{1, 0x00, 0xF8}, uint8(64), uint8(64), uint8(0))
	f.Add([]byte{2, 1, 0, 2, 0, 0xAA, 0x55}, uint8(4), uint8(4), uint8(0))
	f.Add([]byte{128, 7, 15}, uint8(4), uint8(4), uint8(1))
	f.Add([]byte{130, 1, 2, 0x81, 14, 0}, uint8(4), uint8(4), uint8(1))
	f.Add([]byte{0, 1, 2, 3, 4}, uint8(2), uint8(2), uint8(2))
	decs := make([]*rfb.TileDecoder, len(fuzzFormats))
	for i, pf := range fuzzFormats {
		decs[i], _ = rfb.NewTileDecoder(pf)
	}
	img, _ := framebuf.New(64, 64)
	f.Fuzz(func(t *testing.T, tile []byte, w, h, pfi uint8) {
		d := decs[int(pfi)%len(decs)]
		n, err := d.Decode(tile, img, rfb.Rect{W: uint16(w), H: uint16(h)})
		if err != nil {
			mustWireErr(t, err)
			return
		}
		if n < 1 || n > len(tile) {
			t.Fatalf("used %d of %d", n, len(tile))
		}
	})
}

// FuzzEncodeTile encodes tiles built from fuzz bytes and checks the decoder
// reproduces them exactly, in both framings.
func FuzzEncodeTile(f *testing.F) {
	f.Add([]byte{1, 2, 3}, uint8(64), uint8(64), uint8(0), false)
	f.Add(bytes.Repeat([]byte{0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 9}, 100), uint8(13), uint8(7), uint8(1), true)
	f.Fuzz(func(t *testing.T, px []byte, w, h, pfi uint8, deflate bool) {
		tw, th := int(w)%64+1, int(h)%64+1
		pf := fuzzFormats[int(pfi)%len(fuzzFormats)]
		img, _ := framebuf.New(tw, th)
		if len(px) > 0 {
			// a small palette from the bytes, indexed by the bytes: runs and repeats
			for i := range img.Pix {
				j := (i / (1 + int(px[0])%8)) % len(px)
				img.Pix[i] = uint32(px[j]) * 0x010307 & 0xFFFFFF
			}
		}
		enc, err := rfb.NewEncoder(pf, rfb.Settings{Encoding: rfb.EncodingAMT16, Deflate: deflate})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := enc.AppendFull(nil, img)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := framebuf.New(tw, th)
		dec, _ := rfb.NewDecoder(pf, out)
		for len(msg) > 0 {
			_, n, err := dec.Next(msg)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			msg = msg[n:]
		}
		conv, _ := rfb.NewConverter(pf)
		for i, p := range img.Pix {
			if want := conv.ToRGB(conv.ToWire(p)); out.Pix[i] != want {
				t.Fatalf("pixel %d: got %06x want %06x", i, out.Pix[i], want)
			}
		}
	})
}

// FuzzDecoder feeds arbitrary server streams to the frame decoder.
func FuzzDecoder(f *testing.F) {
	img, _ := framebuf.New(130, 70)
	img.Fill(0, 0, 70, 30, 0xFF8000)
	for _, s := range []rfb.Settings{{Encoding: rfb.EncodingRaw}, {Encoding: 16}, {Encoding: 16, Deflate: true}} {
		enc, _ := rfb.NewEncoder(rfb.PF332, s)
		msg, _ := enc.AppendFull(nil, img)
		f.Add(msg, uint8(1))
	}
	f.Add(hx(`00 00 0001 | 0040 0000 0040 0040 00000010 | 00000008 | 00 0300 fcff | 01 00f8`), uint8(0))
	f.Add(append(rfb.AppendDesktopSize(nil, 20, 10), 2, 3, 0, 0, 0, 0, 0, 0, 1, 'x'), uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, pfi uint8) {
		out, _ := framebuf.New(130, 70)
		dec, _ := rfb.NewDecoder(fuzzFormats[int(pfi)%len(fuzzFormats)], out)
		dec.MaxArea = 1 << 16
		for steps := 0; len(b) > 0 && steps < 10000; steps++ {
			_, n, err := dec.Next(b)
			if err != nil {
				if !errors.Is(err, wireerr.ErrShort) {
					mustWireErr(t, err)
				}
				return
			}
			if n < 1 || n > len(b) {
				t.Fatalf("used %d of %d", n, len(b))
			}
			b = b[n:]
		}
	})
}
