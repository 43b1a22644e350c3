package linkemu

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Profile is the impairment applied to one direction of a link.
type Profile struct {
	Delay  time.Duration
	Jitter time.Duration
	// JitterDist is "uniform" (default: delay ± Jitter, flat) or "normal"
	// (delay + N(0, Jitter²), clipped to ± 3·Jitter).
	JitterDist string
	// Reorder lets a packet with a smaller jittered delay overtake its
	// predecessor; without it a packet never departs before its predecessor.
	Reorder bool
	// Loss is the Bernoulli loss probability, 0..1.
	Loss float64
	// GE, when set, replaces Loss with Gilbert–Elliott burst loss.
	GE *GilbertElliott
	// RateBps is the bottleneck rate in bit/s; 0 is unlimited.
	RateBps int64
	// QueueBytes bounds the bytes waiting for (or in) serialisation when
	// RateBps > 0; 0 means DefaultQueueBytes. QueuePackets, when > 0, also
	// bounds the number of packets. Arrivals over either limit are tail-dropped.
	QueueBytes   int
	QueuePackets int
	// Duplicate and Corrupt are per-packet probabilities, 0..1.
	Duplicate float64
	Corrupt   float64
	// MTU drops frames longer than MTU bytes; 0 is no limit.
	MTU int
}

// GilbertElliott is the two-state burst loss model. Per packet, the loss
// decision is drawn in the current state (LossGood or LossBad), then the
// state moves Good→Bad with probability P or Bad→Good with probability R,
// so a stay in Bad lasts 1/R packets on average.
type GilbertElliott struct {
	P        float64
	R        float64
	LossGood float64
	LossBad  float64
}

// DefaultQueueBytes is the queue limit of a rate-limited direction whose
// profile leaves QueueBytes at 0.
const DefaultQueueBytes = 1 << 20

// Bounds that keep a profile sane; Validate enforces them.
const (
	MaxDelay = time.Hour
	MaxMTU   = 1 << 20
)

// Named profiles. The WAN delays are one way, so wan-broadband has a 40 ms RTT.
var named = map[string]Profile{
	"none":          {},
	"lan-1g":        {RateBps: 1_000_000_000, Delay: 100 * time.Microsecond},
	"lan-10g":       {RateBps: 10_000_000_000, Delay: 50 * time.Microsecond},
	"wan-broadband": {RateBps: 20_000_000, Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.001},
	"wan-slow":      {RateBps: 5_000_000, Delay: 50 * time.Millisecond, Loss: 0.005},
	"wan-3g":        {RateBps: 1_000_000, Delay: 100 * time.Millisecond},
}

// ProfileByName returns a named profile: none, lan-1g, lan-10g,
// wan-broadband, wan-slow, wan-3g.
func ProfileByName(name string) (Profile, error) {
	p, ok := named[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return Profile{}, parseErr("profile", "name", 0, "one of "+strings.Join(ProfileNames(), ", "), fmt.Sprintf("%q", name))
	}
	return p, nil
}

// ProfileNames lists the named profiles, sorted.
func ProfileNames() []string {
	out := make([]string, 0, len(named))
	for k := range named {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Validate reports the first out-of-range field.
func (p Profile) Validate() error {
	prob := func(field string, v float64) error {
		if math.IsNaN(v) || v < 0 || v > 1 {
			return parseErr("profile", field, 0, "probability in 0..1", fmt.Sprint(v))
		}
		return nil
	}
	dur := func(field string, v time.Duration) error {
		if v < 0 || v > MaxDelay {
			return parseErr("profile", field, 0, "duration in 0..1h", v.String())
		}
		return nil
	}
	if err := dur("delay", p.Delay); err != nil {
		return err
	}
	if err := dur("jitter", p.Jitter); err != nil {
		return err
	}
	switch p.JitterDist {
	case "", "uniform", "normal":
	default:
		return parseErr("profile", "jitter_dist", 0, `"uniform" or "normal"`, fmt.Sprintf("%q", p.JitterDist))
	}
	for _, f := range []struct {
		n string
		v float64
	}{{"loss", p.Loss}, {"duplicate", p.Duplicate}, {"corrupt", p.Corrupt}} {
		if err := prob(f.n, f.v); err != nil {
			return err
		}
	}
	if p.GE != nil {
		for _, f := range []struct {
			n string
			v float64
		}{{"ge.p", p.GE.P}, {"ge.r", p.GE.R}, {"ge.loss_good", p.GE.LossGood}, {"ge.loss_bad", p.GE.LossBad}} {
			if err := prob(f.n, f.v); err != nil {
				return err
			}
		}
	}
	if p.RateBps < 0 || p.RateBps > maxRate {
		return parseErr("profile", "rate", 0, "rate in 0..10Tbit", fmt.Sprint(p.RateBps))
	}
	if p.QueueBytes < 0 || p.QueueBytes > maxSize {
		return parseErr("profile", "queue_bytes", 0, "size in 0..1GiB", fmt.Sprint(p.QueueBytes))
	}
	if p.QueuePackets < 0 || p.QueuePackets > maxQueuePackets {
		return parseErr("profile", "queue_packets", 0, fmt.Sprintf("count in 0..%d", maxQueuePackets), fmt.Sprint(p.QueuePackets))
	}
	if p.MTU < 0 || p.MTU > MaxMTU {
		return parseErr("profile", "mtu", 0, fmt.Sprintf("size in 0..%d", MaxMTU), fmt.Sprint(p.MTU))
	}
	return nil
}

// queueBytes is the effective byte limit of the rate stage.
func (p *Profile) queueBytes() int {
	if p.QueueBytes > 0 {
		return p.QueueBytes
	}
	return DefaultQueueBytes
}
