// Package reports holds the results of a scenario run and writes them in the
// forms CI and people read: JSON with a versioned, stable schema, JUnit XML
// (the Jenkins/Ant dialect every CI server accepts), a Markdown summary and
// the plain-text table the runner prints at the end.
package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
)

// Version is the schema version of Run's JSON form. It changes only when a
// field is removed or changes meaning; new fields are added without a bump.
const Version = "1"

// Status of a case, a step or an assertion.
type Status string

const (
	Passed  Status = "passed"
	Failed  Status = "failed"  // an assertion or an expectation of a step did not hold
	Errored Status = "error"   // the environment or a party broke before the check could run
	Skipped Status = "skipped" // not run (an earlier step failed, or the case was filtered out)
)

// Run is one invocation of the runner over one or more scenario files.
type Run struct {
	Version   string    `json:"version"`
	Tool      string    `json:"tool"`
	Backend   string    `json:"backend"`
	Seed      *uint64   `json:"seed,omitempty"` // the --seed override, if any
	StartedAt time.Time `json:"startedAt"`
	Seconds   float64   `json:"seconds"`
	Host      HostInfo  `json:"host"`
	Cases     []Case    `json:"cases"`
	Totals    Totals    `json:"totals"`
}

// HostInfo describes where the run happened, so figures can be compared.
type HostInfo struct {
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"goVersion"`
	Hostname  string `json:"hostname,omitempty"`
}

// Totals count cases by status.
type Totals struct {
	Cases   int `json:"cases"`
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Errored int `json:"errors"`
	Skipped int `json:"skipped"`
}

// Case is one scenario file, or one point of its matrix.
type Case struct {
	// Name is the scenario's name plus the matrix point, e.g.
	// "kvm-throughput[profile=wan-slow,workload=bios]".
	Name     string            `json:"name"`
	Scenario string            `json:"scenario"`
	File     string            `json:"file"`
	Labels   []string          `json:"labels,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
	Seed     uint64            `json:"seed"`
	Backend  string            `json:"backend"`
	Status   Status            `json:"status"`
	// Message says why a failed or errored case failed: what was expected
	// and what happened.
	Message    string             `json:"message,omitempty"`
	Seconds    float64            `json:"seconds"`
	Steps      []Step             `json:"steps"`
	Assertions []Assertion        `json:"assertions"`
	Metrics    map[string]float64 `json:"metrics,omitempty"`
	// Collect lists the metric names the file asked for, in its order; the
	// summary table shows these.
	Collect []string `json:"collect,omitempty"`
	// Log is the tail of the parties' log lines (on failure only).
	Log string `json:"log,omitempty"`
}

// Step is one timeline step as it ran.
type Step struct {
	Index   int     `json:"index"`
	Kind    string  `json:"kind"`
	Line    int     `json:"line"`
	Summary string  `json:"summary"`
	Status  Status  `json:"status"`
	Seconds float64 `json:"seconds"`
	Message string  `json:"message,omitempty"`
}

// Assertion is one checked assertion.
type Assertion struct {
	Index    int    `json:"index"`
	Check    string `json:"check"`
	Line     int    `json:"line"`
	Summary  string `json:"summary"`
	Status   Status `json:"status"`
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
	Message  string `json:"message,omitempty"`
}

// Tally recomputes Totals from Cases.
func (r *Run) Tally() {
	t := Totals{Cases: len(r.Cases)}
	for _, c := range r.Cases {
		switch c.Status {
		case Passed:
			t.Passed++
		case Failed:
			t.Failed++
		case Errored:
			t.Errored++
		case Skipped:
			t.Skipped++
		}
	}
	r.Totals = t
}

// MetricNames returns the metric names of a case: the collected ones first
// in file order, then the rest sorted.
func (c *Case) MetricNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range c.Collect {
		if _, ok := c.Metrics[n]; ok && !seen[n] {
			out = append(out, n)
			seen[n] = true
		}
	}
	var rest []string
	for n := range c.Metrics {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r *Run) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadJSON reads a Run and checks its version.
func ReadJSON(rd io.Reader) (*Run, error) {
	var r Run
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("reports: decoding results: %w", err)
	}
	if r.Version != Version {
		return nil, fmt.Errorf("reports: results schema version %q, this build reads %q", r.Version, Version)
	}
	return &r, nil
}

// WriteFile writes with one of the writers into path, atomically enough for
// CI: a temporary file renamed into place.
func WriteFile(path string, r *Run, write func(io.Writer, *Run) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := write(f, r); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
