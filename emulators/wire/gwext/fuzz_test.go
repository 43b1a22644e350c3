package gwext_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

func checkErr(t *testing.T, err error) {
	var we *wireerr.Error
	if !errors.As(err, &we) || we.Field == "" || we.Message == "" {
		t.Fatalf("want a *wireerr.Error naming message and field, got %T %v", err, err)
	}
}

func blockSeeds() [][]byte {
	return [][]byte{wire(hexDeviceBlock), wire(hexServerBlock), wire(hexHashBlock), make([]byte, 64),
		wire(`6f6f6274 02 01 0b f003aabbcc 40020001 3f00 zeros(46)`)}
}

func FuzzDecodeReserved(f *testing.F) {
	for _, s := range blockSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var r [64]byte
		copy(r[:], in)
		b, p, err := gwext.DecodeReserved(r)
		switch p {
		case gwext.Absent:
			if err != nil || !reflect.DeepEqual(b, gwext.Block{}) {
				t.Fatalf("absent with %v / %+v", err, b)
			}
		case gwext.Malformed:
			checkErr(t, err)
		case gwext.Present:
			if err != nil {
				t.Fatal(err)
			}
			enc, err := gwext.EncodeReserved(b)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			again, p2, err := gwext.DecodeReserved(enc)
			if err != nil || p2 != gwext.Present || !reflect.DeepEqual(again, b) {
				t.Fatalf("round trip: %v %v\n%+v\n%+v", err, p2, again, b)
			}
		default:
			t.Fatalf("presence %v", p)
		}
	})
}

func FuzzGatewayInfo(f *testing.F) {
	f.Add(wire(hexGatewayInfo))
	f.Add(wire(`01 f1 02 abcd 03 02 1151 08 20 ` + hexKey))
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := gwext.UnmarshalGatewayInfo(in)
		if err != nil {
			checkErr(t, err)
			return
		}
		enc, err := g.Marshal()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := gwext.UnmarshalGatewayInfo(enc)
		if err != nil || !reflect.DeepEqual(again, g) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzGatewayConnect(f *testing.F) {
	f.Add(wire(hexGatewayConnect))
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := gwext.UnmarshalGatewayConnect(in)
		if err != nil {
			checkErr(t, err)
			return
		}
		enc, err := g.Marshal()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := gwext.UnmarshalGatewayConnect(enc)
		if err != nil || !reflect.DeepEqual(again, g) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// TestWriteSeedCorpus regenerates testdata/fuzz when GWEXT_WRITE_CORPUS=1.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("GWEXT_WRITE_CORPUS") != "1" {
		t.Skip("set GWEXT_WRITE_CORPUS=1 to regenerate the seed corpus")
	}
	for i, s := range blockSeeds() {
		writeSeed(t, "FuzzDecodeReserved", fmt.Sprintf("seed-%d", i), s)
	}
	writeSeed(t, "FuzzGatewayInfo", "golden", wire(hexGatewayInfo))
	writeSeed(t, "FuzzGatewayInfo", "unknown-tlv", wire(`01 f1 02 abcd 03 02 1151 08 20 `+hexKey))
	writeSeed(t, "FuzzGatewayConnect", "golden", wire(hexGatewayConnect))
}

func writeSeed(t *testing.T, target, name string, b []byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
