package digest

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// RealmPrefix starts every AMT digest realm.
const RealmPrefix = "Digest:"

// Realm formats an AMT realm: "Digest:" + 32 upper-case hex digits. The same
// string must appear in AMT_GeneralSettings.DigestRealm (§1.9 item 5).
func Realm(id [16]byte) string {
	return RealmPrefix + strings.ToUpper(hex.EncodeToString(id[:]))
}

// NewRealm draws a realm from rand.
func NewRealm(rand io.Reader) (string, error) {
	var id [16]byte
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return "", fmt.Errorf("digest: realm randomness: %w", err)
	}
	return Realm(id), nil
}

// IsAMTRealm reports whether s has the AMT realm format.
func IsAMTRealm(s string) bool {
	if len(s) != len(RealmPrefix)+32 || !strings.HasPrefix(s, RealmPrefix) {
		return false
	}
	for _, c := range s[len(RealmPrefix):] {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
