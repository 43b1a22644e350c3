package httpwire_test

import (
	"errors"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/wire/httpwire"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

const soap = `<?xml version="1.0" encoding="utf-8"?><Envelope/>`

// Requests as the three servers send them (§1.9).
var (
	dmtReq = "POST /wsman HTTP/1.1\r\n" +
		"Authorization: Digest username=\"admin\",realm=\"r\",nonce=\"n\",uri=\"/wsman\",qop=\"auth\",response=\"477fed87b5b123b90830ba3f03aef85e\",nc=\"00000001\",cnonce=\"abc\"\r\n" +
		"Host: 12345678-9abc-def0-1122-334455667788:16992\r\n" +
		"Content-Length: 49\r\n\r\n" + soap
	meshReq = "POST /wsman HTTP/1.1\r\nHost: node//abc:16992\r\nContent-Length: 49\r\n\r\n" + soap
	consReq = "POST /wsman HTTP/1.1\r\nAuthorization: Digest x\r\nHost: g:16992\r\nContent-Type: application/soap+xml; charset=utf-8\r\nContent-Length: 49\r\n\r\n" + soap
)

func fieldOf(err error) string {
	var we *wireerr.Error
	Expect(errors.As(err, &we)).To(BeTrue(), "%v", err)
	Expect(we.Proto).To(Equal(httpwire.Proto))
	return we.Field
}

var _ = Describe("ParseRequest", func() {
	It("parses every server's request shape without Content-Type", func() {
		for _, in := range []string{dmtReq, meshReq, consReq} {
			r, n, err := httpwire.ParseRequest([]byte(in), httpwire.Limits{})
			Expect(err).NotTo(HaveOccurred())
			Expect(n).To(Equal(len(in)))
			Expect(r.Method).To(Equal("POST"))
			Expect(r.Target).To(Equal("/wsman"))
			Expect(string(r.Body)).To(Equal(soap))
		}
	})
	It("keeps header order and looks up case-insensitively", func() {
		r, _, err := httpwire.ParseRequest([]byte(consReq), httpwire.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Header[0].Name).To(Equal("Authorization"))
		Expect(r.Header[1].Name).To(Equal("Host"))
		Expect(r.Header.Get("content-TYPE")).To(HavePrefix("application/soap+xml"))
		Expect(r.Header.Has("X-None")).To(BeFalse())
	})
	It("parses pipelined requests by calling repeatedly", func() {
		buf := []byte(dmtReq + meshReq + "\r\n" + consReq)
		var got []string
		for len(buf) > 0 {
			r, n, err := httpwire.ParseRequest(buf, httpwire.Limits{})
			Expect(err).NotTo(HaveOccurred())
			got = append(got, r.Header.Get("Host"))
			buf = buf[n:]
		}
		Expect(got).To(Equal([]string{"12345678-9abc-def0-1122-334455667788:16992", "node//abc:16992", "g:16992"}))
	})
	It("reports ErrShort for every proper prefix", func() {
		full := []byte(dmtReq)
		for k := 0; k < len(full); k++ {
			_, _, err := httpwire.ParseRequest(full[:k], httpwire.Limits{})
			Expect(errors.Is(err, wireerr.ErrShort)).To(BeTrue(), "prefix %d: %v", k, err)
		}
	})
	It("decodes chunked bodies with any hex case, extensions and trailers", func() {
		in := "POST /wsman HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"1a;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n" +
			"0A\r\n0123456789\r\n" +
			"0;ext\r\nX-Trailer: t\r\n\r\n"
		r, n, err := httpwire.ParseRequest([]byte(in+"GET"), httpwire.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(len(in)))
		Expect(r.Chunked).To(BeTrue())
		Expect(string(r.Body)).To(Equal("abcdefghijklmnopqrstuvwxyz0123456789"))
		Expect(r.Trailer.Get("x-trailer")).To(Equal("t"))
		for k := 0; k < len(in); k++ {
			_, _, err := httpwire.ParseRequest([]byte(in[:k]), httpwire.Limits{})
			Expect(errors.Is(err, wireerr.ErrShort)).To(BeTrue(), "prefix %d: %v", k, err)
		}
	})
	It("takes an empty body without framing headers", func() {
		r, n, err := httpwire.ParseRequest([]byte("GET / HTTP/1.1\r\n\r\nX"), httpwire.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(18))
		Expect(r.Body).To(BeEmpty())
	})
	DescribeTable("rejects malformed or oversized requests with a located error",
		func(in string, lim httpwire.Limits, field string) {
			_, _, err := httpwire.ParseRequest([]byte(in), lim)
			Expect(err).To(HaveOccurred())
			Expect(errors.Is(err, wireerr.ErrShort)).To(BeFalse())
			Expect(fieldOf(err)).To(Equal(field))
		},
		Entry("two-part request line", "POST /wsman\r\n\r\n", httpwire.Limits{}, "request line"),
		Entry("bad version", "POST /wsman HTTX/1.1\r\n\r\n", httpwire.Limits{}, "version"),
		Entry("bad method", "PO(T / HTTP/1.1\r\n\r\n", httpwire.Limits{}, "method"),
		Entry("no colon", "POST / HTTP/1.1\r\nHost\r\n\r\n", httpwire.Limits{}, "header line"),
		Entry("space in name", "POST / HTTP/1.1\r\nHo st: x\r\n\r\n", httpwire.Limits{}, "header name"),
		Entry("folding", "POST / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", httpwire.Limits{}, "header line"),
		Entry("bad length", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", httpwire.Limits{}, "Content-Length"),
		Entry("two lengths", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", httpwire.Limits{}, "Content-Length"),
		Entry("gzip", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", httpwire.Limits{}, "Transfer-Encoding"),
		Entry("bad chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", httpwire.Limits{}, "chunk size"),
		Entry("chunk without CRLF", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXY", httpwire.Limits{}, "chunk end"),
		Entry("long line", "POST /"+strings.Repeat("a", 100)+" HTTP/1.1\r\n", httpwire.Limits{MaxLineBytes: 64}, "request line"),
		Entry("long line, no LF yet", "POST /"+strings.Repeat("a", 100), httpwire.Limits{MaxLineBytes: 64}, "request line"),
		Entry("too many headers", "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", httpwire.Limits{MaxHeaders: 2}, "header count"),
		Entry("header section", "GET / HTTP/1.1\r\nA: "+strings.Repeat("x", 60)+"\r\nB: "+strings.Repeat("x", 60)+"\r\n", httpwire.Limits{MaxHeaderBytes: 100}, "header section"),
		Entry("body too big", "POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n", httpwire.Limits{MaxBodyBytes: 999}, "Content-Length"),
		Entry("huge length", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", httpwire.Limits{}, "Content-Length"),
		Entry("chunked too big", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFF\r\n", httpwire.Limits{}, "chunk size"),
		Entry("too many chunks", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\na\r\n1\r\na\r\n", httpwire.Limits{MaxChunks: 2}, "chunk count"),
		Entry("control char in value", "GET / HTTP/1.1\r\nA: b\x01c\r\n\r\n", httpwire.Limits{}, "A"),
	)
})

var _ = Describe("ParseResponse", func() {
	It("parses AMT's chunked 200 and the 401 with Content-Length", func() {
		ok := httpwire.AppendResponse(nil, httpwire.SOAPResponse(200, "15.0.23.1706", time.Time{}, []byte(soap)))
		unauth := httpwire.AppendResponse(nil, httpwire.Unauthorized("15.0.23.1706", `Digest realm="r", nonce="n",stale="false",qop="auth"`))
		buf := append(append([]byte{}, ok...), unauth...)
		r, n, err := httpwire.ParseResponse(buf, httpwire.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(len(ok)))
		Expect(r.StatusCode).To(Equal(200))
		Expect(string(r.Body)).To(Equal(soap))
		r, n, err = httpwire.ParseResponse(buf[n:], httpwire.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(len(unauth)))
		Expect(r.StatusCode).To(Equal(401))
		Expect(r.Close()).To(BeTrue())
		Expect(string(r.Body)).To(HaveSuffix("</html>\n"))
	})
	It("completes a close-delimited HTML 401 at </html> (DMT rule)", func() {
		in := "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n<html>x</html>\n"
		for k := 0; k < len(in)-1; k++ {
			_, _, err := httpwire.ParseResponse([]byte(in[:k]), httpwire.Limits{})
			Expect(errors.Is(err, wireerr.ErrShort)).To(BeTrue(), "prefix %d: %v", k, err)
		}
		r, n, err := httpwire.ParseResponse([]byte(in), httpwire.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(len(in)))
		Expect(string(r.Body)).To(Equal("<html>x</html>\n"))
	})
	It("reads a close-delimited body only at EOF", func() {
		in := []byte("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello")
		_, _, err := httpwire.ParseResponse(in, httpwire.Limits{})
		Expect(errors.Is(err, wireerr.ErrShort)).To(BeTrue())
		r, n, err := httpwire.ParseResponseAtEOF(in, httpwire.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(len(in)))
		Expect(string(r.Body)).To(Equal("hello"))
	})
	It("has no body for 204 and accepts a status line without reason", func() {
		r, n, err := httpwire.ParseResponse([]byte("HTTP/1.1 204\r\n\r\n"), httpwire.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(16))
		Expect(r.Reason).To(BeEmpty())
	})
	DescribeTable("rejects malformed responses",
		func(in, field string) {
			_, _, err := httpwire.ParseResponse([]byte(in), httpwire.Limits{})
			Expect(errors.Is(err, wireerr.ErrShort)).To(BeFalse())
			Expect(fieldOf(err)).To(Equal(field))
		},
		Entry("not HTTP", "SSH-2.0-x\r\n", "status line"),
		Entry("bad code", "HTTP/1.1 2x0 OK\r\n\r\n", "status code"),
		Entry("low code", "HTTP/1.1 099 OK\r\n\r\n", "status code"),
		Entry("no space", "HTTP/1.1 200OK\r\n\r\n", "status line"),
	)
})

var _ = Describe("writers", func() {
	date := time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
	It("writes AMT's 200 byte for byte, with 4-digit upper-case chunk sizes", func() {
		body := []byte(strings.Repeat("x", 0x220))
		got := string(httpwire.AppendResponse(nil, httpwire.SOAPResponse(200, "15.0.23.1706", date, body)))
		Expect(got).To(Equal("HTTP/1.1 200 OK\r\n" +
			"Date: Fri, 04 Dec 2026 21:00:00 GMT\r\n" +
			"Server: Intel(R) Active Management Technology 15.0.23.1706\r\n" +
			"X-Frame-Options: DENY\r\n" +
			"Content-Type: application/soap+xml; charset=UTF-8\r\n" +
			"Transfer-Encoding: chunked\r\n" +
			"\r\n" +
			"0220\r\n" + string(body) + "\r\n" +
			"0\r\n\r\n"))
	})
	It("splits long bodies into bounded chunks", func() {
		r := httpwire.SOAPResponse(400, "16.1.27", time.Time{}, []byte(strings.Repeat("y", 10)))
		r.ChunkSize = 4
		got := string(httpwire.AppendResponse(nil, r))
		Expect(got).To(HavePrefix("HTTP/1.1 400 Bad Request\r\nServer: "))
		Expect(got).To(HaveSuffix("\r\n\r\n0004\r\nyyyy\r\n0004\r\nyyyy\r\n0002\r\nyy\r\n0\r\n\r\n"))
	})
	It("writes AMT's 401 shape", func() {
		got := string(httpwire.AppendResponse(nil, httpwire.Unauthorized("15.0.23.1706", `Digest realm="r", nonce="n",stale="false",qop="auth"`)))
		Expect(got).To(HavePrefix("HTTP/1.1 401 Unauthorized\r\n" +
			"WWW-Authenticate: Digest realm=\"r\", nonce=\"n\",stale=\"false\",qop=\"auth\"\r\n" +
			"Content-Type: text/html\r\n" +
			"Server: Intel(R) Active Management Technology 15.0.23.1706\r\n" +
			"Content-Length: 690\r\n" +
			"Connection: close\r\n\r\n<!DOCTYPE"))
		Expect(got).To(HaveSuffix("</html>\n"))
		Expect(strings.Index(got, "Server: ") + len("Server: ") + len(httpwire.ServerPrefix)).
			To(Equal(strings.Index(got, "15.0.23.1706")))
	})
	It("reads the version as MeshCentral does (character 46 of the line)", func() {
		line := "Server: " + httpwire.ServerHeader("16.1.27")
		Expect(line[46:]).To(Equal("16.1.27"))
		v, ok := httpwire.AMTVersion(httpwire.ServerHeader("16.1.27"))
		Expect(ok).To(BeTrue())
		Expect(v).To(Equal("16.1.27"))
		_, ok = httpwire.AMTVersion("nginx")
		Expect(ok).To(BeFalse())
	})
	It("writes the servers' request shape", func() {
		r := httpwire.WSManRequest(httpwire.HostPort("12345678-9abc-def0-1122-334455667788", httpwire.WSManPort), "", "", []byte(soap))
		Expect(string(httpwire.AppendRequest(nil, r))).To(Equal("POST /wsman HTTP/1.1\r\nHost: 12345678-9abc-def0-1122-334455667788:16992\r\nContent-Length: 49\r\n\r\n" + soap))
		r = httpwire.WSManRequest("g:16992", "Digest x", "application/soap+xml; charset=utf-8", []byte(soap))
		Expect(string(httpwire.AppendRequest(nil, r))).To(Equal(consReq))
	})
	It("round-trips requests and responses through the parsers", func() {
		req := &httpwire.Request{Method: "POST", Target: "/wsman", Chunked: true, Body: []byte(strings.Repeat("z", 9000)),
			Trailer: httpwire.Headers{{Name: "T", Value: "v"}}}
		got, n, err := httpwire.ParseRequest(httpwire.AppendRequest(nil, req), httpwire.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(BeNumerically(">", 9000))
		Expect(got.Body).To(Equal(req.Body))
		Expect(got.Trailer).To(Equal(req.Trailer))
		resp := &httpwire.Response{StatusCode: 404, Body: []byte("nope")}
		gr, _, err := httpwire.ParseResponse(httpwire.AppendResponse(nil, resp), httpwire.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(gr.Reason).To(Equal("Not Found"))
		Expect(gr.Header.Get("Content-Length")).To(Equal("4"))
		Expect(string(gr.Body)).To(Equal("nope"))
	})
	It("edits headers in place", func() {
		var h httpwire.Headers
		h.Add("A", "1")
		h.Add("B", "2")
		h.Add("a", "3")
		h.Set("A", "x")
		Expect(h).To(Equal(httpwire.Headers{{Name: "A", Value: "x"}, {Name: "B", Value: "2"}}))
		h.Set("C", "y")
		h.Del("b")
		Expect(h).To(Equal(httpwire.Headers{{Name: "A", Value: "x"}, {Name: "C", Value: "y"}}))
		Expect(h.Values("a")).To(Equal([]string{"x"}))
	})
})

var _ = Describe("DMT completion rule without Content-Type", func() {
	It("ends a bare 401 at </html>", func() {
		in := "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n<html></html>\r\n"
		r, n, err := httpwire.ParseResponse([]byte(in+"junk"), httpwire.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(len(in)))
		Expect(string(r.Body)).To(Equal("<html></html>\r\n"))
	})
})
