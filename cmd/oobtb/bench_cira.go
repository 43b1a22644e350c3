package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/oobtb/oobtb/bench/ciraload"
)

// benchCmd groups the benchmark subcommands.
var benchCmd = &cobra.Command{
	Use:   "bench",
	Short: "Benchmarks and load generators",
}

func init() {
	benchCmd.AddCommand(benchCiraCommand())
	root.AddCommand(benchCmd)
}

func benchCiraCommand() *cobra.Command {
	var (
		cfg                                   ciraload.Config
		caFile, credsFile, jsonOut, sourceStr string
		enrolInto, spawnDir, pprofAddr        string
		maxConns, gogc                        int
		idleTimeout                           time.Duration
		fixedProcs                            bool
	)
	cmd := &cobra.Command{
		Use:   "cira",
		Short: "CIRA connection-scale load: ramp N idle AMT tunnels against any CIRA server, hold them, measure the server",
		Long: `Opens --count real CIRA tunnels (TCP, TLS with AMT's suites, APF PROTOCOL_VERSION, USERAUTH,
tcpip-forward of AMT's seven ports; keep-alives at the server's KEEPALIVE_OPTIONS interval) from
--procs worker processes and 127.1.x.y source addresses, holds them idle for --hold, and reports
accepts/s, connect-to-ready p50/p99, failures by reason, tunnels alive after the ramp and after the
hold (each probed with an APF keep-alive) and, for a local server (--server-pid or --spawn-server),
its RSS per idle tunnel and CPU during the hold. Only standard APF: any CIRA server will do.
docs/bench-cira.md has the full-scale recipe.`,
		Example: `  # against an oobtb server started by the command, 19,000 tunnels
  oobtb bench cira --spawn-server /tmp/bench-srv --count 19000 --procs 4 --hold 2m --json out.json
  # the limit: more tunnels than the server's cap
  oobtb bench cira --spawn-server /tmp/bench-srv --max-conns 1000 --count 1500 --hold 10s
  # any CIRA server whose devices are enrolled as bench{n} / bench-secret-{n}
  oobtb bench cira --target 127.0.0.1:4433 --ca ca.crt --count 5000 --server-pid 1234`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if credsFile != "" {
				f, err := os.Open(credsFile)
				if err != nil {
					return fmt.Errorf("--creds: %w", err)
				}
				cfg.Credentials, err = ciraload.ReadCredentials(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("--creds %s: %w", credsFile, err)
				}
			}
			if cfg.Count == 0 && len(cfg.Credentials) == 0 {
				return errors.New("--count is required (or --creds)")
			}
			count := cfg.Count
			if count == 0 {
				count = len(cfg.Credentials)
			}
			if sourceStr != "" {
				a, err := netip.ParseAddr(sourceStr)
				if err != nil {
					return fmt.Errorf("--source-base: %w", err)
				}
				cfg.SourceBase = a
			}
			if spawnDir != "" && (cfg.Target != "" || cfg.ServerPID != 0) {
				return errors.New("--spawn-server starts its own server: leave out --target and --server-pid")
			}
			if spawnDir == "" && cfg.Target == "" {
				return errors.New("--target host:port is required (or --spawn-server DIR)")
			}
			if spawnDir != "" && enrolInto == "" {
				enrolInto = spawnDir
			}
			progress := cmd.ErrOrStderr()
			if enrolInto != "" {
				t0 := time.Now()
				n, err := ciraload.Enrol(ctx, enrolInto, cfg, count)
				if err != nil {
					return err
				}
				fmt.Fprintf(progress, "enrolled %d new devices into %s (%d wanted) in %s\n", n, enrolInto, count, time.Since(t0).Round(time.Millisecond))
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			if spawnDir != "" {
				args := []string{"bench", "cira", "server", "--data", spawnDir, "--max-conns", fmt.Sprint(maxConns)}
				if idleTimeout > 0 {
					args = append(args, "--idle-timeout", idleTimeout.String())
				}
				if pprofAddr != "" {
					args = append(args, "--pprof", pprofAddr)
				}
				if fixedProcs {
					args = append(args, "--fixed-procs")
					cfg.ServerFixedProcs = true
				}
				if gogc != 0 {
					args = append(args, "--gogc", fmt.Sprint(gogc))
					cfg.ServerGOGC = gogc
				}
				srv, err := ciraload.SpawnServer(ctx, exec.Command(self, args...))
				if err != nil {
					return err
				}
				defer srv.Stop()
				fmt.Fprintf(progress, "server pid %d: CIRA %s, API %s, max %d connections, log %s\n", srv.PID, srv.CIRA, srv.API, srv.MaxConns, srv.Log)
				cfg.Target, cfg.ServerPID, cfg.APIURL, cfg.ServerLog = srv.CIRA, srv.PID, srv.API, srv.Log
				if cfg.APIToken == "" {
					cfg.APIToken = srv.AdminToken
				}
				if caFile == "" && !cfg.Insecure {
					caFile = srv.CAFile
				}
			}
			if caFile != "" {
				if cfg.CAPEM, err = os.ReadFile(caFile); err != nil {
					return fmt.Errorf("--ca: %w", err)
				}
			}
			cfg.WorkerCommand = func() *exec.Cmd { return exec.Command(self, "bench", "cira", "worker") }
			cfg.Progress = progress
			res, runErr := ciraload.Run(ctx, cfg)
			if res != nil {
				res.WriteSummary(cmd.OutOrStdout())
				if jsonOut != "" {
					if err := writeJSON(jsonOut, res); err != nil {
						return errors.Join(runErr, err)
					}
				}
			}
			if runErr != nil {
				return runErr
			}
			if res.Limit != nil && !res.Limit.Clean {
				return &exitError{code: 3, err: errors.New("at the limit the server lost established tunnels or its API")}
			}
			if res.AliveEnd < res.Ramp.OK {
				return &exitError{code: 3, err: fmt.Errorf("%d of %d tunnels died during the run", res.Ramp.OK-res.AliveEnd, res.Ramp.OK)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Target, "target", "", "CIRA server host:port")
	f.StringVar(&caFile, "ca", "", "PEM CA certificate the server's certificate chains to")
	f.BoolVar(&cfg.Insecure, "insecure", false, "do not verify the server certificate")
	f.StringVar(&cfg.TLS, "tls", ciraload.TLSAMT, "what the devices offer: amt (TLS 1.2, X25519/P-256, AMT's suites) or go (Go's defaults: TLS 1.3, ML-KEM hybrid share)")
	f.DurationVar(&cfg.TCPKeepAlive, "tcp-keepalive", 0, "TCP keep-alive period of the devices' sockets (0: none; the APF keep-alive is CIRA's liveness check; 15s is Go's default)")
	f.IntVar(&cfg.WorkerProcs, "worker-gomaxprocs", 1, "GOMAXPROCS of each worker process")
	f.BoolVar(&cfg.Resume, "resume", false, "measure reconnects: each device first comes up once (not measured), then reconnects resuming its own cached TLS session")
	f.StringVar(&cfg.ServerName, "server-name", "", "name checked in the server certificate (default: the target's host)")
	f.IntVar(&cfg.Count, "count", 0, "tunnels to open")
	f.Float64Var(&cfg.Rate, "rate", 0, "ramp rate in tunnels/s over all workers (0: as fast as the server accepts)")
	f.IntVar(&cfg.Procs, "procs", 0, "worker processes (0: one per 5,000 tunnels)")
	f.IntVar(&cfg.Inflight, "inflight", ciraload.DefaultInflight, "handshakes in flight per worker")
	f.StringVar(&cfg.UserPattern, "user-pattern", ciraload.DefaultUserPattern, "CIRA user of device {n} ({uuid} also expands)")
	f.StringVar(&cfg.PassPattern, "pass-pattern", ciraload.DefaultPassPattern, "CIRA password of device {n}")
	f.StringVar(&credsFile, "creds", "", "credentials file, one device per line: uuid,user,password")
	f.StringVar(&cfg.UUIDBase, "uuid-base", ciraload.DefaultUUIDBase, "UUID of device 0; device n is this plus n")
	f.DurationVar(&cfg.Hold, "hold", 30*time.Second, "how long to hold the tunnels idle (≥ 2 keep-alive intervals for a CPU figure)")
	f.DurationVar(&cfg.ConnectTimeout, "connect-timeout", ciraload.DefaultConnectTimeout, "bound on one tunnel's TCP+TLS+APF handshake")
	f.DurationVar(&cfg.ProbeTimeout, "probe-timeout", ciraload.DefaultProbeTimeout, "bound on a liveness probe's keep-alive round trip")
	f.StringVar(&sourceStr, "source-base", "", "first source address (default 127.1.0.1 for loopback targets)")
	f.IntVar(&cfg.PerSource, "per-source", ciraload.DefaultPerSource, "tunnels per source address")
	f.IntVar(&cfg.ServerPID, "server-pid", 0, "the server's process id on this machine: measure its RSS and CPU")
	f.StringVar(&cfg.APIURL, "api", "", "server API base URL: check GET /api/v1/devices?limit=1 after the ramp and the hold")
	f.StringVar(&cfg.APIToken, "token", "", "bearer token for --api")
	f.StringVar(&jsonOut, "json", "", "write the result as JSON to this file (- for stdout)")
	f.StringVar(&enrolInto, "enrol-into", "", "first enrol the devices into the oobtb registry in this data directory")
	f.StringVar(&spawnDir, "spawn-server", "", "start an oobtb server with this data directory in a child process and load it")
	f.IntVar(&maxConns, "max-conns", 0, "with --spawn-server: the server's CIRA connection cap (0: fd limit minus reserve)")
	f.DurationVar(&idleTimeout, "idle-timeout", 0, "with --spawn-server: the server's idle timeout (0: its default)")
	f.StringVar(&pprofAddr, "server-pprof", "", "with --spawn-server: serve the server's net/http/pprof on this loopback address")
	f.BoolVar(&fixedProcs, "server-fixed-procs", false, "with --spawn-server: keep the server's GOMAXPROCS at all cores instead of the daemon's adaptive default; recorded in the result")
	f.IntVar(&gogc, "server-gogc", 0, "with --spawn-server: the server's GOGC (0: Go's default 100); recorded in the result")

	cmd.AddCommand(benchCiraWorkerCommand(), benchCiraServerCommand())
	return cmd
}

// benchCiraWorkerCommand is one worker process of `bench cira`.
func benchCiraWorkerCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "worker",
		Short:  "internal: one load-generator worker (JSON lines on stdin/stdout)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Ctrl-C reaches the whole process group: the coordinator handles
			// it and ends us through stdin, after we closed our tunnels.
			signal.Ignore(os.Interrupt)
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
			defer stop()
			return ciraload.WorkerMain(ctx, os.Stdin, os.Stdout)
		},
	}
}

// benchCiraServerCommand is the server child of `bench cira --spawn-server`.
func benchCiraServerCommand() *cobra.Command {
	var o ciraload.ServerOptions
	cmd := &cobra.Command{
		Use:    "server",
		Short:  "internal: an oobtb server for `bench cira --spawn-server` (runs until stdin ends)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			signal.Ignore(os.Interrupt)
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
			defer stop()
			return ciraload.ServeServer(ctx, o, os.Stdin, os.Stdout)
		},
	}
	cmd.Flags().StringVar(&o.DataDir, "data", "", "data directory")
	cmd.Flags().IntVar(&o.MaxConns, "max-conns", 0, "CIRA connection cap")
	cmd.Flags().DurationVar(&o.IdleTimeout, "idle-timeout", 0, "idle timeout")
	cmd.Flags().IntVar(&o.GCPercent, "gogc", 0, "GOGC (0: Go's default)")
	cmd.Flags().StringVar(&o.PprofAddr, "pprof", "", "serve net/http/pprof on this loopback address")
	cmd.Flags().BoolVar(&o.FixedProcs, "fixed-procs", false, "keep GOMAXPROCS at all cores (no adaptive scheduler)")
	return cmd
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = os.Stdout.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}
