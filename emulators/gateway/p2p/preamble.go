package p2p

import (
	"fmt"

	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// Proto names this protocol in errors.
const Proto = "oobtb-p2p"

// Magic opens the preamble: ASCII "OOBK".
var Magic = [4]byte{'O', 'O', 'B', 'K'}

// Version is the preamble and channel version.
const Version = 1

// PreambleLen is the cleartext preamble the dialler sends first:
// magic ‖ u8 version ‖ u8 flags (0) ‖ 16-byte session id.
const PreambleLen = 22

// EncodePreamble returns the preamble for a session.
func EncodePreamble(sid gwext.SessionID) []byte {
	b := append(Magic[:0:0], Magic[:]...)
	b = append(b, Version, 0)
	return append(b, sid[:]...)
}

// DecodePreamble parses the preamble; relays use it to pair sockets.
func DecodePreamble(p []byte) (gwext.SessionID, error) {
	var sid gwext.SessionID
	if len(p) < PreambleLen {
		return sid, wireerr.Short(Proto, "preamble", "preamble", 0, PreambleLen, len(p))
	}
	if [4]byte(p[:4]) != Magic {
		return sid, wireerr.New(Proto, "preamble", "magic", 0, `"OOBK"`, fmt.Sprintf("% x", p[:4]))
	}
	if p[4] != Version {
		return sid, wireerr.New(Proto, "preamble", "version", 4, fmt.Sprint(Version), fmt.Sprint(p[4]))
	}
	if p[5] != 0 {
		return sid, wireerr.New(Proto, "preamble", "flags", 5, "0", fmt.Sprint(p[5]))
	}
	copy(sid[:], p[6:22])
	return sid, nil
}
