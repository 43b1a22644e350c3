package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/oobtb/oobtb/reports"
	"github.com/oobtb/oobtb/scenarios/spec"
)

// Options configure a run.
type Options struct {
	// Backend runs the cases (NewBackend("") picks one).
	Backend Backend
	// Seed, when set, replaces every scenario's seed.
	Seed *uint64
	// Progress receives a line per step; nil prints nothing.
	Progress io.Writer
	// TTY redraws the running step in place (a terminal).
	TTY bool
	// Available lists the optional parties and modules this build has
	// ("gateway", "pairing"); scenarios requiring others end with an
	// environment error.
	Available []string
	// Verbose keeps the parties' info-level logs for failure reports (warn
	// and above otherwise).
	Verbose bool
}

// Available is what this build provides for scenarios' requires lists.
// The gateway party (emulators/gateway) and the server's pairing module
// are in it.
var Available = []string{"gateway", "pairing"}

// Run runs every case in order and returns the results.
func Run(ctx context.Context, cases []*spec.Scenario, o Options) *reports.Run {
	if o.Backend == nil {
		o.Backend, _ = NewBackend(BackendInproc)
	}
	if o.Available == nil {
		o.Available = Available
	}
	host, _ := os.Hostname()
	r := &reports.Run{Version: reports.Version, Tool: "oobtb run", Backend: o.Backend.Name(), Seed: o.Seed,
		StartedAt: time.Now().UTC(), Host: reports.HostInfo{OS: runtime.GOOS, Arch: runtime.GOARCH,
			CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Hostname: host}}
	t0 := time.Now()
	for _, s := range cases {
		r.Cases = append(r.Cases, RunCase(ctx, s, o))
	}
	r.Seconds = time.Since(t0).Seconds()
	r.Tally()
	return r
}

