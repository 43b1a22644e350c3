package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, helpRequestsCommand, acceptCommand) }

func helpRequestsCommand(g *globals) *cobra.Command {
	var asJSON bool
	var state string
	cmd := &cobra.Command{
		Use:   "help-requests",
		Short: "List user-initiated help requests (flow F2)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var f sessionFlags
			sc, _, err := f.client(g)
			if err != nil {
				return err
			}
			l, err := sc.HelpRequests(cmd.Context(), state)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(g.stdout, l)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tDEVICE\tSTATE\tCREATED\tEXPIRES\tACCEPTED BY")
			for _, r := range l {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.DeviceUUID, r.State, r.CreatedAt.UTC().Format(time.RFC3339),
					r.ExpiresAt.UTC().Format(time.RFC3339), dash(r.AcceptedBy))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&state, "state", "open", "open, accepted, expired, or \"\" for all")
	return cmd
}

func acceptCommand(g *globals) *cobra.Command {
	var f sessionFlags
	cmd := &cobra.Command{
		Use:   "accept ID",
		Short: "Accept a help request and run its gateway-assisted KVM session (same flags as session)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("accept needs exactly one help request id (see help-requests); got %d argument(s)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			sc, _, err := f.client(g)
			if err != nil {
				return err
			}
			req, err := f.request("")
			if err != nil {
				return err
			}
			start := time.Now()
			a, err := sc.Accept(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "help request %s accepted for device %s\n", args[0], a.Device)
			return f.run(cmd.Context(), g, sc, a, time.Since(start), start)
		},
	}
	f.register(cmd)
	return cmd
}
