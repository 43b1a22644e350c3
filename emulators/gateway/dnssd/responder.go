package dnssd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// ResponderConfig configures a Responder.
type ResponderConfig struct {
	Network netx.Network
	Logger  *slog.Logger
	// Listen is the UDP address: "0.0.0.0:5353" on a LAN (multicast group
	// membership is the topology's job), a loopback address in tests.
	Listen string
	// Instance is the service instance label; "" → "oobtb-gateway".
	Instance string
	// Host is the SRV target; "" → <instance>.local.
	Host string
	// Addr (A/AAAA) and Port (SRV) default to the gateway's first endpoint
	// identifier.
	Addr    netip.Addr
	Port    uint16
	Gateway gwext.GatewayInfo
	TTL     uint32 // 0 → 120 s
}

// Responder answers DNS-SD queries for the gateway.
type Responder struct {
	cfg  ResponderConfig
	pc   net.PacketConn
	log  *slog.Logger
	txt  []string
	inst string
	host string
	done chan struct{}
}

// Listen binds the responder and starts answering.
func Listen(ctx context.Context, cfg ResponderConfig) (*Responder, error) {
	if cfg.Network == nil {
		cfg.Network = netx.Host{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TTL == 0 {
		cfg.TTL = 120
	}
	if cfg.Instance == "" {
		cfg.Instance = "oobtb-gateway"
	}
	for _, id := range cfg.Gateway.IDs {
		if id.Type == gwext.IDIPv4Endpoint || id.Type == gwext.IDIPv6Endpoint {
			a, _ := id.Addr()
			p, _ := id.PortValue()
			if !cfg.Addr.IsValid() {
				cfg.Addr = a
			}
			if cfg.Port == 0 {
				cfg.Port = p
			}
		}
	}
	if !cfg.Addr.IsValid() || cfg.Port == 0 {
		return nil, errors.New("dnssd: an address and port (or an endpoint identifier) are required")
	}
	txt, err := EncodeTXT(cfg.Gateway)
	if err != nil {
		return nil, err
	}
	inst := escapeLabel(cfg.Instance) + "." + Service
	host := cfg.Host
	if host == "" {
		host = hostLabel(cfg.Instance) + ".local."
	}
	pc, err := cfg.Network.ListenPacket(ctx, "udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("dnssd: listen %s: %w", cfg.Listen, err)
	}
	r := &Responder{cfg: cfg, pc: pc, log: cfg.Logger, txt: txt, inst: inst, host: dns.Fqdn(host), done: make(chan struct{})}
	go r.serve()
	return r, nil
}

func escapeLabel(s string) string {
	return strings.NewReplacer(".", `\.`, " ", `\ `).Replace(s)
}

func hostLabel(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}

// Addr is the bound address.
func (r *Responder) Addr() net.Addr { return r.pc.LocalAddr() }

// Close stops the responder and waits for it.
func (r *Responder) Close() error {
	err := r.pc.Close()
	<-r.done
	return err
}

func (r *Responder) serve() {
	defer close(r.done)
	buf := make([]byte, 9000)
	for {
		// A responder waits for queries as long as it runs; Close unblocks.
		n, from, err := r.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var q dns.Msg
		if err := q.Unpack(buf[:n]); err != nil || q.Response || q.Opcode != dns.OpcodeQuery {
			continue
		}
		resp := r.answer(&q)
		if resp == nil {
			continue
		}
		b, err := resp.Pack()
		if err != nil {
			r.log.Warn("dnssd: answer not encodable", "err", err)
			continue
		}
		_ = r.pc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = r.pc.WriteTo(b, from)
	}
}

func (r *Responder) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: r.cfg.TTL}
}

func (r *Responder) records() (ptr, srv, txt, addr dns.RR) {
	ptr = &dns.PTR{Hdr: r.hdr(Service, dns.TypePTR), Ptr: r.inst}
	srv = &dns.SRV{Hdr: r.hdr(r.inst, dns.TypeSRV), Port: r.cfg.Port, Target: r.host}
	txt = &dns.TXT{Hdr: r.hdr(r.inst, dns.TypeTXT), Txt: r.txt}
	if r.cfg.Addr.Is4() {
		addr = &dns.A{Hdr: r.hdr(r.host, dns.TypeA), A: r.cfg.Addr.AsSlice()}
	} else {
		addr = &dns.AAAA{Hdr: r.hdr(r.host, dns.TypeAAAA), AAAA: r.cfg.Addr.AsSlice()}
	}
	return
}

// answer builds the reply (nil when no question is ours). Replies go
// unicast to the asker with its id and question echoed (RFC 6762 §6.7
// legacy unicast), which both one-shot and mDNS-aware browsers accept.
func (r *Responder) answer(q *dns.Msg) *dns.Msg {
	ptr, srv, txt, addr := r.records()
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	for _, qq := range q.Question {
		name := strings.ToLower(qq.Name)
		switch {
		case name == ServicesEnum && (qq.Qtype == dns.TypePTR || qq.Qtype == dns.TypeANY):
			m.Answer = append(m.Answer, &dns.PTR{Hdr: r.hdr(ServicesEnum, dns.TypePTR), Ptr: Service})
		case name == Service && (qq.Qtype == dns.TypePTR || qq.Qtype == dns.TypeANY):
			m.Answer = append(m.Answer, ptr)
			m.Extra = append(m.Extra, srv, txt, addr)
		case name == strings.ToLower(r.inst):
			if qq.Qtype == dns.TypeSRV || qq.Qtype == dns.TypeANY {
				m.Answer = append(m.Answer, srv)
				m.Extra = append(m.Extra, addr)
			}
			if qq.Qtype == dns.TypeTXT || qq.Qtype == dns.TypeANY {
				m.Answer = append(m.Answer, txt)
			}
		case name == strings.ToLower(r.host) && (qq.Qtype == addr.Header().Rrtype || qq.Qtype == dns.TypeANY):
			m.Answer = append(m.Answer, addr)
		}
	}
	if len(m.Answer) == 0 {
		return nil
	}
	return m
}
