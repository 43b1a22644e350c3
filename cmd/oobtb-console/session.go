package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/oobtb/oobtb/emulators/console"
	"github.com/oobtb/oobtb/emulators/console/kvmclient"
	"github.com/oobtb/oobtb/emulators/console/redirclient"
	"github.com/oobtb/oobtb/emulators/console/session"
	"github.com/oobtb/oobtb/emulators/gateway/p2p"
)

func init() { extraCommands = append(extraCommands, sessionCommand) }

// sessionFlags are shared by `session` and `accept`.
type sessionFlags struct {
	gateway, fallback, consoleID, keyFile string
	user, pass, statsFmt                  string
	directWait                            time.Duration
	o                                     console.KVMOptions
}

func (f *sessionFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.gateway, "gateway", "", "name the gateway as TYPE:VALUE (id, ipv4, ipv6, port, mac, domain, udi, url); default: the one the device reported")
	fl.StringVar(&f.fallback, "fallback", "none", "when the gateway path is impossible: none (refuse) or classic (the server's relay)")
	fl.StringVar(&f.consoleID, "console-id", "", "this console's id in the pairing (default: the token's subject)")
	fl.StringVar(&f.keyFile, "key-file", os.Getenv("OOBTB_CONSOLE_KEY"), "file holding the console's static X25519 private key (64 hex digits); created if missing; empty: a fresh key per run (env OOBTB_CONSOLE_KEY)")
	fl.StringVar(&f.user, "user", "admin", "AMT user: the redirection digest runs end to end with the device on the gateway path")
	fl.StringVar(&f.pass, "pass", os.Getenv("OOBTB_AMT_PASS"), "AMT password (env OOBTB_AMT_PASS)")
	fl.DurationVar(&f.directWait, "direct-wait", session.DefaultDirectWait, "bound on the direct attempt before the relay is tried")
	fl.StringVar(&f.o.Type, "type", "", "type this text (Latin-1; \\n is Return) and wait until the device shows it")
	fl.DurationVar(&f.o.Duration, "duration", 0, "keep the session open this long (0: end after the first frame or typing)")
	fl.StringVar(&f.o.Screenshot, "screenshot", "", "write the screen as PNG to this file at the end")
	fl.DurationVar(&f.o.TypeTimeout, "type-timeout", 30*time.Second, "bound on the first frame and on typed text showing")
	fl.StringVar(&f.statsFmt, "stats", "text", "figures at the end: text (stderr), json (stdout) or none")
	fl.BoolVar(&f.o.Config.Sequential, "sequential", false, "open redirection and RFB one message per round trip, as stock consoles (default: pipelined, about 5 round trips fewer)")
	fl.BoolVar(&f.o.Config.Optimistic, "optimistic", true, "on the gateway paths, send the KVM start and RFB opening with the digest response, before the device's verdict (one round trip fewer; the classic path never does; --optimistic=false waits for the verdict)")
}

func (f *sessionFlags) check() error {
	if f.statsFmt != "text" && f.statsFmt != "json" && f.statsFmt != "none" {
		return fmt.Errorf("--stats %q: expected text, json or none", f.statsFmt)
	}
	if f.fallback != "none" && f.fallback != "classic" {
		return fmt.Errorf("--fallback %q: expected none or classic", f.fallback)
	}
	if f.o.Duration < 0 {
		return fmt.Errorf("--duration %v: must not be negative", f.o.Duration)
	}
	for _, r := range f.o.Type {
		if _, err := kvmclient.KeysymFor(r); err != nil {
			return fmt.Errorf("--type: %w", err)
		}
	}
	_, err := f.ref()
	return err
}

func (f *sessionFlags) ref() (*session.GatewayRef, error) {
	if f.gateway == "" {
		return nil, nil
	}
	t, v, ok := strings.Cut(f.gateway, ":")
	if !ok || t == "" || v == "" {
		return nil, fmt.Errorf("--gateway %q: expected TYPE:VALUE, e.g. udi:GW-0001 or ipv4:198.18.1.1", f.gateway)
	}
	return &session.GatewayRef{Type: t, Value: v}, nil
}

