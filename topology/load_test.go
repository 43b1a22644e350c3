package topology_test

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/topology"
	"github.com/oobtb/oobtb/topology/schema"
)

func examples() []string {
	files, err := filepath.Glob("examples/*.yaml")
	Expect(err).NotTo(HaveOccurred())
	Expect(files).To(HaveLen(3))
	return files
}

func node(r *topology.Resolved, name string) topology.ResolvedNode {
	for _, n := range r.Nodes {
		if n.Name == name {
			return n
		}
	}
	Fail("no node " + name)
	return topology.ResolvedNode{}
}

var _ = Describe("Load", func() {
	It("loads and resolves every shipped example", func() {
		for _, f := range examples() {
			t, err := topology.LoadFile(f)
			Expect(err).NotTo(HaveOccurred(), f)
			r := t.Resolved()
			seen := map[netip.Addr]bool{}
			for _, n := range r.Nodes {
				for _, i := range n.Ifaces {
					Expect(topology.AddressSpace.Contains(i.Prefix.Addr())).To(BeTrue(), "%s %s", f, i.Prefix)
					Expect(seen[i.Prefix.Addr()]).To(BeFalse(), "%s: %s used twice", f, i.Prefix)
					seen[i.Prefix.Addr()] = true
				}
			}
		}
	})

	It("validates every example against the JSON Schema", func() {
		c := jsonschema.NewCompiler()
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.JSON))
		Expect(err).NotTo(HaveOccurred())
		Expect(c.AddResource("topology.schema.json", doc)).To(Succeed())
		sch, err := c.Compile("topology.schema.json")
		Expect(err).NotTo(HaveOccurred())
		toJSON := func(data []byte) any {
			var v any
			Expect(yaml.Unmarshal(data, &v)).To(Succeed())
			j, err := json.Marshal(v)
			Expect(err).NotTo(HaveOccurred())
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
			Expect(err).NotTo(HaveOccurred())
			return inst
		}
		for _, f := range examples() {
			data, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			Expect(sch.Validate(toJSON(data))).To(Succeed(), f)
		}
		// The schema must be able to fail.
		Expect(sch.Validate(toJSON([]byte("nodes: [{name: x, role: wizard}]")))).NotTo(Succeed())
		Expect(sch.Validate(toJSON([]byte("nodes: [{name: x, role: host}]\nlinks: [{name: l, a: x, b: y, subnet: 10.0.0.0/8}]")))).NotTo(Succeed())
	})

	It("refuses a FIFO or a directory at once instead of waiting on it", func() {
		fifo := filepath.Join(GinkgoT().TempDir(), "topo.yaml")
		Expect(syscall.Mkfifo(fifo, 0o600)).To(Succeed())
		done := make(chan error, 1)
		go func() { _, err := topology.LoadFile(fifo); done <- err }()
		Eventually(done, 5*time.Second).Should(Receive(MatchError(ContainSubstring("not a regular file"))))
		_, err := topology.LoadFile(GinkgoT().TempDir())
		Expect(err).To(MatchError(ContainSubstring("not a regular file")))
	})

	It("assigns addresses, interfaces and routes in one-site", func() {
		t, err := topology.LoadFile("examples/one-site.yaml")
		Expect(err).NotTo(HaveOccurred())
		r := t.Resolved()
		gw := node(r, "gw")
		Expect(gw.Ifaces).To(HaveLen(2))
		var lan0 topology.Iface
		for _, i := range gw.Ifaces {
			if i.Name == "lan0" {
				lan0 = i
			}
		}
		Expect(lan0.Prefix.String()).To(Equal("198.18.100.1/24"), "the gateway takes the first LAN address")
		dev := node(r, "dev2")
		Expect(dev.Ifaces).To(HaveLen(1))
		Expect(dev.Ifaces[0].Name).To(Equal("eth0"))
		Expect(dev.ResolvedRoutes).To(ConsistOf(topology.ResolvedRoute{Dst: netip.MustParsePrefix("0.0.0.0/0"), Via: lan0.Prefix.Addr()}))
		Expect(node(r, "server").ResolvedRoutes).To(BeEmpty(), "WAN nodes never route through a gateway's inside")
		Expect(node(r, "gw").ResolvedRoutes).To(BeEmpty())
	})

	It("routes gateways to the ISP router in two-sites", func() {
		t, err := topology.LoadFile("examples/two-sites.yaml")
		Expect(err).NotTo(HaveOccurred())
		r := t.Resolved()
		Expect(node(r, "gw-a").ResolvedRoutes).To(HaveLen(1))
		Expect(node(r, "server").ResolvedRoutes).To(HaveLen(1))
		Expect(node(r, "isp").ResolvedRoutes).To(BeEmpty())
		Expect(node(r, "gw-b").NAT.Mapping).To(Equal(topology.MappingSymmetric))
	})

	DescribeTable("rejects malformed files with file, line and field",
		func(src, want string) {
			_, err := topology.Load("bad.yaml", []byte(src))
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("unknown node in a link", `nodes:
  - {name: a, role: host}
links:
  - {name: l0, a: a, b: gw}
`, `bad.yaml:4: links[0].b: unknown node "gw"`),
		Entry("unknown role", `nodes:
  - name: a
    role: wizard
`, `bad.yaml:3: nodes[0].role: unknown role "wizard"`),
		Entry("address outside 198.18.0.0/15", `nodes:
  - {name: a, role: host}
  - {name: b, role: host}
links:
  - name: l0
    a: {node: a, address: 10.0.0.1/24}
    b: b
`, `bad.yaml:6: links[0].a: address 10.0.0.1 is outside 198.18.0.0/15`),
		Entry("loopback address", `nodes:
  - {name: a, role: host}
  - {name: b, role: host}
links:
  - {name: l0, a: {node: a, address: 127.0.0.2/8}, b: b}
`, `links[0].a: address 127.0.0.2 is outside`),
		Entry("unknown field", `nodes:
  - {name: a, role: host, colour: red}
`, `bad.yaml:2: nodes[0].colour: field colour not found`),
		Entry("duplicate names", `nodes:
  - {name: a, role: host}
segments:
  - {name: a}
`, `bad.yaml:4: segments[0].name: name "a" already used by a node`),
		Entry("NAT on a plain host", `nodes:
  - name: a
    role: host
    nat: {outside: eth0}
`, `bad.yaml:4: nodes[0].nat: NAT needs a forwarding node`),
		Entry("NAT outside interface missing", `nodes:
  - name: a
    role: gateway
    nat: {outside: wan9}
`, `bad.yaml:4: nodes[0].nat.outside: node "a" has no interface "wan9"`),
		Entry("unknown profile", `nodes:
  - {name: a, role: host}
  - {name: b, role: host}
links:
  - name: l0
    a: a
    b: b
    profile: wan-carrier-pigeon
`, `bad.yaml:8: links[0].profile: `),
		Entry("unknown impairment field", `nodes:
  - {name: a, role: host}
  - {name: b, role: host}
links:
  - name: l0
    a: a
    b: b
    a_to_b: {delay: 20ms, colour: red}
`, `bad.yaml:8: links[0].a_to_b.colour: `),
		Entry("bad impairment value", `nodes:
  - {name: a, role: host}
  - {name: b, role: host}
links:
  - name: l0
    a: a
    b: b
    b_to_a:
      delay: soon
`, `bad.yaml:9: links[0].b_to_a.delay: `),
		Entry("profile MTU on an offloading link", `nodes:
  - {name: a, role: host}
  - {name: b, role: host}
links:
  - name: l0
    a: a
    b: b
    offload: true
    a_to_b: {mtu: 1500}
`, `bad.yaml:9: links[0].a_to_b: a profile mtu would drop every offloaded super-frame`),
		Entry("overlapping subnets", `nodes:
  - {name: a, role: host}
segments:
  - {name: s1, subnet: 198.18.0.0/16}
  - {name: s2, subnet: 198.18.5.0/24}
`, `bad.yaml:5: segments[1].subnet: 198.18.5.0/24 overlaps 198.18.0.0/16`),
		Entry("route via a stranger", `nodes:
  - name: a
    role: host
    routes: [{to: default, via: b}]
  - {name: b, role: router}
`, `bad.yaml:4: nodes[0].routes[0].via: node "b" shares no subnet with "a"`),
		Entry("a link to itself", `nodes:
  - {name: a, role: host}
links:
  - {name: l0, a: a, b: a}
`, `links[0].b: a link cannot join "a" to itself`),
		Entry("syntax error", "nodes: [\n", `bad.yaml:`),
		Entry("empty file", "", `bad.yaml: empty topology`),
		Entry("full subnet", `nodes:
  - {name: a, role: host}
  - {name: b, role: host}
  - {name: c, role: host}
  - {name: d, role: host}
segments:
  - {name: s, subnet: 198.18.0.0/30}
links:
  - {name: l0, a: a, b: s}
  - {name: l1, a: b, b: s}
  - {name: l2, a: c, b: s}
`, `bad.yaml:11: links[2].a: subnet 198.18.0.0/30 is full`),
	)
})
