package httpwire

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// short reports a valid prefix; the caller must read more and call again.
func short(msg, field string, off, have int) error {
	return wireerr.Short(Proto, msg, field, off, have+1, have)
}

func bad(msg, field string, off int, expected, got string) error {
	return wireerr.New(Proto, msg, field, off, expected, got)
}

func clip(b []byte) string {
	if len(b) > 32 {
		return strconv.Quote(string(b[:32])) + "…"
	}
	return strconv.Quote(string(b))
}

// line returns the line starting at i (without CR LF or bare LF), and the
// offset just past its terminator.
func line(b []byte, i, max int, msg, field string) ([]byte, int, error) {
	rest := b[i:]
	if len(rest) > max+2 {
		rest = rest[:max+2]
	}
	j := bytes.IndexByte(rest, '\n')
	if j < 0 {
		if len(rest) > max+1 {
			return nil, 0, bad(msg, field, i, "line of at most "+strconv.Itoa(max)+" bytes", "longer line")
		}
		return nil, 0, short(msg, field, i, len(b))
	}
	l := rest[:j]
	if len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[:len(l)-1]
	}
	if len(l) > max {
		return nil, 0, bad(msg, field, i, "line of at most "+strconv.Itoa(max)+" bytes", strconv.Itoa(len(l))+" bytes")
	}
	return l, i + j + 1, nil
}

func isTokenByte(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	return !strings.ContainsRune("()<>@,;:\\\"/[]?={}", rune(c))
}

// headerFields parses header lines from i up to and including the empty line.
func headerFields(b []byte, i, start int, lim Limits, msg string, count *int) (Headers, int, error) {
	var h Headers
	for {
		if i-start > lim.MaxHeaderBytes {
			return nil, 0, bad(msg, "header section", start, "at most "+strconv.Itoa(lim.MaxHeaderBytes)+" bytes", "more")
		}
		l, next, err := line(b, i, lim.MaxLineBytes, msg, "header line")
		if err != nil {
			return nil, 0, err
		}
		if len(l) == 0 {
			return h, next, nil
		}
		if next-start > lim.MaxHeaderBytes {
			return nil, 0, bad(msg, "header section", start, "at most "+strconv.Itoa(lim.MaxHeaderBytes)+" bytes", "more")
		}
		if l[0] == ' ' || l[0] == '\t' {
			return nil, 0, bad(msg, "header line", i, "field name", "obsolete line folding")
		}
		c := bytes.IndexByte(l, ':')
		if c <= 0 {
			return nil, 0, bad(msg, "header line", i, "name: value", clip(l))
		}
		for k := 0; k < c; k++ {
			if !isTokenByte(l[k]) {
				return nil, 0, bad(msg, "header name", i+k, "token character", clip(l[k:k+1]))
			}
		}
		v := bytes.Trim(l[c+1:], " \t")
		for k, ch := range v {
			if ch < ' ' && ch != '\t' || ch == 0x7f {
				return nil, 0, bad(msg, string(l[:c]), i+c+1+k, "visible characters", clip(v[k:k+1]))
			}
		}
		*count++
		if *count > lim.MaxHeaders {
			return nil, 0, bad(msg, "header count", i, "at most "+strconv.Itoa(lim.MaxHeaders)+" fields", "more")
		}
		h = append(h, Header{Name: string(l[:c]), Value: string(v)})
		i = next
	}
}

// framing is how a message's body is delimited.
type framing uint8

const (
	frameNone framing = iota
	frameLength
	frameChunked
	frameClose // until the connection closes (responses only)
)

func bodyFraming(h Headers, lim Limits, msg string, off int) (framing, int, error) {
	if te := h.Values("Transfer-Encoding"); len(te) > 0 {
		codings := strings.Split(strings.Join(te, ","), ",")
		for k, c := range codings {
			c = strings.TrimSpace(c)
			if c == "" {
				continue
			}
			if !strings.EqualFold(c, "chunked") || k != len(codings)-1 {
				return 0, 0, bad(msg, "Transfer-Encoding", off, "chunked", strconv.Quote(strings.Join(te, ",")))
			}
		}
		// Transfer-Encoding overrides Content-Length (RFC 9112 §6.3).
		return frameChunked, 0, nil
	}
	cls := h.Values("Content-Length")
	if len(cls) == 0 {
		return frameNone, 0, nil
	}
	n := -1
	for _, v := range cls {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" || len(p) > 18 || strings.Trim(p, "0123456789") != "" {
				return 0, 0, bad(msg, "Content-Length", off, "decimal length", strconv.Quote(v))
			}
			m, _ := strconv.ParseInt(p, 10, 64)
			if n >= 0 && int64(n) != m {
				return 0, 0, bad(msg, "Content-Length", off, "one length", strconv.Quote(strings.Join(cls, ",")))
			}
			if m > int64(lim.MaxBodyBytes) {
				return 0, 0, bad(msg, "Content-Length", off, "at most "+strconv.Itoa(lim.MaxBodyBytes), p)
			}
			n = int(m)
		}
	}
	return frameLength, n, nil
}

