package digest

import (
	"strconv"
	"strings"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// param is one auth-param as it appeared on the wire.
type param struct {
	Key    string // lower-cased
	Value  string // quotes and escapes removed
	Quoted bool
	Offset int // byte offset of the key in the header value
}

func isTokenByte(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	return !strings.ContainsRune("()<>@,;:\\\"/[]?={}", rune(c))
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// parseScheme checks that s starts with the Digest scheme and returns the
// offset of the parameter list.
func parseScheme(msg, s string) (int, error) {
	if len(s) > MaxHeaderLen {
		return 0, wireerr.New(Proto, msg, "header", MaxHeaderLen, "at most "+strconv.Itoa(MaxHeaderLen)+" bytes", strconv.Itoa(len(s))+" bytes")
	}
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if len(s)-i < 6 || !strings.EqualFold(s[i:i+6], "Digest") {
		return 0, wireerr.New(Proto, msg, "scheme", i, `"Digest"`, strconv.Quote(clip(s[i:])))
	}
	i += 6
	if i < len(s) && !isSpace(s[i]) {
		return 0, wireerr.New(Proto, msg, "scheme", i, "space after Digest", strconv.Quote(clip(s[i:])))
	}
	return i, nil
}

// parseParams parses `key=value, key="value", …` from s[off:]. Commas may be
// surrounded by any amount of white space; empty list elements are skipped as
// RFC 7235 allows.
func parseParams(msg, s string, off int) ([]param, error) {
	var ps []param
	i := off
	for {
		for i < len(s) && (isSpace(s[i]) || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			return ps, nil
		}
		if len(ps) >= 32 {
			return nil, wireerr.New(Proto, msg, "parameters", i, "at most 32 parameters", "more")
		}
		start := i
		for i < len(s) && isTokenByte(s[i]) {
			i++
		}
		if i == start {
			return nil, wireerr.New(Proto, msg, "parameter name", i, "token", strconv.Quote(clip(s[i:])))
		}
		key := strings.ToLower(s[start:i])
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) || s[i] != '=' {
			return nil, wireerr.New(Proto, msg, key, i, `"="`, strconv.Quote(clip(s[i:])))
		}
		i++
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		p := param{Key: key, Offset: start}
		if i < len(s) && s[i] == '"' {
			p.Quoted = true
			i++
			var b strings.Builder
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(c)
				i++
			}
			if !closed {
				return nil, wireerr.New(Proto, msg, key, len(s), "closing quote", "end of header")
			}
			p.Value = b.String()
		} else {
			vs := i
			for i < len(s) && s[i] != ',' && !isSpace(s[i]) {
				if s[i] == '"' {
					return nil, wireerr.New(Proto, msg, key, i, "token or quoted string", "stray quote")
				}
				i++
			}
			p.Value = s[vs:i]
		}
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i < len(s) && s[i] != ',' {
			return nil, wireerr.New(Proto, msg, key, i, `"," between parameters`, strconv.Quote(clip(s[i:])))
		}
		for _, q := range ps {
			if q.Key == key {
				return nil, wireerr.New(Proto, msg, key, start, "each parameter once", "duplicate")
			}
		}
		ps = append(ps, p)
	}
}

func clip(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// quote writes v as a quoted-string, escaping '"' and '\'.
func quote(b *strings.Builder, v string) {
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
}
