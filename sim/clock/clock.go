// Package clock is the time source every driver in oobtb takes from outside.
//
// Protocol state machines never read the time themselves: they are handed
// "now" with each event. Drivers (the code that owns sockets and timers) take
// a Clock so the same driver runs on the wall clock, under a test's manual
// clock, and inside the simulator's virtual time.
package clock

import (
	"sync"
	"time"
)

// Clock is the subset of the time package a driver needs.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed.
	AfterFunc(d time.Duration, f func()) Timer
	// NewTimer returns a timer whose channel receives once d has elapsed.
	NewTimer(d time.Duration) Timer
}

// Timer is a stoppable, resettable timer from a Clock.
type Timer interface {
	// C is nil for timers made by AfterFunc.
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration) bool
}

// Real is the wall clock.
type Real struct{}

func (Real) Now() time.Time { return time.Now() }

func (Real) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{t: time.AfterFunc(d, f)}
}

func (Real) NewTimer(d time.Duration) Timer { return realTimer{t: time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

// Manual is a clock that moves only when Advance is called. Timers fire in
// deadline order during Advance, so tests and the simulator are deterministic.
type Manual struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers map[*manualTimer]struct{}
}

// NewManual returns a manual clock that starts at start.
func NewManual(start time.Time) *Manual {
	return &Manual{now: start, timers: map[*manualTimer]struct{}{}}
}

func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

func (m *Manual) AfterFunc(d time.Duration, f func()) Timer {
	return m.add(d, f, nil)
}

func (m *Manual) NewTimer(d time.Duration) Timer {
	return m.add(d, nil, make(chan time.Time, 1))
}

func (m *Manual) add(d time.Duration, f func(), c chan time.Time) *manualTimer {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	t := &manualTimer{m: m, when: m.now.Add(d), seq: m.seq, f: f, c: c}
	m.timers[t] = struct{}{}
	return t
}

// Advance moves the clock forward by d, firing every timer that falls due,
// earliest first; AfterFunc callbacks run synchronously, in order.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	end := m.now.Add(d)
	m.mu.Unlock()
	for {
		m.mu.Lock()
		var next *manualTimer
		for t := range m.timers {
			if t.when.After(end) {
				continue
			}
			if next == nil || t.when.Before(next.when) || (t.when.Equal(next.when) && t.seq < next.seq) {
				next = t
			}
		}
		if next == nil {
			m.now = end
			m.mu.Unlock()
			return
		}
		delete(m.timers, next)
		if next.when.After(m.now) {
			m.now = next.when
		}
		now := m.now
		m.mu.Unlock()
		if next.f != nil {
			next.f()
		} else {
			select {
			case next.c <- now:
			default:
			}
		}
	}
}

// Pending reports how many timers are armed; tests use it to check that a
// driver cleaned up.
func (m *Manual) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.timers)
}

type manualTimer struct {
	m    *Manual
	when time.Time
	seq  uint64
	f    func()
	c    chan time.Time
}

func (t *manualTimer) C() <-chan time.Time { return t.c }

func (t *manualTimer) Stop() bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	_, ok := t.m.timers[t]
	delete(t.m.timers, t)
	return ok
}

func (t *manualTimer) Reset(d time.Duration) bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	_, ok := t.m.timers[t]
	t.m.seq++
	t.when = t.m.now.Add(d)
	t.seq = t.m.seq
	t.m.timers[t] = struct{}{}
	return ok
}
