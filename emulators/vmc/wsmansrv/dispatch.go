package wsmansrv

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

// class is one served CIM class: its instances (Get and Enumerate read the
// same list, so both always agree), and the writable parts.
type class struct {
	instances func(s *Server) []wsman.Instance
	// put applies a Put body to the instance it addresses and returns the
	// instance as it now is; nil: Put is not supported.
	put func(s *Server, cur, body *wsman.Instance) (*wsman.Instance, *wsman.Fault)
	// putPick finds the instance a Put addresses when the selectors alone
	// cannot (associations); nil: by selectors.
	putPick func(s *Server, req *wsman.Request) (*wsman.Instance, *wsman.Fault)
	methods map[string]method
}

// method runs a class method; a non-nil fault replaces the output.
type method func(s *Server, req *wsman.Request) (rv uint32, out []wsman.Prop, f *wsman.Fault)

// amtNow is the device's time: the injected clock plus the offset set by
// SetHighAccuracyTimeSynch.
func (s *Server) amtNow() time.Time {
	s.mu.Lock()
	off := s.timeOffset
	s.mu.Unlock()
	return s.clk.Now().Add(off)
}

// schemaFault answers a body that is not a WS-MAN request.
func schemaFault(err error) *wsman.Fault {
	return wsman.NewFault("Sender", wsman.NSWSMan, "SchemaValidationError",
		"The request is not a valid WS-MAN message: "+err.Error())
}

// dispatch answers one WS-MAN request body; it returns the HTTP status and
// the SOAP envelope.
func (s *Server) dispatch(body []byte, now time.Time) (int, []byte) {
	req, err := wsman.ParseRequest(body, wsman.Limits{})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		f := schemaFault(err)
		f.Reason = strings.ToValidUTF8(f.Reason, "\uFFFD")
		return f.HTTPStatus(), wsman.AppendFault(nil, wsman.Reply{MessageID: s.ids.Next()}, f)
	}
	reply := wsman.ReplyTo(req, s.ids.Next())
	out, f := s.operate(req, reply, now)
	if f != nil {
		// Reasons quote what the client sent; keep the XML well-formed.
		f.Reason = strings.ToValidUTF8(f.Reason, "\uFFFD")
		s.log.Debug("WS-MAN fault", "action", req.Action, "resource", req.ResourceURI, "fault", f.Error())
		return f.HTTPStatus(), wsman.AppendFault(nil, reply, f)
	}
	return 200, out
}

// operate runs req under s.mu.
func (s *Server) operate(req *wsman.Request, reply wsman.Reply, now time.Time) ([]byte, *wsman.Fault) {
	name := wsman.ClassName(req.ResourceURI)
	c, ok := classes[name]
	if !ok || wsman.ResourceURI(name) != req.ResourceURI {
		return nil, wsman.FaultDestinationUnreachable()
	}
	switch req.Operation {
	case wsman.OpGet:
		in, f := pick(c.instances(s), req.Selectors)
		if f != nil {
			return nil, f
		}
		return wsman.AppendGetResponse(nil, reply, in), nil
	case wsman.OpPut:
		if c.put == nil {
			return nil, wsman.FaultActionNotSupported()
		}
		var cur *wsman.Instance
		var f *wsman.Fault
		if c.putPick != nil {
			cur, f = c.putPick(s, req)
		} else {
			cur, f = pick(c.instances(s), req.Selectors)
		}
		if f != nil {
			return nil, f
		}
		if req.Instance == nil || req.Instance.Class != name {
			got := "nothing"
			if req.Instance != nil {
				got = req.Instance.Class
			}
			return nil, invalid(fmt.Sprintf("Put of %s: the body must hold a %s element, got %s", name, name, got))
		}
		upd, f := c.put(s, cur, req.Instance)
		if f != nil {
			return nil, f
		}
		return wsman.AppendPutResponse(nil, reply, upd), nil
	case wsman.OpEnumerate:
		ctx := s.enums.add(req.ResourceURI, c.instances(s), now)
		return wsman.AppendEnumerateResponse(nil, reply, ctx), nil
	case wsman.OpPull:
		items, end, ok := s.enums.pull(req.EnumerationContext, req.ResourceURI, req.MaxElements, now)
		if !ok {
			return nil, wsman.FaultInvalidEnumerationContext()
		}
		return wsman.AppendPullResponse(nil, reply, items, req.EnumerationContext, end), nil
	case wsman.OpRelease:
		if !s.enums.release(req.EnumerationContext, req.ResourceURI, now) {
			return nil, wsman.FaultInvalidEnumerationContext()
		}
		return wsman.AppendReleaseResponse(nil, reply), nil
	case wsman.OpInvoke:
		m, ok := c.methods[req.Method]
		if !ok {
			return nil, wsman.FaultActionNotSupported()
		}
		rv, out, f := m(s, req)
		if f != nil {
			return nil, f
		}
		return wsman.AppendMethodResponse(nil, reply, req.Method, rv, out...), nil
	}
	return nil, wsman.FaultActionNotSupported()
}

