package dhcpd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/sim/clock"
)

// Config configures a Server.
type Config struct {
	Network netx.Network
	Clock   clock.Clock
	Logger  *slog.Logger
	// Listen is the UDP address: "0.0.0.0:67" on a real LAN, a loopback
	// address and any port in tests.
	Listen string
	// Pool is "first-last", e.g. "198.18.1.100-198.18.1.199".
	Pool      string
	PrefixLen int // subnet mask length; 0 → 24
	Router    netip.Addr
	DNS       []netip.Addr
	Domain    string
	LeaseTime time.Duration // 0 → 1 h
	// ServerID is option 54; invalid → Router.
	ServerID netip.Addr
	// Gateway is announced in option 43 (the gwext payload encoding).
	Gateway gwext.GatewayInfo
	// BroadcastReplies sends replies to clients without an address to
	// 255.255.255.255 on the source port (a real LAN); otherwise replies go
	// to the request's source address (loopback tests).
	BroadcastReplies bool
}

// ParsePool parses "first-last".
func ParsePool(s string) (netip.Addr, netip.Addr, error) {
	a, b, ok := strings.Cut(s, "-")
	first, err1 := netip.ParseAddr(strings.TrimSpace(a))
	last, err2 := netip.ParseAddr(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("dhcpd: pool %q: want first-last IPv4 addresses", s)
	}
	return first, last, nil
}

// Server answers DISCOVER, REQUEST and RELEASE.
type Server struct {
	cfg    Config
	pc     net.PacketConn
	vendor []byte
	log    *slog.Logger

	mu   sync.Mutex
	pool *pool
	done chan struct{}
}

// Listen binds the server and starts answering.
func Listen(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Network == nil {
		cfg.Network = netx.Host{}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PrefixLen == 0 {
		cfg.PrefixLen = 24
	}
	if cfg.LeaseTime <= 0 {
		cfg.LeaseTime = time.Hour
	}
	if !cfg.ServerID.IsValid() {
		cfg.ServerID = cfg.Router
	}
	if !cfg.ServerID.Is4() {
		return nil, errors.New("dhcpd: a ServerID or Router IPv4 address is required")
	}
	first, last, err := ParsePool(cfg.Pool)
	if err != nil {
		return nil, err
	}
	pl, err := newPool(first, last, cfg.LeaseTime)
	if err != nil {
		return nil, err
	}
	var vendor []byte
	if len(cfg.Gateway.IDs) > 0 {
		if vendor, err = cfg.Gateway.Marshal(); err != nil {
			return nil, fmt.Errorf("dhcpd: vendor option: %w", err)
		}
	}
	pc, err := cfg.Network.ListenPacket(ctx, "udp4", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("dhcpd: listen %s: %w", cfg.Listen, err)
	}
	s := &Server{cfg: cfg, pc: pc, vendor: vendor, log: cfg.Logger, pool: pl, done: make(chan struct{})}
	go s.serve()
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.pc.LocalAddr() }

// Close stops the server and waits for it.
func (s *Server) Close() error {
	err := s.pc.Close()
	<-s.done
	return err
}

// Leases lists bound leases.
func (s *Server) Leases() []Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pool.leases(s.cfg.Clock.Now())
}

func (s *Server) serve() {
	defer close(s.done)
	buf := make([]byte, MaxMessage+1)
	for {
		// No deadline: a UDP server waits for requests for as long as it
		// runs; Close unblocks it.
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		m, err := Unmarshal(buf[:n])
		if err != nil {
			s.log.Debug("dhcpd: bad message ignored", "from", from, "err", err)
			continue
		}
		if m.Op != opRequest {
			continue
		}
		reply := s.handle(m)
		if reply == nil {
			continue
		}
		b, err := reply.Marshal()
		if err != nil {
			s.log.Warn("dhcpd: reply not encodable", "err", err)
			continue
		}
		to := from
		if s.cfg.BroadcastReplies && m.CIAddr.IsUnspecified() {
			if ua, ok := from.(*net.UDPAddr); ok {
				to = &net.UDPAddr{IP: net.IPv4bcast, Port: ua.Port}
			}
		}
		_ = s.pc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := s.pc.WriteTo(b, to); err != nil {
			s.log.Debug("dhcpd: reply not sent", "to", to, "err", err)
		}
	}
}

// handle is the protocol decision for one request.
func (s *Server) handle(m *Message) *Message {
	mac := m.CHAddr.String()
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch m.Type() {
	case Discover:
		req, _ := m.Addr4(OptRequestedIP)
		a, err := s.pool.offer(mac, req, now)
		if err != nil {
			s.log.Warn("dhcpd: no offer", "mac", mac, "err", err)
			return nil
		}
		s.log.Debug("dhcpd: offer", "mac", mac, "addr", a)
		return s.reply(m, Offer, a)
	case Request:
		if sid, ok := m.Addr4(OptServerID); ok && sid != s.cfg.ServerID {
			// The client chose another server's offer: withdraw ours.
			if l := s.pool.byMAC[mac]; l != nil && l.Offered {
				s.pool.drop(l)
			}
			return nil
		}
		want, ok := m.Addr4(OptRequestedIP)
		if !ok {
			want = m.CIAddr // renewing
		}
		l, err := s.pool.request(mac, want, now)
		if err != nil {
			s.log.Info("dhcpd: NAK", "mac", mac, "addr", want, "reason", err)
			r := s.reply(m, Nak, netip.IPv4Unspecified())
			r.Options = map[uint8][]byte{OptMsgType: {byte(Nak)}, OptServerID: ipBytes(s.cfg.ServerID),
				OptMessage: []byte(err.Error())}
			return r
		}
		s.log.Info("dhcpd: lease", "mac", mac, "addr", l.Addr, "until", l.Expiry.UTC())
		return s.reply(m, Ack, l.Addr)
	case Release:
		s.pool.release(mac, m.CIAddr)
		s.log.Debug("dhcpd: release", "mac", mac, "addr", m.CIAddr)
	}
	return nil
}

func ipBytes(a netip.Addr) []byte { v := a.As4(); return v[:] }

func (s *Server) reply(m *Message, t MsgType, yi netip.Addr) *Message {
	r := &Message{Op: opReply, XID: m.XID, Flags: m.Flags, CIAddr: netip.IPv4Unspecified(), YIAddr: yi,
		SIAddr: s.cfg.ServerID, GIAddr: m.GIAddr, CHAddr: m.CHAddr,
		Options: map[uint8][]byte{OptMsgType: {byte(t)}, OptServerID: ipBytes(s.cfg.ServerID)},
		Order:   []uint8{OptMsgType, OptServerID}}
	if t == Nak {
		return r
	}
	lt := make([]byte, 4)
	binary.BigEndian.PutUint32(lt, uint32(s.cfg.LeaseTime/time.Second))
	r.Options[OptLeaseTime] = lt
	mask := net.CIDRMask(s.cfg.PrefixLen, 32)
	r.Options[OptSubnetMask] = []byte(mask)
	if s.cfg.Router.Is4() {
		r.Options[OptRouter] = ipBytes(s.cfg.Router)
	}
	var dns []byte
	for _, a := range s.cfg.DNS {
		if a.Is4() {
			dns = append(dns, ipBytes(a)...)
		}
	}
	if len(dns) > 0 {
		r.Options[OptDNS] = dns
	}
	if s.cfg.Domain != "" {
		r.Options[OptDomainName] = []byte(s.cfg.Domain)
	}
	if s.vendor != nil {
		r.Options[OptVendor] = s.vendor
	}
	return r
}
