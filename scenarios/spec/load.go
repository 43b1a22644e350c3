package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/oobtb/oobtb/topology"
)

// MaxFileSize bounds what LoadFile reads.
const MaxFileSize = 4 << 20

// LoadFile reads and validates one scenario file and expands its matrix into
// cases (one case when there is no matrix).
func LoadFile(path string) ([]*Scenario, error) {
	// O_NONBLOCK: opening a FIFO (or /dev/stdin) by mistake must fail
	// below, not wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, Errors{{File: path, Msg: "not a regular file"}}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("file larger than %d bytes", MaxFileSize)}}
	}
	return Load(path, data)
}

// Load parses and validates a scenario held in memory (file names it in
// errors and anchors a topology file reference) and expands its matrix.
func Load(file string, data []byte) ([]*Scenario, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{yamlError(file, err, nil)}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, Errors{{File: file, Line: max(doc.Line, 1), Msg: "expected a mapping with name, parties and timeline"}}
	}
	root := doc.Content[0]
	axes, values, errs := readMatrix(file, root)
	if len(errs) > 0 {
		return nil, errs
	}
	points := expand(axes, values)
	var out []*Scenario
	for _, pt := range points {
		n := root
		if len(pt) > 0 {
			n = substitute(root, pt)
		}
		s, err := decode(file, data, n, pt)
		if err != nil {
			return nil, err
		}
		s.Axes = axes
		out = append(out, s)
	}
	return out, nil
}

// CaseName is the scenario's name with its matrix point.
func (s *Scenario) CaseName() string {
	if len(s.Params) == 0 {
		return s.Name
	}
	parts := make([]string, 0, len(s.Axes))
	for _, a := range s.Axes {
		parts = append(parts, a+"="+s.Params[a])
	}
	return s.Name + "[" + strings.Join(parts, ",") + "]"
}

func readMatrix(file string, root *yaml.Node) ([]string, map[string][]string, Errors) {
	m := mapValue(root, "matrix")
	if m == nil {
		return nil, nil, nil
	}
	if m.Kind != yaml.MappingNode {
		return nil, nil, Errors{{File: file, Line: m.Line, Field: "matrix", Msg: "expected a mapping of axis name to a list of values"}}
	}
	var axes []string
	values := map[string][]string{}
	var errs Errors
	points := 1
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		field := "matrix." + k.Value
		if !axisRe.MatchString(k.Value) {
			errs = append(errs, &Error{File: file, Line: k.Line, Field: field, Msg: "axis names are lower-case words (a-z, 0-9, _)"})
			continue
		}
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			errs = append(errs, &Error{File: file, Line: v.Line, Field: field, Msg: "expected a non-empty list of values"})
			continue
		}
		for j, e := range v.Content {
			if e.Kind != yaml.ScalarNode {
				errs = append(errs, &Error{File: file, Line: e.Line, Field: fmt.Sprintf("%s[%d]", field, j), Msg: "expected a scalar value"})
				continue
			}
			values[k.Value] = append(values[k.Value], e.Value)
		}
		axes = append(axes, k.Value)
		// Saturate: enough axes would overflow the product past the check.
		points = min(points*len(v.Content), maxCases+1)
	}
	if points > maxCases {
		errs = append(errs, &Error{File: file, Line: m.Line, Field: "matrix", Msg: fmt.Sprintf("more than %d cases", maxCases)})
	}
	return axes, values, errs
}

// maxCases bounds the cases one matrix expands into.
const maxCases = 10000

var axisRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// expand lists every point of the matrix, the first axis varying slowest.
func expand(axes []string, values map[string][]string) []map[string]string {
	if len(axes) == 0 {
		return []map[string]string{nil}
	}
	pts := []map[string]string{{}}
	for _, a := range axes {
		var next []map[string]string
		for _, p := range pts {
			for _, v := range values[a] {
				q := make(map[string]string, len(p)+1)
				for k, x := range p {
					q[k] = x
				}
				q[a] = v
				next = append(next, q)
			}
		}
		pts = next
	}
	return pts
}

var placeholderRe = regexp.MustCompile(`\$\{matrix\.([a-z][a-z0-9_]*)\}`)

