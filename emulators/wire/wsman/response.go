package wsman

import (
	"strconv"
)

// Reply carries the header values of a response.
type Reply struct {
	RelatesTo   string // the request's MessageID text, echoed exactly
	MessageID   string // see MessageIDs
	ResourceURI string // the request's resource URI; not written in faults
}

// ReplyTo makes the Reply header values for a request.
func ReplyTo(r *Request, messageID string) Reply {
	return Reply{RelatesTo: r.MessageID, MessageID: messageID, ResourceURI: r.ResourceURI}
}

// MessageIDs numbers responses the way AMT does:
// uuid:00000000-8086-8086-8086- followed by a 12-digit upper-case hex
// counter. The zero value starts at 1.
type MessageIDs struct{ n uint64 }

// Next returns the next message id.
func (m *MessageIDs) Next() string {
	m.n++
	return FormatMessageID(m.n)
}

// FormatMessageID formats AMT's message id for counter n.
func FormatMessageID(n uint64) string {
	const digits = "0123456789ABCDEF"
	b := []byte("uuid:00000000-8086-8086-8086-000000000000")
	for i := len(b) - 1; i >= len(b)-12; i-- {
		b[i] = digits[n&0xf]
		n >>= 4
	}
	return string(b)
}

// FormatEnumerationContext formats an enumeration context in AMT's style,
// e.g. n = 0xE2020000 → "E2020000-0000-0000-0000-000000000000".
func FormatEnumerationContext(n uint32) string {
	const digits = "0123456789ABCDEF"
	b := []byte("00000000-0000-0000-0000-000000000000")
	for i := 7; i >= 0; i-- {
		b[i] = digits[n&0xf]
		n >>= 4
	}
	return string(b)
}

const xmlDecl = `<?xml version="1.0" encoding="UTF-8"?>`

const envelopeNS = ` xmlns:a="` + NSSoap + `" xmlns:b="` + NSAddressing + `" xmlns:c="` + NSWSMan +
	`" xmlns:d="` + NSTrust + `" xmlns:e="` + NSWSSE + `" xmlns:f="` + NSCIMBinding + `"`

// appendEnvelope writes the declaration, the Envelope start tag with AMT's
// namespace declarations (g and h only when given; i follows h as in AMT's
// Pull responses) and the Header.
func appendEnvelope(dst []byte, g, h, action string, r Reply) []byte {
	dst = append(dst, xmlDecl...)
	dst = append(dst, `<a:Envelope`...)
	dst = append(dst, envelopeNS...)
	if g != "" {
		dst = append(dst, ` xmlns:g="`...)
		dst = appendEscaped(dst, g, true)
		dst = append(dst, '"')
	}
	if h != "" {
		dst = append(dst, ` xmlns:h="`...)
		dst = appendEscaped(dst, h, true)
		dst = append(dst, `" xmlns:i="`+NSCommon+`"`...)
	}
	dst = append(dst, ` xmlns:xsi="`+NSXSI+`">`...)
	return appendHeader(dst, action, r, true, "b", "c")
}

func appendHeader(dst []byte, action string, r Reply, withResource bool, b, c string) []byte {
	dst = append(dst, `<a:Header>`...)
	dst = appendElem(dst, b, "To", Anonymous)
	dst = appendElem(dst, b, "RelatesTo", r.RelatesTo)
	dst = append(dst, '<')
	dst = append(dst, b...)
	dst = append(dst, `:Action a:mustUnderstand="true">`...)
	dst = appendEscaped(dst, action, false)
	dst = appendClose(dst, b, "Action")
	dst = appendElem(dst, b, "MessageID", r.MessageID)
	if withResource {
		dst = appendElem(dst, c, "ResourceURI", r.ResourceURI)
	}
	return append(dst, `</a:Header>`...)
}

const envelopeEnd = `</a:Envelope>`

func appendInstance(dst []byte, prefix string, in *Instance) []byte {
	dst = appendOpen(dst, prefix, in.Class)
	dst = appendProps(dst, amtPrefixes, prefix, in.Props)
	return appendClose(dst, prefix, in.Class)
}

// AppendGetResponse writes a Get response: the instance as <g:Class> in the
// class namespace (in.ResourceURI, or r.ResourceURI when empty).
func AppendGetResponse(dst []byte, r Reply, in *Instance) []byte {
	return appendInstanceResponse(dst, ActionGet+"Response", r, in)
}

// AppendPutResponse writes a Put response carrying the updated instance.
func AppendPutResponse(dst []byte, r Reply, in *Instance) []byte {
	return appendInstanceResponse(dst, ActionPut+"Response", r, in)
}

