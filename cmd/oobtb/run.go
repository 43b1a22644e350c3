package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/oobtb/oobtb/reports"
	"github.com/oobtb/oobtb/scenarios/runner"
	"github.com/oobtb/oobtb/scenarios/spec"
)

// Exit codes of oobtb run.
const (
	exitFailed  = 1 // an assertion or a step's expectation failed
	exitInvalid = 2 // an invalid scenario file
	exitEnv     = 3 // something the run needs is missing
)

func init() {
	var backend, jsonOut, junitOut, mdOut, labels string
	var seed uint64
	var verbose bool
	run := &cobra.Command{
		Use:   "run FILE|DIR...",
		Short: "Run scenario files (a directory runs every *.yaml in it)",
		Long: `Run scenario files on the netns backend (network namespaces and TAP links;
needs root and /dev/net/tun) or the inproc backend (one process on 127.0.0.0/8,
the link emulator in userspace), which is the default where netns cannot run.

Exit codes: 0 all passed, 1 an assertion failed, 2 invalid scenario file,
3 environment problem (what is missing is printed).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var seedp *uint64
			if cmd.Flags().Changed("seed") {
				seedp = &seed
			}
			return runScenarios(cmd.Context(), cmd.OutOrStdout(), args, backend, seedp, jsonOut, junitOut, mdOut, labels, verbose)
		},
	}
	f := run.Flags()
	f.StringVar(&backend, "backend", "", "netns or inproc (default: netns where root and /dev/net/tun exist, else inproc)")
	f.StringVar(&jsonOut, "json", "", "write JSON results here")
	f.StringVar(&junitOut, "junit", "", "write JUnit XML here")
	f.StringVar(&mdOut, "markdown", "", "write a Markdown summary here")
	f.Uint64Var(&seed, "seed", 0, "override every scenario's seed")
	f.StringVar(&labels, "labels", "", "run only cases with one of these labels (comma-separated); !label excludes")
	f.BoolVar(&verbose, "verbose", false, "keep the parties' info-level logs for failure reports")
	root.AddCommand(run)
}

// scenarioFiles expands directories into their *.yaml files.
func scenarioFiles(args []string) ([]string, error) {
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

func labelFilter(expr string) func(*spec.Scenario) bool {
	if expr == "" {
		return func(*spec.Scenario) bool { return true }
	}
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
		has := func(l string) bool {
			for _, x := range s.Labels {
				if x == l {
					return true
				}
			}
			return false
		}
		for _, l := range not {
			if has(l) {
				return false
			}
		}
		if len(want) == 0 {
			return true
		}
		for _, l := range want {
			if has(l) {
				return true
			}
		}
		return false
	}
}

func runScenarios(ctx context.Context, out io.Writer, args []string, backend string, seed *uint64,
	jsonOut, junitOut, mdOut, labels string, verbose bool) error {
	files, err := scenarioFiles(args)
	if err != nil {
		return &exitError{exitInvalid, err}
	}
	var cases []*spec.Scenario
	var invalid []string
	keep := labelFilter(labels)
	for _, f := range files {
		cs, err := spec.LoadFile(f)
		if err != nil {
			invalid = append(invalid, err.Error())
			continue
		}
		for _, c := range cs {
			if keep(c) {
				cases = append(cases, c)
			}
		}
	}
	if len(invalid) > 0 {
		return &exitError{exitInvalid, fmt.Errorf("invalid scenario:\n%s", strings.Join(invalid, "\n"))}
	}
	if len(cases) == 0 {
		return &exitError{exitInvalid, fmt.Errorf("no cases to run (label filter %q)", labels)}
	}
	be, err := runner.NewBackend(backend)
	if err != nil {
		if runner.IsEnv(err) {
			return &exitError{exitEnv, err}
		}
		return &exitError{exitInvalid, err}
	}
	// Party code that logs through the default logger stays quiet below warn.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := runner.Options{Backend: be, Seed: seed, Progress: out, TTY: isTerminal(out)}
	if verbose {
		o.LogLevel = slog.LevelInfo
	}
	r := runner.Run(ctx, cases, o)
	fmt.Fprintln(out)
	if err := reports.WriteTable(out, r); err != nil {
		return err
	}
	for _, w := range []struct {
		path  string
		write func(io.Writer, *reports.Run) error
	}{{jsonOut, reports.WriteJSON}, {junitOut, reports.WriteJUnit}, {mdOut, reports.WriteMarkdown}} {
		if w.path != "" {
			if err := reports.WriteFile(w.path, r, w.write); err != nil {
				return &exitError{exitEnv, fmt.Errorf("writing %s: %w", w.path, err)}
			}
		}
	}
	switch {
	case r.Totals.Errored > 0:
		var msgs []string
		for _, c := range r.Cases {
			if c.Status == reports.Errored {
				msgs = append(msgs, c.Name+": "+c.Message)
			}
		}
		return &exitError{exitEnv, errors.New(strings.Join(msgs, "\n"))}
	case r.Totals.Failed > 0:
		return &exitError{exitFailed, fmt.Errorf("%d of %d cases failed", r.Totals.Failed, r.Totals.Cases)}
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