// chunked decodes a chunked body starting at i. It first finds every chunk
// without copying, so a caller re-parsing a growing buffer while it waits
// for the last chunk pays no allocation, then copies the data once.
func chunked(b []byte, i int, lim Limits, msg string, hdrCount *int) ([]byte, Headers, int, error) {
	type span struct{ from, to int }
	var spans []span
	total := 0
	for chunks := 0; ; chunks++ {
		if chunks >= lim.MaxChunks {
			return nil, nil, 0, bad(msg, "chunk count", i, "at most "+strconv.Itoa(lim.MaxChunks)+" chunks", "more")
		}
		l, next, err := line(b, i, lim.MaxLineBytes, msg, "chunk size")
		if err != nil {
			return nil, nil, 0, err
		}
		k, size := 0, 0
		for k < len(l) && isHexDigit(l[k]) {
			size = size<<4 | hexVal(l[k])
			k++
			if size > lim.MaxBodyBytes {
				return nil, nil, 0, bad(msg, "chunk size", i, "body of at most "+strconv.Itoa(lim.MaxBodyBytes)+" bytes", clip(l))
			}
		}
		if k == 0 {
			return nil, nil, 0, bad(msg, "chunk size", i, "hex digits", clip(l))
		}
		ext := bytes.TrimLeft(l[k:], " \t")
		if len(ext) > 0 && ext[0] != ';' {
			return nil, nil, 0, bad(msg, "chunk size", i+k, "end of line or chunk extension", clip(ext))
		}
		if size == 0 {
			tr, end, err := headerFields(b, next, next, lim, msg, hdrCount)
			if err != nil {
				return nil, nil, 0, err
			}
			body := make([]byte, 0, total)
			for _, sp := range spans {
				body = append(body, b[sp.from:sp.to]...)
			}
			return body, tr, end, nil
		}
		if total+size > lim.MaxBodyBytes {
			return nil, nil, 0, bad(msg, "chunk size", i, "body of at most "+strconv.Itoa(lim.MaxBodyBytes)+" bytes", strconv.Itoa(total+size))
		}
		if len(b)-next < size {
			return nil, nil, 0, short(msg, "chunk data", next, len(b))
		}
		spans = append(spans, span{next, next + size})
		total += size
		i = next + size
		switch {
		case len(b)-i >= 2 && b[i] == '\r' && b[i+1] == '\n':
			i += 2
		case len(b)-i >= 1 && b[i] == '\n':
			i++
		case len(b)-i == 0 || len(b)-i == 1 && b[i] == '\r':
			return nil, nil, 0, short(msg, "chunk end", i, len(b))
		default:
			return nil, nil, 0, bad(msg, "chunk end", i, `CR LF after chunk data`, clip(b[i:min(i+8, len(b))]))
		}
	}
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	default:
		return int(c-'A') + 10
	}
}

// skipBlankLines skips the empty lines a client may leave between pipelined
// requests (RFC 9112 §2.2 asks servers to ignore at least one).
func skipBlankLines(b []byte) int {
	i := 0
	for k := 0; k < 4; k++ {
		switch {
		case len(b)-i >= 2 && b[i] == '\r' && b[i+1] == '\n':
			i += 2
		case len(b)-i >= 1 && b[i] == '\n':
			i++
		default:
			return i
		}
	}
	return i
}

func isVersion(v []byte) bool {
	return len(v) == 8 && string(v[:5]) == "HTTP/" && v[5] >= '0' && v[5] <= '9' && v[6] == '.' && v[7] >= '0' && v[7] <= '9'
}

// ParseRequest cuts one request from the front of b and returns it with the
// number of bytes it used. An incomplete request gives an error matching
// wireerr.ErrShort; call again with more bytes. Host and Content-Type are not
// required (DMT MPS and MeshCentral send no Content-Type).
func ParseRequest(b []byte, lim Limits) (*Request, int, error) {
	const msg = "request"
	lim = lim.withDefaults()
	start := skipBlankLines(b)
	l, i, err := line(b, start, lim.MaxLineBytes, msg, "request line")
	if err != nil {
		return nil, 0, err
	}
	parts := bytes.Split(l, []byte{' '})
	if len(parts) != 3 || len(parts[0]) == 0 || len(parts[1]) == 0 {
		return nil, 0, bad(msg, "request line", start, "METHOD SP target SP HTTP/x.y", clip(l))
	}
	for k, c := range parts[0] {
		if !isTokenByte(c) {
			return nil, 0, bad(msg, "method", start+k, "token character", clip(parts[0][k:k+1]))
		}
	}
	for k, c := range parts[1] {
		if c <= ' ' || c == 0x7f {
			return nil, 0, bad(msg, "target", start+len(parts[0])+1+k, "visible characters", clip(parts[1][k:k+1]))
		}
	}
	if !isVersion(parts[2]) {
		return nil, 0, bad(msg, "version", start+len(parts[0])+len(parts[1])+2, "HTTP/x.y", clip(parts[2]))
	}
	count := 0
	h, i, err := headerFields(b, i, start, lim, msg, &count)
	if err != nil {
		return nil, 0, err
	}
	r := &Request{Method: string(parts[0]), Target: string(parts[1]), Version: string(parts[2]), Header: h}
	fr, n, err := bodyFraming(h, lim, msg, start)
	if err != nil {
		return nil, 0, err
	}
	switch fr {
	case frameChunked:
		r.Chunked = true
		r.Body, r.Trailer, i, err = chunked(b, i, lim, msg, &count)
		if err != nil {
			return nil, 0, err
		}
	case frameLength:
		if len(b)-i < n {
			return nil, 0, short(msg, "body", i, len(b))
		}
		r.Body = append([]byte{}, b[i:i+n]...)
		i += n
	}
	return r, i, nil
}

