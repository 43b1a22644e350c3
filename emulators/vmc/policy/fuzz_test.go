package policy_test

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

func FuzzDecodeExtendedData(f *testing.F) {
	for _, s := range []string{"AAAAAAAAABk=", "AAAAAQAAABcAAAAF", "", "AAAAAA==", "AAAAAgAAABk=", "AAAAAQAAABgAAAAA", "!!!!",
		"AAAAAAAAABkAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAABkB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := policy.DecodeExtendedData(in)
		if err != nil {
			var we *wireerr.Error
			if !errors.As(err, &we) {
				t.Fatalf("error %v is not a *wireerr.Error", err)
			}
			return
		}
		// A decoded schedule re-encodes to something that decodes the same.
		again, err := policy.DecodeExtendedData(policy.EncodeExtendedData(s))
		if err != nil || again != s {
			t.Fatalf("round trip of %q: %+v → %+v, %v", in, s, again, err)
		}
		if s.Kind == policy.ScheduleInterval && s.Interval <= 0 {
			t.Fatalf("non-positive interval from %q", in)
		}
	})
}

// FuzzPolicy drives the state machine with arbitrary event sequences: it must
// never panic, never ask to be woken in the past, and never report a tunnel
// state that contradicts its actions.
func FuzzPolicy(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17})
	f.Add([]byte{0, 5, 16, 6, 14, 9, 16, 3, 16, 16, 16})
	f.Add([]byte{11, 0, 6, 12, 13, 15, 16, 7, 16})
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) > 512 {
			script = script[:512]
		}
		cfg := policy.DefaultRPS("198.18.0.10", "dev0001", "pw", "corp.example").WithGatewayMPS("198.18.1.1", 4433, "lan.example")
		cfg.MPS = append(cfg.MPS, policy.NewMPS(3, "198.18.0.12", 4433, "dev0001", "pw"))
		cfg.Applies = append(cfg.Applies, policy.AppliesTo{Rule: "Periodic 1", MPS: cfg.MPS[2].Name, OrderOfAccess: 1})
		cfg.Rules = append(cfg.Rules, policy.Rule{Name: "Alert 3", Trigger: policy.TriggerAlert, TunnelLifeTime: 60})
		cfg.Applies = append(cfg.Applies, policy.AppliesTo{Rule: "Alert 3", MPS: cfg.MPS[2].Name})
		p, err := policy.New(cfg, rand.NewPCG(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		names := []string{cfg.MPS[0].Name, cfg.MPS[1].Name, cfg.MPS[2].Name, "gateway gw"}
		target := func() string {
			if m, ok := p.Target(); ok {
				return m.Name
			}
			return names[int(now.Unix())%len(names)]
		}
		hint := policy.GatewayHint{ID: "gw", Addr: netip.MustParseAddrPort("198.18.1.1:4433")}
		for i, b := range script {
			now = now.Add(time.Duration(b%7) * 3 * time.Second)
			var ev policy.Event
			switch b % 18 {
			case 0:
				ev = policy.Start{}
			case 1:
				ev = policy.DHCPDomain{Domain: []string{"lan.example", "corp.example", "elsewhere.example", ""}[i%4]}
			case 2:
				ev = policy.UserRequest{Source: policy.UICSource(i % 2)}
			case 3:
				ev = policy.Alert{}
			case 4, 16:
				if w, ok := p.NextWake(); ok && w.After(now) {
					now = w
				}
				ev = policy.Tick{}
			case 5:
				ev = policy.Connected{MPS: target()}
			case 6:
				ev = policy.ConnectFailed{MPS: target(), Reason: "x"}
			case 7:
				ev = policy.Disconnected{Reason: "x"}
			case 8:
				ev = policy.TunnelClosedByServer{}
			case 9:
				ev = policy.KeepaliveOptions{Interval: time.Duration(b%3) * 10 * time.Second}
			case 10:
				ev = policy.GatewayLearned{Hint: hint}
			case 11:
				ev = policy.ServerSupportsExtension{}
			case 12:
				ev = policy.GatewayConnect{Request: policy.GatewayConnectRequest{Session: "s", Addr: hint.Addr, Token: []byte{1},
					Expiry: now.Add(time.Duration(int(b%5)-2) * 10 * time.Second)}}
			case 13:
				ev = policy.GatewayConnected{Session: "s"}
			case 14:
				ev = policy.GatewayFailed{Session: "s", Reason: "x"}
			case 15:
				ev = policy.DirectPathLost{Reason: "x"}
			case 17:
				ev = policy.DirectPathRestored{}
			}
			acts := p.Handle(now, ev)
			connects := 0
			for _, a := range acts {
				_ = a.String()
				switch a := a.(type) {
				case policy.ScheduleWake:
					if a.At.Before(now) {
						t.Fatalf("step %d: wake at %s before now %s", i, a.At, now)
					}
				case policy.Connect:
					connects++
				}
			}
			if connects > 1 {
				t.Fatalf("step %d: %d Connect actions in one step: %v", i, connects, acts)
			}
			if connects == 1 && p.Tunnel() != policy.TunnelConnecting {
				t.Fatalf("step %d: Connect emitted but tunnel is %s", i, p.Tunnel())
			}
		}
	})
}
