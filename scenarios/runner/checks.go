package runner

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/oobtb/oobtb/reports"
	"github.com/oobtb/oobtb/scenarios/spec"
)

func assertSummary(a *spec.Assertion) string {
	parts := []string{a.Check}
	for _, kv := range [][2]string{{"session=", a.Session}, {"device=", a.Device}, {"server=", a.Server},
		{"metric=", a.Metric}, {"kind=", a.Kind}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+kv[1])
		}
	}
	if len(a.What) > 0 {
		parts = append(parts, "what="+strings.Join(a.What, ","))
	}
	return strings.Join(parts, " ")
}

// expected says in words what an assertion wants.
func expected(a *spec.Assertion) string {
	switch a.Check {
	case spec.CheckPath:
		s := "path " + a.Is
		if a.Reason != "" {
			s += fmt.Sprintf(" with a reason containing %q", a.Reason)
		}
		return s
	case spec.CheckSession:
		if a.Reason != "" {
			return fmt.Sprintf("%s (reason containing %q)", a.Is, a.Reason)
		}
		return a.Is
	case spec.CheckFailover:
		s := fmt.Sprintf("failover field recorded as %q…", a.Is)
		if a.Reason != "" {
			s += fmt.Sprintf(" containing %q", a.Reason)
		}
		return s
	case spec.CheckConnectedTo:
		return "connected to server " + a.Is
	case spec.CheckNoLeftovers:
		w := a.What
		if len(w) == 0 {
			w = []string{"namespaces", "goroutines", "sockets"}
		}
		return "no leftover " + strings.Join(w, ", ")
	}
	return bounds(a)
}

func bounds(a *spec.Assertion) string {
	var parts []string
	for _, b := range []struct {
		op string
		v  *float64
	}{{"=", a.Eq}, {"≤", a.Le}, {"≥", a.Ge}, {"<", a.Lt}, {">", a.Gt}} {
		if b.v != nil {
			parts = append(parts, b.op+" "+reports.FormatValue(*b.v))
		}
	}
	return strings.Join(parts, " and ")
}

func within(a *spec.Assertion, v float64) bool {
	return (a.Eq == nil || v == *a.Eq) && (a.Le == nil || v <= *a.Le) && (a.Ge == nil || v >= *a.Ge) &&
		(a.Lt == nil || v < *a.Lt) && (a.Gt == nil || v > *a.Gt)
}

// check evaluates one assertion (all but no-leftovers) against the run.
func (c *caseRun) check(a *spec.Assertion, r *reports.Assertion) {
	ok, actual := c.eval(a)
	r.Actual = actual
	r.Status = reports.Passed
	if !ok {
		r.Status = reports.Failed
		r.Message = a.Message
	}
}

