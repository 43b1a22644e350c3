package wsman

import (
	"strconv"
)

// prefixes names the prefixes bound to the WS-Addressing and WS-Man
// namespaces in the envelope being written: b and c in AMT's responses, a
// and w in the servers' requests.
type prefixes struct {
	addr, wsman string
	xsiLocal    bool // xsi is not declared on the envelope
}

var amtPrefixes = prefixes{addr: "b", wsman: "c"}

func appendEscaped(dst []byte, s string, attr bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			dst = append(dst, "&amp;"...)
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '"':
			if attr {
				dst = append(dst, "&quot;"...)
			} else {
				dst = append(dst, c)
			}
		case '\r':
			dst = append(dst, "&#xD;"...)
		case '\t', '\n':
			if attr {
				dst = append(dst, "&#x"...)
				dst = strconv.AppendUint(dst, uint64(c), 16)
				dst = append(dst, ';')
			} else {
				dst = append(dst, c)
			}
		default:
			if c < 0x20 {
				// Not representable in XML 1.0; drop rather than emit a
				// document no parser accepts.
				continue
			}
			dst = append(dst, c)
		}
	}
	return dst
}

func appendOpen(dst []byte, prefix, local string) []byte {
	dst = append(dst, '<')
	if prefix != "" {
		dst = append(dst, prefix...)
		dst = append(dst, ':')
	}
	dst = append(dst, local...)
	return append(dst, '>')
}

func appendClose(dst []byte, prefix, local string) []byte {
	dst = append(dst, "</"...)
	if prefix != "" {
		dst = append(dst, prefix...)
		dst = append(dst, ':')
	}
	dst = append(dst, local...)
	return append(dst, '>')
}

// appendElem writes <p:local>text</p:local>; AMT never writes empty-element
// tags, and MeshCentral's splitter relies on that.
func appendElem(dst []byte, prefix, local, text string) []byte {
	dst = appendOpen(dst, prefix, local)
	dst = appendEscaped(dst, text, false)
	return appendClose(dst, prefix, local)
}

func appendSelectorSet(dst []byte, px prefixes, sel []Selector) []byte {
	if len(sel) == 0 {
		return dst
	}
	dst = appendOpen(dst, px.wsman, "SelectorSet")
	for _, s := range sel {
		dst = append(dst, '<')
		dst = append(dst, px.wsman...)
		dst = append(dst, `:Selector Name="`...)
		dst = appendEscaped(dst, s.Name, true)
		dst = append(dst, `">`...)
		if s.EPR != nil {
			dst = appendOpen(dst, px.addr, "EndpointReference")
			dst = appendEPRBody(dst, px, s.EPR)
			dst = appendClose(dst, px.addr, "EndpointReference")
		} else {
			dst = appendEscaped(dst, s.Value, false)
		}
		dst = appendClose(dst, px.wsman, "Selector")
	}
	return appendClose(dst, px.wsman, "SelectorSet")
}

func appendEPRBody(dst []byte, px prefixes, e *EPR) []byte {
	dst = appendElem(dst, px.addr, "Address", e.Address)
	dst = appendOpen(dst, px.addr, "ReferenceParameters")
	dst = appendElem(dst, px.wsman, "ResourceURI", e.ResourceURI)
	dst = appendSelectorSet(dst, px, e.Selectors)
	return appendClose(dst, px.addr, "ReferenceParameters")
}

func appendProps(dst []byte, px prefixes, p string, props []Prop) []byte {
	for _, pr := range props {
		switch {
		case pr.Nil:
			dst = append(dst, '<')
			dst = append(dst, p...)
			dst = append(dst, ':')
			dst = append(dst, pr.Name...)
			if px.xsiLocal {
				dst = append(dst, ` xmlns:xsi="`+NSXSI+`"`...)
			}
			dst = append(dst, ` xsi:nil="true">`...)
			dst = appendClose(dst, p, pr.Name)
		case pr.Values != nil:
			for _, v := range pr.Values {
				dst = appendElem(dst, p, pr.Name, v)
			}
		case pr.EPR != nil:
			dst = appendOpen(dst, p, pr.Name)
			dst = appendEPRBody(dst, px, pr.EPR)
			dst = appendClose(dst, p, pr.Name)
		case pr.Elems != nil:
			dst = appendOpen(dst, p, pr.Name)
			dst = appendProps(dst, px, p, pr.Elems)
			dst = appendClose(dst, p, pr.Name)
		default:
			dst = appendElem(dst, p, pr.Name, pr.Value)
		}
	}
	return dst
}
