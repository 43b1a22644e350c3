package gwext_test

import (
	"github.com/oobtb/oobtb/internal/hexvec"
)

// wire reads a golden vector in the reference's notation.
var wire = hexvec.Parse

func reserved(spec string) [64]byte {
	b := wire(spec)
	if len(b) != 64 {
		panic("reserved vector is not 64 bytes")
	}
	return [64]byte(b)
}

// Hand-written vectors; the same hex appears in the spec page's examples.
const (
	// Device block: role device, capability 0x000f, gateway at
	// 198.18.1.1:4433 as an IPv4 endpoint.
	hexDeviceBlock = `6f6f6274 01 01 0c | 40 02 000f | 09 06 c6120101 1151 | zeros(45)`
	// The device's whole PROTOCOL_VERSION (user-initiated, §6 UUID).
	hexDeviceVersion = `c0 00000001 00000000 00000001 78563412 bc9af0de 11223344 55667788 ` + hexDeviceBlock
	// Server answer: role server, capability 0x000b (no failover).
	hexServerBlock = `6f6f6274 01 02 04 | 40 02 000b | zeros(53)`
	// Device block naming its gateway by the hash of UDI "GW-0001":
	// SHA-256(06 "GW-0001")[:8] = 7c881473698438d9.
	hexHashBlock = `6f6f6274 01 01 0e | 40 02 0007 | 0b 08 7c881473698438d9 | zeros(43)`

	hexKey = `000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1f`

	hexGatewayInfo = `01 | 01 04 c6120101 | 02 10 20010db8000000000000000000000001 | 03 02 1151 | 04 06 02005e100001
	                  | 05 0e "lan.oobtb.test" | 06 07 "GW-0001" | 07 20 "https://gw1.lan.oobtb.test:8443/"
	                  | 08 20 ` + hexKey

	hexGatewayConnect = `01 | 09 06 c6120101 1151 | 06 07 "GW-0001" | 08 20 ` + hexKey + `
	                     | 41 10 00112233445566778899aabbccddeeff | 42 08 000000006b49d200
	                     | 43 10 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf`
)
