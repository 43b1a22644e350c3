package runner

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	csession "github.com/oobtb/oobtb/emulators/console/session"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/server"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/vmc/services"
	"github.com/oobtb/oobtb/scenarios/spec"
	"github.com/oobtb/oobtb/sim/clock"
)

// party is a running (or stoppable) participant.
type party interface {
	name() string
	start(ctx context.Context) error
	stop(ctx context.Context) error
	kill(ctx context.Context) error
	running() bool
}

// serverParty is a management server. Its listening ports are fixed at
// setup so a restart comes back where the devices look for it.
type serverParty struct {
	c        *caseRun
	p        *spec.Party
	node     string
	dir      string
	ciraAddr string // host:port
	apiAddr  string
	gwAddr   string // gateway control channel
	caPEM    []byte
	admin    string

	mu  sync.Mutex
	srv *server.Server
	// relayed counts the relay bytes of earlier runs of this server (the
	// counters restart with the process).
	relayed map[string]float64
}

func (s *serverParty) name() string { return s.p.Name }

func (s *serverParty) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv != nil
}

func (s *serverParty) current() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

func (s *serverParty) config(ctx context.Context, port0 bool) (server.Config, error) {
	nw := s.c.net.Network(s.node)
	host := s.c.net.Host(s.node)
	addrs := []string{host + ":0", host + ":0", host + ":0"}
	if !port0 {
		addrs = []string{s.ciraAddr, s.apiAddr, s.gwAddr}
	}
	var lns []net.Listener
	closeAll := func() {
		for _, l := range lns {
			l.Close()
		}
	}
	for k, what := range []string{"CIRA", "API", "gateway control"} {
		for i := 0; ; i++ {
			l, err := nw.Listen(ctx, "tcp", addrs[k])
			if err == nil {
				lns = append(lns, l)
				break
			}
			// A restart right after a close can race the kernel's release of
			// the port; give it a moment.
			if i >= 20 || port0 {
				closeAll()
				return server.Config{}, fmt.Errorf("%s listener on %s: %w", what, addrs[k], err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ttl := 10 * time.Second
	if s.p.PairingTTL != "" {
		ttl, _ = time.ParseDuration(s.p.PairingTTL)
	}
	return server.Config{DataDir: s.dir, CIRAListener: lns[0], APIListener: lns[1], GatewayListener: lns[2], Network: nw,
		IPs: []net.IP{net.ParseIP(host)}, KeyType: pki.ECDSAP256, PasswordIterations: 1000,
		IdleTimeout: 30 * time.Second, PairingTTL: ttl, GatewayHeartbeat: 2 * time.Second,
		Clock: clock.Real{}, Logger: s.c.logger.With("party", s.p.Name)}, nil
}

func closeListeners(cfg server.Config) {
	for _, l := range []net.Listener{cfg.CIRAListener, cfg.APIListener, cfg.GatewayListener} {
		if l != nil {
			l.Close()
		}
	}
}

// prepare creates the server's data (PKI, tokens, registry), fixes its
// ports and enrols the devices that will use it, without serving.
func (s *serverParty) prepare(ctx context.Context, devices []*device) error {
	cfg, err := s.config(ctx, true)
	if err != nil {
		return err
	}
	s.ciraAddr, s.apiAddr, s.gwAddr = cfg.CIRAListener.Addr().String(), cfg.APIListener.Addr().String(), cfg.GatewayListener.Addr().String()
	srv, err := server.New(cfg)
	if err != nil {
		closeListeners(cfg)
		return err
	}
	defer srv.Close()
	s.admin = srv.AdminToken()
	if s.caPEM, err = os.ReadFile(srv.CACertPath()); err != nil {
		return fmt.Errorf("reading the server's CA: %w", err)
	}
	for _, d := range devices {
		if !d.enrol {
			continue
		}
		if _, err := srv.Enrol(ctx, registry.DeviceEnrolment{UUID: d.spec.UUID, CIRAUser: d.spec.User,
			CIRAPassword: d.spec.Pass, AMTPassword: d.spec.AMTPass}); err != nil {
			return fmt.Errorf("enrolling %s: %w", d.spec.UUID, err)
		}
	}
	return nil
}

func (s *serverParty) start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return fmt.Errorf("server %s is already running", s.p.Name)
	}
	cfg, err := s.config(ctx, false)
	if err != nil {
		return err
	}
	srv, err := server.New(cfg)
	if err != nil {
		closeListeners(cfg)
		return err
	}
	if err := srv.Start(context.Background()); err != nil {
		srv.Close()
		return err
	}
	s.srv = srv
	return nil
}

func (s *serverParty) stop(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	if srv != nil {
		for k, v := range relayBytes(srv) {
			s.relayed[k] += v
		}
	}
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

// kill is stop: in one process a party cannot be killed harder than closing
// every socket at once, which Close does without a goodbye to the devices.
func (s *serverParty) kill(ctx context.Context) error { return s.stop(ctx) }

// relayTotal is the relayed bytes of kind (kvm, sol), both directions, over
// every run of this server.
func (s *serverParty) relayTotal(kind string) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.relayed[kind]
	if s.srv != nil {
		t += relayBytes(s.srv)[kind]
	}
	return t
}

// relayBytes reads oobtb_server_relay_bytes_total by kind.
func relayBytes(srv *server.Server) map[string]float64 {
	out := map[string]float64{}
	mfs, err := srv.Metrics().Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != "oobtb_server_relay_bytes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			kind := ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "kind" {
					kind = lp.GetValue()
				}
			}
			if m.Counter != nil {
				out[kind] += m.Counter.GetValue()
			}
		}
	}
	return out
}