// substitute copies the tree with ${matrix.axis} replaced in scalars.
func substitute(n *yaml.Node, pt map[string]string) *yaml.Node {
	c := *n
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		c.Value = placeholderRe.ReplaceAllStringFunc(n.Value, func(m string) string {
			k := placeholderRe.FindStringSubmatch(m)[1]
			if v, ok := pt[k]; ok {
				return v
			}
			return m
		})
		if c.Value != n.Value && c.Tag == "!!str" && c.Style == 0 {
			c.Tag = "" // let "5" become an int again
		}
	}
	if len(n.Content) > 0 {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, k := range n.Content {
			c.Content[i] = substitute(k, pt)
		}
	}
	return &c
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func decode(file string, data []byte, root *yaml.Node, pt map[string]string) (*Scenario, error) {
	s := &Scenario{File: file, Params: pt, lines: map[string]int{}}
	var errs Errors
	// The topology and matrix are read apart; hide them from the decoder.
	body := &yaml.Node{Kind: yaml.MappingNode, Tag: root.Tag, Line: root.Line, Column: root.Column}
	var topoKey, topoNode *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "topology":
			topoKey, topoNode = root.Content[i], root.Content[i+1]
		case "matrix":
		default:
			body.Content = append(body.Content, root.Content[i], root.Content[i+1])
		}
	}
	checkFields(file, body, reflect.TypeOf(Scenario{}), "", s.lines, &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	if err := body.Decode(s); err != nil {
		return nil, Errors{yamlError(file, err, s.lines)}
	}
	for i := range s.Parties {
		s.Parties[i].Line = s.lines[fmt.Sprintf("parties[%d]", i)]
	}
	for i := range s.Timeline {
		s.Timeline[i].Line = s.lines[fmt.Sprintf("timeline[%d]", i)]
	}
	for i := range s.Assertions {
		s.Assertions[i].Line = s.lines[fmt.Sprintf("assertions[%d]", i)]
	}
	if topoNode != nil {
		s.lines["topology"] = topoKey.Line
		if err := s.loadTopology(data, topoKey, topoNode, root); err != nil {
			var te Errors
			if errors.As(err, &te) {
				return nil, te
			}
			return nil, Errors{{File: file, Line: topoKey.Line, Field: "topology", Msg: err.Error()}}
		}
	}
	var implicitErr error
	if s.Topo == nil {
		// Invalid party names make this fail; validate says why.
		implicitErr = s.implicitTopology()
	}
	// A placeholder without its axis explains every other complaint about
	// that field, so it is reported alone.
	placeholders(file, body, "", &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	errs = s.validate()
	if len(errs) > 0 {
		return nil, errs
	}
	if s.Topo == nil {
		return nil, Errors{{File: file, Line: s.lines["parties"], Field: "parties", Msg: fmt.Sprintf("no topology given and the parties' nodes do not make one: %v", implicitErr)}}
	}
	return s, nil
}

// placeholders reports ${matrix.x} left after substitution: an axis the
// matrix does not have.
func placeholders(file string, n *yaml.Node, path string, errs *Errors) {
	if n.Kind == yaml.ScalarNode {
		if m := placeholderRe.FindStringSubmatch(n.Value); m != nil {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Field: path,
				Msg: fmt.Sprintf("${matrix.%s}: the matrix has no axis %q", m[1], m[1])})
		}
		return
	}
	for i := 0; i < len(n.Content); i++ {
		switch n.Kind {
		case yaml.MappingNode:
			if i%2 == 1 {
				placeholders(file, n.Content[i], join(path, n.Content[i-1].Value), errs)
			}
		case yaml.SequenceNode:
			placeholders(file, n.Content[i], fmt.Sprintf("%s[%d]", path, i), errs)
		default:
			placeholders(file, n.Content[i], path, errs)
		}
	}
}

// checkFields walks the node tree beside the Go type, recording every field
// path's line and reporting keys the type does not have.
func checkFields(file string, n *yaml.Node, t reflect.Type, path string, lines map[string]int, errs *Errors) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path != "" {
		lines[path] = n.Line
	}
	switch n.Kind {
	case yaml.MappingNode:
		switch t.Kind() {
		case reflect.Struct:
			fields := map[string]reflect.Type{}
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				if name == "" || name == "-" {
					continue
				}
				fields[name] = f.Type
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := join(path, k.Value)
				ft, ok := fields[k.Value]
				if !ok {
					*errs = append(*errs, &Error{File: file, Line: k.Line, Field: p,
						Msg: fmt.Sprintf("unknown field %q; expected one of %s", k.Value, strings.Join(sortedKeys(fields), ", "))})
					continue
				}
				lines[p] = k.Line
				checkFields(file, v, ft, p, lines, errs)
				lines[p] = k.Line
			}
		case reflect.Map:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := join(path, n.Content[i].Value)
				checkFields(file, n.Content[i+1], t.Elem(), p, lines, errs)
				lines[p] = n.Content[i].Line
			}
		}
	case yaml.SequenceNode:
		if t.Kind() == reflect.Slice {
			for i, e := range n.Content {
				checkFields(file, e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lines, errs)
			}
		}
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var parserErrorRe = regexp.MustCompile(`^did not find expected (key|node content|'-' indicator|',' or '[}\]]'|<document start>)$`)

