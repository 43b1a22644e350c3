package policy_test

import (
	"math/rand/v2"
	"net/netip"
	"time"

	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/backoff"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// rig drives one policy with explicit times.
type rig struct {
	p    *policy.Policy
	log  []policy.Action
	wake time.Time
}

func newRig(cfg policy.Config, seed uint64) *rig {
	p, err := policy.New(cfg, rand.NewPCG(seed, 0))
	Expect(err).NotTo(HaveOccurred())
	return &rig{p: p}
}

func (r *rig) do(now time.Time, ev policy.Event) []policy.Action {
	acts := r.p.Handle(now, ev)
	for _, a := range acts {
		if w, ok := a.(policy.ScheduleWake); ok {
			r.wake = w.At
		}
	}
	r.log = append(r.log, acts...)
	return acts
}

// until delivers Ticks at every announced wake up to and including end.
func (r *rig) until(end time.Time) []policy.Action {
	var all []policy.Action
	for {
		w, ok := r.p.NextWake()
		if !ok || w.After(end) {
			return all
		}
		all = append(all, r.do(w, policy.Tick{})...)
	}
}

func only[T policy.Action](acts []policy.Action) []T {
	var out []T
	for _, a := range acts {
		if t, ok := a.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

func one[T policy.Action](acts []policy.Action) T {
	got := only[T](acts)
	ExpectWithOffset(1, got).To(HaveLen(1), "actions: %v", acts)
	return got[0]
}

func none[T policy.Action](acts []policy.Action) {
	ExpectWithOffset(1, only[T](acts)).To(BeEmpty(), "actions: %v", acts)
}

func mps(n int, host string) policy.MPS { return policy.NewMPS(n, host, 4433, "dev0001", "P@ssw0rd") }

// twoMPSConfig: periodic (25 s, lifetime 0) on A primary / B backup; user
// (lifetime 300) on C; alert (lifetime 600) on A. All external. Fixed
// back-off without jitter unless a test changes it.
func twoMPSConfig() policy.Config {
	a, b, c := mps(1, "198.18.0.10"), mps(2, "198.18.0.11"), mps(3, "mps-c.example.net")
	return policy.Config{
		MPS: []policy.MPS{a, b, c},
		Rules: []policy.Rule{
			{Name: "Periodic 1", Trigger: policy.TriggerPeriodic, ExtendedData: "AAAAAAAAABk="},
			{Name: "User Initiated 2", Trigger: policy.TriggerUser, TunnelLifeTime: 300},
			{Name: "Alert 3", Trigger: policy.TriggerAlert, TunnelLifeTime: 600},
		},
		Applies: []policy.AppliesTo{
			{Rule: "Periodic 1", MPS: a.Name, OrderOfAccess: 0},
			{Rule: "Periodic 1", MPS: b.Name, OrderOfAccess: 1},
			{Rule: "User Initiated 2", MPS: c.Name},
			{Rule: "Alert 3", MPS: a.Name},
		},
		Environment:     policy.EnvironmentDetection{DetectionStrings: []string{"corp.example"}},
		UIC:             policy.UICBoth,
		Backoff:         backoff.Config{Initial: 2 * time.Second, Max: 60 * time.Second, Multiplier: 2},
		FailoverCapable: true,
	}
}

var gwHint = policy.GatewayHint{
	ID:   "gw-7f3a",
	Addr: netip.MustParseAddrPort("198.18.1.1:4433"),
	Identifiers: []policy.Identifier{
		{Kind: policy.IDIPv4, Value: "198.18.1.1"}, {Kind: policy.IDPort, Value: "4433"},
		{Kind: policy.IDMAC, Value: "02:00:00:00:00:01"}, {Kind: policy.IDDomain, Value: "lan.corp.example"},
	},
	PublicKey: [32]byte{1, 2, 3},
}
