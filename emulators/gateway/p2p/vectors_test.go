package p2p_test

import (
	"encoding/hex"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/gateway/p2p"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// The examples of docs/protocols/console-gateway.md §4.
var _ = Describe("Documented vectors", func() {
	sid := gwext.SessionID{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}

	It("preamble", func() {
		Expect(hex.EncodeToString(p2p.EncodePreamble(sid))).To(Equal("4f4f424b0100" + "00112233445566778899aabbccddeeff"))
	})

	It("prologue", func() {
		pro, err := p2p.Prologue(p2p.Params{Session: sid, GatewayID: "gw-1a2b3c4d",
			DeviceUUID: "12345678-9ABC-def0-1122-334455667788", ConsoleID: "console-a"})
		Expect(err).NotTo(HaveOccurred())
		Expect(hex.EncodeToString(pro)).To(Equal("6f6f6274622d7032702f31" +
			"0010" + "00112233445566778899aabbccddeeff" +
			"000b" + "67772d3161326233633464" +
			"0010" + "123456789abcdef01122334455667788" +
			"0009" + "636f6e736f6c652d61"))
	})
})