// device is one vMC of a fleet.
type device struct {
	index int
	node  string
	spec  vmc.Spec
	enrol bool

	mu  sync.Mutex
	dev *vmc.Device
}

// fleetParty is a vmc party: Count devices spread over its nodes.
type fleetParty struct {
	c       *caseRun
	p       *spec.Party
	devices []*device
	servers []*serverParty
	gateway *gatewayParty // the gateway whose LAN the devices are on
}

func (f *fleetParty) name() string { return f.p.Name }

func (f *fleetParty) running() bool {
	for _, d := range f.devices {
		d.mu.Lock()
		r := d.dev != nil
		d.mu.Unlock()
		if r {
			return true
		}
	}
	return false
}

// UUIDFor derives a stable device UUID from the seed, party and index.
func UUIDFor(seed uint64, party string, i int) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", seed, party)
	a := h.Sum64()
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(a>>32), uint16(a>>16), uint16(a)&0xfff, (i>>12)&0xfff, i&0xfffffffffff)
}

// ciraUser is an AMT-valid CIRA user name (1–16 alphanumerics) unique per
// party and device.
func ciraUser(party string, i int) string {
	h := fnv.New32a()
	h.Write([]byte(party))
	return fmt.Sprintf("d%06x%s", h.Sum32()&0xffffff, strconv.Itoa(i))
}

func newFleet(c *caseRun, p *spec.Party, seed uint64) *fleetParty {
	f := &fleetParty{c: c, p: p}
	nodes := p.NodeList()
	for i := 0; i < max(p.Count, 1); i++ {
		uuid := UUIDFor(seed, p.Name, i)
		sp := vmc.Spec{UUID: uuid, User: ciraUser(p.Name, i), Pass: fmt.Sprintf("C1ra!%s#%d", p.Name, i),
			AMTPass: "P@ssw0rd", Hostname: fmt.Sprintf("%s-%d", p.Name, i), Workload: p.Workload, Resolution: p.Resolution,
			FPS: p.FPS, Trigger: p.Trigger, Stock: p.Stock, Malformed: p.Malformed, Incapable: p.Incapable,
			Seed: seed*1000 + uint64(i) + 1, PeriodicInterval: p.Periodic}
		f.devices = append(f.devices, &device{index: i, node: nodes[i%len(nodes)], spec: sp, enrol: p.Enrol == nil || *p.Enrol})
	}
	return f
}

