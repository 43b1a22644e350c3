package wsman

import (
	"strconv"
	"strings"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// Request is a parsed WS-MAN request.
type Request struct {
	Action           string
	To               string
	ResourceURI      string
	MessageID        string // exact text; RelatesTo must echo it (§1.9 item 2)
	ReplyTo          string // ReplyTo/Address
	OperationTimeout string // e.g. "PT60S" or "PT60.000S"
	Selectors        []Selector

	Operation Operation
	Method    string // OpInvoke: method name from the Action

	// Instance is the Put or Create body, and for OpInvoke the
	// <Method>_INPUT element (Class "<Method>_INPUT", Props = arguments).
	Instance *Instance

	// Pull and Release.
	EnumerationContext string
	MaxElements        int // 0 when absent
	MaxCharacters      int // 0 when absent
}

// Args returns the method arguments of an OpInvoke request.
func (r *Request) Args() []Prop {
	if r.Instance == nil {
		return nil
	}
	return r.Instance.Props
}

// Arg returns the argument called name.
func (r *Request) Arg(name string) (Prop, bool) {
	if r.Instance == nil {
		return Prop{}, false
	}
	return r.Instance.Prop(name)
}

// Selector returns the value of the header selector called name.
func (r *Request) Selector(name string) (string, bool) {
	for _, s := range r.Selectors {
		if s.Name == name {
			return s.Value, true
		}
	}
	return "", false
}

func text(n *node) string {
	if n == nil {
		return ""
	}
	return string(n.text)
}

// envelope checks the SOAP envelope and returns its Header and Body.
func envelope(b []byte, lim Limits, msg string) (*node, *node, error) {
	root, err := parseTree(b, lim, msg)
	if err != nil {
		return nil, nil, err
	}
	if !root.is(NSSoap, "Envelope") {
		return nil, nil, wireerr.New(Proto, msg, "Envelope", root.off, "{"+NSSoap+"}Envelope", "{"+root.name.Space+"}"+root.name.Local)
	}
	hdr := root.child(NSSoap, "Header")
	body := root.child(NSSoap, "Body")
	if body == nil {
		return nil, nil, wireerr.New(Proto, msg, "Body", root.off, "SOAP Body element", "none")
	}
	return hdr, body, nil
}

func firstElem(n *node) *node {
	if n == nil || len(n.kids) == 0 {
		return nil
	}
	return n.kids[0]
}

// ParseRequest parses a WS-MAN request as MeshCentral, DMT or any other
// client writes it. Names are matched by namespace URI and local name only.
// Action is required; everything else is reported as found so the server can
// answer with the right fault.
func ParseRequest(b []byte, lim Limits) (*Request, error) {
	const msg = "request"
	hdr, body, err := envelope(b, lim, msg)
	if err != nil {
		return nil, err
	}
	if hdr == nil {
		return nil, wireerr.New(Proto, msg, "Header", 0, "SOAP Header element", "none")
	}
	r := &Request{}
	haveAction := false
	for _, h := range hdr.kids {
		switch {
		case h.is(NSAddressing, "Action"):
			r.Action, haveAction = strings.TrimSpace(text(h)), true
		case h.is(NSAddressing, "To"):
			r.To = strings.TrimSpace(text(h))
		case h.is(NSAddressing, "MessageID"):
			r.MessageID = text(h)
		case h.is(NSAddressing, "ReplyTo"):
			r.ReplyTo = strings.TrimSpace(text(h.child(NSAddressing, "Address")))
		case h.is(NSWSMan, "ResourceURI"):
			r.ResourceURI = strings.TrimSpace(text(h))
		case h.is(NSWSMan, "OperationTimeout"):
			r.OperationTimeout = strings.TrimSpace(text(h))
		case h.is(NSWSMan, "SelectorSet"):
			r.Selectors = selectorsFrom(h)
		}
	}
	if !haveAction || r.Action == "" {
		return nil, wireerr.New(Proto, msg, "Action", hdr.off, "wsa:Action header", "none")
	}
	r.Operation, r.Method = ParseAction(r.Action, r.ResourceURI)
	el := firstElem(body)
	switch r.Operation {
	case OpPut, OpCreate:
		if el == nil {
			return nil, wireerr.New(Proto, msg, "Body", body.off, "the instance to "+strings.ToLower(r.Operation.String()), "empty Body")
		}
		r.Instance = &Instance{Class: el.name.Local, ResourceURI: el.name.Space, Props: propsFrom(el, 0)}
	case OpInvoke:
		if el != nil {
			m, ok := strings.CutSuffix(el.name.Local, "_INPUT")
			if !ok || m != r.Method {
				return nil, wireerr.New(Proto, msg, "Body", el.off, r.Method+"_INPUT", el.name.Local)
			}
			r.Instance = &Instance{Class: el.name.Local, ResourceURI: el.name.Space, Props: propsFrom(el, 0)}
		}
	case OpPull, OpRelease:
		want := r.Operation.String()
		if el == nil || !el.is(NSEnumeration, want) {
			got := "empty Body"
			if el != nil {
				got = "{" + el.name.Space + "}" + el.name.Local
			}
			return nil, wireerr.New(Proto, msg, "Body", body.off, "{"+NSEnumeration+"}"+want, got)
		}
		ctx := el.child(NSEnumeration, "EnumerationContext")
		if ctx == nil {
			return nil, wireerr.New(Proto, msg, "EnumerationContext", el.off, "EnumerationContext element", "none")
		}
		r.EnumerationContext = strings.TrimSpace(text(ctx))
		if r.Operation == OpPull {
			if r.MaxElements, err = intChild(el, "MaxElements", msg); err != nil {
				return nil, err
			}
			if r.MaxCharacters, err = intChild(el, "MaxCharacters", msg); err != nil {
				return nil, err
			}
		}
	case OpEnumerate:
		if el != nil && !el.is(NSEnumeration, "Enumerate") {
			return nil, wireerr.New(Proto, msg, "Body", el.off, "{"+NSEnumeration+"}Enumerate", "{"+el.name.Space+"}"+el.name.Local)
		}
	}
	return r, nil
}

func intChild(el *node, local, msg string) (int, error) {
	n := el.child(NSEnumeration, local)
	if n == nil {
		return 0, nil
	}
	s := strings.TrimSpace(text(n))
	v, err := strconv.ParseUint(s, 10, 31)
	if err != nil || v == 0 {
		return 0, wireerr.New(Proto, msg, local, n.off, "positive integer", strconv.Quote(clip(s)))
	}
	return int(v), nil
}
