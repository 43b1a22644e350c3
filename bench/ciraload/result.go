package ciraload

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
)

// Result is a run's report; it is also the --json document.
type Result struct {
	Target  string  `json:"target"`
	Count   int     `json:"count"`
	Procs   int     `json:"procs"`
	Rate    float64 `json:"rate_requested"` // 0: as fast as accepted
	Sources int     `json:"source_addresses"`
	TLS     string  `json:"tls"` // the devices' TLS profile
	Resume  bool    `json:"resume,omitempty"`
	// TCPKeepAlive is the devices' TCP keep-alive period ("0s": none).
	TCPKeepAlive string `json:"tcp_keepalive"`
	// WorkerProcs is each worker's GOMAXPROCS.
	WorkerProcs int `json:"worker_gomaxprocs"`
	// ServerGOGC is the spawned server's GOGC when set (--server-gogc).
	ServerGOGC int `json:"server_gogc,omitempty"`
	// ServerFixedProcs: the spawned server kept GOMAXPROCS at all cores.
	ServerFixedProcs bool `json:"server_fixed_procs,omitempty"`

	Ramp Ramp `json:"ramp"`
	// Failures counts the tunnels that did not come up, by reason
	// (refused, tls, auth, timeout, closed, dial, apf, canceled).
	Failures map[string]int `json:"failures"`
	// FailureSamples holds the first error text per reason.
	FailureSamples map[string]string `json:"failure_samples,omitempty"`

	// AliveAfterRamp and AliveEnd are the tunnels that answered a
	// keep-alive probe right after the ramp and at the end of the hold;
	// Dead* count the others by reason (no_reply: open but silent).
	AliveAfterRamp int            `json:"alive_after_ramp"`
	DeadAfterRamp  map[string]int `json:"dead_after_ramp,omitempty"`
	HoldSeconds    float64        `json:"hold_seconds"`
	AliveEnd       int            `json:"alive_end"`
	DeadEnd        map[string]int `json:"dead_end,omitempty"`

	// WorkerRSSKiB is the largest worker's VmRSS at the end of the ramp.
	WorkerRSSKiB int64 `json:"worker_rss_kib_max"`

	Server *ServerFigures `json:"server,omitempty"`
	API    []APICheck     `json:"api_checks,omitempty"`
	Limit  *LimitCheck    `json:"limit,omitempty"`

	Anchor Anchor `json:"anchor"`
	Goals  Goals  `json:"goals"`

	// Error is why the run is not a complete measurement ("" when it is).
	Error string `json:"error,omitempty"`
}

// Ramp describes the connection ramp.
type Ramp struct {
	Seconds float64 `json:"seconds"` // first dial to the last outcome
	OK      int     `json:"ok"`
	Failed  int     `json:"failed"`
	// AcceptsPerSecond is OK divided by the time from the first dial to the
	// last tunnel that came up.
	AcceptsPerSecond float64 `json:"accepts_per_s"`
	// ConnectToReadyMS: dial start to the last tcpip-forward answered.
	ConnectToReadyMS Percentiles `json:"connect_to_ready_ms"`
	// Resumed counts the tunnels whose TLS session was resumed (an
	// abbreviated handshake, no RSA operation); PrimeSeconds is the
	// unmeasured priming pass of a --resume run.
	Resumed      int     `json:"resumed"`
	PrimeSeconds float64 `json:"prime_seconds,omitempty"`
}

// Percentiles of a latency distribution.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// ServerFigures are measured on the server process through /proc.
type ServerFigures struct {
	PID int `json:"pid"`
	// RSS before the ramp and at the end of the hold.
	RSSBeforeKiB int64 `json:"rss_before_kib"`
	RSSAfterKiB  int64 `json:"rss_after_kib"`
	// KiBPerConn is (after − before) / AliveEnd.
	KiBPerConn float64 `json:"kib_per_idle_conn"`
	// CPUHoldSeconds is the server's CPU time during the hold, and
	// CorePercent that as a percentage of one core's wall time: what the
	// idle tunnels' keep-alives cost.
	CPUHoldSeconds float64 `json:"cpu_hold_seconds"`
	CorePercent    float64 `json:"core_percent_hold"`
	// CorePercentLate is the same over the second half of the hold only,
	// after the ramp's tail (queued registry writes, memory returned to the
	// OS): the keep-alives alone. The goal is judged on CorePercent.
	CorePercentLate float64 `json:"core_percent_hold_second_half"`
	// GCCyclesHold is how many garbage collections a Go server (oobtb's)
	// ran during the hold, from its /metrics: each one marks the whole
	// live heap, so one more or less moves the hold's CPU noticeably.
	GCCyclesHold *int `json:"gc_cycles_hold,omitempty"`
	// CPURampSeconds is the server's CPU time during the ramp, and
	// AcceptsPerCoreSecond the tunnels it brought up per second of that:
	// the accept rate one dedicated core would sustain, whatever else
	// shares the machine (the workers, other jobs).
	CPURampSeconds       float64 `json:"cpu_ramp_seconds"`
	AcceptsPerCoreSecond float64 `json:"accepts_per_core_s"`
}