func (c *caseRun) eval(a *spec.Assertion) (bool, string) {
	switch a.Check {
	case spec.CheckPath:
		ss := c.session(a.Session)
		if ss == nil {
			return false, "no such session"
		}
		ss.mu.Lock()
		defer ss.mu.Unlock()
		if ss.refused {
			return false, "refused: " + ss.refusal
		}
		return ss.path == a.Is && strings.Contains(ss.reason, a.Reason), fmt.Sprintf("path %s (%s)", ss.path, ss.reason)
	case spec.CheckSession:
		ss := c.session(a.Session)
		if ss == nil {
			return false, "no such session"
		}
		ss.mu.Lock()
		defer ss.mu.Unlock()
		switch {
		case ss.refused:
			return a.Is == "refused" && strings.Contains(ss.refusal, a.Reason), "refused: " + ss.refusal
		case ss.established:
			return a.Is == "established", "established on the " + ss.path + " path"
		}
		return false, "neither established nor refused"
	case spec.CheckServerBytes:
		kind := a.Kind
		if kind == "" {
			kind = "kvm"
		}
		var total float64
		for n, sp := range c.servers {
			if a.Server == "" || a.Server == n {
				total += sp.relayTotal(kind)
			}
		}
		return within(a, total), fmt.Sprintf("%s bytes", reports.FormatValue(total))
	case spec.CheckMetric:
		v, ok := c.metric(a.Metric)
		if !ok {
			return false, "no metric " + a.Metric + " (have: " + strings.Join(c.metricNames(), ", ") + ")"
		}
		return within(a, v), reports.FormatValue(v)
	case spec.CheckFailover:
		d, err := c.device(a.Device)
		if err != nil {
			return false, err.Error()
		}
		name := a.Server
		if name == "" {
			name = d.serverOf(c)
		}
		sp := c.servers[name]
		srv := sp.current()
		if srv == nil {
			return false, "server " + name + " is not running"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rec, err := srv.Store().GetDevice(ctx, d.spec.UUID)
		if err != nil {
			return false, "registry: " + err.Error()
		}
		return strings.HasPrefix(rec.Failover.Summary, a.Is) && strings.Contains(rec.Failover.Summary, a.Reason),
			fmt.Sprintf("%q", rec.Failover.Summary)
	case spec.CheckConnectedTo:
		d, err := c.device(a.Device)
		if err != nil {
			return false, err.Error()
		}
		got := c.connectedTo(d, "")
		if got == "" {
			got = "none"
		}
		return got == a.Is, "connected to " + got
	}
	return false, "unknown check " + a.Check
}

// serverOf is the fleet's first server party.
func (d *device) serverOf(c *caseRun) string {
	for _, f := range c.fleets {
		for _, x := range f.devices {
			if x == d && len(f.servers) > 0 {
				return f.servers[0].p.Name
			}
		}
	}
	return ""
}

func (c *caseRun) metricNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for k := range c.metrics {
		out = append(out, k)
	}
	return out
}

// state is what a no-leftovers check compares with: the process's open
// sockets before the case.
type state struct {
	sockets int
}

// cpuSeconds is the process's user plus system CPU time (every party of a
// case runs in this process, so this is the case's CPU), −1 if unknown.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func snapshot() state { return state{sockets: countSockets()} }

func countSockets() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

// ourGoroutines lists goroutines running code of the parties, the
// emulators or this runner, other than the caller.
func ourGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range bytes.Split(buf, []byte("\n\n")) {
		if i == 0 {
			continue // the caller
		}
		s := string(g)
		if strings.Contains(s, "github.com/oobtb/oobtb/emulators/") || strings.Contains(s, "github.com/oobtb/oobtb/topology/") ||
			strings.Contains(s, "github.com/oobtb/oobtb/scenarios/runner.") {
			sc := bufio.NewScanner(strings.NewReader(s))
			var head, fn string
			if sc.Scan() {
				head = sc.Text()
			}
			if sc.Scan() {
				fn = sc.Text()
			}
			out = append(out, head+" "+fn)
		}
	}
	return out
}

// checkLeftovers runs after teardown: namespaces and links of the run,
// goroutines of the parties, sockets opened since the case began. The
// parties get a few seconds to finish closing.
func (c *caseRun) checkLeftovers(a *spec.Assertion, r *reports.Assertion, base state) {
	what := a.What
	if len(what) == 0 {
		what = []string{"namespaces", "goroutines", "sockets"}
	}
	deadline := time.Now().Add(10 * time.Second)
	var problems []string
	for {
		problems = problems[:0]
		for _, w := range what {
			switch w {
			case "namespaces":
				if c.net != nil {
					if l := c.net.Leftovers(); len(l) > 0 {
						problems = append(problems, fmt.Sprintf("%d namespaces/links: %s", len(l), strings.Join(l, ", ")))
					}
				}
			case "goroutines":
				if g := ourGoroutines(); len(g) > 0 {
					if len(g) > 5 {
						g = append(g[:5], "…")
					}
					problems = append(problems, fmt.Sprintf("goroutines: %s", strings.Join(g, "; ")))
				}
			case "sockets":
				if n := countSockets(); n > base.sockets {
					problems = append(problems, strconv.Itoa(n-base.sockets)+" more open sockets than before the case")
				}
			}
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.Status = reports.Passed
	r.Actual = "none"
	if len(problems) > 0 {
		r.Status = reports.Failed
		r.Actual = strings.Join(problems, "; ")
		r.Message = a.Message
	}
}
