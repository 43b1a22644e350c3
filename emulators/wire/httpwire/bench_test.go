package httpwire_test

import (
	"strings"
	"testing"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/httpwire"
)

// BenchmarkRequestResponse parses a DMT-shaped request and writes a 2 KiB
// chunked AMT response, the per-call HTTP work of the WS-MAN server.
func BenchmarkRequestResponse(b *testing.B) {
	in := []byte(dmtReq)
	body := []byte(strings.Repeat("x", 2048))
	var out []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(in) + len(body)))
	for b.Loop() {
		r, _, err := httpwire.ParseRequest(in, httpwire.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		_ = r
		out = httpwire.AppendResponse(out[:0], httpwire.SOAPResponse(200, "16.1.27", time.Unix(0, 0), body))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "exchanges/s")
}
