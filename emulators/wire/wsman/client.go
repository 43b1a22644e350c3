package wsman

import (
	"strconv"
	"strings"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// Style selects which server's request shape a Builder imitates (§3.1).
type Style uint8

const (
	// StyleMeshCentral: default SOAP namespace, a/w prefixes declared on the
	// Envelope, PT60.000S, Put and method bodies in prefix r.
	StyleMeshCentral Style = iota
	// StyleDMT: like DMT's wsman-messages: xsi and xsd declared too,
	// PT60S, Put and method bodies in prefix h.
	StyleDMT
)

// Builder writes requests as the servers do. Timeout overrides the style's
// OperationTimeout when non-empty.
type Builder struct {
	Style   Style
	Timeout string
}

var reqPrefixes = prefixes{addr: "a", wsman: "w", xsiLocal: true}

func (b Builder) start(dst []byte, action, resourceURI, messageID string, sel []Selector) []byte {
	timeout := b.Timeout
	if b.Style == StyleDMT {
		dst = append(dst, `<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:xsi="`+NSXSI+`" xmlns:xsd="`+NSXSD+
			`" xmlns:a="`+NSAddressing+`" xmlns:w="`+NSWSMan+`" xmlns="`+NSSoap+`">`...)
		if timeout == "" {
			timeout = "PT60S"
		}
	} else {
		dst = append(dst, `<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="`+NSSoap+`" xmlns:a="`+NSAddressing+
			`" xmlns:w="`+NSWSMan+`">`...)
		if timeout == "" {
			timeout = "PT60.000S"
		}
	}
	dst = append(dst, `<Header>`...)
	dst = appendElem(dst, "a", "Action", action)
	dst = appendElem(dst, "a", "To", "/wsman")
	dst = appendElem(dst, "w", "ResourceURI", resourceURI)
	dst = appendElem(dst, "a", "MessageID", messageID)
	dst = append(dst, `<a:ReplyTo>`...)
	dst = appendElem(dst, "a", "Address", Anonymous)
	dst = append(dst, `</a:ReplyTo>`...)
	dst = appendElem(dst, "w", "OperationTimeout", timeout)
	dst = appendSelectorSet(dst, reqPrefixes, sel)
	return append(dst, `</Header>`...)
}

const reqEnd = `</Envelope>`

func (b Builder) bodyPrefix() string {
	if b.Style == StyleDMT {
		return "h"
	}
	return "r"
}

// Get builds a Get of resourceURI.
func (b Builder) Get(messageID, resourceURI string, sel ...Selector) []byte {
	dst := b.start(nil, ActionGet, resourceURI, messageID, sel)
	return append(dst, `<Body></Body>`+reqEnd...)
}

// Delete builds a Delete of resourceURI.
func (b Builder) Delete(messageID, resourceURI string, sel ...Selector) []byte {
	dst := b.start(nil, ActionDelete, resourceURI, messageID, sel)
	return append(dst, `<Body></Body>`+reqEnd...)
}

// Enumerate builds an Enumerate of resourceURI.
func (b Builder) Enumerate(messageID, resourceURI string) []byte {
	dst := b.start(nil, ActionEnumerate, resourceURI, messageID, nil)
	return append(dst, `<Body><Enumerate xmlns="`+NSEnumeration+`"/></Body>`+reqEnd...)
}

// Pull builds a Pull; maxElements and maxChars ≤ 0 are left out (the servers
// send 999 and 99999).
func (b Builder) Pull(messageID, resourceURI, context string, maxElements, maxChars int) []byte {
	dst := b.start(nil, ActionPull, resourceURI, messageID, nil)
	dst = append(dst, `<Body><Pull xmlns="`+NSEnumeration+`">`...)
	dst = appendElem(dst, "", "EnumerationContext", context)
	if maxElements > 0 {
		dst = appendElem(dst, "", "MaxElements", strconv.Itoa(maxElements))
	}
	if maxChars > 0 {
		dst = appendElem(dst, "", "MaxCharacters", strconv.Itoa(maxChars))
	}
	return append(dst, `</Pull></Body>`+reqEnd...)
}

// Release builds a Release of an enumeration context.
func (b Builder) Release(messageID, resourceURI, context string) []byte {
	dst := b.start(nil, ActionRelease, resourceURI, messageID, nil)
	dst = append(dst, `<Body><Release xmlns="`+NSEnumeration+`">`...)
	dst = appendElem(dst, "", "EnumerationContext", context)
	return append(dst, `</Release></Body>`+reqEnd...)
}

func (b Builder) withInstance(action, messageID string, in *Instance, sel []Selector) []byte {
	p := b.bodyPrefix()
	dst := b.start(nil, action, in.ResourceURI, messageID, sel)
	dst = append(dst, `<Body><`+p+`:`...)
	dst = append(dst, in.Class...)
	dst = append(dst, ` xmlns:`+p+`="`...)
	dst = appendEscaped(dst, in.ResourceURI, true)
	dst = append(dst, `">`...)
	dst = appendProps(dst, reqPrefixes, p, in.Props)
	dst = appendClose(dst, p, in.Class)
	return append(dst, `</Body>`+reqEnd...)
}

// Put builds a Put of in (class element in in.ResourceURI's namespace).
func (b Builder) Put(messageID string, in *Instance, sel ...Selector) []byte {
	return b.withInstance(ActionPut, messageID, in, sel)
}

// Create builds a Create of in.
func (b Builder) Create(messageID string, in *Instance) []byte {
	return b.withInstance(ActionCreate, messageID, in, nil)
}

// Invoke builds a call of method on resourceURI with args in order; EPR
// arguments are written inline as Address + ReferenceParameters.
func (b Builder) Invoke(messageID, resourceURI, method string, args []Prop, sel ...Selector) []byte {
	if args == nil {
		args = []Prop{}
	}
	return b.withInstance(resourceURI+"/"+method, messageID, &Instance{Class: method + "_INPUT", ResourceURI: resourceURI, Props: args}, sel)
}

// Response is a parsed WS-MAN response.
type Response struct {
	Action      string
	RelatesTo   string
	MessageID   string
	ResourceURI string

	Instance *Instance // Get and Put

	EnumerationContext string // Enumerate, and Pull while not finished
	Items              []Instance
	EndOfSequence      bool

	Method      string    // method name of a <Method>_OUTPUT body
	Output      *Instance // the _OUTPUT element; ReturnValue is among its Props
	ReturnValue string

	Created *EPR // Create

	Fault *Fault
}

// ParseResponse parses a response as AMT (or our emulator) writes it. A SOAP
// fault yields both the Response and a *Fault error; malformed XML yields a
// *wireerr.Error.
func ParseResponse(b []byte, lim Limits) (*Response, error) {
	const msg = "response"
	hdr, body, err := envelope(b, lim, msg)
	if err != nil {
		return nil, err
	}
	r := &Response{}
	if hdr != nil {
		for _, h := range hdr.kids {
			switch {
			case h.is(NSAddressing, "Action"):
				r.Action = strings.TrimSpace(text(h))
			case h.is(NSAddressing, "RelatesTo"):
				r.RelatesTo = text(h)
			case h.is(NSAddressing, "MessageID"):
				r.MessageID = text(h)
			case h.is(NSWSMan, "ResourceURI"):
				r.ResourceURI = strings.TrimSpace(text(h))
			}
		}
	}
	if len(body.kids) > 1 {
		return nil, wireerr.New(Proto, msg, "Body", body.kids[1].off, "one element in Body", strconv.Itoa(len(body.kids))+" elements")
	}
	el := firstElem(body)
	switch {
	case el == nil:
	case el.is(NSSoap, "Fault"):
		r.Fault = faultFrom(el)
		return r, r.Fault
	case el.is(NSEnumeration, "EnumerateResponse"):
		ctx := el.child(NSEnumeration, "EnumerationContext")
		if ctx == nil {
			return nil, wireerr.New(Proto, msg, "EnumerationContext", el.off, "EnumerationContext element", "none")
		}
		r.EnumerationContext = strings.TrimSpace(text(ctx))
	case el.is(NSEnumeration, "PullResponse"):
		for _, k := range el.kids {
			switch {
			case k.is(NSEnumeration, "EnumerationContext"):
				r.EnumerationContext = strings.TrimSpace(text(k))
			case k.is(NSEnumeration, "EndOfSequence"):
				r.EndOfSequence = true
			case k.is(NSEnumeration, "Items"):
				for _, it := range k.kids {
					r.Items = append(r.Items, Instance{Class: it.name.Local, ResourceURI: it.name.Space, Props: propsFrom(it, 0)})
				}
			}
		}
	case el.is(NSTransfer, "ResourceCreated"):
		r.Created = eprFrom(el)
	case strings.HasSuffix(el.name.Local, "_OUTPUT"):
		r.Method = strings.TrimSuffix(el.name.Local, "_OUTPUT")
		r.Output = &Instance{Class: el.name.Local, ResourceURI: el.name.Space, Props: propsFrom(el, 0)}
		r.ReturnValue = r.Output.Get("ReturnValue")
	default:
		r.Instance = &Instance{Class: el.name.Local, ResourceURI: el.name.Space, Props: propsFrom(el, 0)}
	}
	return r, nil
}

// qname resolves a QName written as element text ("b:DestinationUnreachable").
func qname(n *node) (space, local string) {
	s := strings.TrimSpace(text(n))
	if p, l, ok := strings.Cut(s, ":"); ok {
		return n.resolve(p), l
	}
	return n.resolve(""), s
}

func faultFrom(el *node) *Fault {
	f := &Fault{}
	if code := el.child(NSSoap, "Code"); code != nil {
		if v := code.child(NSSoap, "Value"); v != nil {
			_, f.Code = qname(v)
		}
		if sc := code.child(NSSoap, "Subcode"); sc != nil {
			if v := sc.child(NSSoap, "Value"); v != nil {
				f.SubcodeNS, f.Subcode = qname(v)
			}
		}
	}
	if rs := el.child(NSSoap, "Reason"); rs != nil {
		if t := rs.child(NSSoap, "Text"); t != nil {
			f.Reason = text(t)
		}
	}
	if d := el.child(NSSoap, "Detail"); d != nil {
		if fd := d.child(NSWSMan, "FaultDetail"); fd != nil {
			f.Detail = strings.TrimSpace(text(fd))
		}
	}
	return f
}
