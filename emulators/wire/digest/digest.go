// Package digest implements HTTP Digest authentication (RFC 2617, MD5, qop
// "auth" or none) exactly as Intel AMT and its management servers use it, for
// both WS-MAN over HTTP and the redirection protocol's AuthenticateSession.
//
// The package is pure: challenge and Authorization header codecs, the response
// formula, a verifier, and a nonce table that takes the time as an argument
// and its randomness from an injected io.Reader. Facts are from reference §1.9,
// §2.3 and the worked example in §6; docs/protocols/http-digest.md is the spec
// page.
package digest

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// Proto is the protocol name carried in every *wireerr.Error of this package.
const Proto = "digest"

// QOPAuth is the only quality of protection AMT offers and clients use.
const QOPAuth = "auth"

// MaxHeaderLen bounds the header values the parsers accept; real ones are
// well under 512 bytes.
const MaxHeaderLen = 4096

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// HA1 returns MD5(user:realm:password) in lower-case hex.
func HA1(user, realm, password string) string {
	return md5hex(user + ":" + realm + ":" + password)
}

// HA2 returns MD5(method:uri) in lower-case hex. The redirection protocol uses
// method "POST" and uri "/RedirectionService" although no HTTP is involved.
func HA2(method, uri string) string {
	return md5hex(method + ":" + uri)
}

// Response computes the request-digest. With qop empty it is the RFC 2069
// form MD5(HA1:nonce:HA2); otherwise MD5(HA1:nonce:nc:cnonce:qop:HA2). nc is
// used literally as received ("00000001" and MeshCentral's "1" hash
// differently), never re-formatted.
func Response(user, realm, password, method, uri, nonce, nc, cnonce, qop string) string {
	return ResponseFromHA1(HA1(user, realm, password), method, uri, nonce, nc, cnonce, qop)
}

// ResponseFromHA1 is Response for callers that store HA1 instead of the
// password.
func ResponseFromHA1(ha1, method, uri, nonce, nc, cnonce, qop string) string {
	ha2 := HA2(method, uri)
	if qop == "" {
		return md5hex(ha1 + ":" + nonce + ":" + ha2)
	}
	return md5hex(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + ha2)
}

// Verify reports whether a's response matches the one computed from password
// and method with a's own uri, nonce, nc, cnonce and qop exactly as received.
// It does not check the nonce's freshness (see NonceTable) nor the username or
// realm against the server's (the caller knows which user it expects).
func Verify(a *Authorization, password, method string) bool {
	want := Response(a.Username, a.Realm, password, method, a.URI, a.Nonce, a.NC, a.CNonce, a.QOP)
	got := strings.ToLower(a.Response)
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}
