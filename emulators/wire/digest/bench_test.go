package digest_test

import (
	"testing"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/digest"
)

// BenchmarkServerCheck is the digest work of one authenticated WS-MAN
// request on the server: parse the header, check the nonce, verify.
func BenchmarkServerCheck(b *testing.B) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tab := digest.NewNonceTable(&counterReader{}, time.Hour, 0)
	n, err := tab.Issue(t0)
	if err != nil {
		b.Fatal(err)
	}
	a := &digest.Authorization{Username: user, Realm: realm, Nonce: n, URI: "/wsman", QOP: "auth", CNonce: cnonce}
	hdrs := make([]string, 4096)
	for i := range hdrs {
		a.NC = digest.NCHex(uint32(i + 1))
		a.Sign(pass, "POST")
		hdrs[i] = a.String()
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(hdrs) {
			b.StopTimer()
			n, _ = tab.Issue(t0)
			for k := range hdrs {
				a.Nonce, a.NC = n, digest.NCHex(uint32(k+1))
				a.Sign(pass, "POST")
				hdrs[k] = a.String()
			}
			i = 0
			b.StartTimer()
		}
		got, err := digest.ParseAuthorization(hdrs[i])
		if err != nil {
			b.Fatal(err)
		}
		if tab.Check(got.Nonce, got.NC, t0) != digest.NonceOK || !digest.Verify(got, pass, "POST") {
			b.Fatal("rejected")
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}
