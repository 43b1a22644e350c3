package wsman

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// Limits bound what the parsers accept. Zero fields take the defaults.
type Limits struct {
	MaxBytes    int // whole document
	MaxDepth    int
	MaxElements int
}

// DefaultLimits fit the largest AMT responses (a Pull of many instances is
// tens of KiB) with room to spare.
var DefaultLimits = Limits{MaxBytes: 1 << 20, MaxDepth: 32, MaxElements: 20000}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxElements <= 0 {
		l.MaxElements = DefaultLimits.MaxElements
	}
	return l
}

// node is one element of a parsed document, names resolved to namespace URIs.
type node struct {
	name xml.Name
	attr []xml.Attr
	kids []*node
	text []byte // character data directly inside, exactly as sent
	off  int    // byte offset of the start tag
	up   *node
}

// resolve maps a prefix used inside text content (a QName such as
// "b:DestinationUnreachable") to its namespace URI, from the declarations in
// scope.
func (n *node) resolve(prefix string) string {
	for m := n; m != nil; m = m.up {
		for _, a := range m.attr {
			if prefix == "" && a.Name.Space == "" && a.Name.Local == "xmlns" {
				return a.Value
			}
			if prefix != "" && a.Name.Space == "xmlns" && a.Name.Local == prefix {
				return a.Value
			}
		}
	}
	if prefix == "xml" {
		return NSXML
	}
	return ""
}

func (n *node) is(space, local string) bool { return n.name.Space == space && n.name.Local == local }

func (n *node) child(space, local string) *node {
	for _, k := range n.kids {
		if k.is(space, local) {
			return k
		}
	}
	return nil
}

func (n *node) attrValue(space, local string) (string, bool) {
	for _, a := range n.attr {
		if a.Name.Local == local && (a.Name.Space == space || space == "" && a.Name.Space == "") {
			return a.Value, true
		}
	}
	return "", false
}

// parseTree reads one XML document into a tree.
func parseTree(b []byte, lim Limits, msg string) (*node, error) {
	lim = lim.withDefaults()
	if len(b) > lim.MaxBytes {
		return nil, wireerr.New(Proto, msg, "document", lim.MaxBytes, "at most "+strconv.Itoa(lim.MaxBytes)+" bytes", strconv.Itoa(len(b))+" bytes")
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var root *node
	var stack []*node
	count := 0
	for {
		off := int(d.InputOffset())
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, wireerr.New(Proto, msg, "XML", int(d.InputOffset()), "well-formed XML", se.Msg)
			}
			return nil, wireerr.New(Proto, msg, "XML", int(d.InputOffset()), "well-formed XML", err.Error())
		}
		switch t := tok.(type) {
		case xml.StartElement:
			count++
			if count > lim.MaxElements {
				return nil, wireerr.New(Proto, msg, "elements", off, "at most "+strconv.Itoa(lim.MaxElements)+" elements", "more")
			}
			if len(stack) >= lim.MaxDepth {
				return nil, wireerr.New(Proto, msg, t.Name.Local, off, "nesting depth at most "+strconv.Itoa(lim.MaxDepth), "deeper")
			}
			n := &node{name: t.Name, attr: t.Attr, off: off}
			if len(stack) == 0 {
				if root != nil {
					return nil, wireerr.New(Proto, msg, t.Name.Local, off, "one root element", "a second one")
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
				n.up = p
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.text = append(p.text, t...)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, wireerr.New(Proto, msg, "XML", off, "only white space outside the root element", strconv.Quote(clip(string(t))))
			}
		case xml.Directive:
			return nil, wireerr.New(Proto, msg, "XML", off, "no DTD or directive (SOAP forbids them)", "<!"+clip(string(t)))
		}
	}
	if root == nil {
		return nil, wireerr.New(Proto, msg, "XML", len(b), "a root element", "none")
	}
	return root, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
