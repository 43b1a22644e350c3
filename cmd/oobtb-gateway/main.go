// Command oobtb-gateway runs the edge gateway (the patent's remote
// communications manager): a local MPS on the LAN admitting paired vMCs by
// one-time token and failover devices the server vouches for, a control
// channel to the server, a Noise KK console listener on the WAN, and the LAN
// announcement by DHCP and DNS-SD.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/oobtb/oobtb/emulators/gateway"
	"github.com/oobtb/oobtb/emulators/gateway/dhcpd"
	"github.com/oobtb/oobtb/emulators/gateway/dnssd"
	"github.com/oobtb/oobtb/emulators/pki"
)

func main() {
	if err := command().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "oobtb-gateway:", err)
		os.Exit(2)
	}
}

type flags struct {
	server, caFile, enrolToken, dataDir   string
	lanMPS, lanAddr, lanCert, lanKey      string
	wanListen                             string
	wanEndpoints                          []string
	udi, domain, mac, url                 string
	dhcpListen, dhcpPool, dhcpRouter      string
	dhcpDNS                               []string
	dhcpPrefix                            int
	dhcpLease                             time.Duration
	dhcpBroadcast                         bool
	mdnsListen, mdnsInstance, metricsAddr string
	logLevel                              string
}

func command() *cobra.Command {
	var fl flags
	cmd := &cobra.Command{
		Use:   "oobtb-gateway",
		Short: "Run the oobtb edge gateway: local MPS, control channel, Noise KK console listener, DHCP and DNS-SD",
		Example: `  oobtb-gateway --server 198.51.100.1:8443 --ca data/ca.crt --enrol-token T --data gw-data \
      --lan-mps 198.18.1.1:4433 --wan-listen 0.0.0.0:7000 --udi GW-0001 --domain lan.oobtb.test \
      --dhcp-listen 0.0.0.0:67 --dhcp-pool 198.18.1.100-198.18.1.199 --mdns-listen 0.0.0.0:5353`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return run(fl) },
	}
	f := cmd.Flags()
	f.StringVar(&fl.server, "server", "", "control channel of the server, host:port (required)")
	f.StringVar(&fl.caFile, "ca", "", "PEM file of the CA that issued the server's certificate (required)")
	f.StringVar(&fl.enrolToken, "enrol-token", "", "one-time enrolment token (needed until the gateway is enrolled)")
	f.StringVar(&fl.dataDir, "data", "oobtb-gateway-data", "data directory: identity, static key, LAN CA")
	f.StringVar(&fl.lanMPS, "lan-mps", "", "local MPS listen address on the LAN, host:port (required)")
	f.StringVar(&fl.lanAddr, "lan-addr", "", "LAN address announced (default: the --lan-mps host)")
	f.StringVar(&fl.lanCert, "lan-cert", "", "PEM certificate of the local MPS (default: issued by a CA in DATA/lan)")
	f.StringVar(&fl.lanKey, "lan-key", "", "PEM key for --lan-cert")
	f.StringVar(&fl.wanListen, "wan-listen", "", "console listener address on the WAN, host:port (required)")
	f.StringArrayVar(&fl.wanEndpoints, "wan-endpoint", nil, "WAN endpoint consoles are told, host:port, repeatable (default: the listener)")
	f.StringVar(&fl.udi, "udi", "", "unique device identifier of the gateway")
	f.StringVar(&fl.domain, "domain", "", "LAN domain name (DHCP option 15, registered identifier)")
	f.StringVar(&fl.mac, "mac", "", "LAN MAC address to register, e.g. 02:00:5e:10:00:01")
	f.StringVar(&fl.url, "url", "", "URL identifier of the gateway")
	f.StringVar(&fl.dhcpListen, "dhcp-listen", "", "DHCP server UDP address, e.g. 0.0.0.0:67 (off when empty)")
	f.StringVar(&fl.dhcpPool, "dhcp-pool", "", "DHCP address pool first-last, e.g. 198.18.1.100-198.18.1.199")
	f.StringVar(&fl.dhcpRouter, "dhcp-router", "", "DHCP option 3 and server id (default: the LAN address)")
	f.StringArrayVar(&fl.dhcpDNS, "dhcp-dns", nil, "DHCP option 6 DNS server, repeatable")
	f.IntVar(&fl.dhcpPrefix, "dhcp-prefix", 24, "subnet prefix length (option 1)")
	f.DurationVar(&fl.dhcpLease, "dhcp-lease", time.Hour, "lease time")
	f.BoolVar(&fl.dhcpBroadcast, "dhcp-broadcast", false, "broadcast replies to clients without an address (real LANs)")
	f.StringVar(&fl.mdnsListen, "mdns-listen", "", "DNS-SD responder UDP address, e.g. 0.0.0.0:5353 (off when empty)")
	f.StringVar(&fl.mdnsInstance, "mdns-instance", "", "DNS-SD instance name (default: the UDI)")
	f.StringVar(&fl.metricsAddr, "metrics", "", "serve Prometheus metrics on this address (/metrics)")
	f.StringVar(&fl.logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func run(fl flags) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(fl.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: %w", fl.logLevel, err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	if fl.server == "" || fl.caFile == "" || fl.lanMPS == "" || fl.wanListen == "" {
		return errors.New("--server, --ca, --lan-mps and --wan-listen are required")
	}
	pem, err := os.ReadFile(fl.caFile)
	if err != nil {
		return fmt.Errorf("--ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("--ca %s: no PEM certificate found", fl.caFile)
	}
	cfg := gateway.Config{Logger: log, DataDir: fl.dataDir, Server: fl.server, ServerCAs: roots, EnrolToken: fl.enrolToken,
		LANMPS: fl.lanMPS, WANListen: fl.wanListen, WANEndpoints: fl.wanEndpoints, Domain: fl.domain, UDI: fl.udi, URL: fl.url}
	if fl.lanCert != "" || fl.lanKey != "" {
		c, err := pki.LoadCertificate(fl.lanCert, fl.lanKey)
		if err != nil {
			return fmt.Errorf("--lan-cert/--lan-key: %w", err)
		}
		tc := c.TLS()
		cfg.LANCert = &tc
	}
	lanHost, _, err := net.SplitHostPort(fl.lanMPS)
	if err != nil {
		return fmt.Errorf("--lan-mps %q: %w", fl.lanMPS, err)
	}
	if fl.lanAddr == "" {
		fl.lanAddr = lanHost
	}
	if a, err := netip.ParseAddr(fl.lanAddr); err == nil {
		cfg.LANAddr = a
	} else {
		return fmt.Errorf("--lan-addr %q: %w", fl.lanAddr, err)
	}
	if fl.mac != "" {
		if cfg.MAC, err = net.ParseMAC(fl.mac); err != nil {
			return fmt.Errorf("--mac: %w", err)
		}
	}
	if fl.dhcpListen != "" {
		if fl.dhcpPool == "" {
			return errors.New("--dhcp-listen needs --dhcp-pool")
		}
		dc := &dhcpd.Config{Listen: fl.dhcpListen, Pool: fl.dhcpPool, PrefixLen: fl.dhcpPrefix, LeaseTime: fl.dhcpLease,
			BroadcastReplies: fl.dhcpBroadcast, Router: cfg.LANAddr}
		if fl.dhcpRouter != "" {
			if dc.Router, err = netip.ParseAddr(fl.dhcpRouter); err != nil {
				return fmt.Errorf("--dhcp-router: %w", err)
			}
		}
		for _, s := range fl.dhcpDNS {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return fmt.Errorf("--dhcp-dns: %w", err)
			}
			dc.DNS = append(dc.DNS, a)
		}
		cfg.DHCP = dc
	}
	if fl.mdnsListen != "" {
		cfg.MDNS = &dnssd.ResponderConfig{Listen: fl.mdnsListen, Instance: fl.mdnsInstance}
	}
	g, err := gateway.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := g.Start(ctx); err != nil {
		return err
	}
	defer g.Close()
	// The id is known once the server answered hello (at enrolment); the
	// channel keeps reconnecting in the background if it is not up yet.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := g.WaitControl(wctx); err != nil && ctx.Err() == nil {
		log.Warn("control channel to the server not up yet; retrying in the background", "server", fl.server, "err", err)
	}
	cancel()
	log.Info("gateway up", "id", g.ID(), "key", fmt.Sprintf("%x", g.PublicKey()), "lan_mps", g.LANMPSAddr(), "wan", g.WANAddr(),
		"dhcp", g.DHCPAddr(), "mdns", g.MDNSAddr())
	if cfg.LANCert == nil {
		log.Info("local MPS certificate issued by the gateway's LAN CA; vMCs must trust it", "ca", fl.dataDir+"/lan/ca.crt")
	}
	var srv *http.Server
	if fl.metricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(g.Metrics(), promhttp.HandlerOpts{}))
		srv = &http.Server{Addr: fl.metricsAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener", "err", err)
			}
		}()
	}
	<-ctx.Done()
	log.Info("shutting down")
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	return nil
}
