package p2p_test

import (
	"testing"

	"github.com/oobtb/oobtb/emulators/gateway/p2p"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

func FuzzDecodePreamble(f *testing.F) {
	f.Add(p2p.EncodePreamble(gwext.SessionID{1, 2, 3}))
	f.Add([]byte("OOBK"))
	f.Fuzz(func(t *testing.T, p []byte) {
		sid, err := p2p.DecodePreamble(p)
		if err == nil && string(p2p.EncodePreamble(sid)) != string(p[:p2p.PreambleLen]) {
			t.Fatalf("re-encoding differs")
		}
	})
}
