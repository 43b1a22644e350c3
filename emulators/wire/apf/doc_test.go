package apf_test

import (
	"os"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Every example line of docs/protocols/apf.md §3 must be one of the golden
// vectors, so the spec page cannot drift from the tested bytes.
var _ = Describe("docs/protocols/apf.md", func() {
	It("shows only golden vectors in its examples", func() {
		doc, err := os.ReadFile("../../../docs/protocols/apf.md")
		Expect(err).NotTo(HaveOccurred())
		_, rest, ok := strings.Cut(string(doc), "### Examples")
		Expect(ok).To(BeTrue())
		_, block, _ := strings.Cut(rest, "```\n")
		block, _, _ = strings.Cut(block, "```")
		known := map[string]bool{}
		for _, v := range vectors {
			known[string(wire(v.hex))] = true
		}
		zeros := regexp.MustCompile(`00…\((\d+)\)`)
		lines := strings.Split(strings.TrimSpace(block), "\n")
		Expect(len(lines)).To(BeNumerically(">=", 10))
		for _, line := range lines {
			// "NAME (len)  hex…": the hex starts after two spaces.
			i := strings.Index(line, "  ")
			Expect(i).To(BeNumerically(">", 0), line)
			b := wire(zeros.ReplaceAllString(strings.TrimSpace(line[i:]), "zeros($1)"))
			Expect(known[string(b)]).To(BeTrue(), "doc example is not a golden vector: %s", line)
		}
	})
})
