package ciraload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// workerExitWait is how long a worker gets to close its tunnels after its
// stdin closes before it is killed.
const workerExitWait = 10 * time.Second

// Run ramps up the tunnels, holds them, probes them and measures the server.
// It returns the result even with an error when the run got as far as the
// ramp; the error says why the run is not a valid measurement (no tunnel
// came up, a worker died, interrupted). Every worker is gone when Run
// returns.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	defer func() {
		if res != nil && err != nil {
			res.Error = err.Error()
		}
	}()
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := preflight(ctx, c); err != nil {
		return nil, err
	}
	res = &Result{Target: c.Target, Count: c.Count, Procs: c.Procs, Rate: c.Rate, TLS: c.TLS, Resume: c.Resume, ServerGOGC: c.ServerGOGC, ServerFixedProcs: c.ServerFixedProcs,
		TCPKeepAlive: c.TCPKeepAlive.String(), WorkerProcs: c.WorkerProcs,
		Failures: map[string]int{}, FailureSamples: map[string]string{},
		Anchor: MeshCentralAnchor, Goals: IssueGoals}
	if c.SourceBase.IsValid() {
		res.Sources = (c.Count + c.PerSource - 1) / c.PerSource
	}

	var srv *ServerFigures
	var cpuStart time.Duration
	if c.ServerPID != 0 {
		srv = &ServerFigures{PID: c.ServerPID}
		if srv.RSSBeforeKiB, err = ProcRSS(c.ServerPID); err != nil {
			return nil, err
		}
		if cpuStart, err = ProcCPU(c.ServerPID); err != nil {
			return nil, err
		}
		res.Server = srv
	}

	ws, err := startWorkers(c)
	defer ws.stop()
	if err != nil {
		return nil, err
	}

	if c.Resume {
		// The priming pass is not measured: the ramp's clock and the
		// server's CPU start when every worker has primed.
		if res.Ramp.PrimeSeconds, err = ws.prime(ctx); err != nil {
			return res, err
		}
		if srv != nil {
			if cpuStart, err = ProcCPU(c.ServerPID); err != nil {
				return res, err
			}
		}
		if c.Progress != nil {
			fmt.Fprintf(c.Progress, "primed in %.1fs; reconnecting with the cached TLS sessions\n", res.Ramp.PrimeSeconds)
		}
		if err := ws.send("ramp"); err != nil {
			return res, err
		}
	}

	// Ramp.
	start := time.Now()
	var lastOK time.Time
	var lat []float64
	ramped := 0
	progress := time.NewTicker(time.Second)
	defer progress.Stop()
	for ramped < len(ws.procs) {
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("interrupted during the ramp (%d up, %d failed): %w", res.Ramp.OK, res.Ramp.Failed, ctx.Err())
		case err := <-ws.died:
			return res, err
		case <-progress.C:
			if c.Progress != nil {
				fmt.Fprintf(c.Progress, "ramp %5.1fs: %d up, %d failed of %d\n", time.Since(start).Seconds(), res.Ramp.OK, res.Ramp.Failed, c.Count)
			}
		case e := <-ws.events:
			switch e.T {
			case evConn:
				if e.OK {
					res.Ramp.OK++
					if e.Resumed {
						res.Ramp.Resumed++
					}
					lat = append(lat, e.MS)
					lastOK = time.Now()
				} else {
					res.Ramp.Failed++
					res.Failures[e.Reason]++
					if _, ok := res.FailureSamples[e.Reason]; !ok {
						res.FailureSamples[e.Reason] = e.Err
					}
				}
			case evRamped:
				ramped++
				res.WorkerRSSKiB = max(res.WorkerRSSKiB, e.RSSKiB)
			}
		}
	}
	res.Ramp.Seconds = time.Since(start).Seconds()
	if res.Ramp.OK > 0 {
		res.Ramp.AcceptsPerSecond = float64(res.Ramp.OK) / lastOK.Sub(start).Seconds()
	}
	res.Ramp.ConnectToReadyMS = percentiles(lat)
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "ramp done in %.1fs: %d up (%.0f/s), %d failed %v\n", res.Ramp.Seconds, res.Ramp.OK,
			res.Ramp.AcceptsPerSecond, res.Ramp.Failed, res.Failures)
	}
	var cpuRampEnd time.Duration
	if srv != nil {
		if cpuRampEnd, err = ProcCPU(c.ServerPID); err != nil {
			return res, err
		}
		srv.CPURampSeconds = (cpuRampEnd - cpuStart).Seconds()
		if srv.CPURampSeconds > 0 {
			srv.AcceptsPerCoreSecond = float64(res.Ramp.OK) / srv.CPURampSeconds
		}
	}

	// Count the survivors right after the ramp (and any refusal burst).
	if res.AliveAfterRamp, res.DeadAfterRamp, err = ws.probe(ctx, c.ProbeTimeout); err != nil {
		return res, err
	}
	if c.APIURL != "" {
		res.API = append(res.API, checkAPI(ctx, c.APIURL, c.APIToken, "after_ramp"))
	}

	// Hold, measuring the server's CPU over exactly the idle period.
	var cpu0 time.Duration
	gc0, gcKnown := -1.0, false
	if srv != nil {
		if c.APIURL != "" {
			gc0, gcKnown = scrapeMetric(ctx, c.APIURL, c.APIToken, "go_gc_duration_seconds_count")
		}
		if cpu0, err = ProcCPU(c.ServerPID); err != nil {
			return res, err
		}
	}
	if c.Progress != nil && c.Hold > 0 {
		fmt.Fprintf(c.Progress, "%d tunnels alive; holding them idle for %s\n", res.AliveAfterRamp, c.Hold)
	}
	h0 := time.Now()
	// The CPU is also read at the midpoint: the first half still holds the
	// tail of the ramp (queued registry writes, the scavenger returning the
	// handshakes' memory), the second half only the keep-alives.
	if err := sleepCtx(ctx, c.Hold/2, ws.died); err != nil {
		return res, fmt.Errorf("interrupted during the hold: %w", err)
	}
	var cpuMid time.Duration
	hMid := time.Now()
	if srv != nil {
		if cpuMid, err = ProcCPU(c.ServerPID); err != nil {
			return res, err
		}
	}
	if err := sleepCtx(ctx, c.Hold-c.Hold/2, ws.died); err != nil {
		return res, fmt.Errorf("interrupted during the hold: %w", err)
	}
	res.HoldSeconds = time.Since(h0).Seconds()
	if srv != nil {
		cpu1, err := ProcCPU(c.ServerPID)
		if err != nil {
			return res, err
		}
		if srv.RSSAfterKiB, err = ProcRSS(c.ServerPID); err != nil {
			return res, err
		}
		srv.CPUHoldSeconds = (cpu1 - cpu0).Seconds()
		if gcKnown {
			if gc1, ok := scrapeMetric(ctx, c.APIURL, c.APIToken, "go_gc_duration_seconds_count"); ok {
				n := int(gc1 - gc0)
				srv.GCCyclesHold = &n
			}
		}
		if res.HoldSeconds > 0 {
			srv.CorePercent = srv.CPUHoldSeconds / res.HoldSeconds * 100
		}
		if late := time.Since(hMid).Seconds(); late > 0 {
			srv.CorePercentLate = (cpu1 - cpuMid).Seconds() / late * 100
		}
	}
	if res.AliveEnd, res.DeadEnd, err = ws.probe(ctx, c.ProbeTimeout); err != nil {
		return res, err
	}
	if srv != nil && res.AliveEnd > 0 {
		srv.KiBPerConn = float64(srv.RSSAfterKiB-srv.RSSBeforeKiB) / float64(res.AliveEnd)
	}
	if c.APIURL != "" {
		res.API = append(res.API, checkAPI(ctx, c.APIURL, c.APIToken, "end"))
	}
	if n := res.Failures[ReasonRefused]; n > 0 {
		l := &LimitCheck{Refused: n, Established: res.Ramp.OK, AliveAfterRefusals: res.AliveAfterRamp,
			AliveEnd: res.AliveEnd, APIAnswered: true}
		for _, a := range res.API {
			l.APIAnswered = l.APIAnswered && a.OK()
		}
		if c.ServerLog != "" {
			l.ServerLogLines = countLogLines(c.ServerLog, "connection cap reached", "accept failing")
		}
		l.Clean = l.AliveAfterRefusals == l.Established && l.AliveEnd == l.Established && l.APIAnswered
		res.Limit = l
	}
	res.Goals = judge(res)
	if err := ws.close(); err != nil {
		return res, err
	}
	if res.Ramp.OK == 0 {
		return res, fmt.Errorf("no tunnel came up (%d failures: %s)", res.Ramp.Failed, failureSummary(res))
	}
	return res, nil
}

