package linkemu_test

import (
	"encoding/json"
	"errors"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"gopkg.in/yaml.v3"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
	"github.com/oobtb/oobtb/topology/linkemu"
)

var _ = Describe("textual profile values", func() {
	DescribeTable("ParseRate",
		func(in string, want int64) {
			Expect(linkemu.ParseRate(in)).To(Equal(want))
		},
		Entry(nil, "20Mbit", int64(20_000_000)),
		Entry(nil, "20mbit", int64(20_000_000)),
		Entry(nil, "20Mbps", int64(20_000_000)),
		Entry(nil, "1.5Gbit/s", int64(1_500_000_000)),
		Entry(nil, "100kbit", int64(100_000)),
		Entry(nil, "512000", int64(512_000)),
		Entry(nil, "512000bit", int64(512_000)),
		Entry(nil, " 1 Gbit ", int64(1_000_000_000)),
		Entry(nil, "10Tbit", int64(10_000_000_000_000)),
		Entry(nil, "0", int64(0)),
		Entry(nil, "unlimited", int64(0)),
		Entry(nil, "", int64(0)),
	)
	DescribeTable("ParseRate rejects",
		func(in, field string) {
			_, err := linkemu.ParseRate(in)
			var we *wireerr.Error
			Expect(errors.As(err, &we)).To(BeTrue())
			Expect(we.Field).To(Equal(field))
			Expect(err.Error()).To(ContainSubstring("expected"))
		},
		Entry(nil, "20MB/s", "unit"),
		Entry(nil, "20MBps", "unit"),
		Entry(nil, "20 furlongs", "unit"),
		Entry(nil, "-5Mbit", "number"),
		Entry(nil, "inf", "number"),
		Entry(nil, "NaN", "number"),
		Entry(nil, "0x10", "unit"),
		Entry(nil, "11Tbit", "value"),
		Entry(nil, "1e300bit", "value"),
	)
	DescribeTable("ParsePercent",
		func(in string, want float64) {
			Expect(linkemu.ParsePercent(in)).To(Equal(want))
		},
		Entry(nil, "0.1%", 0.001),
		Entry(nil, "0.001", 0.001),
		Entry(nil, "100%", 1.0),
		Entry(nil, "0", 0.0),
		Entry(nil, "12.5 %", 0.125),
		Entry(nil, "1e-1%", 0.001),
	)
	DescribeTable("ParsePercent rejects",
		func(in string) {
			_, err := linkemu.ParsePercent(in)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring("probability"))
		},
		Entry(nil, "101%"), Entry(nil, "1.5"), Entry(nil, "-1%"), Entry(nil, "nan"), Entry(nil, "5 percent"), Entry(nil, ""),
	)
	It("round-trips rates, percentages and sizes through their formatters", func() {
		for _, r := range []int64{1, 999, 1000, 20_000_000, 1_500_000_000, 123_456_789} {
			Expect(linkemu.ParseRate(linkemu.FormatRate(r))).To(Equal(r))
		}
		for _, p := range []float64{0.001, 0.005, 1e-9, 0.3333333333333333, 1, 0.1, 5e-324} {
			Expect(linkemu.ParsePercent(linkemu.FormatPercent(p))).To(Equal(p), linkemu.FormatPercent(p))
		}
		Expect(linkemu.FormatPercent(0.001)).To(Equal("0.1%"))
		for _, n := range []int{1, 1500, 1024, 1 << 20, 3 << 30 >> 2} {
			Expect(linkemu.ParseSize(linkemu.FormatSize(n))).To(Equal(n))
		}
		Expect(linkemu.ParseSize("1MiB")).To(Equal(1 << 20))
		Expect(linkemu.ParseSize("2MB")).To(Equal(2_000_000))
		_, err := linkemu.ParseSize("2GiB")
		Expect(err).To(HaveOccurred())
	})
	It("bounds durations", func() {
		Expect(linkemu.ParseDuration("20ms")).To(Equal(20 * time.Millisecond))
		Expect(linkemu.ParseDuration("0")).To(Equal(time.Duration(0)))
		for _, bad := range []string{"-1ms", "20", "2h", "soon"} {
			_, err := linkemu.ParseDuration(bad)
			Expect(err).To(HaveOccurred(), bad)
		}
	})
})

