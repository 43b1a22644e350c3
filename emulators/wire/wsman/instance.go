package wsman

// Instance is one CIM instance: its class (the element name), the namespace
// it lives in (the class's resource URI) and its properties in order.
type Instance struct {
	Class       string
	ResourceURI string
	Props       []Prop
}

// Prop is one property. Exactly one of the value forms is used:
//   - Value: a scalar, written as one element;
//   - Values (non-nil): a repeated property, one element per value;
//   - EPR: an endpoint reference (association ends such as UserOfService);
//   - Elems (non-nil): an embedded element with sub-properties.
//
// Nil marks xsi:nil="true". When parsing, a property that appears once is a
// scalar and one that appears several times is a list.
type Prop struct {
	Name   string
	Value  string
	Values []string
	EPR    *EPR
	Elems  []Prop
	Nil    bool
}

// EPR is a WS-Addressing endpoint reference to a WS-MAN resource.
type EPR struct {
	Address     string // Anonymous in AMT's responses
	ResourceURI string
	Selectors   []Selector
}

// Selector is one w:Selector: a name and either a text value or an EPR.
type Selector struct {
	Name  string
	Value string
	EPR   *EPR
}

// S makes a scalar property.
func S(name, value string) Prop { return Prop{Name: name, Value: value} }

// L makes a repeated property.
func L(name string, values ...string) Prop {
	if values == nil {
		values = []string{}
	}
	return Prop{Name: name, Values: values}
}

// R makes an EPR-valued property.
func R(name string, e EPR) Prop { return Prop{Name: name, EPR: &e} }

// N makes an embedded element with sub-properties.
func N(name string, elems ...Prop) Prop {
	if elems == nil {
		elems = []Prop{}
	}
	return Prop{Name: name, Elems: elems}
}

// Sel makes a text selector.
func Sel(name, value string) Selector { return Selector{Name: name, Value: value} }

// NewEPR makes an EPR with the anonymous address, as AMT writes them.
func NewEPR(resourceURI string, sel ...Selector) EPR {
	return EPR{Address: Anonymous, ResourceURI: resourceURI, Selectors: sel}
}

// Prop returns the first property called name.
func (in *Instance) Prop(name string) (Prop, bool) {
	for _, p := range in.Props {
		if p.Name == name {
			return p, true
		}
	}
	return Prop{}, false
}

// Get returns the scalar value of name (the first value of a list), or "".
func (in *Instance) Get(name string) string {
	p, _ := in.Prop(name)
	if p.Values != nil {
		if len(p.Values) > 0 {
			return p.Values[0]
		}
		return ""
	}
	return p.Value
}

// Set replaces the property called name, or appends it.
func (in *Instance) Set(p Prop) {
	for k := range in.Props {
		if in.Props[k].Name == p.Name {
			in.Props[k] = p
			return
		}
	}
	in.Props = append(in.Props, p)
}

// All returns the values of name: all of a list, or the scalar as a list of
// one; nil when absent.
func (p Prop) All() []string {
	if p.Values != nil {
		return p.Values
	}
	if p.EPR != nil || p.Elems != nil {
		return nil
	}
	return []string{p.Value}
}

// Selector returns the value of the selector called name.
func (e *EPR) Selector(name string) (string, bool) {
	for _, s := range e.Selectors {
		if s.Name == name {
			return s.Value, true
		}
	}
	return "", false
}

// propsFrom reads the element children of n as properties, merging repeated
// scalar elements into lists.
func propsFrom(n *node, depth int) []Prop {
	var ps []Prop
	index := map[string]int{}
	for _, k := range n.kids {
		p := propFrom(k, depth)
		if i, ok := index[p.Name]; ok && isScalarish(ps[i]) && isScalarish(p) && !p.Nil && !ps[i].Nil {
			if ps[i].Values == nil {
				ps[i].Values = []string{ps[i].Value}
				ps[i].Value = ""
			}
			ps[i].Values = append(ps[i].Values, p.Value)
			continue
		}
		if _, ok := index[p.Name]; !ok {
			index[p.Name] = len(ps)
		}
		ps = append(ps, p)
	}
	return ps
}

func isScalarish(p Prop) bool { return p.EPR == nil && p.Elems == nil }

func propFrom(k *node, depth int) Prop {
	p := Prop{Name: k.name.Local}
	if v, ok := k.attrValue(NSXSI, "nil"); ok && (v == "true" || v == "1") {
		p.Nil = true
		return p
	}
	if len(k.kids) == 0 {
		p.Value = string(k.text)
		return p
	}
	if k.child(NSAddressing, "Address") != nil || k.child(NSAddressing, "ReferenceParameters") != nil {
		p.EPR = eprFrom(k)
		return p
	}
	p.Elems = propsFrom(k, depth+1)
	return p
}

// eprFrom reads an EPR from an element holding Address and
// ReferenceParameters children (a property, an argument or
// EndpointReference).
func eprFrom(n *node) *EPR {
	e := &EPR{}
	if a := n.child(NSAddressing, "Address"); a != nil {
		e.Address = string(a.text)
	}
	if rp := n.child(NSAddressing, "ReferenceParameters"); rp != nil {
		if r := rp.child(NSWSMan, "ResourceURI"); r != nil {
			e.ResourceURI = string(r.text)
		}
		if ss := rp.child(NSWSMan, "SelectorSet"); ss != nil {
			e.Selectors = selectorsFrom(ss)
		}
	}
	return e
}

func selectorsFrom(ss *node) []Selector {
	var out []Selector
	for _, s := range ss.kids {
		if !s.is(NSWSMan, "Selector") {
			continue
		}
		name, _ := s.attrValue("", "Name")
		sel := Selector{Name: name}
		if er := s.child(NSAddressing, "EndpointReference"); er != nil {
			sel.EPR = eprFrom(er)
		} else if s.child(NSAddressing, "Address") != nil {
			sel.EPR = eprFrom(s)
		} else {
			sel.Value = string(s.text)
		}
		out = append(out, sel)
	}
	return out
}
