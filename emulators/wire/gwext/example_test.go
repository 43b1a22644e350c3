package gwext_test

import (
	"fmt"
	"net/netip"

	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// The negotiation: the device advertises, the server answers only a device
// that advertised, and each side computes what both may use.
func Example_negotiation() {
	gwID, _ := gwext.Endpoint(netip.MustParseAddrPort("198.18.1.1:4433"))
	dev, _ := gwext.DeviceVersion(apf.MustParseGUID("12345678-9abc-def0-1122-334455667788"), apf.TriggerUserInitiated,
		gwext.Block{Capability: gwext.CapPairing | gwext.CapGatewayConnect | gwext.CapGatewayInfo, Gateways: []gwext.Identifier{gwID}})

	// Server side.
	blk, presence, _ := gwext.DecodeReserved(dev.Reserved)
	fmt.Println("server sees:", presence, blk.Capability, blk.Gateways[0])
	answer, _ := gwext.Answer(dev, gwext.RoleServer, gwext.CapPairing|gwext.CapGatewayConnect|gwext.CapGatewayInfo|gwext.CapFailover)

	// Device side.
	caps, ok, _ := gwext.ServerSupport(answer)
	fmt.Println("device may use:", ok, gwext.Negotiate(blk.Capability, caps))

	// A stock device gets no answer at all.
	stock, _ := gwext.Answer(&apf.ProtocolVersion{Major: 1}, gwext.RoleServer, gwext.CapPairing)
	fmt.Println("answer to stock AMT:", stock)
	// Output:
	// server sees: present pairing|gateway-connect|gateway-info ipv4-endpoint:198.18.1.1:4433
	// device may use: true pairing|gateway-connect|gateway-info
	// answer to stock AMT: <nil>
}