// preflight turns an unreachable target into one clear error before any
// worker starts.
func preflight(ctx context.Context, c Config) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", c.Target)
	if err != nil {
		return fmt.Errorf("target %s does not accept TCP connections: %w", c.Target, err)
	}
	return nc.Close()
}

func judge(r *Result) Goals {
	g := IssueGoals
	t := func(b bool) *bool { return &b }
	if r.Server != nil && r.AliveEnd >= 1000 {
		g.MetKiBPerConn = t(r.Server.KiBPerConn <= g.KiBPerConnMax)
		if r.AliveEnd >= 19000 && r.HoldSeconds >= 60 {
			g.MetCorePercent = t(r.Server.CorePercent <= g.CorePercentMax)
		}
	}
	if r.Rate == 0 && r.Ramp.OK >= 1000 {
		g.MetAcceptsPerS = t(r.Ramp.AcceptsPerSecond >= g.AcceptsPerSMin)
	}
	if r.Limit != nil {
		g.MetCleanAtLimit = t(r.Limit.Clean)
	}
	return g
}

func failureSummary(r *Result) string {
	var parts []string
	for _, k := range []string{ReasonRefused, ReasonTLS, ReasonAuth, ReasonTimeout, ReasonRejected, ReasonClosed, ReasonDial, ReasonAPF, ReasonCanceled} {
		if n := r.Failures[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s, e.g. %s", n, k, r.FailureSamples[k]))
		}
	}
	return strings.Join(parts, "; ")
}

