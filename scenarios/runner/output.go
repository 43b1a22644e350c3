package runner

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/oobtb/oobtb/reports"
)

// ring keeps the last lines written to it.
type ring struct {
	mu    sync.Mutex
	lines []string
	max   int
	part  string
}

func newRing(n int) *ring { return &ring{max: n} }

func (r *ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.part + string(p)
	parts := strings.Split(s, "\n")
	r.part = parts[len(parts)-1]
	for _, l := range parts[:len(parts)-1] {
		r.lines = append(r.lines, l)
		if len(r.lines) > r.max {
			r.lines = r.lines[len(r.lines)-r.max:]
		}
	}
	return len(p), nil
}

func (r *ring) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.lines, "\n")
	if r.part != "" {
		s += "\n" + r.part
	}
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	lines := strings.SplitAfter(string(b), "\n")
	for _, l := range lines {
		if l == "" {
			continue
		}
		if _, err := io.WriteString(p.w, p.prefix+l); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// progress prints a line per step; on a terminal the running step is shown
// and then overwritten by its result.
type progress struct {
	w     io.Writer
	tty   bool
	name  string
	total int
}

func (p *progress) stepStart(i int, what string) {
	if p.w == nil || !p.tty {
		return
	}
	fmt.Fprintf(p.w, "\r\033[K%s  %d/%d %s …", p.name, i+1, p.total, what)
}

func (p *progress) stepEnd(i int, what string, st reports.Status, secs float64, msg string) {
	if p.w == nil {
		return
	}
	mark := "ok"
	if st != reports.Passed {
		mark = strings.ToUpper(string(st))
	}
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, "%s  %d/%d %s  %s (%.2fs)\n", p.name, i+1, p.total, what, mark, secs)
	if msg != "" {
		fmt.Fprintf(p.w, "    %s\n", msg)
	}
}

func (p *progress) caseLine(st reports.Status, msg string) {
	if p.w == nil {
		return
	}
	fmt.Fprintf(p.w, "%s  %s", p.name, strings.ToUpper(string(st)))
	if msg != "" && st != reports.Passed {
		fmt.Fprintf(p.w, ": %s", msg)
	}
	fmt.Fprintln(p.w)
}
