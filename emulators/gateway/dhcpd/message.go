// Package dhcpd is the gateway's LAN DHCP server and the client the vMC
// uses: leases from a pool, option 15 (domain name, which AMT uses for
// environment detection), 3 (router), 6 (DNS) and a vendor-specific
// option 43 carrying the gateway's identifier TLVs and static key in the
// gwext encoding. The message codec (this file) is pure.
package dhcpd

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// Proto names this codec in errors.
const Proto = "dhcp"

// Message types (option 53).
type MsgType uint8

const (
	Discover MsgType = 1
	Offer    MsgType = 2
	Request  MsgType = 3
	Decline  MsgType = 4
	Ack      MsgType = 5
	Nak      MsgType = 6
	Release  MsgType = 7
	Inform   MsgType = 8
)

func (t MsgType) String() string {
	names := [...]string{"", "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM"}
	if int(t) < len(names) && t != 0 {
		return names[t]
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// Option codes used here.
const (
	OptPad         = 0
	OptSubnetMask  = 1
	OptRouter      = 3
	OptDNS         = 6
	OptDomainName  = 15
	OptVendor      = 43
	OptRequestedIP = 50
	OptLeaseTime   = 51
	OptMsgType     = 53
	OptServerID    = 54
	OptParamList   = 55
	OptMessage     = 56
	OptClientID    = 61
	OptEnd         = 255
)

const (
	// FixedLen is the BOOTP header plus the magic cookie.
	FixedLen = 240
	// MaxMessage bounds a message we accept or send (RFC 2131's 576-byte
	// minimum is what every client takes; we never exceed 1500).
	MaxMessage = 1500
	opRequest  = 1
	opReply    = 2
)

var cookie = [4]byte{99, 130, 83, 99}

// Message is one DHCP message. Options holds each code's value; repeated
// instances of a code are concatenated on decode (RFC 3396) and long values
// are split on encode.
type Message struct {
	Op      uint8
	XID     uint32
	Secs    uint16
	Flags   uint16
	CIAddr  netip.Addr
	YIAddr  netip.Addr
	SIAddr  netip.Addr
	GIAddr  netip.Addr
	CHAddr  net.HardwareAddr // 6 bytes (Ethernet)
	Options map[uint8][]byte
	// Order is the order options are written in (codes not listed follow
	// in ascending order).
	Order []uint8
}

// Type is option 53 (0 if absent or malformed).
func (m *Message) Type() MsgType {
	if v := m.Options[OptMsgType]; len(v) == 1 {
		return MsgType(v[0])
	}
	return 0
}

// Addr4 returns an option holding one IPv4 address.
func (m *Message) Addr4(code uint8) (netip.Addr, bool) {
	v := m.Options[code]
	if len(v) != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(v)), true
}

func addr4(a netip.Addr) [4]byte {
	if a.Is4() {
		return a.As4()
	}
	return [4]byte{}
}

// Marshal encodes m.
func (m *Message) Marshal() ([]byte, error) {
	b := make([]byte, FixedLen, 576)
	b[0] = m.Op
	b[1], b[2] = 1, 6 // Ethernet, 6-byte hardware address
	binary.BigEndian.PutUint32(b[4:], m.XID)
	binary.BigEndian.PutUint16(b[8:], m.Secs)
	binary.BigEndian.PutUint16(b[10:], m.Flags)
	for i, a := range []netip.Addr{m.CIAddr, m.YIAddr, m.SIAddr, m.GIAddr} {
		v := addr4(a)
		copy(b[12+4*i:], v[:])
	}
	if len(m.CHAddr) != 6 {
		return nil, fmt.Errorf("dhcp: chaddr must be 6 bytes, got %d", len(m.CHAddr))
	}
	copy(b[28:], m.CHAddr)
	copy(b[236:], cookie[:])
	done := map[uint8]bool{}
	write := func(code uint8) {
		v, ok := m.Options[code]
		if !ok || done[code] || code == OptPad || code == OptEnd {
			return
		}
		done[code] = true
		for first := true; first || len(v) > 0; first = false {
			n := min(len(v), 255)
			b = append(b, code, byte(n))
			b = append(b, v[:n]...)
			v = v[n:]
		}
	}
	for _, c := range m.Order {
		write(c)
	}
	for c := 1; c < 255; c++ {
		write(uint8(c))
	}
	b = append(b, OptEnd)
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("dhcp: message of %d bytes exceeds %d", len(b), MaxMessage)
	}
	return b, nil
}

// Unmarshal decodes a DHCP message; errors are *wireerr.Error.
func Unmarshal(p []byte) (*Message, error) {
	if len(p) < FixedLen {
		return nil, wireerr.Short(Proto, "message", "header", 0, FixedLen, len(p))
	}
	if len(p) > MaxMessage {
		return nil, wireerr.New(Proto, "message", "length", 0, fmt.Sprintf("≤ %d bytes", MaxMessage), fmt.Sprint(len(p)))
	}
	if p[0] != opRequest && p[0] != opReply {
		return nil, wireerr.New(Proto, "message", "op", 0, "1 or 2", fmt.Sprint(p[0]))
	}
	if p[1] != 1 || p[2] != 6 {
		return nil, wireerr.New(Proto, "message", "htype/hlen", 1, "1/6 (Ethernet)", fmt.Sprintf("%d/%d", p[1], p[2]))
	}
	if [4]byte(p[236:240]) != cookie {
		return nil, wireerr.New(Proto, "message", "magic cookie", 236, "63 82 53 63", fmt.Sprintf("% x", p[236:240]))
	}
	m := &Message{Op: p[0], XID: binary.BigEndian.Uint32(p[4:]), Secs: binary.BigEndian.Uint16(p[8:]),
		Flags: binary.BigEndian.Uint16(p[10:]), CHAddr: net.HardwareAddr(append([]byte(nil), p[28:34]...)),
		Options: map[uint8][]byte{}}
	addrs := []*netip.Addr{&m.CIAddr, &m.YIAddr, &m.SIAddr, &m.GIAddr}
	for i, a := range addrs {
		*a = netip.AddrFrom4([4]byte(p[12+4*i : 16+4*i]))
	}
	off := FixedLen
	for {
		if off >= len(p) {
			return nil, wireerr.Short(Proto, "options", "end option", off, off+1, len(p))
		}
		code := p[off]
		if code == OptEnd {
			break
		}
		if code == OptPad {
			off++
			continue
		}
		if off+2 > len(p) {
			return nil, wireerr.Short(Proto, "options", "option length", off, off+2, len(p))
		}
		n := int(p[off+1])
		if off+2+n > len(p) {
			return nil, wireerr.Short(Proto, fmt.Sprintf("option %d", code), "value", off+2, off+2+n, len(p))
		}
		if _, seen := m.Options[code]; !seen {
			m.Order = append(m.Order, code)
		}
		m.Options[code] = append(m.Options[code], p[off+2:off+2+n]...)
		off += 2 + n
	}
	if v, ok := m.Options[OptMsgType]; ok && (len(v) != 1 || v[0] < 1 || v[0] > 8) {
		return nil, wireerr.New(Proto, "option 53", "message type", FixedLen, "1 byte, 1–8", fmt.Sprintf("% x", v))
	}
	return m, nil
}
