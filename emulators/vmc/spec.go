package vmc

import (
	"crypto/md5"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/sim/clock"
)

// Spec is a vMC described in plain values, as flags, scenario files and the
// demo give it. Build turns it into a Device.
type Spec struct {
	UUID       string   // canonical UUID; required
	Servers    []string // MPS host:port list in order: primary, then backup
	User, Pass string   // CIRA credentials
	AMTUser    string   // WS-MAN/redirection digest user; default "admin"
	AMTPass    string   // required
	Hostname   string
	Domain     string
	Workload   string // idle, bios, terminal, drag, photo, noise (or W0…W5)
	Resolution string // "1920x1080", "1080p", …
	FPS        int
	Trigger    string // periodic (default), user, alert
	Seed       uint64
	// Stock makes the device an unmodified AMT: no gateway extension.
	Stock bool
	// Malformed sends a deliberately broken extension block.
	Malformed bool
	// Incapable clears the failover capability field.
	Incapable bool
	// RFBPassword enables port 5900 with VNC authentication when non-empty.
	RFBPassword string
	// PeriodicInterval overrides the periodic policy's 25 s.
	PeriodicInterval string
}

// Deps are what Build cannot take from plain values.
type Deps struct {
	RootCAs  *x509.CertPool
	Insecure bool
	Network  netx.Network
	Clock    clock.Clock
	Logger   *slog.Logger
	// Services builds the port services for the device's host; nil gives a
	// device that forwards its ports but refuses every channel.
	Services func(h *host.Host) map[uint32]Service
}

// Build validates spec and returns a device that is not yet started.
func Build(spec Spec, deps Deps) (*Device, error) {
	if _, err := apf.ParseGUID(spec.UUID); err != nil {
		return nil, fmt.Errorf("vmc: --uuid %q: %w", spec.UUID, err)
	}
	spec.UUID = strings.ToLower(spec.UUID)
	if len(spec.Servers) == 0 {
		return nil, errors.New("vmc: at least one --server host:port is required")
	}
	if spec.AMTPass == "" {
		return nil, errors.New("vmc: --amt-pass is required (WS-MAN and redirection digest password)")
	}
	if spec.AMTUser == "" {
		spec.AMTUser = "admin"
	}
	if spec.Hostname == "" {
		spec.Hostname = "vmc-" + spec.UUID[:8]
	}
	res := screen.Res1080p
	if spec.Resolution != "" {
		r, err := screen.ParseResolution(spec.Resolution)
		if err != nil {
			return nil, fmt.Errorf("vmc: --resolution: %w", err)
		}
		res = r
	}
	wl := screen.W0Idle
	if spec.Workload != "" {
		w, err := screen.ParseWorkload(spec.Workload)
		if err != nil {
			return nil, fmt.Errorf("vmc: --workload: %w", err)
		}
		wl = w
	}
	pol, err := policyFor(spec)
	if err != nil {
		return nil, err
	}
	id := host.Identity{UUID: spec.UUID, Hostname: spec.Hostname, Domain: spec.Domain,
		MAC: macFor(spec.UUID), AMTVersion: "16.1.27", Realm: RealmFor(spec.UUID),
		AMTUser: spec.AMTUser, AMTPass: spec.AMTPass, ControlMode: 2,
		Manufacturer: "oobtb", Model: "vPro emulated PC", Serial: "OOB" + strings.ToUpper(spec.UUID[:8]),
		BIOSVersion: "OOBTB.1.0", CPU: "Intel(R) Core(TM) i7-1365U (emulated)", MemoryMiB: 16384}
	settings := host.DefaultSettings()
	if spec.RFBPassword != "" {
		settings.Is5900PortEnabled, settings.RFBPassword = true, spec.RFBPassword
	}
	h, err := host.New(host.Config{Identity: id, Settings: settings,
		Screen: screen.Config{Width: res.W, Height: res.H, Workload: wl, Seed: spec.Seed, FPS: spec.FPS},
		Clock:  deps.Clock, Logger: deps.Logger})
	if err != nil {
		return nil, fmt.Errorf("vmc: %w", err)
	}
	var services map[uint32]Service
	if deps.Services != nil {
		services = deps.Services(h)
	}
	d, err := New(Config{Host: h, Policy: pol, Services: services, RootCAs: deps.RootCAs, Insecure: deps.Insecure,
		Network: deps.Network, Clock: deps.Clock, Logger: deps.Logger, Seed: spec.Seed})
	if err != nil {
		h.Close()
		return nil, err
	}
	d.ownsHost = true
	switch strings.ToLower(spec.Trigger) {
	case "", "periodic":
	case "user":
		d.initial = policy.UserRequest{Source: policy.FromOS}
	case "alert":
		d.initial = policy.Alert{}
	default:
		h.Close()
		return nil, fmt.Errorf("vmc: --trigger %q: expected periodic, user or alert", spec.Trigger)
	}
	return d, nil
}

