package rfb_test

import (
	"encoding/hex"
	"strings"
)

// hx decodes hand-written hex with spaces, '|' separators and "quoted"
// ASCII runs.
func hx(s string) []byte {
	var out []byte
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \n\t|")
		if s == "" {
			break
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			out = append(out, s[1:1+end]...)
			s = s[end+2:]
			continue
		}
		i := strings.IndexAny(s, " \n\t|\"")
		if i < 0 {
			i = len(s)
		}
		b, err := hex.DecodeString(s[:i])
		if err != nil {
			panic(err)
		}
		out = append(out, b...)
		s = s[i:]
	}
	return out
}
