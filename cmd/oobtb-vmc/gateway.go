package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/oobtb/oobtb/emulators/gateway/dhcpd"
	"github.com/oobtb/oobtb/emulators/gateway/dnssd"
	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// learnFlags say how the vMCs learn their LAN's edge gateway.
type learnFlags struct {
	dhcp, mdns, static string
	wait               time.Duration
}

func (l learnFlags) any() bool { return l.dhcp != "" || l.mdns != "" || l.static != "" }

// clientListen is the client socket for a query to server: loopback for a
// loopback server (one host, tests), else the well-known port on all
// interfaces.
func clientListen(server, wellKnown string) string {
	host, _, err := net.SplitHostPort(server)
	if err == nil {
		if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() {
			return net.JoinHostPort(a.String(), "0")
		}
	}
	return wellKnown
}

// learn tells d about the gateway, by the first source that answers: the
// static hint, DHCP, then DNS-SD. A device that learns nothing keeps its
// classic CIRA path.
func learn(ctx context.Context, d *vmc.Device, l learnFlags, static *policy.GatewayHint, log *slog.Logger) error {
	if static != nil {
		d.Post(policy.GatewayLearned{Hint: *static})
		log.Info("gateway hint set on the command line", "hint", static.String())
		return nil
	}
	var errs []string
	if l.dhcp != "" {
		lctx, cancel := context.WithTimeout(ctx, l.wait)
		r, err := d.LearnDHCP(lctx, dhcpd.Client{Server: l.dhcp, Listen: clientListen(l.dhcp, "0.0.0.0:68")})
		cancel()
		switch {
		case err != nil:
			errs = append(errs, err.Error())
		case r.Gateway == nil:
			errs = append(errs, fmt.Sprintf("DHCP from %s: lease %s, domain %q, but no gateway option (43)", l.dhcp, r.Addr, r.Domain))
		default:
			log.Info("gateway learned by DHCP", "server", l.dhcp, "lease", r.Addr, "domain", r.Domain)
			return nil
		}
	}
	if l.mdns != "" {
		lctx, cancel := context.WithTimeout(ctx, l.wait)
		h, err := d.LearnDNSSD(lctx, dnssd.Browser{Server: l.mdns, Listen: clientListen(l.mdns, ":0"), Wait: min(l.wait, time.Second), Max: 1})
		cancel()
		if err == nil {
			log.Info("gateway learned by DNS-SD", "responder", l.mdns, "hint", h.String())
			return nil
		}
		errs = append(errs, err.Error())
	}
	return fmt.Errorf("no gateway learned (%s); the device stays on its classic CIRA path", strings.Join(errs, "; "))
}

// parseStaticHint parses --gateway HOST:PORT,key=HEX[,udi=U][,domain=D]:
// the gateway's LAN MPS endpoint and static X25519 key, as DHCP or DNS-SD
// would announce them.
func parseStaticHint(s string) (*policy.GatewayHint, error) {
	parts := strings.Split(s, ",")
	ap, err := netip.ParseAddrPort(parts[0])
	if err != nil {
		return nil, fmt.Errorf("--gateway %q: the first part must be the LAN MPS endpoint ADDR:PORT: %w", s, err)
	}
	ep, err := gwext.Endpoint(ap)
	if err != nil {
		return nil, fmt.Errorf("--gateway %q: %w", s, err)
	}
	info := gwext.GatewayInfo{IDs: []gwext.Identifier{ep}}
	haveKey := false
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return nil, fmt.Errorf("--gateway %q: %q: expected key=HEX, udi=U or domain=D", s, p)
		}
		var id gwext.Identifier
		switch k {
		case "key":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != 32 {
				return nil, fmt.Errorf("--gateway %q: key: expected 64 hex digits (the gateway's X25519 public key), got %d characters", s, len(v))
			}
			info.Key, haveKey = [32]byte(b), true
			continue
		case "udi":
			id, err = gwext.UDI(v)
		case "domain":
			id, err = gwext.Domain(v)
		default:
			return nil, fmt.Errorf("--gateway %q: unknown field %q (want key, udi or domain)", s, k)
		}
		if err != nil {
			return nil, fmt.Errorf("--gateway %q: %s: %w", s, k, err)
		}
		info.IDs = append(info.IDs, id)
	}
	if !haveKey {
		return nil, fmt.Errorf("--gateway %q: key=HEX is required (the gateway logs it at start: key=…)", s)
	}
	// The policy knows DHCP and DNS-SD as sources; a static hint stands
	// for what the LAN's DHCP option would have announced.
	h, err := vmc.HintFromInfo(info, policy.FromDHCP)
	if err != nil {
		return nil, fmt.Errorf("--gateway %q: %w", s, err)
	}
	return &h, nil
}