func sleepCtx(ctx context.Context, d time.Duration, died <-chan error) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case err := <-died:
		return err
	}
}

// checkAPI does GET /api/v1/devices?limit=1 with the bearer token.
func checkAPI(ctx context.Context, base, token, when string) APICheck {
	a := APICheck{When: when}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/api/v1/devices?limit=1", nil)
	if err != nil {
		a.Err = err.Error()
		return a
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	t0 := time.Now()
	// A fresh connection each time: no idle keep-alive outlives the run.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	a.MS = float64(time.Since(t0).Microseconds()) / 1000
	if err != nil {
		a.Err = err.Error()
		return a
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	a.Status = resp.StatusCode
	return a
}

// scrapeMetric reads one unlabelled sample from a Prometheus /metrics page.
func scrapeMetric(ctx context.Context, base, token, name string) (float64, bool) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

func countLogLines(path string, needles ...string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range bytes.Split(b, []byte("\n")) {
		for _, s := range needles {
			if bytes.Contains(l, []byte(s)) {
				n++
				break
			}
		}
	}
	return n
}

// workers are the running worker processes.
type workers struct {
	procs  []*workerProc
	events chan event
	died   chan error // a worker ended before it was told to
	stopC  chan struct{}
	once   sync.Once
}

type workerProc struct {
	id      int
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	done    chan struct{} // closed after Wait
	err     error         // Wait's error, valid after done
	closing atomic.Bool   // told to end: its exit is no failure
}

func startWorkers(c Config) (*workers, error) {
	ws := &workers{events: make(chan event, 1024), died: make(chan error, c.Procs), stopC: make(chan struct{})}
	caPEM := c.CAPEM
	for k := range c.Procs {
		wc := workerConfig{Target: c.Target, ServerName: c.ServerName, CAPEM: caPEM, Insecure: c.Insecure, TLS: c.TLS,
			Rate: c.Rate / float64(c.Procs), Inflight: c.Inflight, ConnectTimeout: c.ConnectTimeout, Ports: c.Ports,
			Resume: c.Resume, TCPKeepAlive: c.TCPKeepAlive, GOMAXPROCS: c.WorkerProcs}
		// Interleave: worker k takes k, k+P, k+2P, … so the ramp's order
		// and the source addresses are spread over every worker.
		for i := k; i < c.Count; i += c.Procs {
			cred, err := c.Device(i)
			if err != nil {
				return ws, err
			}
			d := workerDevice{Index: i, Cred: cred}
			if a := c.sourceFor(i); a.IsValid() {
				d.Source = a.String()
			}
			wc.Devices = append(wc.Devices, d)
		}
		line, err := json.Marshal(wc)
		if err != nil {
			return ws, err
		}
		cmd := c.WorkerCommand()
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return ws, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return ws, err
		}
		if cmd.Stderr == nil {
			cmd.Stderr = c.WorkerStderr
		}
		if err := cmd.Start(); err != nil {
			return ws, fmt.Errorf("starting worker %d (%s): %w", k, cmd.Path, err)
		}
		p := &workerProc{id: k, cmd: cmd, stdin: stdin, done: make(chan struct{})}
		ws.procs = append(ws.procs, p)
		go ws.read(p, stdout)
		// The worker reads its configuration at once; a write that fails
		// means it died, which read reports.
		go func() { _, _ = stdin.Write(append(line, '\n')) }()
	}
	return ws, nil
}

// read forwards a worker's events until its stdout ends, then reaps it.
func (ws *workers) read(p *workerProc, stdout io.Reader) {
	br := bufio.NewReaderSize(stdout, 64<<10)
	var perr error
	for {
		line, err := readLine(br)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				perr = err
			}
			break
		}
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			perr = fmt.Errorf("worker %d wrote %q: %w", p.id, truncate(string(line), 120), err)
			break
		}
		select {
		case ws.events <- e:
		case <-ws.stopC:
		}
	}
	// Drain so the worker never blocks writing to a full pipe.
	_, _ = io.Copy(io.Discard, stdout)
	p.err = p.cmd.Wait()
	if perr == nil && p.err != nil {
		perr = p.err
	}
	close(p.done)
	select {
	case <-ws.stopC:
	default:
		if !p.closing.Load() {
			if perr == nil {
				perr = errors.New("exited")
			}
			ws.died <- fmt.Errorf("worker %d ended early: %w", p.id, perr)
		}
	}
}

