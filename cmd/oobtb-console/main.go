// Command oobtb-console is the operator's console for the oobtb management
// server: list devices, power actions, inventory, KVM (screenshot, typing,
// figures, a local VNC endpoint) and serial over LAN. docs/console.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/oobtb/oobtb/emulators/console"
	"github.com/oobtb/oobtb/emulators/console/kvmclient"
	"github.com/oobtb/oobtb/emulators/console/redirclient"
	"github.com/oobtb/oobtb/emulators/console/solclient"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := command(os.Stdin, os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "oobtb-console:", err)
		os.Exit(1)
	}
}

// extraCommands are added to the root by other files' init (the
// gateway-assisted session commands live in session.go and help.go).
var extraCommands []func(*globals) *cobra.Command

type globals struct {
	server, token string
	timeout       time.Duration
	stdin         io.Reader
	stdout        io.Writer
	stderr        io.Writer
}

func (g *globals) console() (*console.Console, error) {
	c, err := console.New(g.server, g.token)
	if err != nil {
		return nil, err
	}
	c.API.HTTP.Timeout = g.timeout
	return c, nil
}

func command(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "oobtb-console",
		Short:         "Operator console for the oobtb management server: devices, power, inventory, KVM and SOL",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.server, "server", os.Getenv("OOBTB_SERVER"), "server API URL, e.g. http://127.0.0.1:8080 (env OOBTB_SERVER)")
	root.PersistentFlags().StringVar(&g.token, "token", os.Getenv("OOBTB_TOKEN"), "bearer token (env OOBTB_TOKEN)")
	root.PersistentFlags().DurationVar(&g.timeout, "timeout", 60*time.Second, "bound on each API request")
	root.AddCommand(devicesCommand(g), powerCommand(g), inventoryCommand(g), kvmCommand(g), solCommand(g))
	for _, f := range extraCommands {
		root.AddCommand(f(g))
	}
	return root
}

func devicesCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List the server's devices",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.console()
			if err != nil {
				return err
			}
			ds, err := c.API.ListDevices(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(g.stdout, ds)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "UUID\tSTATE\tONLINE\tLAST SEEN\tREMOTE\tPATH")
			for _, d := range ds {
				seen := "-"
				if !d.LastSeen.IsZero() {
					seen = d.LastSeen.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\n", d.UUID, d.State, d.Online, seen, dash(d.RemoteAddr), dash(d.Path))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

var powerActions = []string{"on", "off", "reset", "cycle", "sleep", "hibernate", "soft-off"}

func powerCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "power on|off|reset|cycle|sleep|hibernate|soft-off|status DEVICE",
		Short: "Change or show a device's power state",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return fmt.Errorf("power needs an action and a device, e.g. `power cycle <uuid>`; got %d argument(s)", len(args))
			}
			if args[0] != "status" && !contains(powerActions, args[0]) {
				return fmt.Errorf("unknown power action %q; expected one of %s or status", args[0], strings.Join(powerActions, ", "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.console()
			if err != nil {
				return err
			}
			dev, err := c.ResolveDevice(cmd.Context(), args[1])
			if err != nil {
				return err
			}
			if args[0] == "status" {
				p, err := c.API.Power(cmd.Context(), dev)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "%s: power state %d (%s)\n", dev, p.PowerState, p.Name)
				return nil
			}
			r, err := c.API.PowerAction(cmd.Context(), dev, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s: %s accepted (requested power state %d, ReturnValue %d)\n", dev, args[0], r.PowerState, r.ReturnValue)
			return nil
		},
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func inventoryCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "inventory DEVICE",
		Short: "Print a device's hardware inventory (JSON)",
		Args:  exactDevice("inventory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.console()
			if err != nil {
				return err
			}
			dev, err := c.ResolveDevice(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			inv, err := c.API.Inventory(cmd.Context(), dev)
			if err != nil {
				return err
			}
			return writeJSON(g.stdout, inv)
		},
	}
}

func exactDevice(name string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%s needs exactly one device (UUID or unique prefix); got %d argument(s)", name, len(args))
		}
		return nil
	}
}

// direct are the flags of a session straight to a device's 16994.
type direct struct {
	addr, user, pass string
}

func (d *direct) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&d.addr, "direct", "", "connect straight to a device's redirection port HOST:PORT instead of through the server")
	cmd.Flags().StringVar(&d.user, "user", "admin", "AMT user for --direct (the server's relay injects its own)")
	cmd.Flags().StringVar(&d.pass, "pass", os.Getenv("OOBTB_AMT_PASS"), "AMT password for --direct (env OOBTB_AMT_PASS)")
}

