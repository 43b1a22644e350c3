// Package backoff computes bounded, jittered exponential retry delays.
//
// It is a pure calculator: the caller passes the current time and gets back
// the time of the next attempt. It never sleeps and never reads the clock, and
// its randomness comes from an injected math/rand/v2 source, so the same seed
// gives the same schedule in a test, on sockets and in the simulator. The vMC,
// the gateway and the console all reconnect through it.
//
// The delay before attempt n (counted from 0) starts from the un-jittered base
//
//	base(n) = min(Max, Initial × Multiplier^n)
//
// and then the jitter mode removes a random share of it (U is uniform in [0,1),
// f is JitterFraction in [0,1]):
//
//   - JitterFull:  delay = base × (1 − f·U), so delay ∈ (base·(1−f), base].
//     With f = 1 this is the classic "full jitter" (uniform in (0, base]):
//     the best spread when many clients retry at once, at the price of
//     sometimes retrying almost immediately.
//   - JitterEqual: delay = base/2 + (base/2) × (1 − f·U), so
//     delay ∈ (base·(1−f/2), base]. With f = 1 this is "equal jitter":
//     half of the base is always waited, the other half is random, so a
//     retry is never sooner than base/2.
//
// Either way 0 < delay ≤ Max: the back-off is bounded.
package backoff

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// JitterMode selects how the random share is taken from the base delay.
type JitterMode uint8

const (
	// JitterFull spreads the delay over (base·(1−f), base].
	JitterFull JitterMode = iota
	// JitterEqual always waits base/2 and spreads the rest.
	JitterEqual
)

func (m JitterMode) String() string {
	switch m {
	case JitterFull:
		return "full"
	case JitterEqual:
		return "equal"
	}
	return fmt.Sprintf("JitterMode(%d)", uint8(m))
}

// Config is the shape of a back-off schedule.
type Config struct {
	Initial        time.Duration // base delay before the first retry; > 0
	Max            time.Duration // upper bound of any delay; ≥ Initial
	Multiplier     float64       // growth per attempt; ≥ 1
	JitterFraction float64       // f in [0,1]; 0 disables jitter
	Mode           JitterMode
}

// Default is the schedule the parties use unless a scenario overrides it:
// 1 s doubling up to 60 s with equal jitter, so a fleet reconnecting after a
// server restart spreads out while no device retries sooner than half the base.
func Default() Config {
	return Config{Initial: time.Second, Max: time.Minute, Multiplier: 2, JitterFraction: 1, Mode: JitterEqual}
}

// ConfigError names the offending field of an invalid Config.
type ConfigError struct {
	Field    string
	Expected string
	Got      string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("backoff config: field %s: expected %s, got %s", e.Field, e.Expected, e.Got)
}

// Validate reports the first invalid field of c.
func (c Config) Validate() error {
	switch {
	case c.Initial <= 0:
		return &ConfigError{"Initial", "a positive duration", c.Initial.String()}
	case c.Max < c.Initial:
		return &ConfigError{"Max", "at least Initial (" + c.Initial.String() + ")", c.Max.String()}
	case !(c.Multiplier >= 1): // also rejects NaN
		return &ConfigError{"Multiplier", "≥ 1", fmt.Sprint(c.Multiplier)}
	case !(c.JitterFraction >= 0 && c.JitterFraction <= 1):
		return &ConfigError{"JitterFraction", "in [0,1]", fmt.Sprint(c.JitterFraction)}
	case c.Mode != JitterFull && c.Mode != JitterEqual:
		return &ConfigError{"Mode", "full or equal", c.Mode.String()}
	}
	return nil
}

// Backoff is one retry schedule. It is not safe for concurrent use; each
// state machine owns its own.
type Backoff struct {
	cfg      Config
	rng      *rand.Rand
	attempts int
	base     time.Duration // un-jittered base for the next attempt
}

// New returns a schedule drawing its jitter from src (for example
// rand.NewPCG(seed, 0)). A nil src is an error: randomness is always injected.
func New(cfg Config, src rand.Source) (*Backoff, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, &ConfigError{"source", "a math/rand/v2 Source", "nil"}
	}
	return &Backoff{cfg: cfg, rng: rand.New(src), base: cfg.Initial}, nil
}

// Config returns the schedule's configuration.
func (b *Backoff) Config() Config { return b.cfg }

// Attempts is the number of delays handed out since the last Reset.
func (b *Backoff) Attempts() int { return b.attempts }

// Reset starts the schedule again from Initial, typically after a success.
func (b *Backoff) Reset() {
	b.attempts = 0
	b.base = b.cfg.Initial
}

// NextDelay returns the delay before the next attempt and advances the
// schedule.
func (b *Backoff) NextDelay() time.Duration {
	base := b.base
	f := b.cfg.JitterFraction
	var d time.Duration
	if f == 0 {
		d = base
	} else {
		u := b.rng.Float64()
		switch b.cfg.Mode {
		case JitterEqual:
			half := float64(base) / 2
			d = time.Duration(half + half*(1-f*u))
		default:
			d = time.Duration(float64(base) * (1 - f*u))
		}
	}
	if d <= 0 {
		// Only reachable with f = 1 and U within rounding of 1; a zero delay
		// would turn a reconnect loop into a busy loop.
		d = 1
	}
	if d > b.cfg.Max {
		d = b.cfg.Max
	}
	b.attempts++
	// Grow in float and clamp before converting, so huge multipliers or long
	// runs saturate at Max instead of overflowing time.Duration.
	next := float64(base) * b.cfg.Multiplier
	if next >= float64(b.cfg.Max) {
		b.base = b.cfg.Max
	} else {
		b.base = time.Duration(next)
	}
	return d
}

// Next returns the time of the next attempt, counted from now, and advances
// the schedule.
func (b *Backoff) Next(now time.Time) time.Time { return now.Add(b.NextDelay()) }

// Bounds returns the range the delay of attempt n (from 0) falls in under this
// configuration, for tests and reports.
func (c Config) Bounds(n int) (lo, hi time.Duration) {
	base := float64(c.Initial)
	for i := 0; i < n && base < float64(c.Max); i++ {
		base *= c.Multiplier
	}
	if base > float64(c.Max) {
		base = float64(c.Max)
	}
	hi = time.Duration(base)
	switch c.Mode {
	case JitterEqual:
		lo = time.Duration(base * (1 - c.JitterFraction/2))
	default:
		lo = time.Duration(base * (1 - c.JitterFraction))
	}
	if lo < 1 {
		lo = 1
	}
	return lo, hi
}
