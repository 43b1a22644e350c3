package apf_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

func checkDecodeError(t *testing.T, err error) {
	var we *wireerr.Error
	if !errors.As(err, &we) {
		t.Fatalf("error is %T, not *wireerr.Error: %v", err, err)
	}
	if we.Field == "" || we.Message == "" {
		t.Fatalf("error does not name message and field: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range vectors {
		f.Add(wire(v.hex), uint8(v.reply))
	}
	f.Add([]byte{0x5e, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, reply uint8) {
		opts := apf.Options{Reply: apf.ReplyKind(reply % 3), MaxData: 1 << 16}
		m, n, err := apf.Decode(b, opts)
		if err != nil {
			checkDecodeError(t, err)
			if m != nil || n != 0 {
				t.Fatalf("error with a message or length: %v %d", m, n)
			}
			return
		}
		if n <= 0 || n > len(b) || n != m.Len() {
			t.Fatalf("n=%d len=%d Len()=%d", n, len(b), m.Len())
		}
		if enc := apf.Marshal(m); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("re-encoding differs:\n got % x\nwant % x", enc, b[:n])
		}
	})
}

func FuzzFramer(f *testing.F) {
	var all []byte
	for _, v := range vectors {
		b := wire(v.hex)
		f.Add(b, uint8(1))
		all = append(all, b...)
	}
	f.Add(all, uint8(7))
	f.Fuzz(func(t *testing.T, stream []byte, split uint8) {
		fr := apf.NewFramer(apf.FramerOptions{Options: apf.Options{MaxData: 1 << 16}})
		step := int(split%64) + 1
		for off := 0; off < len(stream); off += step {
			if err := fr.Feed(stream[off:min(off+step, len(stream))]); err != nil {
				checkDecodeError(t, err)
				return
			}
			for {
				m, err := fr.Next()
				if err != nil {
					checkDecodeError(t, err)
					return
				}
				if m == nil {
					break
				}
				end := int(fr.Consumed())
				enc := apf.Marshal(m)
				if start := end - len(enc); start < 0 || !bytes.Equal(enc, stream[start:end]) {
					t.Fatalf("message at %d re-encodes differently: % x", end, enc)
				}
			}
		}
		if int(fr.Consumed())+fr.Buffered() != len(stream) {
			t.Fatalf("consumed %d + buffered %d != fed %d", fr.Consumed(), fr.Buffered(), len(stream))
		}
	})
}

// TestWriteSeedCorpus regenerates testdata/fuzz from the golden vectors when
// APF_WRITE_CORPUS=1; the committed corpus is what `make fuzz` starts from.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("APF_WRITE_CORPUS") != "1" {
		t.Skip("set APF_WRITE_CORPUS=1 to regenerate the seed corpus")
	}
	var all []byte
	for i, v := range vectors {
		b := wire(v.hex)
		all = append(all, b...)
		writeSeed(t, "FuzzDecode", fmt.Sprintf("golden-%02d", i), fmt.Sprintf("[]byte(%q)\nbyte(%q)\n", b, byte(v.reply)))
		writeSeed(t, "FuzzFramer", fmt.Sprintf("golden-%02d", i), fmt.Sprintf("[]byte(%q)\nbyte(%q)\n", b, byte(1)))
	}
	writeSeed(t, "FuzzFramer", "stream", fmt.Sprintf("[]byte(%q)\nbyte(%q)\n", all, byte(7)))
	writeSeed(t, "FuzzDecode", "huge-data", fmt.Sprintf("[]byte(%q)\nbyte(%q)\n", []byte{0x5e, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}, byte(0)))
}

func writeSeed(t *testing.T, target, name, body string) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
}