// APICheck is one GET /api/v1/devices?limit=1.
type APICheck struct {
	When   string  `json:"when"` // "after_ramp" or "end"
	Status int     `json:"status"`
	MS     float64 `json:"ms"`
	Err    string  `json:"err,omitempty"`
}

// OK reports whether the API answered 200.
func (a APICheck) OK() bool { return a.Status == 200 }

// LimitCheck is reported when the server refused tunnels: did the ones it
// had accepted survive the refusals, and does its API still answer?
type LimitCheck struct {
	Refused            int  `json:"refused"`
	Established        int  `json:"established"`
	AliveAfterRefusals int  `json:"alive_after_refusals"`
	AliveEnd           int  `json:"alive_end"`
	APIAnswered        bool `json:"api_answered"`
	// ServerLogLines counts refusal lines in the server's log (when known).
	ServerLogLines int `json:"server_log_refusal_lines,omitempty"`
	// Clean: every established tunnel alive after the refusals and at the
	// end, and the API (when checked) answered.
	Clean bool `json:"clean"`
}

// Anchor is the stock MeshCentral 1.1.55 measurement of issue 4.
type Anchor struct {
	Name           string  `json:"name"`
	Conns          int     `json:"conns"`
	KiBPerConn     float64 `json:"kib_per_idle_conn"`
	CorePercent    float64 `json:"core_percent"`
	AcceptsPerS    float64 `json:"accepts_per_s"`
	AtLimit        string  `json:"at_limit"`
	FDLimitProcess int     `json:"fd_limit"`
}

// Goals are issue 4's targets.
type Goals struct {
	KiBPerConnMax   float64 `json:"kib_per_idle_conn_max"`
	CorePercentMax  float64 `json:"core_percent_max_at_19000"`
	AcceptsPerSMin  float64 `json:"accepts_per_s_min"`
	AtLimit         string  `json:"at_limit"`
	MetKiBPerConn   *bool   `json:"met_kib_per_conn,omitempty"`
	MetCorePercent  *bool   `json:"met_core_percent,omitempty"`
	MetAcceptsPerS  *bool   `json:"met_accepts_per_s,omitempty"`
	MetCleanAtLimit *bool   `json:"met_clean_at_limit,omitempty"`
}

// MeshCentralAnchor is the issue's anchor figures.
var MeshCentralAnchor = Anchor{Name: "MeshCentral 1.1.55", Conns: 19900, KiBPerConn: 38.4, CorePercent: 5.3,
	AcceptsPerS: 520, AtLimit: "crashes, drops every connection", FDLimitProcess: 20000}

// IssueGoals are the issue's goals (met flags unset).
var IssueGoals = Goals{KiBPerConnMax: 24, CorePercentMax: 3, AcceptsPerSMin: 1500,
	AtLimit: "refuse new connections cleanly; existing tunnels, registry and API keep working"}

func percentiles(v []float64) Percentiles {
	if len(v) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return Percentiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: s[len(s)-1]}
}

