package dhcpd

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// Client acquires a lease the way a vMC with its own LAN interface does.
type Client struct {
	Network netx.Network
	// Server is where requests go: "255.255.255.255:67" on a LAN, the
	// server's address in tests.
	Server string
	// Listen is the client socket: "0.0.0.0:68" on a LAN, "127.0.0.1:0"
	// in tests.
	Listen string
	MAC    net.HardwareAddr
	// Timeout bounds each wait for a reply; 0 → 2 s. Attempts per step;
	// 0 → 3.
	Timeout  time.Duration
	Attempts int
}

// Result is an acquired lease with what the gateway announced.
type Result struct {
	Addr      netip.Addr
	Prefix    netip.Prefix
	Router    netip.Addr
	DNS       []netip.Addr
	Domain    string
	LeaseTime time.Duration
	ServerID  netip.Addr
	// Gateway is option 43 parsed as gwext identifiers and key; nil when
	// absent, GatewayErr when present but malformed.
	Gateway    *gwext.GatewayInfo
	GatewayErr error
}

// NakError is a DHCPNAK.
type NakError struct{ Message string }

func (e *NakError) Error() string { return "dhcp: server refused the request (NAK): " + e.Message }

// Acquire runs DISCOVER → OFFER → REQUEST → ACK.
func (c Client) Acquire(ctx context.Context) (*Result, error) {
	if c.Network == nil {
		c.Network = netx.Host{}
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.Attempts <= 0 {
		c.Attempts = 3
	}
	if len(c.MAC) != 6 {
		return nil, fmt.Errorf("dhcp: client MAC must be 6 bytes, got %d", len(c.MAC))
	}
	to, err := net.ResolveUDPAddr("udp4", c.Server)
	if err != nil {
		return nil, fmt.Errorf("dhcp: server address %q: %w", c.Server, err)
	}
	pc, err := c.Network.ListenPacket(ctx, "udp4", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("dhcp: client socket %s: %w", c.Listen, err)
	}
	defer pc.Close()
	stop := context.AfterFunc(ctx, func() { _ = pc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var xb [4]byte
	_, _ = rand.Read(xb[:])
	xid := binary.BigEndian.Uint32(xb[:])
	base := Message{Op: opRequest, XID: xid, CHAddr: c.MAC, CIAddr: netip.IPv4Unspecified(),
		YIAddr: netip.IPv4Unspecified(), SIAddr: netip.IPv4Unspecified(), GIAddr: netip.IPv4Unspecified()}
	params := []byte{OptSubnetMask, OptRouter, OptDNS, OptDomainName, OptVendor, OptLeaseTime}

	disc := base
	disc.Options = map[uint8][]byte{OptMsgType: {byte(Discover)}, OptParamList: params}
	offer, err := c.exchange(ctx, pc, to, &disc, Offer)
	if err != nil {
		return nil, err
	}
	sid, ok := offer.Addr4(OptServerID)
	if !ok {
		return nil, errors.New("dhcp: OFFER without a server identifier (option 54)")
	}
	req := base
	req.Options = map[uint8][]byte{OptMsgType: {byte(Request)}, OptParamList: params,
		OptRequestedIP: ipBytes(offer.YIAddr), OptServerID: ipBytes(sid)}
	ack, err := c.exchange(ctx, pc, to, &req, Ack)
	if err != nil {
		return nil, err
	}
	return parseAck(ack)
}

// Release gives the lease back.
func (c Client) Release(ctx context.Context, r *Result) error {
	if c.Network == nil {
		c.Network = netx.Host{}
	}
	to, err := net.ResolveUDPAddr("udp4", c.Server)
	if err != nil {
		return err
	}
	pc, err := c.Network.ListenPacket(ctx, "udp4", c.Listen)
	if err != nil {
		return err
	}
	defer pc.Close()
	m := Message{Op: opRequest, CHAddr: c.MAC, CIAddr: r.Addr, YIAddr: netip.IPv4Unspecified(),
		SIAddr: netip.IPv4Unspecified(), GIAddr: netip.IPv4Unspecified(),
		Options: map[uint8][]byte{OptMsgType: {byte(Release)}, OptServerID: ipBytes(r.ServerID)}}
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	_ = pc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, err = pc.WriteTo(b, to)
	return err
}

func (c Client) exchange(ctx context.Context, pc net.PacketConn, to net.Addr, m *Message, want MsgType) (*Message, error) {
	b, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, MaxMessage+1)
	for attempt := 0; attempt < c.Attempts; attempt++ {
		_ = pc.SetWriteDeadline(time.Now().Add(c.Timeout))
		if _, err := pc.WriteTo(b, to); err != nil {
			return nil, fmt.Errorf("dhcp: send %s: %w", m.Type(), err)
		}
		dl := time.Now().Add(c.Timeout)
		for {
			_ = pc.SetReadDeadline(dl)
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // resend
				}
				return nil, fmt.Errorf("dhcp: receive: %w", err)
			}
			r, err := Unmarshal(buf[:n])
			if err != nil || r.Op != opReply || r.XID != m.XID {
				continue // not ours
			}
			switch r.Type() {
			case want:
				return r, nil
			case Nak:
				return nil, &NakError{Message: string(r.Options[OptMessage])}
			}
		}
	}
	return nil, fmt.Errorf("dhcp: no %s after %d attempts of %s", want, c.Attempts, c.Timeout)
}

func parseAck(m *Message) (*Result, error) {
	r := &Result{Addr: m.YIAddr, Domain: string(m.Options[OptDomainName])}
	r.ServerID, _ = m.Addr4(OptServerID)
	r.Router, _ = m.Addr4(OptRouter)
	if v := m.Options[OptSubnetMask]; len(v) == 4 {
		ones, bits := net.IPMask(v).Size()
		if bits == 32 {
			r.Prefix = netip.PrefixFrom(r.Addr, ones).Masked()
		}
	}
	if v := m.Options[OptLeaseTime]; len(v) == 4 {
		r.LeaseTime = time.Duration(binary.BigEndian.Uint32(v)) * time.Second
	}
	v := m.Options[OptDNS]
	for i := 0; i+4 <= len(v); i += 4 {
		r.DNS = append(r.DNS, netip.AddrFrom4([4]byte(v[i:i+4])))
	}
	if v, ok := m.Options[OptVendor]; ok {
		gi, err := gwext.UnmarshalGatewayInfo(v)
		if err != nil {
			r.GatewayErr = fmt.Errorf("dhcp: option 43: %w", err)
		} else {
			r.Gateway = &gi
		}
	}
	return r, nil
}
