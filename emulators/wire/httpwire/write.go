package httpwire

import (
	"strconv"
	"strings"
	"time"
)

// DefaultChunkSize is the largest chunk AppendResponse writes when
// Response.ChunkSize is 0.
const DefaultChunkSize = 0x1000

func appendHeaders(dst []byte, h Headers) []byte {
	for _, f := range h {
		dst = append(dst, f.Name...)
		dst = append(dst, ": "...)
		dst = append(dst, f.Value...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}

// appendChunked writes body as chunks with 4-digit upper-case hex sizes
// ("0220"), as AMT does, then the last chunk, trailers and the empty line.
func appendChunked(dst, body []byte, size int, trailer Headers) []byte {
	if size <= 0 {
		size = DefaultChunkSize
	}
	size = min(size, 0xFFFF)
	for len(body) > 0 {
		n := min(len(body), size)
		dst = appendHex4(dst, n)
		dst = append(dst, "\r\n"...)
		dst = append(dst, body[:n]...)
		dst = append(dst, "\r\n"...)
		body = body[n:]
	}
	dst = append(dst, "0\r\n"...)
	dst = appendHeaders(dst, trailer)
	return append(dst, "\r\n"...)
}

func appendHex4(dst []byte, n int) []byte {
	const digits = "0123456789ABCDEF"
	return append(dst, digits[n>>12&0xf], digits[n>>8&0xf], digits[n>>4&0xf], digits[n&0xf])
}

// AppendRequest appends r in wire form. Headers are written verbatim and in
// order; the framing header is added at the end only if the caller gave none:
// Transfer-Encoding: chunked when r.Chunked, else Content-Length when there is
// a body or the method is POST or PUT.
func AppendRequest(dst []byte, r *Request) []byte {
	v := r.Version
	if v == "" {
		v = "HTTP/1.1"
	}
	dst = append(dst, r.Method...)
	dst = append(dst, ' ')
	dst = append(dst, r.Target...)
	dst = append(dst, ' ')
	dst = append(dst, v...)
	dst = append(dst, "\r\n"...)
	dst = appendHeaders(dst, r.Header)
	if r.Chunked {
		if !r.Header.Has("Transfer-Encoding") {
			dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
		}
		dst = append(dst, "\r\n"...)
		return appendChunked(dst, r.Body, DefaultChunkSize, r.Trailer)
	}
	if !r.Header.Has("Content-Length") && (len(r.Body) > 0 || r.Method == "POST" || r.Method == "PUT") {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(r.Body)), 10)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, r.Body...)
}

// AppendResponse appends r in wire form, framing like AppendRequest: chunked
// bodies use AMT's 4-digit upper-case hex chunk sizes and end with 0 CR LF
// CR LF; otherwise Content-Length is added if absent (except for 1xx, 204 and
// 304).
func AppendResponse(dst []byte, r *Response) []byte {
	v := r.Version
	if v == "" {
		v = "HTTP/1.1"
	}
	reason := r.Reason
	if reason == "" {
		reason = StatusText(r.StatusCode)
	}
	dst = append(dst, v...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(r.StatusCode), 10)
	dst = append(dst, ' ')
	dst = append(dst, reason...)
	dst = append(dst, "\r\n"...)
	dst = appendHeaders(dst, r.Header)
	if r.Chunked {
		if !r.Header.Has("Transfer-Encoding") {
			dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
		}
		dst = append(dst, "\r\n"...)
		return appendChunked(dst, r.Body, r.ChunkSize, r.Trailer)
	}
	noBody := r.StatusCode < 200 || r.StatusCode == 204 || r.StatusCode == 304
	if !noBody && !r.Header.Has("Content-Length") {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(r.Body)), 10)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, r.Body...)
}

// StatusText is the reason phrase AMT uses for the codes it sends.
func StatusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 411:
		return "Length Required"
	case 413:
		return "Request Entity Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	}
	return "Status " + strconv.Itoa(code)
}

// ServerPrefix starts AMT's Server header value. MeshCentral reads the
// version from character 46 of the header line, i.e. right after this prefix
// (§1.9 item 4), so nothing may come between.
const ServerPrefix = "Intel(R) Active Management Technology "

