package ciraload

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/apf"
)

// Defaults for Config fields left zero.
const (
	DefaultPerWorker      = 5000
	DefaultInflight       = 256
	DefaultConnectTimeout = 30 * time.Second
	DefaultProbeTimeout   = 15 * time.Second
	DefaultPerSource      = 1000
	DefaultUUIDBase       = "b0000000-0000-4000-8000-000000000000"
	DefaultUserPattern    = "bench{n}"
	DefaultPassPattern    = "bench-secret-{n}"
	// fdReserve is what a worker keeps free of its fd limit besides its
	// tunnels (stdio, the runtime, DNS).
	fdReserve = 64
)

// TLS profiles of the simulated devices.
const (
	// TLSAMT offers what an AMT device does: TLS 1.2 at most, classic
	// ECDHE curves (X25519, P-256), AMT's suites. No ML-KEM hybrid key
	// share, whose 1.2 KiB a Go server would keep in its read buffer.
	TLSAMT = "amt"
	// TLSGo offers Go's defaults: TLS 1.3 with the X25519MLKEM768 share.
	TLSGo = "go"
)

// DefaultSourceBase is the first source address on loopback targets.
var DefaultSourceBase = netip.AddrFrom4([4]byte{127, 1, 0, 1})

// Credential is one device's identity towards the server.
type Credential struct {
	UUID     string `json:"uuid"`
	User     string `json:"user"`
	Password string `json:"password"`
}

// Config is one load run.
type Config struct {
	// Target is the CIRA server, host:port.
	Target string
	// ServerName is checked against the server certificate; "" → Target's
	// host.
	ServerName string
	// CAPEM holds the PEM CA certificate(s) the server's certificate chains
	// to; Insecure skips verification instead (as an AMT pointed at an
	// untrusted test MPS).
	CAPEM    []byte
	Insecure bool
	// TLS is what the devices offer: TLSAMT (default) or TLSGo.
	TLS string
	// Resume measures reconnects: every device first comes up once with a
	// full handshake and leaves (the priming pass, not measured), then the
	// measured ramp reconnects with the TLS session that device cached —
	// each device its own one-entry cache, nothing shared between devices.
	Resume bool
	// TCPKeepAlive is the TCP keep-alive period of the devices' sockets;
	// 0 sends none. The APF keep-alive is CIRA's liveness check, and a
	// kernel probe on every idle tunnel is work the server's kernel must
	// answer — measure with it (15s is Go's default) to see what it costs.
	TCPKeepAlive time.Duration
	// WorkerProcs is each worker's GOMAXPROCS (1 when 0). There are
	// several workers already, and on loopback part of what a device's
	// wake-up costs is charged to the server that wrote to it: one P per
	// worker keeps the generator's share of the server's figure small.
	WorkerProcs int
	// ServerGOGC records the GOGC a spawned server ran with (0: Go's
	// default), so a result never hides a collector setting.
	ServerGOGC int
	// ServerFixedProcs records that a spawned server ran without the
	// adaptive scheduler (all Ps all the time).
	ServerFixedProcs bool

	// Count tunnels are opened (0 with Credentials → one per credential).
	Count int
	// Rate is the target ramp rate in tunnels/s over all workers; 0 opens
	// as fast as the server accepts (bounded by Inflight per worker).
	Rate float64
	// Procs is the number of worker processes; 0 → ⌈Count/5000⌉.
	Procs int
	// Inflight bounds the handshakes one worker runs at once (256).
	Inflight int

	// Credentials, when set, are the devices used in order; otherwise device
	// i (0-based) is UUIDBase+i with UserPattern and PassPattern, where
	// "{n}" stands for i and "{uuid}" for the device's UUID.
	Credentials              []Credential
	UUIDBase                 string
	UserPattern, PassPattern string
	// Ports are forwarded in this order; nil → AMT's seven.
	Ports []uint32

	// Hold is how long the tunnels stay idle after the ramp.
	Hold time.Duration
	// ConnectTimeout bounds one tunnel's dial, TLS and APF handshake (30 s).
	ConnectTimeout time.Duration
	// ProbeTimeout bounds the keep-alive round trip of a liveness probe (15 s).
	ProbeTimeout time.Duration

	// SourceBase is the first source address; tunnels are spread over
	// consecutive addresses PerSource at a time. Invalid (the zero value)
	// → DefaultSourceBase when the target is on loopback, else no binding.
	SourceBase netip.Addr
	PerSource  int

	// ServerPID, when non-zero, is the server's process (on this machine):
	// its VmRSS and CPU time are measured.
	ServerPID int
	// APIURL and APIToken, when set, are used after the ramp and after the
	// hold to check that the server's API still answers
	// (GET /api/v1/devices?limit=1 with the bearer token).
	APIURL, APIToken string
	// ServerLog, when set, is the server's log file, searched for refusal
	// lines after the run.
	ServerLog string

	// WorkerCommand returns a fresh, unstarted command that runs WorkerMain
	// on its stdin and stdout. Required.
	WorkerCommand func() *exec.Cmd
	// Progress receives one line per second during the ramp (nil → none).
	Progress io.Writer
	// WorkerStderr receives the workers' standard error (nil → os.Stderr).
	WorkerStderr io.Writer
}

