package authtoken_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/oobtb/oobtb/emulators/server/authtoken"
)

// FuzzVerify: Verify parses attacker-supplied bearer strings; it must never
// panic and never accept a token it did not sign.
func FuzzVerify(f *testing.F) {
	m, err := authtoken.New(bytes.Repeat([]byte{1}, 32), "oobtb-admin-0123456789abcdef0123")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tok, _, _ := m.Issue("c", []string{"kvm:1"}, now, time.Hour)
	f.Add(tok)
	f.Add("oobtb-s1.e30.AAAA")
	f.Add("oobtb-admin-x")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := m.Verify(s, now)
		if err != nil {
			return
		}
		// Forging needs the HMAC key, so anything accepted is the admin
		// token or (a re-encoding of) the token signed above. Fuzz workers
		// re-run this setup with fresh random ids, so compare the claims
		// that do not depend on randomness.
		if c.Admin {
			if s != "oobtb-admin-0123456789abcdef0123" {
				t.Fatalf("accepted %q as admin", s)
			}
			return
		}
		if c.Subject != "c" || len(c.Scopes) != 1 || c.Scopes[0] != "kvm:1" || !c.Expires.Equal(now.Add(time.Hour)) {
			t.Fatalf("accepted unsigned token %q: %+v", s, c)
		}
	})
}
