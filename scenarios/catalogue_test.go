package scenarios_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/reports"
	"github.com/oobtb/oobtb/scenarios/runner"
	"github.com/oobtb/oobtb/scenarios/spec"
)

// The catalogue runs as one spec per case with the file's labels, on the
// inproc backend always and on netns when root and /dev/net/tun exist.
// `ginkgo --label-filter='!slow'` (or go test's -ginkgo.label-filter) picks
// the quick set.
var _ = Describe("catalogue", func() {
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		panic(fmt.Sprintf("no catalogue files: %v", err))
	}
	for _, be := range []string{runner.BackendInproc, runner.BackendNetns} {
		Context("on "+be, Label(be), func() {
			for _, f := range files {
				cases, err := spec.LoadFile(f)
				if err != nil {
					It(f+" loads", func() { Expect(err).NotTo(HaveOccurred()) })
					continue
				}
				for _, c := range cases {
					labels := append([]string{}, c.Labels...)
					It(c.CaseName(), Label(labels...), func() {
						if slices.Contains(c.Labels, "slow") && !slowWanted() {
							Skip("slow case: run with -ginkgo.label-filter=slow (or any filter naming it) or OOBTB_SLOW=1")
						}
						if missing := missingRequirements(c); len(missing) > 0 {
							Skip(fmt.Sprintf("%s needs %s, which this build does not have yet", c.CaseName(), strings.Join(missing, " and ")))
						}
						b, err := runner.NewBackend(be)
						if err != nil {
							Skip(err.Error())
						}
						rc := runner.RunCase(context.Background(), c, runner.Options{Backend: b, Progress: GinkgoWriter, Verbose: true})
						Expect(rc.Status).To(Equal(reports.Passed), "%s\n%s", rc.Message, rc.Log)
						for _, a := range rc.Assertions {
							Expect(a.Status).To(Equal(reports.Passed), "%s: expected %s, got %s", a.Summary, a.Expected, a.Actual)
						}
						for _, m := range c.Metrics {
							if v, ok := rc.Metrics[m]; ok {
								AddReportEntry(m, v)
							}
						}
					})
				}
			}
		})
	}
})

// slowWanted: slow cases run only when asked for, so a plain
// `go test ./...` stays quick.
func slowWanted() bool {
	return os.Getenv("OOBTB_SLOW") == "1" || strings.Contains(GinkgoLabelFilter(), "slow") && !strings.Contains(GinkgoLabelFilter(), "!slow")
}

func missingRequirements(s *spec.Scenario) []string {
	var out []string
	for _, r := range runner.Requirements(s) {
		if !slices.Contains(runner.Available, r) {
			out = append(out, r)
		}
	}
	return out
}

var _ = Describe("oobtb run exit codes", Label("exitcodes"), func() {
	run := func(paths ...string) (int, *reports.Run, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return runner.Main(ctx, GinkgoWriter, runner.CLI{Paths: paths, Backend: runner.BackendInproc,
			JUnit: filepath.Join(GinkgoT().TempDir(), "junit.xml")})
	}

	It("is 1 for a wrong expectation in an assertion, naming it", func() {
		code, r, err := run("testdata/wrong-expectation.yaml")
		Expect(code).To(Equal(runner.ExitFailed))
		Expect(err).To(MatchError(ContainSubstring("metric metric=devices.fleet.connected: expected = 5, got 1")))
		Expect(err.Error()).To(ContainSubstring("line 11"))
		Expect(r.Cases[0].Status).To(Equal(reports.Failed))
	})

	It("is 1 for a step whose expectation fails, with what was expected and what happened", func() {
		code, _, err := run("testdata/wrong-step.yaml")
		Expect(code).To(Equal(runner.ExitFailed))
		Expect(err).To(MatchError(ContainSubstring("line 11")))
		Expect(err).To(MatchError(ContainSubstring(`expected the session to be refused ("kvm_busy"); it was established on the classic path`)))
	})

	It("is 2 for a syntax error, with file and line", func() {
		code, _, err := run("testdata/syntax-error.yaml")
		Expect(code).To(Equal(runner.ExitInvalid))
		Expect(err).To(MatchError(ContainSubstring(`testdata/syntax-error.yaml:4: did not find expected ',' or '}'`)))
	})

	It("is 2 for an unknown field, with file, line and field", func() {
		code, _, err := run("testdata/bad-field.yaml")
		Expect(code).To(Equal(runner.ExitInvalid))
		Expect(err).To(MatchError(ContainSubstring(`testdata/bad-field.yaml:6: timeline[0].timeot: unknown field "timeot"`)))
	})

	It("is 3 for a missing binary, naming it", func() {
		code, r, err := run("testdata/missing-binary.yaml")
		Expect(code).To(Equal(runner.ExitEnv))
		Expect(err).To(MatchError(ContainSubstring("binary oobtb-no-such-server not found (party vendor-mps, line 5)")))
		Expect(r.Cases[0].Status).To(Equal(reports.Errored))
	})

	It("is an environment error for a scenario needing parties a build lacks", func() {
		cases, err := spec.LoadFile("pairing-help-request.yaml")
		Expect(err).NotTo(HaveOccurred())
		b, _ := runner.NewBackend(runner.BackendInproc)
		rc := runner.RunCase(context.Background(), cases[0], runner.Options{Backend: b, Available: []string{"other"}})
		Expect(rc.Status).To(Equal(reports.Errored))
		Expect(rc.Message).To(ContainSubstring("needs gateway and pairing"))
	})

	It("is 0 when everything passes, and writes JSON and JUnit a JUnit consumer accepts", func() {
		dir := GinkgoT().TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		code, r, err := runner.Main(ctx, GinkgoWriter, runner.CLI{Paths: []string{"failover-fields.yaml", "testdata/wrong-expectation.yaml"},
			Backend: runner.BackendInproc, JSON: filepath.Join(dir, "r.json"), JUnit: filepath.Join(dir, "j.xml")})
		Expect(code).To(Equal(runner.ExitFailed), "one of the two fails on purpose: %v", err)
		Expect(r.Totals).To(Equal(reports.Totals{Cases: 2, Passed: 1, Failed: 1}))
		j := readFile(filepath.Join(dir, "j.xml"))
		Expect(reports.ValidateJUnit(j)).To(Succeed(), string(j))
		Expect(string(j)).To(ContainSubstring(`<testcase name="failover-fields" classname="oobtb.failover-fields"`))
		back, err := reports.ReadJSON(strings.NewReader(string(readFile(filepath.Join(dir, "r.json")))))
		Expect(err).NotTo(HaveOccurred())
		Expect(back.Cases).To(HaveLen(2))
		code, _, err = runner.Main(ctx, GinkgoWriter, runner.CLI{Paths: []string{"failover-fields.yaml"}, Backend: runner.BackendInproc})
		Expect(code).To(Equal(runner.ExitPassed), "%v", err)
	})
})
