package linkemu

import (
	"runtime"
	"time"
)

// The scheduler wakes the Direction when the earliest scheduled frame is
// due. Under clock.Real one goroutine per Direction sleeps on a time.Timer.
// The Go timer typically fires 50–300 µs late (milliseconds on a loaded
// machine), so the goroutine learns how late — a moving average of recent
// wake-ups that falls faster than it rises — and aims its timer
// that much early, at most SetSpin's window (DefaultSpin), then yields in a
// loop (runtime.Gosched) until the deadline. That keeps the median error in
// the tens of µs where a bare timer is late by 0.2 ms or more. Spinning
// costs CPU, and with frames due less than the window apart it would never
// stop, so it is budgeted: at most spinBudget per spinPeriod (25 % of a
// core); past that the goroutine sleeps on the timer alone until the next
// period, delivering in batches. Frames are never delivered early.
//
// Under any other clock the Direction arms one clock timer (AfterFunc) for
// the earliest deadline; clock.Manual runs it synchronously inside Advance,
// which makes tests exact.

// DefaultSpin is the default spin window of a real-clock Direction.
const DefaultSpin = 300 * time.Microsecond

const (
	initialSlack = 150 * time.Microsecond
	maxLateness  = time.Millisecond // samples are clipped here: longer is preemption
	minSleep     = 20 * time.Microsecond
	spinPeriod   = 10 * time.Millisecond
	spinBudget   = spinPeriod / 4
)

// SetSpin sets how long before a deadline the real-clock scheduler may wake
// and spin (0: sleep on the timer only, saving CPU at the cost of the
// timer's lateness). It has no effect under other clocks.
func (d *Direction) SetSpin(window time.Duration) { d.spin.Store(int64(max(window, 0))) }

func (d *Direction) run() {
	defer d.wg.Done()
	t := time.NewTimer(time.Hour)
	t.Stop()
	slack := int64(initialSlack)
	period := time.Now()
	var spent time.Duration // spinning within the current period
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
		now := time.Now()
		if now.Sub(period) >= spinPeriod {
			period, spent = now, 0
		}
		spin := d.spin.Load()
		if spent >= spinBudget {
			spin = 0
		}
		aim := min(slack, spin)
		rem := next - d.now()
		switch {
		case rem <= 0:
			d.drain()
		case spin > 0 && rem <= aim+int64(minSleep):
			// Close to the deadline: yield until it passes, but keep
			// listening for an earlier frame or Close.
			select {
			case <-d.kick:
			case <-d.done:
				return
			default:
				runtime.Gosched()
			}
			spent += time.Since(now)
		default:
			wake := time.Duration(rem - aim)
			target := time.Now().Add(wake)
			t.Reset(wake)
			select {
			case <-t.C:
				// Falling faster than rising keeps wake-ups just before the
				// deadline after a burst of late ones (preemption), so the
				// spin stays short.
				late := min(max(int64(time.Since(target)), 0), int64(maxLateness))
				if late < slack {
					slack += (late - slack) / 4
				} else {
					slack += (late - slack) / 8
				}
			case <-d.kick:
				t.Stop()
			case <-d.done:
				t.Stop()
				return
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