func (d *direct) dial(ctx context.Context) (net.Conn, error) {
	var nd net.Dialer
	dctx, cancel := context.WithTimeout(ctx, console.DialTimeout)
	defer cancel()
	conn, err := nd.DialContext(dctx, "tcp", d.addr)
	if err != nil {
		return nil, fmt.Errorf("--direct %s: %w", d.addr, err)
	}
	return conn, nil
}

// openSession opens a KVM or SOL client: straight to --direct with the
// given AMT credentials, or through the server's relay for the device named
// by the first argument (the relay injects the credentials).
func openSession[T any](ctx context.Context, g *globals, d *direct, args []string,
	direct func(net.Conn, redirclient.Credentials) (T, error), relay func(*console.Console, string) (T, error)) (T, error) {
	var zero T
	if d.addr != "" {
		conn, err := d.dial(ctx)
		if err != nil {
			return zero, err
		}
		c, err := direct(conn, redirclient.Credentials{User: d.user, Password: d.pass})
		if err != nil {
			conn.Close()
			return zero, err
		}
		return c, nil
	}
	c, err := g.console()
	if err != nil {
		return zero, err
	}
	dev, err := c.ResolveDevice(ctx, args[0])
	if err != nil {
		return zero, err
	}
	return relay(c, dev)
}

func deviceArgs(name string, d *direct) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if d.addr != "" {
			if len(args) > 1 {
				return fmt.Errorf("%s --direct takes at most one device argument; got %d", name, len(args))
			}
			return nil
		}
		return exactDevice(name)(cmd, args)
	}
}

func kvmCommand(g *globals) *cobra.Command {
	var (
		d                    direct
		o                    console.KVMOptions
		bpp                  int
		deflate              bool
		statsFmt, vncPassEnv string
	)
	cmd := &cobra.Command{
		Use:   "kvm DEVICE",
		Short: "Open a KVM session: screenshot, type text, report figures, serve a local VNC endpoint",
		RunE: func(cmd *cobra.Command, args []string) error {
			pf, err := console.FormatForBPP(bpp)
			if err != nil {
				return err
			}
			if statsFmt != "text" && statsFmt != "json" && statsFmt != "none" {
				return fmt.Errorf("--stats %q: expected text, json or none", statsFmt)
			}
			if o.Duration < 0 {
				return fmt.Errorf("--duration %v: must not be negative", o.Duration)
			}
			for _, r := range o.Type {
				if _, err := kvmclient.KeysymFor(r); err != nil {
					return fmt.Errorf("--type: %w", err)
				}
			}
			o.Config.Format, o.Config.Deflate = pf, deflate
			o.VNCPassword = os.Getenv(vncPassEnv)
			o.Notify = g.stderr
			ctx := cmd.Context()
			kc, err := openSession(ctx, g, &d, args,
				func(conn net.Conn, cr redirclient.Credentials) (*kvmclient.Client, error) {
					o.Config.Credentials = cr
					return kvmclient.Open(conn, o.Config)
				},
				func(c *console.Console, dev string) (*kvmclient.Client, error) { return c.OpenKVM(ctx, dev, o.Config) })
			if err != nil {
				return err
			}
			st, err := console.RunKVM(ctx, kc, o)
			switch statsFmt {
			case "json":
				if jerr := writeJSON(g.stdout, st); jerr != nil && err == nil {
					err = jerr
				}
			case "text":
				printStats(g.stderr, st)
			}
			if err == nil && o.Screenshot != "" {
				fmt.Fprintf(g.stderr, "screenshot written to %s\n", o.Screenshot)
			}
			return err
		},
	}
	cmd.Args = deviceArgs("kvm", &d)
	d.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.Screenshot, "screenshot", "", "write the screen as PNG to this file at the end")
	f.StringVar(&o.Type, "type", "", "type this text (Latin-1; \\n is Return) and wait until the device shows it")
	f.DurationVar(&o.Duration, "duration", 0, "keep the session open this long (0: end after typing; with --listen: until interrupted)")
	f.DurationVar(&o.TypeTimeout, "type-timeout", 30*time.Second, "bound on the first frame and on typed text showing")
	f.StringVar(&statsFmt, "stats", "text", "figures at the end: text (stderr), json (stdout) or none")
	f.StringVar(&o.Listen, "listen", "", "serve the screen to VNC viewers on ADDR (security None on loopback; otherwise set the password env)")
	f.StringVar(&vncPassEnv, "vnc-password-env", "OOBTB_VNC_PASSWORD", "environment variable holding the VNC password for --listen")
	f.IntVar(&bpp, "bpp", 16, "pixel depth: 16 (RGB565, AMT's default), 8 (RGB332) or 32")
	f.BoolVar(&deflate, "deflate", false, "ask for zlib compression of encoding 16 (KvmExtCmd 4)")
	return cmd
}

