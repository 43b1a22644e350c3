package reports

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// WriteHTML writes a self-contained HTML report (no scripts, no external
// resources, so it opens offline and from a CI artefact): totals, the cases
// with their status and figures, failures with their messages, and one bar
// chart per collected metric comparing the cases (a matrix sweep reads as
// one chart per figure).
func WriteHTML(w io.Writer, r *Run) error {
	type bar struct {
		Label string
		Value string
		Y     int
		Width float64
	}
	type chart struct {
		Metric string
		Height int
		Bars   []bar
	}
	var names []string
	seen := map[string]bool{}
	for _, c := range r.Cases {
		for _, n := range c.Collect {
			if _, ok := c.Metrics[n]; ok && !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	var charts []chart
	for _, n := range names {
		var maxV float64
		for _, c := range r.Cases {
			if v, ok := c.Metrics[n]; ok && !math.IsNaN(v) {
				maxV = math.Max(maxV, math.Abs(v))
			}
		}
		ch := chart{Metric: n}
		for _, c := range r.Cases {
			v, ok := c.Metrics[n]
			if !ok {
				continue
			}
			width := 0.0
			if maxV > 0 {
				width = 400 * math.Abs(v) / maxV
			}
			ch.Bars = append(ch.Bars, bar{Label: c.Name, Value: FormatValue(v), Y: 22 * len(ch.Bars), Width: width})
		}
		ch.Height = 22*len(ch.Bars) + 4
		charts = append(charts, ch)
	}
	type caseView struct {
		Case
		Figures string
		Class   string
	}
	var cases []caseView
	for _, c := range r.Cases {
		cases = append(cases, caseView{Case: c, Figures: figures(&c, true), Class: string(c.Status)})
	}
	return htmlTmpl.Execute(w, map[string]any{"Run": r, "Cases": cases, "Charts": charts,
		"Title": fmt.Sprintf("oobtb run — %s backend — %d/%d passed", r.Backend, r.Totals.Passed, r.Totals.Cases)})
}

var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"upper": strings.ToUpper,
	"secs":  func(s float64) string { return fmt.Sprintf("%.1f s", s) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
.passed{color:#186a1e}.failed{color:#b00020}.error{color:#a35a00}.skipped{color:#666}
pre{background:#f6f6f6;padding:.6em;white-space:pre-wrap}
svg text{font-size:12px}
</style></head><body>
<h1>{{.Title}}</h1>
<p>{{.Run.Totals.Cases}} cases: {{.Run.Totals.Passed}} passed, {{.Run.Totals.Failed}} failed, {{.Run.Totals.Errored}} errors,
{{.Run.Totals.Skipped}} skipped in {{secs .Run.Seconds}} — started {{.Run.StartedAt.Format "2006-01-02 15:04:05 UTC"}},
{{.Run.Host.OS}}/{{.Run.Host.Arch}}, {{.Run.Host.CPUs}} CPUs, {{.Run.Host.GoVersion}}, results schema v{{.Run.Version}}.</p>
<table><tr><th>case</th><th>status</th><th>time</th><th>figures</th></tr>
{{range .Cases}}<tr><td>{{.Name}}</td><td class="{{.Class}}">{{upper (print .Status)}}</td><td>{{secs .Seconds}}</td><td>{{.Figures}}</td></tr>
{{end}}</table>
{{range .Cases}}{{if or (eq .Class "failed") (eq .Class "error")}}
<h2 class="{{.Class}}">{{.Name}}</h2><p>{{.Message}}</p>
<table><tr><th>#</th><th>line</th><th>step / assertion</th><th>status</th><th>detail</th></tr>
{{range .Steps}}<tr><td>{{.Index}}</td><td>{{.Line}}</td><td>{{.Summary}}</td><td class="{{.Status}}">{{.Status}}</td><td>{{.Message}}</td></tr>{{end}}
{{range .Assertions}}<tr><td>{{.Index}}</td><td>{{.Line}}</td><td>{{.Summary}}</td><td class="{{.Status}}">{{.Status}}</td><td>expected {{.Expected}}, got {{.Actual}}</td></tr>{{end}}
</table>{{if .Log}}<pre>{{.Log}}</pre>{{end}}
{{end}}{{end}}
{{range .Charts}}<h3>{{.Metric}}</h3>
<svg xmlns="http://www.w3.org/2000/svg" width="900" height="{{.Height}}" role="img" aria-label="{{.Metric}}">
{{range .Bars}}<text x="0" y="{{.Y}}" dy="15">{{.Label}}</text><rect x="420" y="{{.Y}}" width="{{printf "%.1f" .Width}}" height="18" fill="#4a78b5"></rect><text x="{{printf "%.1f" .Width}}" y="{{.Y}}" dx="426" dy="15">{{.Value}}</text>
{{end}}</svg>
{{end}}
</body></html>
`))