// WriteSummary prints the result for a person, next to the anchor and goals.
func (r *Result) WriteSummary(w io.Writer) {
	if r.Error != "" {
		fmt.Fprintf(w, "INCOMPLETE RUN: %s\n", r.Error)
	}
	fmt.Fprintf(w, "target %s: %d tunnels (TLS profile %s) requested from %d workers", r.Target, r.Count, r.TLS, r.Procs)
	if r.Sources > 0 {
		fmt.Fprintf(w, " over %d source addresses", r.Sources)
	}
	fmt.Fprintf(w, "; workers GOMAXPROCS=%d", r.WorkerProcs)
	if r.TCPKeepAlive != "" && r.TCPKeepAlive != "0s" {
		fmt.Fprintf(w, ", TCP keep-alive %s", r.TCPKeepAlive)
	}
	if r.ServerFixedProcs {
		fmt.Fprint(w, "; server GOMAXPROCS fixed")
	}
	if r.ServerGOGC != 0 {
		fmt.Fprintf(w, "; server GOGC=%d", r.ServerGOGC)
	}
	fmt.Fprintln(w)
	p := r.Ramp.ConnectToReadyMS
	fmt.Fprintf(w, "ramp: %d up, %d failed in %.1f s; %.0f accepts/s (anchor %.0f, goal ≥ %.0f); connect-to-ready p50 %.1f ms p99 %.1f ms max %.1f ms\n",
		r.Ramp.OK, r.Ramp.Failed, r.Ramp.Seconds, r.Ramp.AcceptsPerSecond, r.Anchor.AcceptsPerS, r.Goals.AcceptsPerSMin, p.P50, p.P99, p.Max)
	if r.Resume {
		fmt.Fprintf(w, "reconnects (--resume, after a %.1f s priming pass): %d of %d TLS sessions resumed\n",
			r.Ramp.PrimeSeconds, r.Ramp.Resumed, r.Ramp.OK)
	}
	if len(r.Failures) > 0 {
		keys := make([]string, 0, len(r.Failures))
		for k := range r.Failures {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  failed %-8s %6d  e.g. %s\n", k, r.Failures[k], truncate(r.FailureSamples[k], 160))
		}
	}
	fmt.Fprintf(w, "alive after the ramp: %d %s", r.AliveAfterRamp, deadText(r.DeadAfterRamp))
	if r.Error == "" {
		fmt.Fprintf(w, "; after %.0f s hold: %d %s", r.HoldSeconds, r.AliveEnd, deadText(r.DeadEnd))
	}
	fmt.Fprintln(w)
	if s := r.Server; s != nil && s.RSSAfterKiB > 0 {
		fmt.Fprintf(w, "server pid %d: RSS %d → %d KiB = %.1f KiB per idle tunnel (anchor %.1f, goal ≤ %.0f)\n",
			s.PID, s.RSSBeforeKiB, s.RSSAfterKiB, s.KiBPerConn, r.Anchor.KiBPerConn, r.Goals.KiBPerConnMax)
		fmt.Fprintf(w, "server CPU: %.2f s in the hold = %.2f %% of one core for %d idle tunnels (anchor %.1f %% at %d, goal ≤ %.0f %% at 19,000)\n",
			s.CPUHoldSeconds, s.CorePercent, r.AliveEnd, r.Anchor.CorePercent, r.Anchor.Conns, r.Goals.CorePercentMax)
		fmt.Fprintf(w, "server CPU in the second half of the hold (keep-alives only): %.2f %% of one core\n", s.CorePercentLate)
		if s.GCCyclesHold != nil {
			fmt.Fprintf(w, "server garbage collections during the hold: %d\n", *s.GCCyclesHold)
		}
	}
	if s := r.Server; s != nil && s.CPURampSeconds > 0 {
		fmt.Fprintf(w, "server CPU in the ramp: %.2f s = %.0f accepts per server core-second\n", s.CPURampSeconds, s.AcceptsPerCoreSecond)
	}
	for _, a := range r.API {
		if a.Err != "" {
			fmt.Fprintf(w, "API %s: error %s\n", a.When, a.Err)
		} else {
			fmt.Fprintf(w, "API %s: HTTP %d in %.1f ms\n", a.When, a.Status, a.MS)
		}
	}
	if l := r.Limit; l != nil {
		verdict := "CLEAN"
		if !l.Clean {
			verdict = "NOT CLEAN"
		}
		fmt.Fprintf(w, "limit: %d refused; %d established, %d alive after the refusals, %d at the end; API answered: %v; refusal log lines: %d → %s (anchor: %s)\n",
			l.Refused, l.Established, l.AliveAfterRefusals, l.AliveEnd, l.APIAnswered, l.ServerLogLines, verdict, r.Anchor.AtLimit)
	}
	fmt.Fprintf(w, "worker RSS max %d KiB\n", r.WorkerRSSKiB)
}

func deadText(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := "(dead:"
	for _, k := range keys {
		s += fmt.Sprintf(" %s %d", k, m[k])
	}
	return s + ")"
}