func policyFor(spec Spec) (policy.Config, error) {
	var mps []policy.MPS
	for i, s := range spec.Servers {
		hst, ps, err := net.SplitHostPort(s)
		if err != nil {
			return policy.Config{}, fmt.Errorf("vmc: --server %q: %w", s, err)
		}
		port, err := strconv.ParseUint(ps, 10, 16)
		if err != nil || port == 0 {
			return policy.Config{}, fmt.Errorf("vmc: --server %q: port %q is not 1..65535", s, ps)
		}
		mps = append(mps, policy.NewMPS(i+1, hst, uint16(port), spec.User, spec.Pass))
	}
	cfg := policy.DefaultRPS("placeholder", spec.User, spec.Pass, "outside-"+spec.UUID[:8]+".invalid")
	cfg.MPS = mps
	cfg.Applies = nil
	if spec.PeriodicInterval != "" {
		sched, err := parseDurationSeconds(spec.PeriodicInterval)
		if err != nil {
			return policy.Config{}, fmt.Errorf("vmc: periodic interval: %w", err)
		}
		cfg.Rules[0].ExtendedData = sched
	}
	for _, r := range cfg.Rules {
		for i, m := range mps {
			cfg.Applies = append(cfg.Applies, policy.AppliesTo{Rule: r.Name, MPS: m.Name, OrderOfAccess: uint8(min(i, 255)), MpsType: policy.MpsBoth})
		}
	}
	switch {
	case spec.Stock:
		cfg.Extension = policy.ExtensionStock
	case spec.Malformed:
		cfg.Extension = policy.ExtensionMalformed
	}
	cfg.FailoverCapable = !spec.Incapable
	// A call for help must reach the server as trigger 1 even when a
	// periodic tunnel to the same MPS is up (flow F2).
	cfg.ReconnectForUserRequest = true
	if err := cfg.Validate(); err != nil {
		return policy.Config{}, fmt.Errorf("vmc: remote-access configuration: %w", err)
	}
	return cfg, nil
}

func parseDurationSeconds(s string) (string, error) {
	var secs int
	if _, err := fmt.Sscanf(strings.TrimSuffix(s, "s"), "%d", &secs); err != nil || secs <= 0 {
		return "", fmt.Errorf("%q is not a whole number of seconds", s)
	}
	return policy.IntervalData(secondsDuration(secs)), nil
}

// RealmFor derives a stable AMT digest realm from the UUID, so a device keeps
// its realm across restarts as real AMT does.
func RealmFor(uuid string) string {
	sum := md5.Sum([]byte("oobtb-realm:" + strings.ToLower(uuid)))
	return "Digest:" + strings.ToUpper(hex.EncodeToString(sum[:]))
}

// macFor derives a locally administered, unicast MAC from the UUID.
func macFor(uuid string) net.HardwareAddr {
	sum := md5.Sum([]byte("oobtb-mac:" + uuid))
	return net.HardwareAddr{0x02, sum[0], sum[1], sum[2], sum[3], sum[4]}
}

// LANAddress records the device's LAN address (learned by DHCP or given).
func (d *Device) LANAddress(ip netip.Prefix, gw netip.Addr, domain string, dhcp bool) {
	d.h.SetAddress(ip, gw, domain, dhcp)
	if domain != "" || !dhcp {
		d.Post(policy.DHCPDomain{Domain: domain, Static: !dhcp})
	}
}
