package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/oobtb/oobtb/reports"
	"github.com/oobtb/oobtb/scenarios/spec"
)

// Exit codes of `oobtb run`.
const (
	ExitPassed  = 0 // every case passed
	ExitFailed  = 1 // an assertion or a step's expectation failed
	ExitInvalid = 2 // an invalid scenario file (the error names file, line and field)
	ExitEnv     = 3 // an environment problem (the error says what is missing)
)

// CLI is what `oobtb run` was asked to do.
type CLI struct {
	Paths    []string // files and directories (every *.yaml in a directory)
	Backend  string   // netns, inproc or "" (auto)
	Seed     *uint64
	JSON     string // output paths, "" for none
	JUnit    string
	Markdown string
	HTML     string
	Labels   string // comma-separated; !label excludes
	Verbose  bool
	// Available overrides what optional parties/modules the build has.
	Available []string
}

// Main loads, runs and reports; it returns the exit code and, for a code
// other than 0, an error saying why. The run's results are returned too when
// it ran.
func Main(ctx context.Context, out io.Writer, c CLI) (int, *reports.Run, error) {
	files, err := ScenarioFiles(c.Paths)
	if err != nil {
		return ExitInvalid, nil, err
	}
	var cases []*spec.Scenario
	var invalid []string
	keep := LabelFilter(c.Labels)
	for _, f := range files {
		cs, err := spec.LoadFile(f)
		if err != nil {
			invalid = append(invalid, err.Error())
			continue
		}
		for _, s := range cs {
			if keep(s) {
				cases = append(cases, s)
			}
		}
	}
	if len(invalid) > 0 {
		return ExitInvalid, nil, fmt.Errorf("invalid scenario:\n%s", strings.Join(invalid, "\n"))
	}
	if len(cases) == 0 {
		return ExitInvalid, nil, fmt.Errorf("no cases to run (label filter %q)", c.Labels)
	}
	be, err := NewBackend(c.Backend)
	if err != nil {
		if IsEnv(err) {
			return ExitEnv, nil, err
		}
		return ExitInvalid, nil, err
	}
	o := Options{Backend: be, Seed: c.Seed, Progress: out, TTY: IsTerminal(out), Available: c.Available, Verbose: c.Verbose}
	r := Run(ctx, cases, o)
	fmt.Fprintln(out)
	if err := reports.WriteTable(out, r); err != nil {
		return ExitEnv, r, err
	}
	for _, w := range []struct {
		path  string
		write func(io.Writer, *reports.Run) error
	}{{c.JSON, reports.WriteJSON}, {c.JUnit, reports.WriteJUnit}, {c.Markdown, reports.WriteMarkdown}, {c.HTML, reports.WriteHTML}} {
		if w.path != "" {
			if err := reports.WriteFile(w.path, r, w.write); err != nil {
				return ExitEnv, r, fmt.Errorf("writing %s: %w", w.path, err)
			}
		}
	}
	code, err := ExitCode(r)
	return code, r, err
}

// ExitCode maps results to the exit code: an environment problem in any
// case wins (the figures of such a run are not trustworthy), then failures.
func ExitCode(r *reports.Run) (int, error) {
	switch {
	case r.Totals.Errored > 0:
		var msgs []string
		for _, c := range r.Cases {
			if c.Status == reports.Errored {
				msgs = append(msgs, c.Name+": "+c.Message)
			}
		}
		return ExitEnv, errors.New(strings.Join(msgs, "\n"))
	case r.Totals.Failed > 0:
		var msgs []string
		for _, c := range r.Cases {
			if c.Status == reports.Failed {
				msgs = append(msgs, c.Name+": "+c.Message)
			}
		}
		return ExitFailed, fmt.Errorf("%d of %d cases failed:\n%s", r.Totals.Failed, r.Totals.Cases, strings.Join(msgs, "\n"))
	}
	return ExitPassed, nil
}

// ScenarioFiles expands directories into their *.yaml files, sorted.
func ScenarioFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		var fs []string
		for _, pat := range []string{"*.yaml", "*.yml"} {
			m, _ := filepath.Glob(filepath.Join(a, pat))
			fs = append(fs, m...)
		}
		sort.Strings(fs)
		if len(fs) == 0 {
			return nil, fmt.Errorf("%s: no *.yaml scenario files", a)
		}
		out = append(out, fs...)
	}
	return out, nil
}

// LabelFilter keeps cases with one of the listed labels (all when none is
// listed) and drops those with a !label.
func LabelFilter(expr string) func(*spec.Scenario) bool {
	var want, not []string
	for _, l := range strings.Split(expr, ",") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "!") {
			not = append(not, l[1:])
		} else if l != "" {
			want = append(want, l)
		}
	}
	return func(s *spec.Scenario) bool {
		for _, l := range not {
			if containsStr(s.Labels, l) {
				return false
			}
		}
		if len(want) == 0 {
			return true
		}
		for _, l := range want {
			if containsStr(s.Labels, l) {
				return true
			}
		}
		return false
	}
}

func containsStr(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
