package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oobtb/oobtb/topology/netns"
)

func init() {
	var prefix, stateDir string
	clean := &cobra.Command{
		Use:   "clean [--prefix oobtb-xxxxxx]",
		Short: "Remove namespaces, TAPs, bridges and state left by crashed topology runs",
		Long: "Without --prefix, removes every run whose owner process is gone. With --prefix, removes that run\n" +
			"even if it is alive, killing its runner first. Only oobtb-<6 hex>-* namespaces are ever touched.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := netns.Clean(netns.CleanOptions{Prefix: prefix, StateDir: stateDir})
			if rep != nil {
				out := cmd.OutOrStdout()
				if len(rep.Runs) == 0 && len(rep.Skipped) == 0 {
					fmt.Fprintln(out, "nothing to clean")
				}
				if len(rep.Runs) > 0 {
					fmt.Fprintf(out, "cleaned %s: %d namespaces", strings.Join(rep.Runs, ", "), rep.Namespaces)
					if len(rep.Killed) > 0 {
						fmt.Fprintf(out, ", killed runner %v", rep.Killed)
					}
					if rep.HostLinks > 0 {
						fmt.Fprintf(out, ", %d host links", rep.HostLinks)
					}
					fmt.Fprintln(out)
				}
				for _, s := range rep.Skipped {
					fmt.Fprintf(out, "left %s alone: its owner is running (use --prefix %s to force)\n", s, s)
				}
			}
			return err
		},
	}
	clean.Flags().StringVar(&prefix, "prefix", "", "only this run (oobtb-<6 hex>), even if its runner is alive")
	clean.Flags().StringVar(&stateDir, "state-dir", netns.DefaultStateDir, "where run state files live")
	root.AddCommand(clean)
}
