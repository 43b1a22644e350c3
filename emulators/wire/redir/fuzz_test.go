package redir_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/oobtb/oobtb/emulators/wire/redir"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// FuzzDecode checks that Decode never panics, that every error is a
// *wireerr.Error, and that a decoded message re-encodes to the same bytes
// (except the reserved bytes and string fields the encoder normalises).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"100100004b564d52", "11000000010000000000000000", "1300000000000000 00",
		"14000000000300000001 0304", "400000000000000000", "2a000000010000000300616263",
		"290000000500000003 04", "2b00000001000000",
	} {
		f.Add(hx(s), true)
		f.Add(hx(s), false)
	}
	f.Add(hx(`13 00 00 00 04 20 00 00 00 05 "admin" 00 00 13 "/RedirectionService" 00 00 00 00`), true)
	f.Fuzz(func(t *testing.T, b []byte, toAMT bool) {
		dir := redir.FromAMT
		if toAMT {
			dir = redir.ToAMT
		}
		m, n, err := redir.Decode(b, dir)
		if err != nil {
			var we *wireerr.Error
			if !errors.As(err, &we) {
				t.Fatalf("error %v is not a *wireerr.Error", err)
			}
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("used %d of %d bytes", n, len(b))
		}
		enc := m.Append(nil)
		m2, n2, err := redir.Decode(enc, dir)
		if err != nil || n2 != len(enc) {
			t.Fatalf("re-decode: %v (%d of %d)", err, n2, len(enc))
		}
		if !bytes.Equal(m2.Append(nil), enc) {
			t.Fatalf("encoding not stable")
		}
	})
}
