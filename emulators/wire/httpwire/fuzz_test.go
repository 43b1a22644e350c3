package httpwire_test

import (
	"bytes"
	"testing"

	"github.com/oobtb/oobtb/emulators/wire/httpwire"
)

var fuzzLim = httpwire.Limits{MaxBodyBytes: 1 << 16}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(dmtReq))
	f.Add([]byte(meshReq + consReq))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1a;x=y\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nT: v\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := httpwire.ParseRequest(b, fuzzLim)
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		// What we write, we must read back identically.
		out := httpwire.AppendRequest(nil, r)
		r2, n2, err := httpwire.ParseRequest(out, fuzzLim)
		if err != nil {
			t.Fatalf("reparse: %v\n%q", err, out)
		}
		if n2 != len(out) || !bytes.Equal(r2.Body, r.Body) || r2.Method != r.Method || r2.Target != r.Target {
			t.Fatalf("round trip mismatch")
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0004\r\nabcd\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 401 Unauthorized\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n<html></html>\n"))
	f.Add([]byte("HTTP/1.1 401 Unauthorized\r\nContent-Length: 3\r\n\r\nabc"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := httpwire.ParseResponse(b, fuzzLim)
		if err == nil && (n <= 0 || n > len(b)) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		if err == nil && r.Chunked {
			out := httpwire.AppendResponse(nil, r)
			r2, _, err := httpwire.ParseResponse(out, fuzzLim)
			if err != nil || !bytes.Equal(r2.Body, r.Body) {
				t.Fatalf("round trip: %v", err)
			}
		}
		_, _, _ = httpwire.ParseResponseAtEOF(b, fuzzLim)
	})
}