// key loads, creates or generates the console's static key.
func (f *sessionFlags) key() (p2p.Key, error) {
	if f.keyFile == "" {
		return p2p.GenerateKey()
	}
	if b, err := os.ReadFile(f.keyFile); err == nil {
		priv, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(priv) != 32 {
			return p2p.Key{}, fmt.Errorf("--key-file %s: expected 64 hex digits", f.keyFile)
		}
		return p2p.KeyFromPrivate(priv)
	} else if !os.IsNotExist(err) {
		return p2p.Key{}, fmt.Errorf("--key-file: %w", err)
	}
	k, err := p2p.GenerateKey()
	if err != nil {
		return k, err
	}
	if err := os.WriteFile(f.keyFile, []byte(hex.EncodeToString(k.Private)+"\n"), 0o600); err != nil {
		return k, fmt.Errorf("--key-file: %w", err)
	}
	return k, nil
}

func (f *sessionFlags) client(g *globals) (*session.Client, *console.Console, error) {
	c, err := g.console()
	if err != nil {
		return nil, nil, err
	}
	k, err := f.key()
	if err != nil {
		return nil, nil, err
	}
	sc, err := session.New(session.Config{API: c.API, Key: k, ConsoleID: f.consoleID, DirectWait: f.directWait})
	return sc, c, err
}

func (f *sessionFlags) request(device string) (session.PairingRequest, error) {
	ref, err := f.ref()
	return session.PairingRequest{Device: device, Gateway: ref, Fallback: f.fallback}, err
}

// run connects the answer's session, runs KVM and reports.
func (f *sessionFlags) run(ctx context.Context, g *globals, sc *session.Client, a session.Answer, pair time.Duration, started time.Time) error {
	s, err := sc.Connect(ctx, a)
	if err != nil {
		return err
	}
	defer s.Close()
	s.PairTime = pair
	via := ""
	if s.Answer.GatewayID != "" {
		via = " via gateway " + s.Answer.GatewayID
	}
	fmt.Fprintf(g.stderr, "session %s: path %s%s", dash(a.SessionID), s.Path, via)
	if s.Why != "" {
		fmt.Fprintf(g.stderr, " (%s)", s.Why)
	}
	fmt.Fprintln(g.stderr)
	o := f.o
	o.Config.Credentials = redirclient.Credentials{User: f.user, Password: f.pass}
	o.Notify = g.stderr
	rep, err := s.RunKVM(ctx, o, started)
	switch f.statsFmt {
	case "json":
		if jerr := writeJSON(g.stdout, rep); jerr != nil && err == nil {
			err = jerr
		}
	case "text":
		if rep.Recovered {
			fmt.Fprintf(g.stderr, "recovered over the classic path %.1f ms after: %s\n", rep.RecoveryMs, rep.LostReason)
		}
		fmt.Fprintf(g.stderr, "path %s: pairing %.1f ms, connect %.1f ms, first frame %.1f ms after the request\n",
			rep.Path, rep.PairMs, rep.ConnectMs, rep.FirstFrameMs)
		printStats(g.stderr, rep.Stats)
	}
	if err == nil && f.o.Screenshot != "" {
		fmt.Fprintf(g.stderr, "screenshot written to %s\n", f.o.Screenshot)
	}
	return err
}

func sessionCommand(g *globals) *cobra.Command {
	var f sessionFlags
	cmd := &cobra.Command{
		Use:   "session DEVICE",
		Short: "Gateway-assisted KVM session: pair, connect peer to peer to the gateway (relay or classic fallback), report the path and why",
		Args:  exactDevice("session"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			sc, c, err := f.client(g)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			dev, err := c.ResolveDevice(ctx, args[0])
			if err != nil {
				return err
			}
			req, err := f.request(dev)
			if err != nil {
				return err
			}
			start := time.Now()
			a, err := sc.Pair(ctx, req)
			if err != nil {
				return err
			}
			return f.run(ctx, g, sc, a, time.Since(start), start)
		},
	}
	f.register(cmd)
	return cmd
}