// prime waits until every worker has finished its priming pass (Resume);
// a device that failed to come up then simply has no session to resume.
func (ws *workers) prime(ctx context.Context) (float64, error) {
	t0 := time.Now()
	for got := 0; got < len(ws.procs); {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("interrupted while priming: %w", ctx.Err())
		case err := <-ws.died:
			return 0, err
		case e := <-ws.events:
			if e.T == evPrimed {
				got++
			}
		}
	}
	return time.Since(t0).Seconds(), nil
}

// send writes a command to every worker.
func (ws *workers) send(name string) error {
	cmd, _ := json.Marshal(command{Cmd: name})
	for _, p := range ws.procs {
		if _, err := p.stdin.Write(append(cmd, '\n')); err != nil {
			return fmt.Errorf("worker %d: sending %s: %w", p.id, name, err)
		}
	}
	return nil
}

// probe asks every worker to probe its tunnels and sums the answers.
func (ws *workers) probe(ctx context.Context, timeout time.Duration) (int, map[string]int, error) {
	cmd, _ := json.Marshal(command{Cmd: "probe", Timeout: timeout})
	for _, p := range ws.procs {
		if _, err := p.stdin.Write(append(cmd, '\n')); err != nil {
			return 0, nil, fmt.Errorf("worker %d: sending probe: %w", p.id, err)
		}
	}
	alive, dead := 0, map[string]int{}
	limit := time.NewTimer(timeout + 30*time.Second)
	defer limit.Stop()
	for got := 0; got < len(ws.procs); {
		select {
		case <-ctx.Done():
			return alive, dead, fmt.Errorf("interrupted during a probe: %w", ctx.Err())
		case err := <-ws.died:
			return alive, dead, err
		case <-limit.C:
			return alive, dead, fmt.Errorf("%d of %d workers did not answer a probe", len(ws.procs)-got, len(ws.procs))
		case e := <-ws.events:
			if e.T != evProbe {
				continue
			}
			got++
			alive += e.Alive
			for k, v := range e.Dead {
				dead[k] += v
			}
		}
	}
	return alive, dead, nil
}

// close tells every worker to close its tunnels and waits for them to exit.
func (ws *workers) close() error {
	cmd, _ := json.Marshal(command{Cmd: "close"})
	for _, p := range ws.procs {
		p.closing.Store(true)
		_, _ = p.stdin.Write(append(cmd, '\n'))
	}
	ws.stop()
	var errs []error
	for _, p := range ws.procs {
		if p.err != nil {
			errs = append(errs, fmt.Errorf("worker %d: %w", p.id, p.err))
		}
	}
	return errors.Join(errs...)
}

// stop ends every worker: stdin closed (the worker closes its tunnels and
// exits), then a kill for any that has not exited in time. It returns when
// every worker has been reaped.
func (ws *workers) stop() {
	if ws == nil {
		return
	}
	ws.once.Do(func() {
		close(ws.stopC)
		for _, p := range ws.procs {
			p.closing.Store(true)
			_ = p.stdin.Close()
		}
		deadline := time.NewTimer(workerExitWait)
		defer deadline.Stop()
		expired := false
		for _, p := range ws.procs {
			if !expired {
				select {
				case <-p.done:
					continue
				case <-deadline.C:
					expired = true
				}
			}
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}
