package spec_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/scenarios/spec"
)

const base = `name: t
parties:
  - {name: mps, kind: server}
  - {name: fleet, kind: vmc, count: 3}
  - {name: op, kind: console}
timeline:
  - {do: start, parties: [mps, fleet, op]}
  - {do: wait, for: devices-connected, party: fleet}
`

// loadErr loads data and returns the single error it must produce.
func loadErrs(data string) spec.Errors {
	_, err := spec.Load("t.yaml", []byte(data))
	ExpectWithOffset(1, err).To(HaveOccurred())
	var es spec.Errors
	ExpectWithOffset(1, errors.As(err, &es)).To(BeTrue(), "%T %v", err, err)
	return es
}

func oneErr(data string) *spec.Error {
	es := loadErrs(data)
	ExpectWithOffset(1, es).To(HaveLen(1), es.Error())
	return es[0]
}

var _ = Describe("Load", func() {
	It("loads a scenario with an implicit topology and defaults", func() {
		cs, err := spec.Load("t.yaml", []byte(base))
		Expect(err).NotTo(HaveOccurred())
		Expect(cs).To(HaveLen(1))
		s := cs[0]
		Expect(s.ImplicitTopology).To(BeTrue())
		Expect(s.Topo.Nodes).To(HaveLen(3))
		Expect(s.Parties[1].Servers).To(Equal([]string{"mps"}), "the only server is the default")
		Expect(s.Timeline[1].Line).To(Equal(8))
		Expect(s.Timeline[1].TimeoutOr().String()).To(Equal("30s"))
		Expect(s.CaseName()).To(Equal("t"))
	})

	It("names file, line and field for an unknown field", func() {
		e := oneErr(base + "  - {do: wait, for: device-connected, device: fleet, colour: red}\n")
		Expect(e.Line).To(Equal(9))
		Expect(e.Field).To(Equal("timeline[2].colour"))
		Expect(e.Msg).To(ContainSubstring(`unknown field "colour"`))
		Expect(e.Error()).To(HavePrefix("t.yaml:9: timeline[2].colour: "))
	})

	It("names the line and field of a type error", func() {
		e := oneErr(strings.Replace(base, "count: 3", "count: many", 1))
		Expect(e.Line).To(Equal(4))
		Expect(e.Field).To(HavePrefix("parties[1]"))
		Expect(e.Msg).To(ContainSubstring("many"))
	})

	DescribeTable("YAML syntax errors carry the right line",
		func(doc string, line int) {
			e := oneErr(doc)
			Expect(e.Line).To(Equal(line), e.Error())
		},
		Entry("unclosed flow mapping", "name: t\nparties:\n  - {name: a\ntimeline: []\n", 3),
		Entry("unclosed flow sequence", "name: t\nlabels: [a, b\nparties: []\n", 2),
		Entry("sequence inside a mapping", "name: t\n- x\n", 2),
		Entry("bad indentation", "name: t\nparties: []\n  timeline: []\n", 3),
		Entry("tab", "name: t\n\tparties: []\n", 2),
	)

	It("reports a YAML syntax error with its line", func() {
		e := oneErr(base + "  - {do: sleep, duration: 1s\n")
		Expect(e.Line).To(Equal(9), "where the unclosed flow mapping begins")
		Expect(e.Msg).To(ContainSubstring("did not find expected"))
		Expect(e.Error()).To(HavePrefix("t.yaml:"))
	})

	DescribeTable("semantic errors",
		func(extra, field, msg string) {
			es := loadErrs(base + extra)
			var fields []string
			for _, e := range es {
				fields = append(fields, e.Field)
				if e.Field == field {
					Expect(e.Msg).To(ContainSubstring(msg))
					Expect(e.Line).To(BeNumerically(">", 8))
					return
				}
			}
			Fail("no error for " + field + ": " + es.Error())
		},
		Entry("unknown step kind", "  - {do: dance}\n", "timeline[2].do", `"dance": expected one of`),
		Entry("unknown party", "  - {do: stop, party: ghost}\n", "timeline[2].party", `no party "ghost"`),
		Entry("device index out of range", "  - {do: wait, for: device-connected, device: \"fleet[3]\"}\n", "timeline[2].device", "3 devices"),
		Entry("not a console", "  - {do: kvm, console: mps, device: fleet, duration: 1s}\n", "timeline[2].console", "server party"),
		Entry("kvm without duration", "  - {do: kvm, console: op, device: fleet}\n", "timeline[2].duration", "required"),
		Entry("bad duration", "  - {do: sleep, duration: soon}\n", "timeline[2].duration", `"soon"`),
		Entry("bad timeout", "  - {do: sleep, duration: 1s, timeout: -}\n", "timeline[2].timeout", "duration"),
		Entry("unknown link", "  - {do: cut, link: nowhere}\n", "timeline[2].link", `no link "nowhere"`),
		Entry("bad profile", "  - {do: link, link: mps-lan, profile: \"delay=fast\"}\n", "timeline[2].profile", "delay"),
		Entry("unknown condition", "  - {do: wait, for: godot}\n", "timeline[2].for", `"godot"`),
		Entry("type without a session", "  - {do: type, session: nope, text: hi}\n", "timeline[2].session", "background kvm"),
		Entry("unknown fault", "  - {do: session, console: op, device: fleet, fault: gremlins}\n", "timeline[2].fault", "gremlins"),
		Entry("assertion on an unknown session", "assertions:\n  - {check: path, session: zz, is: classic}\n", "assertions[0].session", `"zz"`),
		Entry("metric without a bound", "assertions:\n  - {check: metric, metric: kvm.fps}\n", "assertions[0]", "bound"),
		Entry("unknown check", "assertions:\n  - {check: vibes}\n", "assertions[0].check", "vibes"),
	)

	It("checks party fields", func() {
		es := loadErrs(`name: t
parties:
  - {name: mps, kind: server, workload: bios}
  - {name: a, kind: vmc, workload: W9, resolution: huge, stock: true, malformed: true, trigger: sometimes}
  - {name: a, kind: process}
  - {name: B, kind: wizard}
timeline:
  - {do: start, party: mps}
`)
		s := es.Error()
		for _, want := range []string{
			"t.yaml:3: parties[0].kind: count, workload",
			`t.yaml:4: parties[1].workload: "W9"`,
			`t.yaml:4: parties[1].resolution: "huge"`,
			`t.yaml:4: parties[1].trigger: "sometimes"`,
			"parties[1].stock: a stock device",
			`parties[2].name: "a" is used by another party`,
			"parties[2].command: required",
			`parties[3].name: "B"`,
			`parties[3].kind: "wizard"`,
		} {
			Expect(s).To(ContainSubstring(want))
		}
	})

	It("expands a matrix into named cases, substituting values", func() {
		cs, err := spec.Load("t.yaml", []byte(base+`  - {do: link, link: op-lan, profile: "${matrix.profile}"}
  - {do: kvm, console: op, device: fleet, duration: 1s, encoding: "${matrix.enc}"}
matrix:
  profile: [lan-1g, wan-slow]
  enc: [zrle16, deflate, raw]
`))
		Expect(err).NotTo(HaveOccurred())
		Expect(cs).To(HaveLen(6))
		Expect(cs[0].CaseName()).To(Equal("t[profile=lan-1g,enc=zrle16]"))
		Expect(cs[5].CaseName()).To(Equal("t[profile=wan-slow,enc=raw]"))
		Expect(cs[4].Timeline[2].Profile).To(Equal("wan-slow"))
		Expect(cs[4].Timeline[3].Encoding).To(Equal("deflate"))
		Expect(cs[4].Params).To(Equal(map[string]string{"profile": "wan-slow", "enc": "deflate"}))
	})

	It("refuses a matrix of more than 10000 cases, also when the product would overflow", func() {
		var m strings.Builder
		m.WriteString("matrix:\n")
		for i := 0; i < 70; i++ { // 2^70 cases: past int64
			fmt.Fprintf(&m, "  a%d: [x, y]\n", i)
		}
		es := loadErrs(base + "  - {do: sleep, duration: 1s}\n" + m.String())
		Expect(es.Error()).To(ContainSubstring("matrix: more than 10000 cases"))
	})

	It("rejects a placeholder without its axis and a bad value per case", func() {
		e := oneErr(base + "  - {do: sleep, duration: \"${matrix.nope}\"}\nmatrix:\n  x: [1]\n")
		Expect(e.Field).To(Equal("timeline[2].duration"))
		Expect(e.Line).To(Equal(9))
		es := loadErrs(base + "  - {do: link, link: op-lan, profile: \"${matrix.p}\"}\nmatrix:\n  p: [lan-1g, bogus]\n")
		Expect(es.Error()).To(ContainSubstring(`timeline[2].profile: "bogus"`))
	})

	It("loads an inline topology and maps its errors to the scenario's lines", func() {
		top := `topology:
  name: x
  nodes:
    - {name: server, role: server}
    - {name: pc, role: client}
  links:
    - {name: l1, a: server, b: pc, profile: wan-slow}
`
		body := `parties:
  - {name: mps, kind: server, node: server}
  - {name: d, kind: vmc, node: pc}
timeline:
  - {do: cut, link: l1}
`
		cs, err := spec.Load("t.yaml", []byte("name: t\n"+top+body))
		Expect(err).NotTo(HaveOccurred())
		Expect(cs[0].Topo.Links).To(HaveLen(1))
		Expect(cs[0].ImplicitTopology).To(BeFalse())
		es := loadErrs("name: t\n" + strings.Replace(top, "role: client", "role: toaster", 1) + body)
		Expect(es[0].Line).To(Equal(6))
		Expect(es[0].Field).To(HavePrefix("topology.nodes[1].role"))
		es = loadErrs("name: t\n" + top + strings.Replace(body, "node: pc", "node: laptop", 1))
		Expect(es.Error()).To(ContainSubstring(`t.yaml:11: parties[1].node: no node "laptop"`))
	})

	It("loads a topology file relative to the scenario and reports a missing one", func() {
		dir := GinkgoT().TempDir()
		_ = dir
		cs, err := spec.Load(filepath.Join("..", "quickstart.yaml"), []byte(`name: t
topology: {file: ../topology/examples/one-site.yaml}
parties:
  - {name: mps, kind: server, node: server}
timeline:
  - {do: cut, link: gw-wan}
`))
		Expect(err).NotTo(HaveOccurred())
		Expect(cs[0].Topo.Name).To(Equal("one-site"))
		e := oneErr(`name: t
topology: {file: nowhere.yaml}
parties: [{name: mps, kind: server}]
timeline: [{do: start, party: mps}]
`)
		Expect(e.Field).To(Equal("topology.file"))
		Expect(e.Line).To(Equal(2))
	})

	It("parses device references", func() {
		p, i, ok := spec.DeviceRef("fleet[12]")
		Expect([]any{p, i, ok}).To(Equal([]any{"fleet", 12, true}))
		p, i, ok = spec.DeviceRef("fleet")
		Expect([]any{p, i, ok}).To(Equal([]any{"fleet", 0, true}))
		_, _, ok = spec.DeviceRef("fleet[x]")
		Expect(ok).To(BeFalse())
	})
})
