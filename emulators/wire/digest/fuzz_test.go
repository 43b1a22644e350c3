package digest_test

import (
	"testing"

	"github.com/oobtb/oobtb/emulators/wire/digest"
)

func FuzzParseChallenge(f *testing.F) {
	f.Add(`Digest realm="Digest:34BF4B5A0561F95248F58509A406E046", nonce="bQali2IAAAAAAAAAn0xaWCOcxNsRcEHX",stale="false",qop="auth"`)
	f.Add(`Digest realm="r",nonce=n,qop="auth-int, auth"`)
	f.Add(`Digest realm="a\"b"`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := digest.ParseChallenge(s)
		if err != nil {
			return
		}
		c2, err := digest.ParseChallenge(c.String())
		if err != nil {
			t.Fatalf("reparse %q: %v", c.String(), err)
		}
		if c2 != c {
			t.Fatalf("round trip %+v != %+v", c2, c)
		}
	})
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add(`Digest username="admin",realm="Digest:0123456789ABCDEF0123456789ABCDEF",nonce="AbCdEfGhIjKlMnOpQrStUvWx",uri="/wsman",qop="auth",response="477fed87b5b123b90830ba3f03aef85e",nc="00000001",cnonce="0a1b2c3d4e"`)
	f.Add(`Digest username="admin",realm="r",nonce="n",uri="/wsman",qop=auth,nc=2,cnonce="0a1b2c3d4e",response="477fed87b5b123b90830ba3f03aef85e"`)
	f.Add(`Digest username="u", realm="r", nonce="n", uri="/", response="477fed87b5b123b90830ba3f03aef85e"`)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := digest.ParseAuthorization(s)
		if err != nil {
			return
		}
		b, err := digest.ParseAuthorization(a.String())
		if err != nil {
			t.Fatalf("reparse %q: %v", a.String(), err)
		}
		if *a != *b {
			t.Fatalf("round trip %+v != %+v", b, a)
		}
		_ = digest.Verify(a, "x", "POST")
	})
}
