// Command oobtb is the testbed's single CLI: run scenarios, manage
// topologies, benchmarks and reports. Each subcommand lives in its own file
// and registers itself on the root command from an init function.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var root = &cobra.Command{
	Use:           "oobtb",
	Short:         "Emulation and simulation testbed for gateway-assisted out-of-band remote management",
	SilenceUsage:  true,
	SilenceErrors: true,
}

// exitError carries a specific process exit code out of a subcommand.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "oobtb:", err)
		if ee, ok := err.(*exitError); ok {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}
