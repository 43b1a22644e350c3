// Command oobtb-server runs the oobtb management server: the CIRA listener
// (MPS role), the console REST API with the KVM/SOL web relay, and the
// Prometheus metrics. `device add` and `device list` work on the registry in
// the data directory directly.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/oobtb/oobtb/emulators/server"
	"github.com/oobtb/oobtb/emulators/server/registry"
)

func main() {
	if err := command().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "oobtb-server:", err)
		os.Exit(2)
	}
}

func defaultDataDir() string {
	if d := os.Getenv("OOBTB_SERVER_DATA"); d != "" {
		return d
	}
	return "oobtb-server-data"
}

func command() *cobra.Command {
	var dataDir string
	root := &cobra.Command{
		Use:           "oobtb-server",
		Short:         "The oobtb management server: CIRA listener (MPS role), console API, KVM/SOL web relay, metrics",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&dataDir, "data", defaultDataDir(), "data directory: registry, CA and server certificate, tokens")
	root.PersistentFlags().StringVar((*string)(&passwordScheme), "password-hash", string(registry.SchemeHMAC),
		"how newly enrolled CIRA passwords are stored: hmac-sha256 (keyed by the registry key; for generated passwords) or pbkdf2-sha256 (for human-chosen ones)")
	root.PersistentFlags().IntVar(&passwordIterations, "password-iterations", registry.DefaultPasswordIterations, "PBKDF2 cost with --password-hash pbkdf2-sha256")
	serve := serveCommand(&dataDir)
	root.AddCommand(serve, deviceCommand(&dataDir), gatewayCommand(&dataDir))
	// serve is the default: flags given without a subcommand go to it.
	root.RunE = serve.RunE
	root.Flags().AddFlagSet(serve.Flags())
	return root
}