// ParseResponse cuts one response from the front of b, like ParseRequest.
//
// Framing follows RFC 9112 plus DMT MPS's completion rule: a response with
// neither Transfer-Encoding nor Content-Length that is a 401 or has
// Content-Type text/html (AMT's log-on-failed page, sent with Connection:
// close) ends after "</html>" and an optional line break. Any other close-delimited response is only complete
// at end of stream: see ParseResponseAtEOF.
func ParseResponse(b []byte, lim Limits) (*Response, int, error) {
	return parseResponse(b, lim, false)
}

// ParseResponseAtEOF is ParseResponse for a buffer that will get no more
// bytes: a close-delimited body is everything that is left.
func ParseResponseAtEOF(b []byte, lim Limits) (*Response, int, error) {
	return parseResponse(b, lim, true)
}

func parseResponse(b []byte, lim Limits, eof bool) (*Response, int, error) {
	const msg = "response"
	lim = lim.withDefaults()
	l, i, err := line(b, 0, lim.MaxLineBytes, msg, "status line")
	if err != nil {
		return nil, 0, err
	}
	if len(l) < 12 || !isVersion(l[:8]) || l[8] != ' ' || len(l) > 12 && l[12] != ' ' {
		return nil, 0, bad(msg, "status line", 0, "HTTP/x.y SP 3-digit code SP reason", clip(l))
	}
	code := 0
	for _, c := range l[9:12] {
		if c < '0' || c > '9' {
			return nil, 0, bad(msg, "status code", 9, "3 digits", clip(l[9:12]))
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return nil, 0, bad(msg, "status code", 9, "100..999", clip(l[9:12]))
	}
	r := &Response{Version: string(l[:8]), StatusCode: code}
	if len(l) > 13 {
		r.Reason = string(l[13:])
	}
	count := 0
	r.Header, i, err = headerFields(b, i, 0, lim, msg, &count)
	if err != nil {
		return nil, 0, err
	}
	fr, n, err := bodyFraming(r.Header, lim, msg, 0)
	if err != nil {
		return nil, 0, err
	}
	if code < 200 || code == 204 || code == 304 {
		fr = frameNone
	} else if fr == frameNone {
		fr = frameClose
	}
	switch fr {
	case frameChunked:
		r.Chunked = true
		r.Body, r.Trailer, i, err = chunked(b, i, lim, msg, &count)
		if err != nil {
			return nil, 0, err
		}
	case frameLength:
		if len(b)-i < n {
			return nil, 0, short(msg, "body", i, len(b))
		}
		r.Body = append([]byte{}, b[i:i+n]...)
		i += n
	case frameClose:
		end := -1
		ct := r.Header.Get("Content-Type")
		if code == 401 || len(ct) >= 9 && strings.EqualFold(ct[:9], "text/html") {
			if k := bytes.Index(b[i:], []byte("</html>")); k >= 0 {
				end = i + k + len("</html>")
				if len(b)-end >= 2 && b[end] == '\r' && b[end+1] == '\n' {
					end += 2
				} else if len(b)-end >= 1 && b[end] == '\n' {
					end++
				}
			}
		}
		if end < 0 && eof {
			end = len(b)
		}
		if end < 0 {
			if len(b)-i > lim.MaxBodyBytes {
				return nil, 0, bad(msg, "body", i, "at most "+strconv.Itoa(lim.MaxBodyBytes)+" bytes", "more")
			}
			return nil, 0, short(msg, "body", i, len(b))
		}
		if end-i > lim.MaxBodyBytes {
			return nil, 0, bad(msg, "body", i, "at most "+strconv.Itoa(lim.MaxBodyBytes)+" bytes", strconv.Itoa(end-i))
		}
		r.Body = append([]byte{}, b[i:end]...)
		i = end
	}
	return r, i, nil
}