func logLevel(verbose bool) slog.Level {
	if verbose {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

// caseRun is the state of one running case.
type caseRun struct {
	s      *spec.Scenario
	o      Options
	seed   uint64
	net    Net
	dir    string
	logger *slog.Logger
	logs   *ring
	prog   *progress

	parties  map[string]party
	servers  map[string]*serverParty
	fleets   map[string]*fleetParty
	consoles map[string]*consoleParty

	gateways map[string]*gatewayParty

	mu       sync.Mutex
	byIP     map[string]string // inproc: node address → node
	mitm     map[string]int64  // inproc: rewritten dial targets
	sessions map[string]*session
	metrics  map[string]float64
	waits    sync.WaitGroup
}

// Requirements lists what a scenario needs beyond the server, vMC and
// console: its requires list plus what its parties and steps imply.
func Requirements(s *spec.Scenario) []string {
	need := append([]string(nil), s.Requires...)
	add := func(r string) {
		if !slices.Contains(need, r) {
			need = append(need, r)
		}
	}
	for _, p := range s.Parties {
		if p.Kind == spec.KindGateway {
			add("gateway")
		}
	}
	for _, st := range s.Timeline {
		if st.Initiated == "user" || st.Gateway != "" || st.GatewayID != "" || st.Fault != "" {
			add("pairing")
		}
		if st.Expect != nil && (st.Expect.Path == spec.PathDirect || st.Expect.Path == spec.PathRelay) {
			add("pairing")
		}
	}
	sort.Strings(need)
	return need
}

// RunCase runs one scenario (matrix point) and never panics: a panic in the
// runner or a party ends the case as failed with the stack in its log.
func RunCase(ctx context.Context, s *spec.Scenario, o Options) (rc reports.Case) {
	if o.Available == nil {
		o.Available = Available
	}
	seed := s.Seed
	if o.Seed != nil {
		seed = *o.Seed
	}
	if seed == 0 {
		seed = 1
	}
	rc = reports.Case{Name: s.CaseName(), Scenario: s.Name, File: s.File, Labels: s.Labels, Params: s.Params,
		Seed: seed, Backend: o.Backend.Name(), Collect: s.Metrics, Metrics: map[string]float64{}}
	t0 := time.Now()
	defer func() { rc.Seconds = time.Since(t0).Seconds() }()
	logs := newRing(200)
	c := &caseRun{s: s, o: o, seed: seed, logs: logs,
		logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: logLevel(o.Verbose)})),
		prog:    &progress{w: o.Progress, tty: o.TTY, name: rc.Name, total: len(s.Timeline)},
		parties: map[string]party{}, servers: map[string]*serverParty{}, fleets: map[string]*fleetParty{},
		consoles: map[string]*consoleParty{}, gateways: map[string]*gatewayParty{}, sessions: map[string]*session{}, metrics: map[string]float64{}}
	for i, st := range s.Timeline {
		rc.Steps = append(rc.Steps, reports.Step{Index: i, Kind: st.Do, Line: st.Line, Summary: summary(&st), Status: reports.Skipped})
	}
	for i, a := range s.Assertions {
		rc.Assertions = append(rc.Assertions, reports.Assertion{Index: i, Check: a.Check, Line: a.Line,
			Summary: assertSummary(&a), Status: reports.Skipped, Expected: expected(&a), Actual: "not checked"})
	}
	fail := func(status reports.Status, msg string) {
		if rc.Status == "" || rc.Status == reports.Passed {
			rc.Status, rc.Message = status, msg
		}
	}
	var missing []string
	for _, r := range Requirements(s) {
		if !slices.Contains(o.Available, r) {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		err := &EnvError{Missing: fmt.Sprintf("scenario needs %s, which this build does not provide yet (the gateway party and the server's pairing module)", strings.Join(missing, " and "))}
		fail(reports.Errored, err.Error())
		c.prog.caseLine(rc.Status, rc.Message)
		return rc
	}
	for i := range s.Parties {
		if p := &s.Parties[i]; p.Kind == spec.KindProcess {
			if _, err := (&processParty{p: p}).lookPath(); err != nil {
				fail(reports.Errored, err.Error())
				c.prog.caseLine(rc.Status, rc.Message)
				return rc
			}
		}
	}
	base := snapshot()
	cpu0 := cpuSeconds()
	defer func() {
		if p := recover(); p != nil {
			fail(reports.Failed, fmt.Sprintf("runner panic: %v", p))
			rc.Log = logs.String() + "\n" + string(debug.Stack())
			c.teardown()
		}
	}()

	var err error
	if c.dir, err = os.MkdirTemp("", "oobtb-run-"); err != nil {
		fail(reports.Errored, (&EnvError{Missing: "a writable temporary directory", Err: err}).Error())
		return rc
	}
	upCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	c.net, err = o.Backend.Up(upCtx, s, seed)
	cancel()
	if err != nil {
		os.RemoveAll(c.dir)
		fail(reports.Errored, (&EnvError{Missing: "the " + o.Backend.Name() + " network", Err: err}).Error())
		c.prog.caseLine(rc.Status, rc.Message)
		return rc
	}
	if err := c.setup(ctx); err != nil {
		fail(reports.Failed, "setting the parties up: "+err.Error())
		if IsEnv(err) {
			rc.Status = reports.Errored
		}
	} else {
		for i := range s.Timeline {
			st := &s.Timeline[i]
			c.prog.stepStart(i, summary(st))
			t := time.Now()
			err := c.runStep(ctx, i, st)
			rs := &rc.Steps[i]
			rs.Seconds = time.Since(t).Seconds()
			if err != nil {
				rs.Status = reports.Failed
				rs.Message = stepMessage(s, i, st, err)
				c.prog.stepEnd(i, rs.Summary, rs.Status, rs.Seconds, rs.Message)
				if IsEnv(err) {
					fail(reports.Errored, rs.Message)
				} else {
					fail(reports.Failed, rs.Message)
				}
				break
			}
			rs.Status = reports.Passed
			c.prog.stepEnd(i, rs.Summary, rs.Status, rs.Seconds, "")
		}
		if ctx.Err() != nil {
			fail(reports.Errored, "run interrupted: "+ctx.Err().Error())
		}
	}
	c.collect()
	if rc.Status == "" {
		for i := range s.Assertions {
			a := &s.Assertions[i]
			if a.Check == spec.CheckNoLeftovers {
				continue
			}
			c.check(a, &rc.Assertions[i])
		}
	}
	c.teardown()
	if rc.Status == "" {
		for i := range s.Assertions {
			if a := &s.Assertions[i]; a.Check == spec.CheckNoLeftovers {
				c.checkLeftovers(a, &rc.Assertions[i], base)
			}
		}
	}
	if cpu := cpuSeconds(); cpu >= 0 && cpu0 >= 0 {
		c.setMetric("process.cpu_s", cpu-cpu0)
	}
	c.mu.Lock()
	for k, v := range c.metrics {
		rc.Metrics[k] = v
	}
	c.mu.Unlock()
	for _, a := range rc.Assertions {
		if a.Status == reports.Failed {
			fail(reports.Failed, fmt.Sprintf("assertion %d (line %d) %s: expected %s, got %s", a.Index+1, a.Line, a.Summary, a.Expected, a.Actual))
		}
	}
	if rc.Status == "" {
		rc.Status = reports.Passed
	}
	if rc.Status != reports.Passed {
		rc.Log = logs.String()
	}
	c.prog.caseLine(rc.Status, rc.Message)
	return rc
}

