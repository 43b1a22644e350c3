package reports

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the end-of-run summary: one row per case with its status,
// time and collected figures, then the totals.
func WriteTable(w io.Writer, r *Run) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tSTATUS\tTIME\tFIGURES")
	for _, c := range r.Cases {
		fmt.Fprintf(tw, "%s\t%s\t%.1fs\t%s\n", c.Name, strings.ToUpper(string(c.Status)), c.Seconds, figures(&c, true))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range r.Cases {
		if c.Status == Failed || c.Status == Errored {
			fmt.Fprintf(w, "\n%s %s: %s\n", strings.ToUpper(string(c.Status)), c.Name, c.Message)
		}
	}
	t := r.Totals
	_, err := fmt.Fprintf(w, "\n%d cases: %d passed, %d failed, %d errors, %d skipped (%s backend, %.1fs)\n",
		t.Cases, t.Passed, t.Failed, t.Errored, t.Skipped, r.Backend, r.Seconds)
	return err
}

// figures lists a case's collected metrics as name=value; all of them when
// the file asked for none.
func figures(c *Case, collectedOnly bool) string {
	names := c.Collect
	if len(names) == 0 || !collectedOnly {
		names = c.MetricNames()
	}
	var parts []string
	for _, n := range names {
		if v, ok := c.Metrics[n]; ok {
			parts = append(parts, n+"="+FormatValue(v))
		}
	}
	return strings.Join(parts, " ")
}

// WriteMarkdown writes a Markdown summary: totals, a table of cases, the
// failures with their messages, and each case's figures.
func WriteMarkdown(w io.Writer, r *Run) error {
	t := r.Totals
	fmt.Fprintf(w, "# oobtb run — %s backend\n\n", r.Backend)
	fmt.Fprintf(w, "%d cases: **%d passed**, %d failed, %d errors, %d skipped in %.1f s (schema v%s, %s/%s, %d CPUs)\n\n",
		t.Cases, t.Passed, t.Failed, t.Errored, t.Skipped, r.Seconds, r.Version, r.Host.OS, r.Host.Arch, r.Host.CPUs)
	fmt.Fprintln(w, "| case | status | time | figures |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, c := range r.Cases {
		fmt.Fprintf(w, "| %s | %s | %.1f s | %s |\n", mdEscape(c.Name), c.Status, c.Seconds, mdEscape(figures(&c, true)))
	}
	for _, c := range r.Cases {
		if c.Status != Failed && c.Status != Errored {
			continue
		}
		fmt.Fprintf(w, "\n## %s — %s\n\n%s\n\n", mdEscape(c.Name), c.Status, mdEscape(c.Message))
		for _, a := range c.Assertions {
			if a.Status != Passed {
				fmt.Fprintf(w, "- line %d `%s`: expected %s, got %s\n", a.Line, a.Check, mdEscape(a.Expected), mdEscape(a.Actual))
			}
		}
	}
	var err error
	for _, c := range r.Cases {
		if len(c.Metrics) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n### %s figures\n\n| metric | value |\n|---|---|\n", mdEscape(c.Name))
		for _, n := range c.MetricNames() {
			_, err = fmt.Fprintf(w, "| %s | %s |\n", n, FormatValue(c.Metrics[n]))
		}
	}
	return err
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}