func printStats(w io.Writer, s kvmclient.Stats) {
	fmt.Fprintf(w, "KVM %dx%d %s, %.1f s: %d updates (%.1f frames/s), %.3f Mbit/s (%d bytes), source frames %d\n",
		s.Width, s.Height, s.PixelFormat, s.Seconds, s.Updates, s.FramesPerSecond, s.MbitPerSecond, s.Bytes, s.SourceFrames)
	fmt.Fprintf(w, "rects: %v\n", s.Rects)
	fmt.Fprintf(w, "input-to-pixel latency: %d samples, p50 %.1f ms, p95 %.1f ms, p99 %.1f ms (inputs sent %d, seen %d)\n",
		s.Latency.Samples, s.Latency.P50, s.Latency.P95, s.Latency.P99, s.Inputs.Sent, s.Inputs.Seen)
	fmt.Fprintf(w, "frame integrity: %d of %d frames with a valid stamp, %d failures, %d regressions\n",
		s.Integrity.Valid, s.Integrity.Checked, s.Integrity.Failures, s.Integrity.Regressions)
	if s.Integrity.FirstFailure != "" {
		fmt.Fprintf(w, "first integrity failure: %s\n", s.Integrity.FirstFailure)
	}
}

func solCommand(g *globals) *cobra.Command {
	var (
		d        direct
		send     string
		duration time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sol DEVICE",
		Short: "Serial over LAN: interactive on a terminal (Ctrl-] quits), piped otherwise, or --send for scripts",
		RunE: func(cmd *cobra.Command, args []string) error {
			if duration < 0 {
				return fmt.Errorf("--duration %v: must not be negative", duration)
			}
			ctx := cmd.Context()
			sc, err := openSession(ctx, g, &d, args,
				func(conn net.Conn, cr redirclient.Credentials) (*solclient.Client, error) {
					return solclient.Open(conn, solclient.Config{Credentials: cr})
				},
				func(c *console.Console, dev string) (*solclient.Client, error) {
					return c.OpenSOL(ctx, dev, solclient.Config{})
				})
			if err != nil {
				return err
			}
			return runSOL(ctx, g, sc, send, duration)
		},
	}
	cmd.Args = deviceArgs("sol", &d)
	d.flags(cmd)
	cmd.Flags().StringVar(&send, "send", "", "send this text (\\n for Enter) instead of reading stdin")
	cmd.Flags().DurationVar(&duration, "duration", 2*time.Second, "with --send or piped input: how long to collect output after sending")
	return cmd
}

func runSOL(ctx context.Context, g *globals, sc *solclient.Client, send string, duration time.Duration) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- sc.Run(rctx, g.stdout) }()
	finish := func(err error) error {
		cancel()
		rerr := <-runDone
		_ = sc.Close()
		if err == nil {
			err = rerr
		}
		return err
	}
	wait := func() error {
		t := time.NewTimer(duration)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		case err := <-runDone:
			runDone <- err
		}
		return nil
	}
	if send != "" {
		if _, err := sc.Write([]byte(strings.ReplaceAll(send, `\n`, "\n"))); err != nil {
			return finish(err)
		}
		return finish(wait())
	}
	f, isFile := g.stdin.(*os.File)
	interactive := false
	if isFile {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			interactive = true
		}
	}
	if interactive {
		restore, err := makeRaw(int(f.Fd()))
		if err != nil {
			fmt.Fprintf(g.stderr, "(line mode: %v)\n", err)
		} else {
			defer restore()
			fmt.Fprint(g.stderr, "connected; Ctrl-] quits\r\n")
		}
	}
	inDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := g.stdin.Read(buf)
			if n > 0 {
				b := buf[:n]
				quit := false
				if interactive {
					for i, c := range b {
						if c == 0x1d { // Ctrl-]
							b, quit = b[:i], true
							break
						}
					}
				}
				if len(b) > 0 {
					if _, werr := sc.Write(b); werr != nil {
						inDone <- werr
						return
					}
				}
				if quit {
					inDone <- nil
					return
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				inDone <- err
				return
			}
		}
	}()
	select {
	case err := <-inDone:
		if err != nil {
			return finish(err)
		}
		if !interactive {
			return finish(wait()) // collect the answer to the piped input
		}
		return finish(nil)
	case err := <-runDone:
		runDone <- err
		return finish(nil)
	case <-ctx.Done():
		return finish(nil)
	}
}
