package spec

import (
	"fmt"
	"strings"
)

// Error is one problem in a scenario file.
type Error struct {
	File  string
	Line  int    // 0 when unknown
	Field string // field path, e.g. timeline[3].link
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

// Errors is every problem found in one file; a loader returns it whenever
// the file is invalid, so callers can tell an invalid file (exit code 2)
// from other failures with errors.As.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}