func stepMessage(s *spec.Scenario, i int, st *spec.Step, err error) string {
	head := fmt.Sprintf("step %d (%s line %d, %s)", i+1, s.File, st.Line, summary(st))
	if st.Message != "" {
		head += ": " + st.Message
	}
	return head + ": " + err.Error()
}

// setup builds the parties, prepares the servers (data, ports, enrolment)
// and starts the autostart parties.
func (c *caseRun) setup(ctx context.Context) error {
	s := c.s
	for i := range s.Parties {
		p := &s.Parties[i]
		switch p.Kind {
		case spec.KindServer:
			sp := &serverParty{c: c, p: p, node: p.NodeList()[0], dir: fmt.Sprintf("%s/%s", c.dir, p.Name), relayed: map[string]float64{}}
			c.servers[p.Name], c.parties[p.Name] = sp, sp
		case spec.KindVMC:
			f := newFleet(c, p, c.seed)
			c.fleets[p.Name], c.parties[p.Name] = f, f
		case spec.KindProcess:
			x := &processParty{c: c, p: p, node: p.NodeList()[0]}
			c.parties[p.Name] = x
		case spec.KindConsole:
			k := &consoleParty{c: c, p: p, node: p.NodeList()[0]}
			c.consoles[p.Name], c.parties[p.Name] = k, k
		case spec.KindGateway:
			g := &gatewayParty{c: c, p: p, node: p.NodeList()[0], dir: fmt.Sprintf("%s/%s", c.dir, p.Name)}
			c.gateways[p.Name], c.parties[p.Name] = g, g
		default:
			return &EnvError{Missing: fmt.Sprintf("party kind %s (party %s) in this build", p.Kind, p.Name)}
		}
	}
	for _, f := range c.fleets {
		for _, n := range f.p.Servers {
			f.servers = append(f.servers, c.servers[n])
		}
	}
	for _, k := range c.consoles {
		k.server = c.servers[k.p.Servers[0]]
	}
	for _, g := range c.gateways {
		g.server = c.servers[g.p.Servers[0]]
		if err := g.prepare(); err != nil {
			return fmt.Errorf("gateway %s: %w", g.p.Name, err)
		}
	}
	for _, f := range c.fleets {
		if f.p.Gateway != "" {
			f.gateway = c.gateways[f.p.Gateway]
		}
	}
	for _, sp := range c.servers {
		var devs []*device
		for _, f := range c.fleets {
			if slices.Contains(f.p.Servers, sp.p.Name) {
				devs = append(devs, f.devices...)
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := sp.prepare(pctx, devs)
		cancel()
		if err != nil {
			return fmt.Errorf("server %s: %w", sp.p.Name, err)
		}
	}
	// Autostart in file order: servers usually come first.
	for i := range s.Parties {
		if p := &s.Parties[i]; p.AutoStart {
			if err := c.parties[p.Name].start(ctx); err != nil {
				return fmt.Errorf("starting %s: %w", p.Name, err)
			}
		}
	}
	return nil
}

// teardown closes sessions and stops every party (consoles, fleets,
// processes, then servers) and the network.
func (c *caseRun) teardown() {
	c.mu.Lock()
	var ss []*session
	for _, s := range c.sessions {
		ss = append(ss, s)
	}
	c.mu.Unlock()
	for _, s := range ss {
		s.close()
	}
	c.waits.Wait()
	c.collectSessions()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for _, kinds := range [][]string{{spec.KindConsole}, {spec.KindVMC, spec.KindProcess}, {spec.KindGateway}, {spec.KindServer}} {
		for _, p := range c.s.Parties {
			if pp, ok := c.parties[p.Name]; ok && slices.Contains(kinds, p.Kind) {
				wg.Add(1)
				go func() { defer wg.Done(); _ = pp.stop(ctx) }()
			}
		}
		wg.Wait()
	}
	for name, sp := range c.servers {
		c.setMetric("server."+name+".relay_kvm_bytes", sp.relayTotal("kvm"))
	}
	if c.net != nil {
		if err := c.net.Close(); err != nil {
			c.logger.Error("closing the network", "err", err)
		}
	}
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

func (c *caseRun) setMetric(name string, v float64) {
	c.mu.Lock()
	c.metrics[name] = v
	c.mu.Unlock()
}

func (c *caseRun) metric(name string) (float64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.metrics[name]
	return v, ok
}

func (c *caseRun) collectSessions() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sessions {
		for k, v := range s.metrics() {
			c.metrics[k] = v
		}
	}
}

// collect records the figures every case has: relayed bytes per server,
// devices connected per fleet.
func (c *caseRun) collect() {
	c.collectSessions()
	for name, sp := range c.servers {
		c.setMetric("server."+name+".relay_kvm_bytes", sp.relayTotal("kvm"))
	}
	for name, f := range c.fleets {
		n := 0
		for _, d := range f.devices {
			if c.connectedTo(d, "") != "" {
				n++
			}
		}
		c.setMetric("devices."+name+".connected", float64(n))
	}
}

func (c *caseRun) closeSessionsOf(console string) {
	c.mu.Lock()
	var ss []*session
	for _, s := range c.sessions {
		if s.console == console {
			ss = append(ss, s)
		}
	}
	c.mu.Unlock()
	for _, s := range ss {
		s.close()
	}
}

func (c *caseRun) logWriter(party string) io.Writer { return prefixWriter{c.logs, party + ": "} }

// device resolves "party" or "party[i]".
func (c *caseRun) device(ref string) (*device, error) {
	name, idx, ok := spec.DeviceRef(ref)
	f := c.fleets[name]
	if !ok || f == nil || idx >= len(f.devices) {
		return nil, fmt.Errorf("no device %q", ref)
	}
	return f.devices[idx], nil
}

// fleetOf is the fleet a device belongs to.
func (c *caseRun) fleetOf(d *device) *fleetParty {
	for _, f := range c.fleets {
		for _, x := range f.devices {
			if x == d {
				return f
			}
		}
	}
	return nil
}

// connectedTo is the server party (restricted to only, if given) holding a
// live tunnel of d, or "".
func (c *caseRun) connectedTo(d *device, only string) string {
	names := make([]string, 0, len(c.servers))
	for n := range c.servers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if only != "" && n != only {
			continue
		}
		if srv := c.servers[n].current(); srv != nil {
			if _, ok := srv.Tunnel(d.spec.UUID); ok {
				return n
			}
		}
	}
	return ""
}

var errNotYet = errors.New("not yet")
