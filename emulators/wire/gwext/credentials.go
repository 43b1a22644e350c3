package gwext

import (
	"crypto/subtle"
	"encoding/hex"
	"fmt"
)

// The device presents a pairing to the gateway's local MPS in an ordinary
// APF USERAUTH_REQUEST (method "password"), so the gateway's CIRA listener
// needs no new message: the username names the session, the password carries
// the one-time token. Both are fixed ASCII forms of 41 characters: a prefix
// and 32 lower-case hex digits. Neither contains '=' or ',', and both fit the
// stock 2048-byte string bound.
const (
	UsernamePrefix = "oobtb-s1-"
	PasswordPrefix = "oobtb-t1-"
	credentialLen  = 9 + 32
)

// Username is the USERAUTH username for the session.
func (s SessionID) Username() string { return UsernamePrefix + hex.EncodeToString(s[:]) }

// String is the session id in hex.
func (s SessionID) String() string { return hex.EncodeToString(s[:]) }

// Password is the USERAUTH password that presents the token.
func (t Token) Password() string { return PasswordPrefix + hex.EncodeToString(t[:]) }

// String never reveals the token: logs print it.
func (t Token) String() string { return "token(redacted)" }

// Equal compares tokens in constant time.
func (t Token) Equal(u Token) bool { return subtle.ConstantTimeCompare(t[:], u[:]) == 1 }

// IsPairingUsername reports whether a USERAUTH username uses the pairing
// form, so a gateway can tell pairing logins from classic MPS logins.
func IsPairingUsername(u string) bool {
	return len(u) == credentialLen && u[:len(UsernamePrefix)] == UsernamePrefix
}

// ParseUsername parses a pairing username.
func ParseUsername(u string) (SessionID, error) {
	var s SessionID
	return s, parseCredential(u, UsernamePrefix, "username", s[:])
}

// ParsePassword parses a pairing password into its token.
func ParsePassword(p string) (Token, error) {
	var t Token
	return t, parseCredential(p, PasswordPrefix, "password", t[:])
}

func parseCredential(s, prefix, what string, dst []byte) error {
	if len(s) != credentialLen || s[:len(prefix)] != prefix {
		return fmt.Errorf("gwext: pairing %s: want %q followed by 32 lower-case hex digits", what, prefix)
	}
	for _, c := range s[len(prefix):] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("gwext: pairing %s: %q is not a lower-case hex digit", what, c)
		}
	}
	_, err := hex.Decode(dst, []byte(s[len(prefix):]))
	return err
}
