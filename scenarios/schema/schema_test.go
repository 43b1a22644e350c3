package schema_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/oobtb/oobtb/scenarios/schema"
	"github.com/oobtb/oobtb/scenarios/spec"
	topschema "github.com/oobtb/oobtb/topology/schema"
)

func compile() *jsonschema.Schema {
	c := jsonschema.NewCompiler()
	for name, data := range map[string][]byte{
		"https://oobtb.invalid/schema/scenario.schema.json": schema.JSON,
		"https://oobtb.invalid/schema/topology.schema.json": topschema.JSON,
	} {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		Expect(err).NotTo(HaveOccurred(), name)
		Expect(c.AddResource(name, doc)).To(Succeed())
	}
	sch, err := c.Compile("https://oobtb.invalid/schema/scenario.schema.json")
	Expect(err).NotTo(HaveOccurred())
	return sch
}

func toJSON(data []byte) any {
	var v any
	Expect(yaml.Unmarshal(data, &v)).To(Succeed())
	j, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	Expect(err).NotTo(HaveOccurred())
	return inst
}

func catalogue() []string {
	fs, err := filepath.Glob("../*.yaml")
	Expect(err).NotTo(HaveOccurred())
	Expect(len(fs)).To(BeNumerically(">=", 10))
	return fs
}

var _ = Describe("scenario.schema.json", func() {
	It("accepts every catalogue file, each of which also loads", func() {
		sch := compile()
		for _, f := range catalogue() {
			data, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			cases, err := spec.LoadFile(f)
			Expect(err).NotTo(HaveOccurred(), f)
			// The topology schema knows no ${matrix.x} placeholders, so each
			// matrix point is validated with its values in place.
			for _, c := range cases {
				text := string(data)
				for k, v := range c.Params {
					text = strings.ReplaceAll(text, "${matrix."+k+"}", v)
				}
				Expect(sch.Validate(toJSON([]byte(text)))).To(Succeed(), c.CaseName())
			}
		}
	})

	It("can fail", func() {
		sch := compile()
		for _, bad := range []string{
			"name: x\nparties: [{name: a, kind: server}]\ntimeline: [{do: dance}]",
			"name: x\nparties: [{name: a, kind: wizard}]\ntimeline: [{do: start, party: a}]",
			"name: x\nparties: [{name: a, kind: server, count: 2}]\ntimeline: [{do: start, party: a}]",
			"name: x\nparties: [{name: a, kind: server}]\ntimeline: [{do: kvm, console: c, device: d}]",
			"name: x\nparties: [{name: a, kind: server}]\ntimeline: [{do: sleep, duration: soon}]",
			"name: x\nparties: [{name: a, kind: server}]\ntimeline: [{do: start, party: a}]\nassertions: [{check: metric, metric: m}]",
			"name: x\nparties: [{name: a, kind: server}]\ntimeline: [{do: start, party: a}]\ntopology: {nodes: [{name: n, role: toaster}]}",
			"name: x\nparties: [{name: a, kind: server}]\ntimeline: [{do: start, party: a}]\ncolour: red",
		} {
			Expect(sch.Validate(toJSON([]byte(bad)))).NotTo(Succeed(), bad)
		}
	})
})
