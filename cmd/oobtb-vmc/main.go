// Command oobtb-vmc runs one or more virtual management controllers: emulated
// Intel AMT devices that open CIRA to a management server and serve WS-MAN,
// redirection (KVM, SOL) and VNC through it.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/vmc/services"
)

func main() {
	if err := command().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "oobtb-vmc:", err)
		os.Exit(2)
	}
}

func command() *cobra.Command {
	var (
		spec     vmc.Spec
		caFiles  []string
		lf       learnFlags
		insecure bool
		count    int
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "oobtb-vmc",
		Short: "Run emulated Intel AMT devices (vMCs) against a CIRA management server",
		Example: `  oobtb-vmc --server 127.0.0.1:4433 --ca data/ca.crt --uuid 12345678-9abc-def0-1122-334455667788 \
      --user dev1 --pass secret --amt-pass P@ssw0rd --workload terminal`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: %w", logLevel, err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
			var roots *x509.CertPool
			switch {
			case len(caFiles) > 0:
				roots = x509.NewCertPool()
				for _, f := range caFiles {
					pem, err := os.ReadFile(f)
					if err != nil {
						return fmt.Errorf("--ca: %w", err)
					}
					if !roots.AppendCertsFromPEM(pem) {
						return fmt.Errorf("--ca %s: no PEM certificate found", f)
					}
				}
			case !insecure:
				return errors.New("--ca FILE is required to verify the server (or --insecure, for tests only)")
			}
			var static *policy.GatewayHint
			if lf.static != "" {
				if lf.dhcp != "" || lf.mdns != "" {
					return errors.New("--gateway is a static hint: give it alone, or learn by --gateway-dhcp / --gateway-mdns")
				}
				var err error
				if static, err = parseStaticHint(lf.static); err != nil {
					return err
				}
			}
			if count < 1 || count > 5000 {
				return fmt.Errorf("--count %d: expected 1..5000 (use several processes for more: each holds one socket per device)", count)
			}
			var devs []*vmc.Device
			for i := 0; i < count; i++ {
				s := spec
				if count > 1 {
					u, err := nthUUID(spec.UUID, i)
					if err != nil {
						return err
					}
					s.UUID, s.Seed = u, spec.Seed+uint64(i)
				}
				d, err := vmc.Build(s, vmc.Deps{RootCAs: roots, Insecure: insecure, Logger: log, Services: services.For})
				if err != nil {
					for _, d := range devs {
						d.Stop()
					}
					return err
				}
				devs = append(devs, d)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if lf.any() {
				// Learned before the first tunnel opens, so PROTOCOL_VERSION
				// already carries the gateway (as AMT after its DHCP lease).
				for _, d := range devs {
					if err := learn(ctx, d, lf, static, log); err != nil {
						log.Warn("gateway discovery", "err", err)
					}
				}
			}
			for _, d := range devs {
				d.Start()
			}
			log.Info("vMCs started", "count", len(devs), "servers", strings.Join(spec.Servers, ","))
			<-ctx.Done()
			for _, d := range devs {
				d.Stop()
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&spec.Servers, "server", nil, "MPS host:port, repeatable: primary first, then backup")
	f.StringArrayVar(&caFiles, "ca", nil, "PEM file of a CA to trust: the server's, and the gateway's LAN CA (repeatable)")
	f.BoolVar(&insecure, "insecure", false, "skip server certificate verification (tests only)")
	f.StringVar(&spec.User, "user", "", "CIRA username (≤ 16 alphanumeric characters, as AMT stores it)")
	f.StringVar(&spec.Pass, "pass", "", "CIRA password")
	f.StringVar(&spec.UUID, "uuid", "", "device UUID (with --count, the first of a sequence)")
	f.StringVar(&spec.AMTUser, "amt-user", "admin", "WS-MAN and redirection digest user")
	f.StringVar(&spec.AMTPass, "amt-pass", "", "WS-MAN and redirection digest password")
	f.StringVar(&spec.Hostname, "hostname", "", "host name reported over WS-MAN (default vmc-<uuid prefix>)")
	f.StringVar(&spec.Domain, "domain", "", "DNS domain (environment detection)")
	f.StringVar(&spec.Workload, "workload", "idle", "screen workload: idle, bios, terminal, drag, photo, noise (W0–W5)")
	f.StringVar(&spec.Resolution, "resolution", "1920x1080", "screen resolution, e.g. 1920x1080, 1024x768")
	f.IntVar(&spec.FPS, "fps", 30, "screen content frame rate")
	f.StringVar(&spec.Trigger, "trigger", "periodic", "CIRA trigger: periodic, user (call for help) or alert")
	f.Uint64Var(&spec.Seed, "seed", 1, "workload seed")
	f.BoolVar(&spec.Stock, "stock", false, "behave as unmodified AMT: no gateway extension")
	f.BoolVar(&spec.Incapable, "incapable", false, "clear the failover capability field")
	f.BoolVar(&spec.Malformed, "malformed-extension", false, "send a deliberately malformed extension block (conformance tests)")
	f.StringVar(&spec.RFBPassword, "rfb-password", "", "enable port 5900 (plain RFB, VNC authentication) with this password")
	f.StringVar(&spec.PeriodicInterval, "periodic-interval", "", "periodic policy interval in seconds (default 25s, as RPS)")
	f.IntVar(&count, "count", 1, "number of vMCs to run in this process")
	f.StringVar(&lf.dhcp, "gateway-dhcp", "", "learn the LAN's gateway and domain from this DHCP server, host:port (255.255.255.255:67 on a LAN)")
	f.StringVar(&lf.mdns, "gateway-mdns", "", "learn the LAN's gateway by DNS-SD (_oobgw._tcp) from this responder, host:port (224.0.0.251:5353 on a LAN)")
	f.StringVar(&lf.static, "gateway", "", "static gateway hint: LAN-MPS-ADDR:PORT,key=HEX[,udi=U][,domain=D]")
	f.DurationVar(&lf.wait, "gateway-wait", 5*time.Second, "bound on each gateway discovery")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// nthUUID returns base with i added to its last group, so a fleet has
// predictable, distinct UUIDs.
func nthUUID(base string, i int) (string, error) {
	if len(base) != 36 {
		return "", fmt.Errorf("--uuid %q: expected 8-4-4-4-12 hex digits", base)
	}
	var last uint64
	if _, err := fmt.Sscanf(base[24:], "%012x", &last); err != nil {
		return "", fmt.Errorf("--uuid %q: %w", base, err)
	}
	return fmt.Sprintf("%s%012x", base[:24], (last+uint64(i))&0xffffffffffff), nil
}