func (c *Config) withDefaults() (Config, error) {
	o := *c
	if o.Target == "" {
		return o, errors.New("ciraload: Config.Target (host:port of the CIRA server) is required")
	}
	host, port, err := net.SplitHostPort(o.Target)
	if err != nil {
		return o, fmt.Errorf("ciraload: target %q: expected host:port: %w", o.Target, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return o, fmt.Errorf("ciraload: target %q: port %q is not 1–65535", o.Target, port)
	}
	if o.ServerName == "" {
		o.ServerName = host
	}
	if len(o.CAPEM) == 0 && !o.Insecure {
		return o, errors.New("ciraload: give the server's CA certificate (Config.CAPEM / --ca) or Insecure (--insecure)")
	}
	switch o.TLS {
	case "":
		o.TLS = TLSAMT
	case TLSAMT, TLSGo:
	default:
		return o, fmt.Errorf("ciraload: TLS profile %q: expected %q or %q", o.TLS, TLSAMT, TLSGo)
	}
	if o.Count == 0 {
		o.Count = len(o.Credentials)
	}
	if o.Count <= 0 {
		return o, fmt.Errorf("ciraload: count %d: expected at least one tunnel", o.Count)
	}
	if len(o.Credentials) > 0 && len(o.Credentials) < o.Count {
		return o, fmt.Errorf("ciraload: %d credentials for %d tunnels", len(o.Credentials), o.Count)
	}
	if o.Rate < 0 {
		return o, fmt.Errorf("ciraload: rate %g/s: expected ≥ 0 (0: as fast as accepted)", o.Rate)
	}
	if o.Procs <= 0 {
		o.Procs = (o.Count + DefaultPerWorker - 1) / DefaultPerWorker
	}
	if o.Procs > o.Count {
		o.Procs = o.Count
	}
	if per, max := (o.Count+o.Procs-1)/o.Procs, fileLimit()-fdReserve; per > max {
		return o, fmt.Errorf("ciraload: %d tunnels per worker exceed the open-file limit (%d); use more --procs", per, max+fdReserve)
	}
	if o.Inflight <= 0 {
		o.Inflight = DefaultInflight
	}
	if o.UUIDBase == "" {
		o.UUIDBase = DefaultUUIDBase
	}
	if _, err := apf.ParseGUID(o.UUIDBase); err != nil {
		return o, fmt.Errorf("ciraload: uuid base: %w", err)
	}
	if o.UserPattern == "" {
		o.UserPattern = DefaultUserPattern
	}
	if o.PassPattern == "" {
		o.PassPattern = DefaultPassPattern
	}
	if o.Hold < 0 {
		return o, fmt.Errorf("ciraload: hold %v: expected ≥ 0", o.Hold)
	}
	if o.WorkerProcs < 0 {
		return o, fmt.Errorf("ciraload: worker GOMAXPROCS %d: expected ≥ 0 (0: 1)", o.WorkerProcs)
	}
	if o.WorkerProcs == 0 {
		o.WorkerProcs = 1
	}
	if o.TCPKeepAlive < 0 || (o.TCPKeepAlive > 0 && o.TCPKeepAlive < time.Second) {
		return o, fmt.Errorf("ciraload: tcp keep-alive %v: expected 0 (none) or at least 1s", o.TCPKeepAlive)
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = DefaultProbeTimeout
	}
	if o.PerSource <= 0 {
		o.PerSource = DefaultPerSource
	}
	if !o.SourceBase.IsValid() {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() && ip.To4() != nil || host == "localhost" {
			o.SourceBase = DefaultSourceBase
		}
	} else if !o.SourceBase.Is4() {
		return o, fmt.Errorf("ciraload: source base %s: expected an IPv4 address", o.SourceBase)
	}
	if o.WorkerCommand == nil {
		return o, errors.New("ciraload: Config.WorkerCommand is required")
	}
	if o.WorkerStderr == nil {
		o.WorkerStderr = os.Stderr
	}
	return o, nil
}

// Device returns the credential of tunnel i.
func (c *Config) Device(i int) (Credential, error) {
	if len(c.Credentials) > 0 {
		return c.Credentials[i], nil
	}
	base := c.UUIDBase
	if base == "" {
		base = DefaultUUIDBase
	}
	u, err := UUIDAdd(base, uint64(i))
	if err != nil {
		return Credential{}, err
	}
	up, pp := c.UserPattern, c.PassPattern
	if up == "" {
		up = DefaultUserPattern
	}
	if pp == "" {
		pp = DefaultPassPattern
	}
	return Credential{UUID: u, User: expand(up, i, u), Password: expand(pp, i, u)}, nil
}

func expand(pattern string, i int, uuid string) string {
	return strings.NewReplacer("{n}", strconv.Itoa(i), "{uuid}", uuid).Replace(pattern)
}

// UUIDAdd adds n to a canonical UUID read as a 128-bit big-endian number.
func UUIDAdd(base string, n uint64) (string, error) {
	g, err := apf.ParseGUID(base)
	if err != nil {
		return "", err
	}
	c := g.Canonical()
	lo := binary.BigEndian.Uint64(c[8:])
	hi := binary.BigEndian.Uint64(c[:8])
	sum := lo + n
	if sum < lo {
		hi++
	}
	binary.BigEndian.PutUint64(c[8:], sum)
	binary.BigEndian.PutUint64(c[:8], hi)
	return apf.GUIDFromCanonical(c).String(), nil
}

// sourceFor is tunnel i's source address (invalid: let the kernel choose).
func (c *Config) sourceFor(i int) netip.Addr {
	if !c.SourceBase.IsValid() {
		return netip.Addr{}
	}
	b := c.SourceBase.As4()
	v := binary.BigEndian.Uint32(b[:]) + uint32(i/c.PerSource)
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// ReadCredentials parses a credentials file: one device per line as
// "uuid,user,password"; blank lines and lines starting with # are skipped.
func ReadCredentials(r io.Reader) ([]Credential, error) {
	var out []Credential
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		f := strings.SplitN(t, ",", 3)
		if len(f) != 3 || f[1] == "" || f[2] == "" {
			return nil, fmt.Errorf("credentials line %d: expected uuid,user,password, got %q", line, truncate(t, 80))
		}
		if _, err := apf.ParseGUID(strings.TrimSpace(f[0])); err != nil {
			return nil, fmt.Errorf("credentials line %d: %w", line, err)
		}
		out = append(out, Credential{UUID: strings.TrimSpace(f[0]), User: f[1], Password: f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("credentials line %d: %w", line+1, err)
	}
	if len(out) == 0 {
		return nil, errors.New("credentials: no device lines")
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// fileLimit is this process's soft RLIMIT_NOFILE (workers inherit it; the
// Go runtime raises the soft limit to the hard one at start).
func fileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1024
	}
	return int(min(rl.Cur, 1<<30))
}
