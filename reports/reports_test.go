package reports_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/reports"
)

func sample() *reports.Run {
	r := &reports.Run{Version: reports.Version, Tool: "oobtb run", Backend: "inproc",
		StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Seconds: 12.5,
		Host: reports.HostInfo{OS: "linux", Arch: "amd64", CPUs: 2, GoVersion: "go1.26", Hostname: "ci"},
		Cases: []reports.Case{
			{Name: "quickstart", Scenario: "quickstart", File: "scenarios/quickstart.yaml", Seed: 1, Backend: "inproc",
				Status: reports.Passed, Seconds: 11, Collect: []string{"kvm.fps"},
				Metrics: map[string]float64{"kvm.fps": 12.25, "kvm.bytes": 1000},
				Steps:   []reports.Step{{Index: 0, Kind: "start", Line: 4, Summary: "start mps", Status: reports.Passed}}},
			{Name: "kvm[profile=wan-slow]", Scenario: "kvm", File: "scenarios/kvm.yaml", Seed: 2, Status: reports.Failed,
				Message: "assertion 1 (line 30) metric kvm.fps: expected ≥ 10, got 3 <&> \"quoted\"", Seconds: 1,
				Assertions: []reports.Assertion{{Index: 0, Check: "metric", Line: 30, Summary: "metric metric=kvm.fps",
					Status: reports.Failed, Expected: "≥ 10", Actual: "3"}}},
			{Name: "kvm[profile=lan-1g]", Scenario: "kvm", File: "scenarios/kvm.yaml", Status: reports.Errored,
				Message: "environment: netns backend needs root"},
			{Name: "keyex", Scenario: "keyex", File: "scenarios/keyex.yaml", Status: reports.Skipped, Message: "filtered"},
		}}
	r.Tally()
	return r
}

var _ = Describe("results", func() {
	It("tallies cases by status", func() {
		r := sample()
		Expect(r.Totals).To(Equal(reports.Totals{Cases: 4, Passed: 1, Failed: 1, Errored: 1, Skipped: 1}))
	})

	It("writes versioned JSON that reads back, and refuses another version", func() {
		r := sample()
		var b bytes.Buffer
		Expect(reports.WriteJSON(&b, r)).To(Succeed())
		var raw map[string]any
		Expect(json.Unmarshal(b.Bytes(), &raw)).To(Succeed())
		Expect(raw).To(HaveKeyWithValue("version", reports.Version))
		Expect(raw).To(HaveKey("totals"))
		back, err := reports.ReadJSON(bytes.NewReader(b.Bytes()))
		Expect(err).NotTo(HaveOccurred())
		Expect(back.Cases).To(HaveLen(4))
		Expect(back.Cases[0].Metrics).To(HaveKeyWithValue("kvm.fps", 12.25))
		_, err = reports.ReadJSON(strings.NewReader(`{"version":"0"}`))
		Expect(err).To(MatchError(ContainSubstring(`version "0"`)))
	})

	It("writes JUnit XML the common JUnit schema accepts", func() {
		var b bytes.Buffer
		Expect(reports.WriteJUnit(&b, sample())).To(Succeed())
		Expect(reports.ValidateJUnit(b.Bytes())).To(Succeed(), b.String())
		s := b.String()
		Expect(s).To(ContainSubstring(`<testsuite name="kvm" tests="2" failures="1" errors="1" skipped="0"`))
		Expect(s).To(ContainSubstring(`<failure message="assertion 1 (line 30) metric kvm.fps: expected ≥ 10, got 3 &lt;&amp;&gt; &#34;quoted&#34;" type="AssertionFailed">`))
		Expect(s).To(ContainSubstring(`<error message="environment: netns backend needs root" type="EnvironmentError">`))
		Expect(s).To(ContainSubstring(`<skipped message="filtered">`))
	})

	It("has a JUnit validator that rejects what the XSD rejects", func() {
		for _, bad := range []string{
			`<testsuites><testsuite tests="1"><testcase name="a"/></testsuite></testsuites>`,                                      // no name
			`<testsuites><testsuite name="s" tests="2"><testcase name="a"/></testsuite></testsuites>`,                             // count
			`<testsuites><testsuite name="s" tests="1"><testcase name="a"><failure/><error/></testcase></testsuite></testsuites>`, // two outcomes
			`<testsuites><testsuite name="s" tests="1"><testcase/></testsuite></testsuites>`,                                      // testcase without name
			`<testsuites><testsuite name="s" tests="1"><testcase name="a" time="soon"/></testsuite></testsuites>`,                 // time
			`<testsuites><testcase name="a"/></testsuites>`,                                                                       // testcase outside a suite
			`<testsuites><testsuite name="s" tests="1" colour="red"><testcase name="a"/></testsuite></testsuites>`,                // unknown attribute
		} {
			Expect(reports.ValidateJUnit([]byte(bad))).NotTo(Succeed(), bad)
		}
	})

	It("prints a summary table and Markdown with the collected figures and the failures", func() {
		var t, m bytes.Buffer
		Expect(reports.WriteTable(&t, sample())).To(Succeed())
		Expect(t.String()).To(ContainSubstring("quickstart"))
		Expect(t.String()).To(ContainSubstring("kvm.fps=12.2"))
		Expect(t.String()).NotTo(ContainSubstring("kvm.bytes")) // not collected
		Expect(t.String()).To(ContainSubstring("4 cases: 1 passed, 1 failed, 1 errors, 1 skipped"))
		Expect(t.String()).To(ContainSubstring("FAILED kvm[profile=wan-slow]: assertion 1"))
		Expect(reports.WriteMarkdown(&m, sample())).To(Succeed())
		Expect(m.String()).To(ContainSubstring("| quickstart | passed |"))
		Expect(m.String()).To(ContainSubstring("- line 30 `metric`: expected ≥ 10, got 3"))
		Expect(m.String()).To(ContainSubstring("| kvm.bytes | 1000 |"))
	})
})

var _ = Describe("HTML", func() {
	It("writes a self-contained report with the cases, failures and one chart per collected figure", func() {
		r := sample()
		r.Cases[1].Collect = []string{"kvm.fps"}
		r.Cases[1].Metrics = map[string]float64{"kvm.fps": 3}
		r.Cases[1].Name = "kvm[<script>]"
		var b bytes.Buffer
		Expect(reports.WriteHTML(&b, r)).To(Succeed())
		s := b.String()
		Expect(s).To(HavePrefix("<!DOCTYPE html>"))
		Expect(s).To(ContainSubstring("<h3>kvm.fps</h3>"))
		Expect(strings.Count(s, "<rect ")).To(Equal(2))
		Expect(s).To(ContainSubstring(`width="400.0"`), "the largest value spans the chart")
		Expect(s).NotTo(ContainSubstring("<script>"))
		Expect(s).To(ContainSubstring("kvm[&lt;script&gt;]"))
		Expect(s).To(ContainSubstring("expected ≥ 10, got 3"))
		Expect(s).NotTo(MatchRegexp(`(src|href)=`), "no external resources")
	})
})