func serveCommand(dataDir *string) *cobra.Command {
	var (
		cfg      server.Config
		logLevel string
		logJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server (default command)",
		Example: `  oobtb-server serve --data ./srv --cira-listen 127.0.0.1:4433 --api-listen 127.0.0.1:8080
  oobtb-server device add --data ./srv --uuid 12345678-9abc-def0-1122-334455667788 --user dev1 --pass secret --amt-pass P@ssw0rd`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: %w", logLevel, err)
			}
			opts := &slog.HandlerOptions{Level: lvl}
			var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
			if logJSON {
				h = slog.NewJSONHandler(os.Stderr, opts)
			}
			cfg.Logger = slog.New(h)
			cfg.DataDir = *dataDir
			cfg.PasswordScheme, cfg.PasswordIterations = passwordScheme, passwordIterations
			cfg.Announce = os.Stdout
			if (cfg.CertFile == "") != (cfg.KeyFile == "") {
				return errors.New("--cert and --key go together")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := server.New(cfg)
			if err != nil {
				return err
			}
			if err := srv.Start(ctx); err != nil {
				srv.Close()
				return err
			}
			fmt.Fprintf(os.Stdout, "oobtb-server: CIRA on %s (CA certificate for devices: %s)\n", srv.CIRAAddr(), srv.CACertPath())
			fmt.Fprintf(os.Stdout, "oobtb-server: API on %s/api/v1 (admin token in %s), metrics on %s/metrics\n",
				srv.APIURL(), filepath.Join(*dataDir, "admin.token"), srv.APIURL())
			if a := srv.GatewayControlAddr(); a != nil {
				fmt.Fprintf(os.Stdout, "oobtb-server: gateway control channel on %s (pairing TTL %v, gateway heartbeat %v)\n",
					a, cfg.PairingTTL, cfg.GatewayHeartbeat)
			}
			<-ctx.Done()
			fmt.Fprintln(os.Stdout, "oobtb-server: shutting down")
			return srv.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.CIRAListen, "cira-listen", server.DefaultCIRAListen, "CIRA (APF over TLS) listen address")
	f.StringVar(&cfg.APIListen, "api-listen", server.DefaultAPIListen, "console API, web relay and /metrics listen address")
	f.StringVar(&cfg.CertFile, "cert", "", "CIRA server certificate (PEM); default: generated in --data by its CA")
	f.StringVar(&cfg.KeyFile, "key", "", "private key of --cert (PEM)")
	f.StringVar(&cfg.CommonName, "cn", server.DefaultCommonName, "common name of a generated server certificate (AMT matches it against its MPS entry)")
	f.StringSliceVar(&cfg.DNSNames, "dns", nil, "extra DNS names for a generated server certificate")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", server.DefaultIdleTimeout, "close CIRA tunnels without traffic after this long")
	f.IntVar(&cfg.MaxConns, "max-conns", 0, "maximum simultaneous CIRA connections (0: the fd limit minus 256)")
	f.DurationVar(&cfg.SessionTTL, "session-ttl", server.DefaultSessionTTL, "life of a console session token")
	f.StringVar(&cfg.GatewayListen, "gateway-listen", DefaultGatewayListen, "gateway control channel (TLS) listen address; empty: off (no gateway-assisted pairing)")
	f.DurationVar(&cfg.PairingTTL, "pairing-ttl", server.DefaultPairingTTL, "life of a pairing (session id and one-time tokens)")
	f.DurationVar(&cfg.GatewayHeartbeat, "gateway-heartbeat", server.DefaultGatewayHeartbeat, "heartbeat interval told to gateways; one is offline after 3 intervals + 5 s without one")
	f.BoolVar(&cfg.AdaptiveProcs, "adaptive-procs", true, "run the Go scheduler on one core while only idle tunnels are held, on all when busy (saves CPU per keep-alive)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.BoolVar(&logJSON, "log-json", false, "log JSON lines instead of text")
	return cmd
}

// DefaultGatewayListen is the gateway control listener of the daemon.
const DefaultGatewayListen = "127.0.0.1:4434"

func deviceCommand(dataDir *string) *cobra.Command {
	cmd := &cobra.Command{Use: "device", Short: "Manage enrolled devices in the registry"}
	var e registry.DeviceEnrolment
	add := &cobra.Command{
		Use:   "add",
		Short: "Enrol a device (CIRA and AMT credentials)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if e.UUID == "" || e.CIRAUser == "" || e.CIRAPassword == "" || e.AMTPassword == "" {
				return errors.New("--uuid, --user, --pass and --amt-pass are required")
			}
			st, err := openStore(*dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := context.Background()
			d, err := st.EnrolDevice(ctx, e, time.Now())
			if err != nil {
				return err
			}
			auditCLI(ctx, st, "device.enrol", d.UUID)
			fmt.Fprintf(cmd.OutOrStdout(), "enrolled %s (CIRA user %s, AMT user %s)\n", d.UUID, d.CIRAUser, d.AMTUser)
			return nil
		},
	}
	af := add.Flags()
	af.StringVar(&e.UUID, "uuid", "", "device UUID")
	af.StringVar(&e.CIRAUser, "user", "", "CIRA (APF USERAUTH) user")
	af.StringVar(&e.CIRAPassword, "pass", "", "CIRA password")
	af.StringVar(&e.AMTUser, "amt-user", "admin", "AMT (WS-MAN/redirection digest) user")
	af.StringVar(&e.AMTPassword, "amt-pass", "", "AMT password")

	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List enrolled devices",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(*dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			var all []registry.Device
			after := ""
			for {
				page, next, err := st.ListDevices(context.Background(), registry.Page{After: after, Limit: registry.MaxPageLimit})
				if err != nil {
					return err
				}
				all = append(all, page...)
				if next == "" {
					break
				}
				after = next
			}
			if asJSON {
				return writeIndentedJSON(cmd.OutOrStdout(), all)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "UUID\tSTATE\tLAST SEEN\tTRIGGER\tFAILOVER\tREMOTE")
			for _, d := range all {
				seen := "-"
				if !d.LastSeen.IsZero() {
					seen = d.LastSeen.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.UUID, d.State, seen, dash(d.LastTrigger), dash(d.Failover.Summary), dash(d.RemoteAddr))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(add, list)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// The password storage flags apply to every command that enrols or changes
// a device (serve through the API, device add).
var (
	passwordScheme     registry.PasswordScheme
	passwordIterations int
)

// auditCLI records a successful registry change made from the command line.
// The change is done; a failed audit write must not report it as failed.
func auditCLI(ctx context.Context, st registry.Store, action, subject string) {
	_, _ = st.AppendAudit(ctx, registry.AuditRecord{Time: time.Now(), Actor: "cli", Action: action,
		Subject: subject, Outcome: "ok"})
}

func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func openStore(dir string) (*registry.SQLite, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return registry.Open(context.Background(), registry.Options{Dir: dir, PasswordScheme: passwordScheme,
		PasswordIterations: passwordIterations})
}
