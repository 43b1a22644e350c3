package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// JUnit XML in the Jenkins/Ant dialect: one testsuite per scenario file, one
// testcase per case (matrix point). A failed case carries <failure>, an
// environment problem <error>, a skipped case <skipped>. The steps and
// figures go into <system-out> so a CI page shows what ran.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string        `xml:"name,attr"`
	Tests      int           `xml:"tests,attr"`
	Failures   int           `xml:"failures,attr"`
	Errors     int           `xml:"errors,attr"`
	Skipped    int           `xml:"skipped,attr"`
	Time       string        `xml:"time,attr"`
	Timestamp  string        `xml:"timestamp,attr"`
	Hostname   string        `xml:"hostname,attr"`
	ID         int           `xml:"id,attr"`
	Package    string        `xml:"package,attr"`
	Properties *junitProps   `xml:"properties,omitempty"`
	Cases      []junitCase   `xml:"testcase"`
	SystemOut  junitCharData `xml:"system-out"`
	SystemErr  junitCharData `xml:"system-err"`
}

type junitProps struct {
	Props []junitProp `xml:"property"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string         `xml:"name,attr"`
	Classname string         `xml:"classname,attr"`
	Time      string         `xml:"time,attr"`
	Failure   *junitProblem  `xml:"failure,omitempty"`
	Error     *junitProblem  `xml:"error,omitempty"`
	Skipped   *junitSkip     `xml:"skipped,omitempty"`
	SystemOut *junitCharData `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkip struct {
	Message string `xml:"message,attr,omitempty"`
}

type junitCharData struct {
	Text string `xml:",chardata"`
}

func secs(s float64) string { return fmt.Sprintf("%.3f", s) }

// WriteJUnit writes r as JUnit XML.
func WriteJUnit(w io.Writer, r *Run) error {
	host := r.Host.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	if host == "" {
		host = "localhost"
	}
	byFile := map[string][]Case{}
	var files []string
	for _, c := range r.Cases {
		if _, ok := byFile[c.File]; !ok {
			files = append(files, c.File)
		}
		byFile[c.File] = append(byFile[c.File], c)
	}
	sort.Strings(files)
	out := junitSuites{Name: "oobtb run (" + r.Backend + ")", Time: secs(r.Seconds)}
	for i, f := range files {
		cases := byFile[f]
		s := junitSuite{Name: cases[0].Scenario, ID: i, Package: "oobtb.scenarios",
			Timestamp: r.StartedAt.UTC().Format("2006-01-02T15:04:05"), Hostname: host,
			Properties: &junitProps{Props: []junitProp{{"file", f}, {"backend", r.Backend}, {"schemaVersion", Version}}}}
		var total float64
		for _, c := range cases {
			total += c.Seconds
			jc := junitCase{Name: c.Name, Classname: "oobtb." + c.Scenario, Time: secs(c.Seconds)}
			detail := caseDetail(&c)
			switch c.Status {
			case Failed:
				s.Failures++
				jc.Failure = &junitProblem{Message: oneLine(c.Message), Type: "AssertionFailed", Text: detail}
			case Errored:
				s.Errors++
				jc.Error = &junitProblem{Message: oneLine(c.Message), Type: "EnvironmentError", Text: detail}
			case Skipped:
				s.Skipped++
				jc.Skipped = &junitSkip{Message: oneLine(c.Message)}
			}
			if c.Status != Skipped {
				jc.SystemOut = &junitCharData{Text: detail}
			}
			s.Cases = append(s.Cases, jc)
			s.Tests++
		}
		s.Time = secs(total)
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Skipped += s.Skipped
		out.Suites = append(out.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}

// caseDetail is the readable account of a case: steps, assertions, figures.
func caseDetail(c *Case) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, seed %d) %s in %.1fs\n", c.Name, c.File, c.Seed, c.Status, c.Seconds)
	if c.Message != "" {
		fmt.Fprintf(&b, "%s\n", c.Message)
	}
	for _, s := range c.Steps {
		fmt.Fprintf(&b, "step %d (line %d) %-7s %s [%.2fs]", s.Index+1, s.Line, s.Status, s.Summary, s.Seconds)
		if s.Message != "" {
			fmt.Fprintf(&b, ": %s", s.Message)
		}
		b.WriteByte('\n')
	}
	for _, a := range c.Assertions {
		fmt.Fprintf(&b, "assert %d (line %d) %-7s %s: expected %s, got %s", a.Index+1, a.Line, a.Status, a.Summary, a.Expected, a.Actual)
		if a.Message != "" {
			fmt.Fprintf(&b, " (%s)", a.Message)
		}
		b.WriteByte('\n')
	}
	for _, n := range c.MetricNames() {
		fmt.Fprintf(&b, "metric %s = %s\n", n, FormatValue(c.Metrics[n]))
	}
	if c.Log != "" {
		b.WriteString("--- log ---\n")
		b.WriteString(c.Log)
	}
	return b.String()
}

// FormatValue prints a figure with sensible precision.
func FormatValue(v float64) string {
	switch {
	case v == float64(int64(v)) && v < 1e15 && v > -1e15:
		return fmt.Sprintf("%d", int64(v))
	case v >= 100 || v <= -100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