// pick selects the instance the selectors address. Without selectors the
// class must have exactly one instance.
func pick(items []wsman.Instance, sel []wsman.Selector) (*wsman.Instance, *wsman.Fault) {
	if len(sel) == 0 {
		switch len(items) {
		case 1:
			return &items[0], nil
		case 0:
			return nil, wsman.FaultDestinationUnreachable()
		}
		f := wsman.FaultInvalidSelectors(wsman.DetailInsufficientSelector)
		f.Reason = fmt.Sprintf("The class has %d instances; selectors must name one.", len(items))
		return nil, f
	}
	known := false
	for k := range items {
		match := true
		for _, se := range sel {
			p, ok := items[k].Prop(se.Name)
			if !ok {
				match = false
				continue
			}
			known = true
			if se.EPR != nil || p.EPR != nil || p.Value != se.Value {
				match = false
			}
		}
		if match {
			return &items[k], nil
		}
	}
	if !known && len(items) > 0 {
		f := wsman.FaultInvalidSelectors(wsman.DetailUnexpectedSelectors)
		f.Reason = fmt.Sprintf("Selector %q is not a key of this class.", sel[0].Name)
		return nil, f
	}
	f := wsman.FaultInvalidSelectors(wsman.DetailInvalidValue)
	f.Reason = "No instance matches the selectors."
	return nil, f
}

// invalid is a 400 InvalidParameter fault with a reason saying what was
// wrong.
func invalid(reason string) *wsman.Fault {
	f := wsman.FaultInvalidParameter(wsman.DetailInvalidValue)
	f.Reason = reason
	return f
}

// inst makes an instance of class in its own namespace.
func inst(class string, props ...wsman.Prop) wsman.Instance {
	return wsman.Instance{Class: class, ResourceURI: wsman.ResourceURI(class), Props: props}
}

func b2s(b bool) string { return strconv.FormatBool(b) }

func u2s[T ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~int](v T) string {
	return strconv.FormatUint(uint64(v), 10)
}

// scalar reads a scalar property of a Put body or method input. Invalid
// UTF-8 is replaced, so a stored value can always be written back as XML.
func scalar(props []wsman.Prop, name string) (string, bool) {
	v, ok := rawScalar(props, name)
	return strings.ToValidUTF8(v, "\uFFFD"), ok
}

func rawScalar(props []wsman.Prop, name string) (string, bool) {
	for _, p := range props {
		if p.Name == name && p.EPR == nil && p.Elems == nil && !p.Nil {
			if p.Values != nil {
				if len(p.Values) == 0 {
					return "", true
				}
				return p.Values[0], true
			}
			return p.Value, true
		}
	}
	return "", false
}

// boolArg reads an optional boolean ("true"/"false", "1"/"0").
func boolArg(props []wsman.Prop, what, name string) (v, ok bool, f *wsman.Fault) {
	s, ok := scalar(props, name)
	if !ok {
		return false, false, nil
	}
	switch s {
	case "true", "1":
		return true, true, nil
	case "false", "0":
		return false, true, nil
	}
	return false, false, invalid(fmt.Sprintf("%s: %s must be true or false, got %q", what, name, clip(s)))
}

// uintArg reads an optional unsigned integer of at most bits bits.
func uintArg(props []wsman.Prop, what, name string, bits int) (v uint64, ok bool, f *wsman.Fault) {
	s, ok := scalar(props, name)
	if !ok {
		return 0, false, nil
	}
	v, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, false, invalid(fmt.Sprintf("%s: %s must be an unsigned %d-bit integer, got %q", what, name, bits, clip(s)))
	}
	return v, true, nil
}

// needUint is uintArg for a required argument.
func needUint(props []wsman.Prop, what, name string, bits int) (uint64, *wsman.Fault) {
	v, ok, f := uintArg(props, what, name, bits)
	if f != nil {
		return 0, f
	}
	if !ok {
		f := wsman.FaultInvalidParameter(wsman.DetailMissingValues)
		f.Reason = fmt.Sprintf("%s: the required argument %s is missing", what, name)
		return 0, f
	}
	return v, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// inputs returns the arguments of a method call (none when the body was
// empty).
func inputs(req *wsman.Request) []wsman.Prop {
	if req.Instance == nil {
		return nil
	}
	return req.Instance.Props
}
