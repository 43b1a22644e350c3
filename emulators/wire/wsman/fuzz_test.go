package wsman_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

var fuzzLim = wsman.Limits{MaxBytes: 64 << 10}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{meshPut, dmtPut, otherPut, dmtPower, meshPull} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := wsman.ParseRequest(b, fuzzLim)
		if err != nil {
			return
		}
		if r.Action == "" {
			t.Fatal("accepted a request without Action")
		}
		// A parsed Put must survive our own builder and parser unchanged
		// (the builder's shape is a subset of what the parser reads).
		if r.Operation == wsman.OpPut && r.Instance != nil && r.Instance.Class != "" && validName(r.Instance.Class) && propsWritable(r.Instance.Props) {
			out := wsman.Builder{}.Put(r.MessageID, r.Instance, r.Selectors...)
			r2, err := wsman.ParseRequest(out, wsman.Limits{})
			if err != nil {
				t.Fatalf("reparse: %v\n%s", err, out)
			}
			if r2.Instance.Class != r.Instance.Class || len(r2.Instance.Props) != len(r.Instance.Props) {
				t.Fatalf("round trip changed the instance")
			}
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{amtGet, amtEnum, amtPull, amtMethod, amtFault} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := wsman.ParseResponse(b, fuzzLim)
		var fault *wsman.Fault
		if err != nil && errors.As(err, &fault) && r == nil {
			t.Fatal("fault without response")
		}
		if err != nil {
			return
		}
		// What AMT-style writers produce from a parsed instance must parse
		// back to the same instance.
		if r.Instance != nil && r.Instance.ResourceURI != "" && validName(r.Instance.Class) && propsWritable(r.Instance.Props) {
			out := wsman.AppendGetResponse(nil, wsman.Reply{RelatesTo: r.RelatesTo, ResourceURI: r.ResourceURI}, r.Instance)
			r2, err := wsman.ParseResponse(out, wsman.Limits{})
			if err != nil {
				t.Fatalf("reparse: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(r2.Instance, r.Instance) || r2.RelatesTo != r.RelatesTo {
				t.Fatalf("round trip changed the instance:\n%#v\n%#v", r.Instance, r2.Instance)
			}
		}
	})
}

// validName and propsWritable keep the round-trip check to inputs whose
// names our writer can reproduce (the parser accepts any XML name).
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

func propsWritable(ps []wsman.Prop) bool {
	for _, p := range ps {
		if !validName(p.Name) || !propsWritable(p.Elems) {
			return false
		}
	}
	return true
}
