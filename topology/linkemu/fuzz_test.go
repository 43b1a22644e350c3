package linkemu_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/oobtb/oobtb/topology/linkemu"
)

// The textual forms come from topology and scenario files; the fuzzers check
// that no input panics, that accepted values are in range, and that the
// canonical formatting reads back to the same value.

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"20Mbit", "1.5Gbit/s", "100kbps", "512000", "0", "unlimited", "20MB/s", "-1", "1e3kbit", "9e99Tbit", "inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := linkemu.ParseRate(s)
		if err != nil {
			return
		}
		if r < 0 || r > 10_000_000_000_000 {
			t.Fatalf("ParseRate(%q) = %d out of range", s, r)
		}
		back, err := linkemu.ParseRate(linkemu.FormatRate(r))
		if err != nil || back != r {
			t.Fatalf("round trip of %d via %q: %d, %v", r, linkemu.FormatRate(r), back, err)
		}
	})
}

func FuzzParsePercent(f *testing.F) {
	for _, s := range []string{"0.1%", "0.001", "100%", "1e-3%", "12.5 %", "101%", "nan", "-0", ".5", "5."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := linkemu.ParsePercent(s)
		if err != nil {
			return
		}
		if !(p >= 0 && p <= 1) {
			t.Fatalf("ParsePercent(%q) = %v out of range", s, p)
		}
		back, err := linkemu.ParsePercent(linkemu.FormatPercent(p))
		if err != nil || back != p {
			t.Fatalf("round trip of %v via %q: %v, %v", p, linkemu.FormatPercent(p), back, err)
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1500", "64KiB", "1MiB", "2MB", "1GiB", "2GiB", "1.5k", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := linkemu.ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 || n > 1<<30 {
			t.Fatalf("ParseSize(%q) = %d out of range", s, n)
		}
		back, err := linkemu.ParseSize(linkemu.FormatSize(n))
		if err != nil || back != n {
			t.Fatalf("round trip of %d: %d, %v", n, back, err)
		}
	})
}

func FuzzParseProfile(f *testing.F) {
	for _, s := range []string{"wan-broadband", "wan-3g,loss=1%", "delay=20ms jitter=5ms jitter_dist=normal reorder=true",
		"rate=20Mbit,queue_bytes=64KiB,queue_packets=10,mtu=1500", "ge.p=1%,ge.r=25%,ge.loss_good=0,ge.loss_bad=100%",
		"duplicate=1%,corrupt=0.1%", "delay=,", "==,", "base=none"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := linkemu.ParseProfile(s)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("ParseProfile(%q) accepted an invalid profile: %v", s, err)
		}
		back, err := linkemu.ParseProfile(p.String())
		if err != nil || !reflect.DeepEqual(back, p) {
			t.Fatalf("round trip of %q via %q: %+v, %v", s, p.String(), back, err)
		}
	})
}

func FuzzProfileYAML(f *testing.F) {
	for _, s := range []string{"base: wan-broadband\nloss: 1%\n", "ge: {p: 1%, r: 30%}\nrate: 1Gbit\n", "wan-3g", "delay: [1]", "{a: {b: c}}", "mtu: 99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var p linkemu.Profile
		if err := yaml.Unmarshal([]byte(s), &p); err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("YAML %q accepted an invalid profile: %v", s, err)
		}
		out, err := yaml.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back linkemu.Profile
		if err := yaml.Unmarshal(out, &back); err != nil || !reflect.DeepEqual(back, p) {
			t.Fatalf("round trip via %q: %+v, %v", out, back, err)
		}
	})
}

func FuzzProfileJSON(f *testing.F) {
	for _, s := range []string{`{"delay":"20ms","loss":0.001}`, `"wan-slow"`, `{"ge":{"p":"1%"}}`, `{"rate":true}`, `[]`, `{"mtu":1e3}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var p linkemu.Profile
		if err := json.Unmarshal([]byte(s), &p); err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("JSON %q accepted an invalid profile: %v", s, err)
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back linkemu.Profile
		if err := json.Unmarshal(out, &back); err != nil || !reflect.DeepEqual(back, p) {
			t.Fatalf("round trip via %s: %+v, %v", out, back, err)
		}
	})
}