var _ = Describe("profiles", func() {
	It("has the named profiles of the plan", func() {
		p, err := linkemu.ProfileByName("wan-broadband")
		Expect(err).NotTo(HaveOccurred())
		Expect(p).To(Equal(linkemu.Profile{RateBps: 20_000_000, Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.001}))
		p, _ = linkemu.ProfileByName("lan-1g")
		Expect(p).To(Equal(linkemu.Profile{RateBps: 1_000_000_000, Delay: 100 * time.Microsecond}))
		p, _ = linkemu.ProfileByName("wan-slow")
		Expect(p).To(Equal(linkemu.Profile{RateBps: 5_000_000, Delay: 50 * time.Millisecond, Loss: 0.005}))
		p, _ = linkemu.ProfileByName("wan-3g")
		Expect(p).To(Equal(linkemu.Profile{RateBps: 1_000_000, Delay: 100 * time.Millisecond}))
		_, err = linkemu.ProfileByName("wan-5g")
		Expect(err).To(MatchError(ContainSubstring("wan-broadband")))
	})

	It("parses the compact form with a base and overrides", func() {
		p, err := linkemu.ParseProfile("wan-broadband,loss=1%,ge.p=2%,ge.r=25%")
		Expect(err).NotTo(HaveOccurred())
		Expect(p.RateBps).To(Equal(int64(20_000_000)))
		Expect(p.Loss).To(Equal(0.01))
		Expect(p.GE).To(Equal(&linkemu.GilbertElliott{P: 0.02, R: 0.25, LossBad: 1}))
		p, err = linkemu.ParseProfile("delay=20ms jitter=5ms jitter_dist=normal reorder=true rate=20Mbit queue_bytes=64KiB queue_packets=50 duplicate=0.5% corrupt=0.01% mtu=1500")
		Expect(err).NotTo(HaveOccurred())
		Expect(p).To(Equal(linkemu.Profile{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, JitterDist: "normal", Reorder: true,
			RateBps: 20_000_000, QueueBytes: 64 << 10, QueuePackets: 50, Duplicate: 0.005, Corrupt: 0.0001, MTU: 1500}))
		Expect(linkemu.ParseProfile(p.String())).To(Equal(p))
		// A base applies first wherever it is written.
		p, err = linkemu.ParseProfile("loss=2%,base=wan-slow")
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Loss).To(Equal(0.02))
		Expect(p.RateBps).To(Equal(int64(5_000_000)))
	})

	It("reports where the compact form is wrong", func() {
		_, err := linkemu.ParseProfile("delay=20ms,rate=20MB/s")
		var we *wireerr.Error
		Expect(errors.As(err, &we)).To(BeTrue())
		Expect(we.Field).To(Equal("rate"))
		Expect(we.Offset).To(Equal(18)) // the unit, after "20" at offset 16
		_, err = linkemu.ParseProfile("delay=20ms,wan-3g")
		Expect(err).To(MatchError(ContainSubstring("key=value")))
		_, err = linkemu.ParseProfile("latency=20ms")
		Expect(err).To(MatchError(ContainSubstring("one of base, delay")))
	})

	It("reads and writes YAML", func() {
		var doc struct {
			Links map[string]linkemu.Profile `yaml:"links"`
		}
		src := `
links:
  a:
    base: wan-broadband
    loss: 1%
    ge: {p: 1%, r: 30%, loss_bad: 0.9}
    queue_packets: 100
    reorder: true
    mtu: 1400
  b: wan-3g
  c: "delay=5ms,rate=1Gbit"
`
		Expect(yaml.Unmarshal([]byte(src), &doc)).To(Succeed())
		a := doc.Links["a"]
		Expect(a.Delay).To(Equal(20 * time.Millisecond))
		Expect(a.Loss).To(Equal(0.01))
		Expect(a.GE).To(Equal(&linkemu.GilbertElliott{P: 0.01, R: 0.3, LossBad: 0.9}))
		Expect(a.QueuePackets).To(Equal(100))
		Expect(a.MTU).To(Equal(1400))
		Expect(doc.Links["b"].RateBps).To(Equal(int64(1_000_000)))
		Expect(doc.Links["c"].RateBps).To(Equal(int64(1_000_000_000)))

		out, err := yaml.Marshal(a)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(ContainSubstring("rate: 20Mbit"))
		var back linkemu.Profile
		Expect(yaml.Unmarshal(out, &back)).To(Succeed())
		Expect(back).To(Equal(a))

		err = yaml.Unmarshal([]byte("links:\n  a:\n    loss: 5 percent\n"), &doc)
		Expect(err).To(MatchError(And(ContainSubstring("loss"), ContainSubstring("line 3"))))
	})

	It("reads and writes JSON", func() {
		var p linkemu.Profile
		Expect(json.Unmarshal([]byte(`{"delay":"20ms","loss":0.001,"rate":"20Mbit","reorder":true,"mtu":1500,"ge":{"p":"1%","r":"30%"}}`), &p)).To(Succeed())
		Expect(p.Delay).To(Equal(20 * time.Millisecond))
		Expect(p.Loss).To(Equal(0.001))
		Expect(p.MTU).To(Equal(1500))
		Expect(p.GE).To(Equal(&linkemu.GilbertElliott{P: 0.01, R: 0.3, LossBad: 1}))
		out, err := json.Marshal(p)
		Expect(err).NotTo(HaveOccurred())
		var back linkemu.Profile
		Expect(json.Unmarshal(out, &back)).To(Succeed())
		Expect(back).To(Equal(p))
		Expect(json.Unmarshal([]byte(`"wan-slow"`), &back)).To(Succeed())
		Expect(back.RateBps).To(Equal(int64(5_000_000)))
		Expect(json.Unmarshal([]byte(`{"delay":[1]}`), &back)).To(MatchError(ContainSubstring("delay")))
	})

	It("validates ranges", func() {
		Expect(linkemu.Profile{Loss: 2}.Validate()).To(MatchError(ContainSubstring("loss")))
		Expect(linkemu.Profile{JitterDist: "pareto"}.Validate()).To(MatchError(ContainSubstring("jitter_dist")))
		Expect(linkemu.Profile{Delay: -1}.Validate()).To(HaveOccurred())
		Expect(linkemu.Profile{MTU: 1500, RateBps: 1}.Validate()).To(Succeed())
	})
})
