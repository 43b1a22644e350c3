package server

import (
	"runtime"
	"syscall"
	"time"
)

// procsPolicy decides how many Ps (GOMAXPROCS) the Go scheduler may use.
//
// A server holding thousands of idle tunnels sees one short event at a
// time — a keep-alive every few milliseconds — and with a second idle P
// the runtime wakes a second thread for each of them, which finds nothing
// and goes back to sleep: futex calls and scheduler work that cost more
// than the keep-alive itself. On one P that does not happen. Accept storms
// and relayed KVM need every core, so the policy goes back to all of them
// as soon as the process is busy. It is pure: the driver feeds it the
// process's CPU time, the accepts since the last step and the time.
type procsPolicy struct {
	Max int // all Ps: GOMAXPROCS at start
	// Busy is the CPU use, in cores, above which one P is not enough.
	Busy float64
	// Idle is the CPU use below which the process counts as idle, and
	// IdleFor how long it must stay there before going to one P.
	Idle    float64
	IdleFor time.Duration
	// AcceptBurst accepts within one step mean a storm is starting: go to
	// all Ps at once instead of waiting for the CPU figure.
	AcceptBurst int64
}

func defaultProcsPolicy(max int) procsPolicy {
	return procsPolicy{Max: max, Busy: 0.5, Idle: 0.2, IdleFor: 10 * time.Second, AcceptBurst: 20}
}

type procsState struct {
	cur       int
	lastAt    time.Time
	lastCPU   time.Duration
	idleSince time.Time // zero while busy
}

// step returns the Ps to use from now on (st.cur when unchanged).
func (p procsPolicy) step(st *procsState, now time.Time, cpu time.Duration, accepts int64) int {
	if st.lastAt.IsZero() || !now.After(st.lastAt) {
		st.lastAt, st.lastCPU = now, cpu
		return st.cur
	}
	use := float64(cpu-st.lastCPU) / float64(now.Sub(st.lastAt))
	st.lastAt, st.lastCPU = now, cpu
	if use >= p.Idle || accepts >= p.AcceptBurst {
		st.idleSince = time.Time{}
	} else if st.idleSince.IsZero() {
		st.idleSince = now
	}
	switch {
	case st.cur < p.Max && (use >= p.Busy || accepts >= p.AcceptBurst):
		st.cur = p.Max
	case st.cur > 1 && !st.idleSince.IsZero() && now.Sub(st.idleSince) >= p.IdleFor:
		st.cur = 1
	}
	return st.cur
}

// procsStep is how often the driver samples.
const procsStep = 250 * time.Millisecond

// newProcsPolicy is the driver's policy; a test shortens its idle period.
var newProcsPolicy = defaultProcsPolicy

// governProcs drives the policy until the server stops, then restores all
// Ps. It runs only when Config.AdaptiveProcs is set: GOMAXPROCS belongs to
// the whole process, so an embedding program (the scenario runner runs
// every party in one process) must not have it changed under it.
func (s *Server) governProcs() {
	defer s.wg.Done()
	max := runtime.GOMAXPROCS(0)
	if max <= 1 {
		return
	}
	pol := newProcsPolicy(max)
	st := procsState{cur: max}
	defer runtime.GOMAXPROCS(max)
	tick := time.NewTicker(procsStep)
	defer tick.Stop()
	var lastAccepts int64
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-tick.C:
			acc := s.acceptCount.Load()
			before := st.cur
			if n := pol.step(&st, now, processCPU(), acc-lastAccepts); n != before {
				runtime.GOMAXPROCS(n)
				s.log.Debug("scheduler Ps changed", "from", before, "to", n)
			}
			lastAccepts = acc
		}
	}
}

// processCPU is the user and system CPU time of the process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
