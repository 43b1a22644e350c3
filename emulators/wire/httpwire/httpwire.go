// Package httpwire is the HTTP/1.1 codec for WS-MAN carried inside APF
// channels: streaming parsers that cut one request or response from the front
// of a buffer (so pipelined requests are read by calling again), and writers
// that produce exactly the shapes Intel AMT and its management servers send
// (reference §1.9; docs/protocols/http-digest.md).
//
// The package is pure: no I/O, no goroutines, no clocks (the Date header's
// time is an argument).
package httpwire

import "strings"

// Proto is the protocol name carried in every *wireerr.Error of this package.
const Proto = "HTTP"

// Header is one header line, name as sent.
type Header struct {
	Name  string
	Value string
}

// Headers keeps header lines in wire order; lookups ignore case.
type Headers []Header

// Get returns the first value of name, or "".
func (h Headers) Get(name string) string {
	v, _ := h.Lookup(name)
	return v
}

// Lookup returns the first value of name and whether it is present.
func (h Headers) Lookup(name string) (string, bool) {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// Values returns every value of name in order.
func (h Headers) Values(name string) []string {
	var vs []string
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// Has reports whether name is present.
func (h Headers) Has(name string) bool {
	_, ok := h.Lookup(name)
	return ok
}

// Add appends a header line.
func (h *Headers) Add(name, value string) { *h = append(*h, Header{name, value}) }

// Set replaces the first line of name in place (keeping its position) and
// drops later ones, or appends if absent.
func (h *Headers) Set(name, value string) {
	out := (*h)[:0]
	done := false
	for _, f := range *h {
		if strings.EqualFold(f.Name, name) {
			if done {
				continue
			}
			f.Value, done = value, true
		}
		out = append(out, f)
	}
	if !done {
		out = append(out, Header{name, value})
	}
	*h = out
}

// Del removes every line of name.
func (h *Headers) Del(name string) {
	out := (*h)[:0]
	for _, f := range *h {
		if !strings.EqualFold(f.Name, name) {
			out = append(out, f)
		}
	}
	*h = out
}

// hasToken reports whether a comma-separated header value list of name
// contains token (case-insensitive), e.g. Connection: keep-alive, close.
func (h Headers) hasToken(name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Request is one HTTP request.
type Request struct {
	Method  string
	Target  string // request-target as sent, e.g. "/wsman"
	Version string // "HTTP/1.1"
	Header  Headers
	Body    []byte
	Trailer Headers // trailer fields of a chunked body
	Chunked bool    // body was (or is to be) sent chunked
}

// Response is one HTTP response.
type Response struct {
	Version    string // "HTTP/1.1"
	StatusCode int
	Reason     string
	Header     Headers
	Body       []byte
	Trailer    Headers
	Chunked    bool
	// ChunkSize is the largest chunk AppendResponse writes for a chunked
	// body; 0 means DefaultChunkSize. Capped at 0xFFFF so sizes stay four
	// hex digits.
	ChunkSize int
}

// Close reports whether the message asks to close the connection afterwards.
func (r *Response) Close() bool { return r.Header.hasToken("Connection", "close") }

// Close reports whether the request asks to close the connection afterwards.
func (r *Request) Close() bool { return r.Header.hasToken("Connection", "close") }

// Limits bounds what the parsers accept. Zero fields take the defaults.
type Limits struct {
	MaxLineBytes   int // start line and each header line
	MaxHeaderBytes int // whole header section incl. start line
	MaxHeaders     int
	MaxBodyBytes   int // decoded body
	MaxChunks      int
}

// DefaultLimits are generous for WS-MAN (bodies of a few KiB; a big Pull is
// tens of KiB) and small enough that a hostile peer cannot make a parser hold
// much memory.
var DefaultLimits = Limits{
	MaxLineBytes:   8 << 10,
	MaxHeaderBytes: 32 << 10,
	MaxHeaders:     64,
	MaxBodyBytes:   4 << 20,
	MaxChunks:      4096,
}

func (l Limits) withDefaults() Limits {
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = DefaultLimits.MaxLineBytes
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultLimits.MaxHeaderBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultLimits.MaxHeaders
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultLimits.MaxBodyBytes
	}
	if l.MaxChunks <= 0 {
		l.MaxChunks = DefaultLimits.MaxChunks
	}
	return l
}