func appendInstanceResponse(dst []byte, action string, r Reply, in *Instance) []byte {
	ns := in.ResourceURI
	if ns == "" {
		ns = r.ResourceURI
	}
	dst = appendEnvelope(dst, ns, "", action, r)
	dst = append(dst, `<a:Body>`...)
	dst = appendInstance(dst, "g", in)
	return append(dst, `</a:Body>`+envelopeEnd...)
}

// AppendCreateResponse writes a Create response: <g:ResourceCreated> (g =
// transfer namespace) holding the new resource's EPR.
func AppendCreateResponse(dst []byte, r Reply, created EPR) []byte {
	dst = appendEnvelope(dst, NSTransfer, "", ActionCreate+"Response", r)
	dst = append(dst, `<a:Body><g:ResourceCreated>`...)
	dst = appendEPRBody(dst, amtPrefixes, &created)
	return append(dst, `</g:ResourceCreated></a:Body>`+envelopeEnd...)
}

// AppendDeleteResponse writes a Delete response (empty body).
func AppendDeleteResponse(dst []byte, r Reply) []byte {
	dst = appendEnvelope(dst, "", "", ActionDelete+"Response", r)
	return append(dst, `<a:Body></a:Body>`+envelopeEnd...)
}

// AppendReleaseResponse writes a Release response (empty body).
func AppendReleaseResponse(dst []byte, r Reply) []byte {
	dst = appendEnvelope(dst, NSEnumeration, "", ActionRelease+"Response", r)
	return append(dst, `<a:Body></a:Body>`+envelopeEnd...)
}

// AppendEnumerateResponse writes an Enumerate response with the context.
func AppendEnumerateResponse(dst []byte, r Reply, context string) []byte {
	dst = appendEnvelope(dst, NSEnumeration, "", ActionEnumerate+"Response", r)
	dst = append(dst, `<a:Body><g:EnumerateResponse>`...)
	dst = appendElem(dst, "g", "EnumerationContext", context)
	return append(dst, `</g:EnumerateResponse></a:Body>`+envelopeEnd...)
}

// AppendPullResponse writes a Pull response. With end set it writes Items
// then EndOfSequence and no EnumerationContext (MeshCentral keeps pulling
// while a context is present); otherwise the context and then Items. Items
// use prefix h, bound to the first item's namespace; an item in another
// namespace re-binds h on its own element.
func AppendPullResponse(dst []byte, r Reply, items []Instance, context string, end bool) []byte {
	h := r.ResourceURI
	if len(items) > 0 && items[0].ResourceURI != "" {
		h = items[0].ResourceURI
	}
	dst = appendEnvelope(dst, NSEnumeration, h, ActionPull+"Response", r)
	dst = append(dst, `<a:Body><g:PullResponse>`...)
	if !end {
		dst = appendElem(dst, "g", "EnumerationContext", context)
	}
	dst = append(dst, `<g:Items>`...)
	for k := range items {
		in := &items[k]
		if in.ResourceURI != "" && in.ResourceURI != h {
			dst = append(dst, `<h:`...)
			dst = append(dst, in.Class...)
			dst = append(dst, ` xmlns:h="`...)
			dst = appendEscaped(dst, in.ResourceURI, true)
			dst = append(dst, `">`...)
			dst = appendProps(dst, amtPrefixes, "h", in.Props)
			dst = appendClose(dst, "h", in.Class)
			continue
		}
		dst = appendInstance(dst, "h", in)
	}
	dst = append(dst, `</g:Items>`...)
	if end {
		dst = append(dst, `<g:EndOfSequence></g:EndOfSequence>`...)
	}
	return append(dst, `</g:PullResponse></a:Body>`+envelopeEnd...)
}

// AppendMethodResponse writes the output of method on r.ResourceURI:
// <g:Method_OUTPUT> with the out parameters, then <g:ReturnValue>.
func AppendMethodResponse(dst []byte, r Reply, method string, returnValue uint32, out ...Prop) []byte {
	dst = appendEnvelope(dst, r.ResourceURI, "", r.ResourceURI+"/"+method+"Response", r)
	dst = append(dst, `<a:Body>`...)
	dst = appendOpen(dst, "g", method+"_OUTPUT")
	dst = appendProps(dst, amtPrefixes, "g", out)
	dst = appendElem(dst, "g", "ReturnValue", strconv.FormatUint(uint64(returnValue), 10))
	dst = appendClose(dst, "g", method+"_OUTPUT")
	return append(dst, `</a:Body>`+envelopeEnd...)
}
