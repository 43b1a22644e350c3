package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/oobtb/oobtb/scenarios/runner"
)

func init() {
	var c runner.CLI
	var seed uint64
	run := &cobra.Command{
		Use:   "run FILE|DIR...",
		Short: "Run scenario files (a directory runs every *.yaml in it)",
		Long: `Run scenario files on the netns backend (network namespaces and TAP links;
needs root and /dev/net/tun) or the inproc backend (one process on 127.0.0.0/8,
the link emulator in userspace), which is the default where netns cannot run.
docs/scenarios.md describes the format.

Exit codes: 0 all passed, 1 an assertion failed, 2 invalid scenario file
(file, line and field are printed), 3 environment problem (what is missing
is printed).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.Paths = args
			if cmd.Flags().Changed("seed") {
				c.Seed = &seed
			}
			// Party code that logs through the default logger stays quiet
			// below warn; the runner keeps the parties' own logs for reports.
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			code, _, err := runner.Main(ctx, cmd.OutOrStdout(), c)
			if code != runner.ExitPassed {
				return &exitError{code, err}
			}
			return nil
		},
	}
	f := run.Flags()
	f.StringVar(&c.Backend, "backend", "", "netns or inproc (default: netns where root and /dev/net/tun exist, else inproc)")
	f.StringVar(&c.JSON, "json", "", "write JSON results here")
	f.StringVar(&c.JUnit, "junit", "", "write JUnit XML here")
	f.StringVar(&c.Markdown, "markdown", "", "write a Markdown summary here")
	f.StringVar(&c.HTML, "html", "", "write a self-contained HTML report with charts here")
	f.Uint64Var(&seed, "seed", 0, "override every scenario's seed")
	f.StringVar(&c.Labels, "labels", "", "run only cases with one of these labels (comma-separated); !label excludes")
	f.BoolVar(&c.Verbose, "verbose", false, "keep the parties' info-level logs for failure reports")
	root.AddCommand(run)
}