var yamlLineRe = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns a yaml.v3 error into an Error with the line and, when the
// line holds exactly one field, that field's path.
func yamlError(file string, err error, lines map[string]int) *Error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	e := &Error{File: file, Msg: strings.TrimPrefix(msg, "yaml: ")}
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
		if parserErrorRe.MatchString(e.Msg) {
			// yaml.v3 prints its parser's (not its scanner's) marks
			// 0-based; these messages come from the parser.
			e.Line++
		}
		var best string
		for p, l := range lines {
			if l == e.Line && len(p) > len(best) {
				best = p
			}
		}
		e.Field = best
	}
	return e
}

// loadTopology reads the topology: a file reference, or the inline block
// handed to the topology package with its line numbers mapped back.
func (s *Scenario) loadTopology(data []byte, key, n *yaml.Node, root *yaml.Node) error {
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == "file" {
		ref := n.Content[1].Value
		s.Topology = &TopologyRef{File: ref}
		s.lines["topology.file"] = n.Content[0].Line
		p := ref
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(s.File), ref)
		}
		t, err := topology.LoadFile(p)
		if err != nil {
			var te topology.Errors
			var one *topology.Error
			switch {
			case errors.As(err, &te):
				return Errors{{File: s.File, Line: n.Content[0].Line, Field: "topology.file", Msg: "invalid topology " + ref + ":\n" + te.Error()}}
			case errors.As(err, &one):
				return Errors{{File: s.File, Line: n.Content[0].Line, Field: "topology.file", Msg: "invalid topology " + ref + ": " + one.Error()}}
			}
			return Errors{{File: s.File, Line: n.Content[0].Line, Field: "topology.file", Msg: err.Error()}}
		}
		s.Topo = t
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return Errors{{File: s.File, Line: n.Line, Field: "topology", Msg: "expected {file: PATH} or an inline topology (name, nodes, segments, links)"}}
	}
	s.Topology = &TopologyRef{Inline: true}
	// Cut the block's own lines out of the file, so the topology package
	// reports lines we can shift back to the scenario file's.
	first := key.Line + 1
	last := len(bytes.Split(data, []byte("\n")))
	for i := 0; i+1 < len(root.Content); i += 2 {
		if l := root.Content[i].Line; l > key.Line && l-1 < last {
			last = l - 1
		}
	}
	all := strings.Split(string(data), "\n")
	var block string
	if first <= last && n.Style&yaml.FlowStyle == 0 && !strings.Contains(strings.Join(all[first-1:last], "\n"), "${matrix.") {
		block = strings.Join(all[first-1:last], "\n")
	} else {
		b, err := yaml.Marshal(n)
		if err != nil {
			return err
		}
		block, first = string(b), key.Line
	}
	t, err := topology.Load(s.File, []byte(block))
	if err != nil {
		shift := func(e *topology.Error) *Error {
			l := e.Line
			if l > 0 {
				l += first - 1
			}
			f := "topology"
			if e.Field != "" {
				f += "." + e.Field
			}
			return &Error{File: s.File, Line: l, Field: f, Msg: e.Msg}
		}
		var te topology.Errors
		var one *topology.Error
		switch {
		case errors.As(err, &te):
			out := make(Errors, len(te))
			for i, e := range te {
				out[i] = shift(e)
			}
			return out
		case errors.As(err, &one):
			return Errors{shift(one)}
		}
		return err
	}
	s.Topo = t
	return nil
}

// implicitTopology puts every node the parties use on one LAN.
func (s *Scenario) implicitTopology() error {
	var nodes []string
	roles := map[string]string{}
	for _, p := range s.Parties {
		for _, n := range p.NodeList() {
			if _, ok := roles[n]; !ok {
				nodes = append(nodes, n)
				roles[n] = roleOf(p.Kind)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nseed: %d\nnodes:\n", "implicit", max(s.Seed, 1))
	for _, n := range nodes {
		fmt.Fprintf(&b, "  - {name: %s, role: %s}\n", n, roles[n])
	}
	b.WriteString("segments:\n  - name: scenario-lan\nlinks:\n")
	for _, n := range nodes {
		fmt.Fprintf(&b, "  - {name: %s-lan, a: %s, b: scenario-lan}\n", n, n)
	}
	t, err := topology.Load(s.File+" (implicit topology)", []byte(b.String()))
	if err != nil {
		return err
	}
	s.Topo = t
	s.ImplicitTopology = true
	return nil
}

func roleOf(kind string) string {
	switch kind {
	case KindServer:
		return string(topology.RoleServer)
	case KindVMC:
		return string(topology.RoleClient)
	case KindConsole:
		return string(topology.RoleConsole)
	case KindGateway:
		return string(topology.RoleGateway)
	}
	return string(topology.RoleHost)
}

// NodeList is where a party runs: Nodes, else Node, else a node named like
// the party.
func (p *Party) NodeList() []string {
	if len(p.Nodes) > 0 {
		return p.Nodes
	}
	if p.Node != "" {
		return []string{p.Node}
	}
	return []string{p.Name}
}
