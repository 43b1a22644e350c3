package digest

import (
	"strings"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// Challenge is the content of a WWW-Authenticate: Digest header.
type Challenge struct {
	Realm     string
	Nonce     string
	Stale     bool
	QOP       string // "auth" from AMT; other servers may offer "auth-int, auth"
	Opaque    string // never sent by AMT; kept when present
	Algorithm string // never sent by AMT; kept when present
}

// String formats the challenge byte-for-byte as AMT does (reference §1.9):
//
//	Digest realm="…", nonce="…",stale="false",qop="auth"
//
// (one space after the first comma only). Opaque and Algorithm follow when set.
func (c Challenge) String() string {
	var b strings.Builder
	b.WriteString(`Digest realm=`)
	quote(&b, c.Realm)
	b.WriteString(`, nonce=`)
	quote(&b, c.Nonce)
	b.WriteString(`,stale=`)
	if c.Stale {
		b.WriteString(`"true"`)
	} else {
		b.WriteString(`"false"`)
	}
	if c.QOP != "" {
		b.WriteString(`,qop=`)
		quote(&b, c.QOP)
	}
	if c.Opaque != "" {
		b.WriteString(`,opaque=`)
		quote(&b, c.Opaque)
	}
	if c.Algorithm != "" {
		b.WriteString(`,algorithm=`)
		b.WriteString(c.Algorithm)
	}
	return b.String()
}

// ParseChallenge parses a WWW-Authenticate header value. realm and nonce are
// required; unknown parameters are ignored.
func ParseChallenge(s string) (Challenge, error) {
	const msg = "WWW-Authenticate"
	off, err := parseScheme(msg, s)
	if err != nil {
		return Challenge{}, err
	}
	ps, err := parseParams(msg, s, off)
	if err != nil {
		return Challenge{}, err
	}
	var c Challenge
	var haveRealm, haveNonce bool
	for _, p := range ps {
		switch p.Key {
		case "realm":
			c.Realm, haveRealm = p.Value, true
		case "nonce":
			c.Nonce, haveNonce = p.Value, true
		case "stale":
			c.Stale = strings.EqualFold(p.Value, "true")
		case "qop":
			c.QOP = p.Value
		case "opaque":
			c.Opaque = p.Value
		case "algorithm":
			c.Algorithm = p.Value
		}
	}
	if !haveRealm {
		return Challenge{}, wireerr.New(Proto, msg, "realm", len(s), "realm parameter", "none")
	}
	if !haveNonce {
		return Challenge{}, wireerr.New(Proto, msg, "nonce", len(s), "nonce parameter", "none")
	}
	if c.Algorithm != "" && !strings.EqualFold(c.Algorithm, "MD5") {
		return Challenge{}, wireerr.New(Proto, msg, "algorithm", len(s), "MD5", c.Algorithm)
	}
	return c, nil
}

// ChooseQOP is the qop a client answers a challenge with, as DMT MPS does:
// "auth" whenever the challenge offered any qop (including "auth-int, auth"),
// else none.
func ChooseQOP(challengeQOP string) string {
	if strings.TrimSpace(challengeQOP) == "" {
		return ""
	}
	return QOPAuth
}
