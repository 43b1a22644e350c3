package linkemu

import (
	"runtime"
	"time"
)

// The scheduler wakes the Direction when the earliest scheduled frame is
// due. Under clock.Real one goroutine per Direction sleeps on a time.Timer
// until shortly before the deadline and spins (yielding) for the rest: the
// Go timer typically fires 50–300 µs late, so the goroutine learns how late
// (an exponentially weighted mean) and sets its timer that much early.
// Under any other clock the Direction arms one clock timer (AfterFunc) for
// the earliest deadline; clock.Manual runs it synchronously inside Advance,
// which makes tests exact.

const (
	initialSlack = 100 * time.Microsecond
	maxSlack     = time.Millisecond
	// minSleep: below this the goroutine spins instead of arming the timer.
	minSleep = 20 * time.Microsecond
)

func (d *Direction) run() {
	defer d.wg.Done()
	t := time.NewTimer(time.Hour)
	t.Stop()
	slack := int64(initialSlack)
	for {
		d.mu.Lock()
		next, ok := int64(0), len(d.h) > 0
		if ok {
			next = d.h[0].due
		}
		d.mu.Unlock()
		if !ok {
			select {
			case <-d.kick:
				continue
			case <-d.done:
				return
			}
		}
		rem := next - d.now()
		switch {
		case rem <= 0:
			d.drain()
			continue
		case rem > slack+int64(minSleep):
			wake := time.Duration(rem - slack)
			target := time.Now().Add(wake)
			t.Reset(wake)
			select {
			case <-t.C:
				late := int64(time.Since(target))
				slack += (max(late, 0) - slack) / 8
				slack = min(max(slack, 0), int64(maxSlack))
			case <-d.kick:
				t.Stop()
			case <-d.done:
				t.Stop()
				return
			}
		default:
			// Close to the deadline: yield until it passes, but keep
			// listening for an earlier frame or Close.
			select {
			case <-d.kick:
			case <-d.done:
				return
			default:
				runtime.Gosched()
			}
		}
	}
}

// rearmLocked points the clock timer at the earliest deadline (non-real
// clocks only).
func (d *Direction) rearmLocked(now int64) {
	if d.real || d.closed {
		return
	}
	if len(d.h) == 0 {
		if d.armed {
			d.timer.Stop()
			d.armed = false
		}
		return
	}
	next := d.h[0].due
	if d.armed && d.armedAt == next {
		return
	}
	d.timer.Reset(time.Duration(max(next-now, 0)))
	d.armed, d.armedAt = true, next
}

func (d *Direction) onTimer() {
	d.mu.Lock()
	d.armed = false
	d.mu.Unlock()
	d.drain()
}
