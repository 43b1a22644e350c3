// Package hexvec reads golden test vectors written the way the protocol
// reference writes them — hex groups, "quoted ASCII" and zeros(N) — so
// vectors can be pasted from the reference and checked by eye.
package hexvec

import (
	"encoding/hex"
	"strconv"
	"strings"
)

// Parse returns the bytes of spec. Separators are blanks and '|'. It panics
// on a malformed vector: vectors are test constants, and a typo in one must
// stop the test run loudly.
func Parse(spec string) []byte {
	var out []byte
	for len(spec) > 0 {
		spec = strings.TrimLeft(spec, " \n\t|")
		if spec == "" {
			break
		}
		switch {
		case spec[0] == '"':
			end := strings.IndexByte(spec[1:], '"')
			if end < 0 {
				panic("hexvec: unterminated quote in vector: " + spec)
			}
			out = append(out, spec[1:1+end]...)
			spec = spec[end+2:]
		case strings.HasPrefix(spec, "zeros("):
			end := strings.IndexByte(spec, ')')
			n, err := strconv.Atoi(spec[6:max(end, 6)])
			if end < 0 || err != nil || n < 0 {
				panic("hexvec: bad zeros(N) in vector: " + spec)
			}
			out = append(out, make([]byte, n)...)
			spec = spec[end+1:]
		default:
			end := strings.IndexAny(spec, " \n\t|\"")
			if end < 0 {
				end = len(spec)
			}
			b, err := hex.DecodeString(spec[:end])
			if err != nil {
				panic("hexvec: bad hex in vector: " + spec[:end])
			}
			out = append(out, b...)
			spec = spec[end:]
		}
	}
	return out
}
