package digest

import (
	"strconv"
	"strings"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// Style selects how an Authorization header quotes qop and nc. The nc value
// itself (8 hex digits or decimal) is whatever the caller put in NC.
type Style uint8

const (
	// StyleQuoted quotes every value, as DMT MPS, the DMT console and
	// MeshCentral's WS-MAN stack do.
	StyleQuoted Style = iota
	// StyleInterceptor leaves qop and nc unquoted, as MeshCentral's HTTP
	// interceptor does.
	StyleInterceptor
)

// Authorization is the content of an Authorization: Digest header.
type Authorization struct {
	Username  string
	Realm     string
	Nonce     string
	URI       string
	QOP       string // "auth" or empty (RFC 2069 digest)
	Response  string // 32 hex digits
	NC        string // literal nonce count as sent: "00000001" or "1"
	CNonce    string
	Opaque    string
	Algorithm string
	Style     Style // how qop and nc were (or will be) quoted
}

// String formats the header value in the order all known clients use:
//
//	Digest username="…",realm="…",nonce="…",uri="…",qop="auth",response="…",nc="…",cnonce="…"
func (a *Authorization) String() string {
	var b strings.Builder
	b.WriteString(`Digest username=`)
	quote(&b, a.Username)
	b.WriteString(`,realm=`)
	quote(&b, a.Realm)
	b.WriteString(`,nonce=`)
	quote(&b, a.Nonce)
	b.WriteString(`,uri=`)
	quote(&b, a.URI)
	if a.QOP != "" {
		b.WriteString(`,qop=`)
		a.token(&b, a.QOP)
	}
	b.WriteString(`,response=`)
	quote(&b, a.Response)
	// With qop, nc and cnonce are mandatory, so they are written even when
	// empty; without qop only when set.
	if a.NC != "" || a.QOP != "" {
		b.WriteString(`,nc=`)
		a.token(&b, a.NC)
	}
	if a.CNonce != "" || a.QOP != "" {
		b.WriteString(`,cnonce=`)
		quote(&b, a.CNonce)
	}
	if a.Opaque != "" {
		b.WriteString(`,opaque=`)
		quote(&b, a.Opaque)
	}
	if a.Algorithm != "" {
		b.WriteString(`,algorithm=`)
		b.WriteString(a.Algorithm)
	}
	return b.String()
}

func (a *Authorization) token(b *strings.Builder, v string) {
	if a.Style == StyleInterceptor && v != "" && isToken(v) {
		b.WriteString(v)
		return
	}
	quote(b, v)
}

// NCHex formats a nonce count as DMT MPS and the console do: 8 lower-case hex
// digits.
func NCHex(n uint32) string {
	const digits = "0123456789abcdef"
	var buf [8]byte
	for i := 7; i >= 0; i-- {
		buf[i] = digits[n&0xf]
		n >>= 4
	}
	return string(buf[:])
}

// NCDecimal formats a nonce count as MeshCentral does: decimal, unpadded.
func NCDecimal(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// Sign fills in a.Response from the password and method.
func (a *Authorization) Sign(password, method string) {
	a.Response = Response(a.Username, a.Realm, password, method, a.URI, a.Nonce, a.NC, a.CNonce, a.QOP)
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// ParseAuthorization parses an Authorization header value of any of the
// shapes of reference §1.9. username, realm, nonce, uri and response are
// required; with qop, nc and cnonce are too. Only qop "auth" and algorithm MD5
// are accepted.
func ParseAuthorization(s string) (*Authorization, error) {
	const msg = "Authorization"
	off, err := parseScheme(msg, s)
	if err != nil {
		return nil, err
	}
	ps, err := parseParams(msg, s, off)
	if err != nil {
		return nil, err
	}
	a := &Authorization{}
	seen := map[string]param{}
	for _, p := range ps {
		seen[p.Key] = p
		switch p.Key {
		case "username":
			a.Username = p.Value
		case "realm":
			a.Realm = p.Value
		case "nonce":
			a.Nonce = p.Value
		case "uri":
			a.URI = p.Value
		case "qop":
			a.QOP = p.Value
			if !p.Quoted && p.Value != "" && isToken(p.Value) {
				a.Style = StyleInterceptor
			}
		case "response":
			a.Response = p.Value
		case "nc":
			a.NC = p.Value
			if !p.Quoted && p.Value != "" && isToken(p.Value) {
				a.Style = StyleInterceptor
			}
		case "cnonce":
			a.CNonce = p.Value
		case "opaque":
			a.Opaque = p.Value
		case "algorithm":
			a.Algorithm = p.Value
		}
	}
	for _, k := range []string{"username", "realm", "nonce", "uri", "response"} {
		if _, ok := seen[k]; !ok {
			return nil, wireerr.New(Proto, msg, k, len(s), k+" parameter", "none")
		}
	}
	if p := seen["response"]; len(p.Value) != 32 || !isHex(p.Value) {
		return nil, wireerr.New(Proto, msg, "response", p.Offset, "32 hex digits", strconv.Quote(clip(p.Value)))
	}
	if a.Algorithm != "" && !strings.EqualFold(a.Algorithm, "MD5") {
		p := seen["algorithm"]
		return nil, wireerr.New(Proto, msg, "algorithm", p.Offset, "MD5", strconv.Quote(clip(p.Value)))
	}
	if p, ok := seen["qop"]; ok {
		if p.Value != QOPAuth {
			return nil, wireerr.New(Proto, msg, "qop", p.Offset, `"auth"`, strconv.Quote(clip(p.Value)))
		}
		nc, ok := seen["nc"]
		if !ok {
			return nil, wireerr.New(Proto, msg, "nc", len(s), "nc parameter with qop", "none")
		}
		if _, err := ParseNC(nc.Value); err != nil {
			return nil, wireerr.New(Proto, msg, "nc", nc.Offset, "1 to 8 hex digits or a decimal number", strconv.Quote(clip(nc.Value)))
		}
		if _, ok := seen["cnonce"]; !ok {
			return nil, wireerr.New(Proto, msg, "cnonce", len(s), "cnonce parameter with qop", "none")
		}
	}
	return a, nil
}

// ParseNC reads a nonce count in either format. Exactly 8 digits is the RFC
// hex form ("00000010" = 16); anything shorter is MeshCentral's decimal form
// ("10" = 10). A decimal count would need 8 digits (10 million requests on one
// nonce) to be misread, far beyond any nonce lifetime.
func ParseNC(s string) (uint64, error) {
	if len(s) == 8 {
		return strconv.ParseUint(s, 16, 32)
	}
	if len(s) == 0 || len(s) > 8 {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(s, 10, 32)
}
