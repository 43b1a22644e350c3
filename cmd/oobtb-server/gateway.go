package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/oobtb/oobtb/emulators/server"
)

// gatewayCommand manages gateways in the registry directly, as `device`
// does for devices; the API's POST /api/v1/gateways is the same operation
// for a remote operator.
func gatewayCommand(dataDir *string) *cobra.Command {
	cmd := &cobra.Command{Use: "gateway", Short: "Manage edge gateways in the registry"}
	var id string
	add := &cobra.Command{
		Use:   "add --id ID",
		Short: "Pre-register a gateway and print its one-time enrolment token (for oobtb-gateway --enrol-token)",
		Long: `Pre-registers gateway ID and prints its one-time enrolment token, ID~SECRET, on stdout: pass it
to oobtb-gateway --enrol-token. Only the token's hash is stored; it is shown once. Running it again
before the gateway enrolled replaces the token; an enrolled gateway is refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" {
				return errors.New("--id is required")
			}
			st, err := openStore(*dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := context.Background()
			tok, err := st.CreateGateway(ctx, id, time.Now())
			if err != nil {
				return err
			}
			// The audit names the gateway, never the token.
			auditCLI(ctx, st, "gateway.create", id)
			fmt.Fprintln(cmd.OutOrStdout(), id+server.EnrolTokenSep+tok)
			return nil
		},
	}
	add.Flags().StringVar(&id, "id", "", "gateway id, 1-128 of [A-Za-z0-9._:-]")

	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List gateways: enrolment, liveness, identifiers, WAN endpoints",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(*dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			gws, err := st.ListGateways(context.Background())
			if err != nil {
				return err
			}
			if asJSON {
				return writeIndentedJSON(cmd.OutOrStdout(), gws)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tENROLLED\tONLINE\tLAST HEARTBEAT\tWAN\tIDENTIFIERS")
			for _, g := range gws {
				hb := "-"
				if !g.LastHeartbeat.IsZero() {
					hb = g.LastHeartbeat.Format(time.RFC3339)
				}
				var ids []string
				for _, i := range g.Identifiers {
					ids = append(ids, string(i.Type)+":"+i.Value)
				}
				fmt.Fprintf(tw, "%s\t%t\t%t\t%s\t%s\t%s\n", g.ID, g.Enrolled, g.Online, hb, dash(strings.Join(g.WANEndpoints, ",")), dash(strings.Join(ids, " ")))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(add, list)
	return cmd
}