func (f *fleetParty) startDevice(ctx context.Context, d *device) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dev != nil {
		return nil
	}
	sp := d.spec
	pool := x509.NewCertPool()
	sp.Servers = nil
	for _, s := range f.servers {
		// Real addresses: the device's routed network applies the path.
		sp.Servers = append(sp.Servers, s.ciraAddr)
		if !pool.AppendCertsFromPEM(s.caPEM) {
			return fmt.Errorf("server %s: no CA certificate in its PEM", s.p.Name)
		}
	}
	g := f.gateway
	if g != nil {
		pool.AddCert(g.lanCA.Cert)
	}
	dev, err := vmc.Build(sp, vmc.Deps{RootCAs: pool, Network: f.c.routed(d.node), Clock: clock.Real{},
		Logger: f.c.logger.With("party", f.p.Name, "device", d.index), Services: services.For})
	if err != nil {
		return fmt.Errorf("device %s[%d]: %w", f.p.Name, d.index, err)
	}
	if g != nil {
		// The device learns its gateway on the LAN before its first tunnel,
		// so PROTOCOL_VERSION carries it: a DNS-SD query to the gateway's
		// responder when it runs; otherwise what its DHCP option would say
		// (the topology gives the device a static address).
		learned := false
		if g.running() {
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			h, err := g.learn(lctx, d)
			cancel()
			if err != nil {
				f.c.logger.Warn("DNS-SD found no gateway; using the static hint", "party", f.p.Name, "device", d.index, "err", err)
			} else {
				dev.Post(policy.GatewayLearned{Hint: h})
				learned = true
			}
		}
		if !learned {
			dev.Post(policy.GatewayLearned{Hint: g.hint()})
		}
	}
	dev.Start()
	d.dev = dev
	return nil
}

func (f *fleetParty) start(ctx context.Context) error {
	for _, d := range f.devices {
		if err := f.startDevice(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

func (f *fleetParty) stop(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, d := range f.devices {
		d.mu.Lock()
		dev := d.dev
		d.dev = nil
		d.mu.Unlock()
		if dev != nil {
			wg.Add(1)
			go func() { defer wg.Done(); dev.Stop() }()
		}
	}
	wg.Wait()
	return nil
}

func (f *fleetParty) kill(ctx context.Context) error { return f.stop(ctx) }

func (d *device) current() *vmc.Device {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dev
}

// processParty is an external program.
type processParty struct {
	c    *caseRun
	p    *spec.Party
	node string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (x *processParty) name() string { return x.p.Name }

func (x *processParty) running() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.cmd != nil
}

// lookPath finds the program or says it is missing (an environment problem).
func (x *processParty) lookPath() (string, error) {
	bin := x.p.Command[0]
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", &EnvError{Missing: fmt.Sprintf("binary %s not found (party %s, line %d)", bin, x.p.Name, x.p.Line), Err: err}
	}
	return p, nil
}

func (x *processParty) start(ctx context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.cmd != nil {
		return fmt.Errorf("process %s is already running", x.p.Name)
	}
	bin, err := x.lookPath()
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, x.p.Command[1:]...)
	cmd.Env = append(os.Environ(), "OOBTB_NODE="+x.node, "OOBTB_ADDR="+x.c.net.Host(x.node), "OOBTB_PARTY="+x.p.Name)
	for k, v := range x.p.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	w := x.c.logWriter(x.p.Name)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Dir = x.c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := x.c.net.Start(x.node, cmd); err != nil {
		return fmt.Errorf("starting %s: %w", filepath.Base(bin), err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		x.c.logger.Info("process exited", "party", x.p.Name, "err", err)
		close(done)
	}()
	x.cmd, x.done = cmd, done
	return nil
}

func (x *processParty) signal(sig syscall.Signal, wait time.Duration) error {
	x.mu.Lock()
	cmd, done := x.cmd, x.done
	x.cmd = nil
	x.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-done:
		return nil
	case <-time.After(wait):
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("process did not exit after SIGKILL")
	}
}

func (x *processParty) stop(ctx context.Context) error {
	return x.signal(syscall.SIGTERM, 5*time.Second)
}
func (x *processParty) kill(ctx context.Context) error { return x.signal(syscall.SIGKILL, 0) }

// consoleParty is an operator's console; it has no process of its own to
// start, only sessions, so start and stop mark it available.
type consoleParty struct {
	c      *caseRun
	p      *spec.Party
	node   string
	server *serverParty
	up     bool
	mu     sync.Mutex
	sc     *csession.Client // the pairing client (lazily)
}

func (k *consoleParty) name() string { return k.p.Name }
func (k *consoleParty) running() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.up
}
func (k *consoleParty) start(context.Context) error {
	k.mu.Lock()
	k.up = true
	k.mu.Unlock()
	return nil
}
func (k *consoleParty) stop(context.Context) error {
	k.mu.Lock()
	k.up = false
	k.mu.Unlock()
	k.c.closeSessionsOf(k.p.Name)
	return nil
}
func (k *consoleParty) kill(ctx context.Context) error { return k.stop(ctx) }

var _ = slog.LevelInfo
