package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/oobtb/oobtb/topology/linkemu"
)

// MaxFileSize bounds what Load reads.
const MaxFileSize = 4 << 20

// Error is one problem in a topology file.
type Error struct {
	File  string
	Line  int    // 0 when unknown
	Field string // field path, e.g. links[2].a
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one file.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// LoadFile reads, validates and resolves a topology file.
func LoadFile(path string) (*Topology, error) {
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
		return nil, &Error{File: filepath.Base(path), Msg: "not a regular file"}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: filepath.Base(path), Msg: fmt.Sprintf("file larger than %d bytes", MaxFileSize)}
	}
	return Load(filepath.Base(path), data)
}

// posError is raised by custom unmarshalers so the line survives yaml.v3.
type posError struct {
	line int
	msg  string
}

func (e *posError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

var unknownFieldRe = regexp.MustCompile(`field (\S+) not found`)

var yamlLineRe = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// Load parses, validates and resolves a topology held in memory; file names
// it in errors.
func Load(file string, data []byte) (*Topology, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlErr(file, err)
	}
	if len(root.Content) == 0 {
		return nil, &Error{File: file, Msg: "empty topology"}
	}
	lines := map[string]int{}
	indexLines(root.Content[0], "", lines)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	t := &Topology{File: file}
	if err := dec.Decode(t); err != nil {
		return nil, withField(yamlErr(file, err), lines)
	}
	t.File = file
	t.lines = lines
	if errs := t.validate(); len(errs) > 0 {
		return nil, errs
	}
	if err := t.resolve(); err != nil {
		return nil, err
	}
	return t, nil
}

// withField names the field of errors that came with a line only: the
// deepest path on that line.
func withField(err error, lines map[string]int) error {
	fill := func(e *Error) {
		if e.Field != "" || e.Line == 0 {
			return
		}
		if m := unknownFieldRe.FindStringSubmatch(e.Msg); m != nil {
			for p, l := range lines {
				if l == e.Line && strings.HasSuffix(p, "."+m[1]) {
					e.Field = p
					return
				}
			}
		}
		for p, l := range lines {
			if l == e.Line && (len(p) > len(e.Field) || (len(p) == len(e.Field) && p < e.Field)) {
				e.Field = p
			}
		}
	}
	switch e := err.(type) {
	case *Error:
		fill(e)
	case Errors:
		for _, x := range e {
			fill(x)
		}
	}
	return err
}

func yamlErr(file string, err error) error {
	var pe *posError
	if errors.As(err, &pe) {
		return &Error{File: file, Line: pe.line, Msg: pe.msg}
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var es Errors
		for _, m := range te.Errors {
			es = append(es, lineErr(file, m))
		}
		return es
	}
	return lineErr(file, err.Error())
}

func lineErr(file, m string) *Error {
	if sm := yamlLineRe.FindStringSubmatch(m); sm != nil {
		n, _ := strconv.Atoi(sm[1])
		return &Error{File: file, Line: n, Msg: sm[2]}
	}
	return &Error{File: file, Msg: strings.TrimPrefix(m, "yaml: ")}
}

// indexLines records the line of every mapping value and sequence item
// under its field path.
func indexLines(n *yaml.Node, path string, lines map[string]int) {
	if path != "" {
		if _, ok := lines[path]; !ok {
			lines[path] = n.Line
		}
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			p := k
			if path != "" {
				p = path + "." + k
			}
			lines[p] = n.Content[i].Line
			indexLines(n.Content[i+1], p, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			indexLines(c, fmt.Sprintf("%s[%d]", path, i), lines)
		}
	}
}

// errAt builds an error for field, taking the line of the closest indexed
// ancestor.
func (t *Topology) errAt(field, format string, args ...any) *Error {
	line := 0
	for p := field; p != ""; {
		if l, ok := t.lines[p]; ok {
			line = l
			break
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return &Error{File: t.File, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// UnmarshalYAML accepts "node", "node:iface" or a mapping.
func (e *Endpoint) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		node, iface, _ := strings.Cut(n.Value, ":")
		*e = Endpoint{Node: node, Iface: iface}
		return nil
	case yaml.MappingNode:
		type plain Endpoint
		var p plain
		if err := strictKeys(n, "node", "iface", "address"); err != nil {
			return err
		}
		if err := n.Decode(&p); err != nil {
			return err
		}
		*e = Endpoint(p)
		return nil
	}
	return &posError{n.Line, "endpoint must be \"node\", \"node:iface\" or a mapping with node, iface, address"}
}

// MarshalYAML writes the short form when possible.
func (e Endpoint) MarshalYAML() (any, error) {
	if e.Address == "" {
		if e.Iface == "" {
			return e.Node, nil
		}
		return e.Node + ":" + e.Iface, nil
	}
	type plain Endpoint
	return plain(e), nil
}

// UnmarshalYAML accepts a profile name, a profile in linkemu's compact
// text form, or a mapping of linkemu.Profile fields with optionally
// "profile: NAME" (or "base: NAME") as the base the fields override.
func (im *Impairment) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if p, err := linkemu.ProfileByName(n.Value); err == nil {
			*im = Impairment{Name: n.Value, Profile: p}
			return nil
		}
		p, err := linkemu.ParseProfile(n.Value)
		if err != nil {
			return &posError{n.Line, fmt.Sprintf("%q is neither a profile name (%s) nor a profile: %v", n.Value, strings.Join(linkemu.ProfileNames(), ", "), err)}
		}
		*im = Impairment{Name: "custom", Profile: p}
		return nil
	case yaml.MappingNode:
		out := Impairment{Name: "custom"}
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: n.Tag, Line: n.Line, Column: n.Column}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := *n.Content[i], n.Content[i+1]
			if k.Value == "profile" || k.Value == "base" {
				if _, err := linkemu.ProfileByName(v.Value); err != nil {
					return &posError{v.Line, fmt.Sprintf("unknown profile %q (want one of %s)", v.Value, strings.Join(linkemu.ProfileNames(), ", "))}
				}
				out.Name = v.Value + "+custom"
				k.Value = "base"
			}
			m.Content = append(m.Content, &k, v)
		}
		if err := m.Decode(&out.Profile); err != nil {
			var pe *posError
			if errors.As(err, &pe) {
				return err
			}
			return &posError{n.Line, err.Error()}
		}
		if len(n.Content) == 2 && out.Name != "custom" {
			out.Name = strings.TrimSuffix(out.Name, "+custom")
		}
		*im = out
		return nil
	}
	return &posError{n.Line, "impairment must be a profile name or a mapping"}
}

// MarshalYAML writes the profile name when the impairment is a pure named
// profile, the full profile otherwise.
func (im Impairment) MarshalYAML() (any, error) {
	if im.Name != "" && !strings.Contains(im.Name, "custom") {
		return im.Name, nil
	}
	return im.Profile, nil
}

func strictKeys(n *yaml.Node, allowed ...string) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ok := false
		for _, a := range allowed {
			if k.Value == a {
				ok = true
				break
			}
		}
		if !ok {
			return &posError{k.Line, fmt.Sprintf("unknown field %q (allowed: %s)", k.Value, strings.Join(allowed, ", "))}
		}
	}
	return nil
}
