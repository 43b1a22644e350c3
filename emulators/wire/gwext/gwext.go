// Package gwext is the codec for oobtb's gateway extension to APF: the
// capability block carried in PROTOCOL_VERSION's 64 reserved bytes, and the
// payloads of the gateway-info@oobtb and gateway-connect@oobtb global
// requests. docs/protocols/gateway-extension.md is the specification.
//
// Everything here is invisible to a stock MPS: the block lives in bytes every
// stock server ignores, and the global requests are only sent after the peer
// proved support by answering with its own block. The package is pure.
package gwext

import (
	"fmt"
	"strconv"
	"strings"
)

// Proto is the protocol name carried in every *wireerr.Error of this package.
const Proto = "oobtb-gwext"

// Global request names (APF GLOBAL_REQUEST, request-specific part = one str
// payload, see apf.ExtensionRequest).
const (
	RequestGatewayInfo    = "gateway-info@oobtb"
	RequestGatewayConnect = "gateway-connect@oobtb"
)

// Version is the block and payload version this package writes.
const Version uint8 = 1

// MaxPayload bounds gateway-info/gateway-connect payloads; it equals
// apf.DefaultMaxPayload so an APF peer with default bounds accepts them.
const MaxPayload = 2048

// MaxIdentifiers bounds the identifiers one block or payload may carry.
const MaxIdentifiers = 32

// Capability is the failover capability field: a set of flags. A device
// advertises what it can do, a server what it supports; what both may use is
// the intersection (Negotiate).
type Capability uint16

// Capability bits. Bits 4–15 are reserved: senders set them to 0 and
// receivers ignore them.
const (
	// CapPairing: the device can be paired with a gateway; the server runs
	// a pairing module.
	CapPairing Capability = 1 << 0
	// CapGatewayConnect: the device accepts gateway-connect@oobtb; the
	// server may send it.
	CapGatewayConnect Capability = 1 << 1
	// CapFailover: the device can fail its management traffic over through
	// a gateway; the server accepts a device's management tunnel arriving
	// through a gateway.
	CapFailover Capability = 1 << 2
	// CapGatewayInfo: the device sends gateway-info@oobtb; the server
	// accepts it.
	CapGatewayInfo Capability = 1 << 3

	capKnown = CapPairing | CapGatewayConnect | CapFailover | CapGatewayInfo
)

// Has reports whether every bit of x is set in c.
func (c Capability) Has(x Capability) bool { return c&x == x }

// Negotiate is what both sides may use: the intersection of their fields.
func Negotiate(device, server Capability) Capability { return device & server }

func (c Capability) String() string {
	if c == 0 {
		return "none"
	}
	var parts []string
	for _, f := range []struct {
		c Capability
		n string
	}{{CapPairing, "pairing"}, {CapGatewayConnect, "gateway-connect"}, {CapFailover, "failover"}, {CapGatewayInfo, "gateway-info"}} {
		if c&f.c != 0 {
			parts = append(parts, f.n)
		}
	}
	if rest := c &^ capKnown; rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%04x", uint16(rest)))
	}
	return strings.Join(parts, "|")
}

// Role says which party wrote a block. A device that receives a block with
// RoleDevice is looking at an echo of its own (a server that copies
// PROTOCOL_VERSION back) and must not take it as proof of support.
type Role uint8

// Roles.
const (
	RoleDevice  Role = 1 // vMC / AMT side
	RoleServer  Role = 2 // remote management server (MPS role)
	RoleGateway Role = 3 // gateway acting as the device's local MPS
)

func (r Role) String() string {
	switch r {
	case RoleDevice:
		return "device"
	case RoleServer:
		return "server"
	case RoleGateway:
		return "gateway"
	}
	return "role " + strconv.Itoa(int(r))
}
