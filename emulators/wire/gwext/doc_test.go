package gwext_test

import (
	"os"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The spec page's examples are checked against the same hand-written
// vectors, so the page a vendor implements from cannot drift from the code.
var _ = Describe("docs/protocols/gateway-extension.md", func() {
	doc, err := os.ReadFile("../../../docs/protocols/gateway-extension.md")
	fromDoc := func(s string) []byte {
		return wire(regexp.MustCompile(`00…\((\d+)\)`).ReplaceAllString(s, "zeros($1)"))
	}
	DescribeTable("shows the golden vectors", func(snippet, vector string) {
		Expect(err).NotTo(HaveOccurred())
		Expect(string(doc)).To(ContainSubstring(snippet))
		Expect(fromDoc(snippet)).To(Equal(wire(vector)))
	},
		Entry("device block", `6f6f6274 01 01 0c | 40 02 000f | 09 06 c6120101 1151 | 00…(45)`, hexDeviceBlock),
		Entry("device PROTOCOL_VERSION", "c0 00000001 00000000 00000001 78563412 bc9af0de 11223344 55667788\n6f6f6274 01 01 0c 4002000f 0906c61201011151 00…(45)", hexDeviceVersion),
		Entry("server block", `6f6f6274 01 02 04 | 40 02 000b | 00…(53)`, hexServerBlock),
		Entry("hash block", `6f6f6274 01 01 0e | 40 02 0007 | 0b 08 7c881473698438d9 | 00…(43)`, hexHashBlock),
		Entry("gateway-info", `01 | 01 04 c6120101 | 02 10 20010db8000000000000000000000001 | 03 02 1151 | 04 06 02005e100001
   | 05 0e "lan.oobtb.test" | 06 07 "GW-0001" | 07 20 "https://gw1.lan.oobtb.test:8443/"
   | 08 20 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f`, hexGatewayInfo),
	)

	It("shows the gateway-connect vector", func() {
		Expect(err).NotTo(HaveOccurred())
		snippet := `01 | 09 06 c6120101 1151 | 06 07 "GW-0001" | 08 20 <key>
   | 41 10 00112233445566778899aabbccddeeff | 42 08 000000006b49d200
   | 43 10 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf`
		Expect(string(doc)).To(ContainSubstring(snippet))
		Expect(fromDoc(strings.Replace(snippet, "<key>", hexKey, 1))).To(Equal(wire(hexGatewayConnect)))
	})
})