// ServerHeader returns AMT's Server header value for a version such as
// "15.0.23.1706".
func ServerHeader(version string) string { return ServerPrefix + version }

// AMTVersion returns the version from an AMT Server header value, reading it
// the way MeshCentral does.
func AMTVersion(server string) (string, bool) {
	if !strings.HasPrefix(server, ServerPrefix) {
		return "", false
	}
	return server[len(ServerPrefix):], true
}

// SOAPContentType is the Content-Type of AMT's WS-MAN responses.
const SOAPContentType = "application/soap+xml; charset=UTF-8"

// SOAPResponse builds a WS-MAN response with AMT's exact header set and
// order: Date (omitted when date is zero), Server, X-Frame-Options: DENY,
// Content-Type, Transfer-Encoding: chunked. Use status 200 for results and
// 400 for SOAP faults; both are chunked because DMT MPS only completes
// chunked bodies (§1.9 item 1).
func SOAPResponse(status int, version string, date time.Time, body []byte) *Response {
	r := &Response{Version: "HTTP/1.1", StatusCode: status, Reason: StatusText(status), Body: body, Chunked: true}
	if !date.IsZero() {
		r.Header.Add("Date", date.UTC().Format(TimeFormat))
	}
	r.Header.Add("Server", ServerHeader(version))
	r.Header.Add("X-Frame-Options", "DENY")
	r.Header.Add("Content-Type", SOAPContentType)
	r.Header.Add("Transfer-Encoding", "chunked")
	return r
}

// TimeFormat is the HTTP date format (IMF-fixdate).
const TimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// UnauthorizedPage is the HTML log-on-failed page of AMT's 401. It ends with
// "</html>\n": DMT MPS completes a 401 only when it sees "</html>".
const UnauthorizedPage = `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" >
<html><head><link rel=stylesheet href=/styles.css>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>Intel&reg; Active Management Technology</title></head>
<body>
<table class=header>
<tr><td valign=top nowrap>
<p class=top1>Intel<font class=r><sup>&reg;</sup></font> Active Management Technology
<td valign="top"><img src="logo.gif" align="right" alt="Intel">
</table>
<br />
<h2 class=warn>Log on failed. Incorrect user name or password, or user account temporarily locked.</h2>

<p>
<form METHOD="GET" action="index.htm"><h2><input type=submit value="Try again">
</h2></form>
<p>

</body>
</html>
`

// Unauthorized builds AMT's 401: WWW-Authenticate (challenge is the header
// value, see digest.Challenge.String), Content-Type text/html, Server,
// Content-Length, Connection: close, and the HTML page. MeshCentral ignores
// the body of a non-chunked Connection: close response, which is fine here
// (§1.9 item 3).
func Unauthorized(version, challenge string) *Response {
	r := &Response{Version: "HTTP/1.1", StatusCode: 401, Reason: "Unauthorized", Body: []byte(UnauthorizedPage)}
	r.Header.Add("WWW-Authenticate", challenge)
	r.Header.Add("Content-Type", "text/html")
	r.Header.Add("Server", ServerHeader(version))
	r.Header.Add("Content-Length", strconv.Itoa(len(UnauthorizedPage)))
	r.Header.Add("Connection", "close")
	return r
}

// WSManPort is AMT's plain-HTTP WS-MAN port; 16993 is the TLS one.
const WSManPort = 16992

// HostPort formats a Host header value as the servers do: the device's GUID
// (DMT) or node id (MeshCentral), a colon and the port.
func HostPort(id string, port int) string { return id + ":" + strconv.Itoa(port) }

// WSManRequest builds a POST /wsman in the servers' shape (§1.9): an optional
// Authorization first, then Host, an optional Content-Type (only the DMT
// console sends one) and Content-Length.
func WSManRequest(host, authorization, contentType string, body []byte) *Request {
	r := &Request{Method: "POST", Target: "/wsman", Version: "HTTP/1.1", Body: body}
	if authorization != "" {
		r.Header.Add("Authorization", authorization)
	}
	r.Header.Add("Host", host)
	if contentType != "" {
		r.Header.Add("Content-Type", contentType)
	}
	r.Header.Add("Content-Length", strconv.Itoa(len(body)))
	return r
}
