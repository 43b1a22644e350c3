package dnssd_test

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/gateway/dnssd"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

func info() gwext.GatewayInfo {
	ep, _ := gwext.Endpoint(netip.MustParseAddrPort("198.18.1.1:4433"))
	v6, _ := gwext.IPv6(netip.MustParseAddr("2001:db8::1"))
	mac, _ := gwext.MAC(net.HardwareAddr{2, 0, 0x5e, 0x10, 0, 1})
	udi, _ := gwext.UDI("GW-0001")
	u, _ := gwext.URL("https://gw1.lan.oobtb.test:8443/")
	p, _ := gwext.Port(4433)
	return gwext.GatewayInfo{IDs: []gwext.Identifier{ep, v6, mac, udi, u, p}, Key: [32]byte{9, 8, 7}}
}

var _ = Describe("TXT encoding", func() {
	It("round-trips every identifier type and the key", func() {
		txt, err := dnssd.EncodeTXT(info())
		Expect(err).NotTo(HaveOccurred())
		Expect(txt[0]).To(Equal(dnssd.TXTVersion))
		Expect(txt).To(ContainElements("ipv4-endpoint=198.18.1.1:4433", "udi=GW-0001", "mac=02:00:5e:10:00:01"))
		gi, err := dnssd.DecodeTXT(txt)
		Expect(err).NotTo(HaveOccurred())
		Expect(gi).To(Equal(info()))
	})

	It("reports bad values and a missing key", func() {
		_, err := dnssd.DecodeTXT([]string{"txtvers=1", "udi=GW-1"})
		Expect(err).To(MatchError(ContainSubstring("no key")))
		_, err = dnssd.DecodeTXT([]string{"port=0", "key=00"})
		Expect(err).To(MatchError(ContainSubstring(`"port"`)))
	})
})

var _ = Describe("Responder and browser", func() {
	It("answer PTR browses with SRV, TXT and A, and direct SRV/TXT/A queries", func() {
		r, err := dnssd.Listen(context.Background(), dnssd.ResponderConfig{Listen: "127.0.0.1:0", Instance: "GW 0001", Gateway: info()})
		Expect(err).NotTo(HaveOccurred())
		defer r.Close()
		found, err := dnssd.Browser{Server: r.Addr().String(), Listen: "127.0.0.1:0", Wait: 300 * time.Millisecond}.Browse(context.Background())
		Expect(err).NotTo(HaveOccurred())
		Expect(found).To(HaveLen(1))
		Expect(found[0].Instance).To(Equal(`GW\ 0001.` + dnssd.Service))
		Expect(found[0].Host).To(Equal("gw-0001.local."))
		ap, ok := found[0].Endpoint()
		Expect(ok).To(BeTrue())
		Expect(ap.String()).To(Equal("198.18.1.1:4433"))
		Expect(found[0].Gateway).To(Equal(info()))

		c := dns.Client{Net: "udp", Timeout: 2 * time.Second}
		for _, q := range []struct {
			name string
			t    uint16
		}{{found[0].Instance, dns.TypeSRV}, {found[0].Instance, dns.TypeTXT}, {"gw-0001.local.", dns.TypeA}, {dnssd.ServicesEnum, dns.TypePTR}} {
			m := new(dns.Msg)
			m.SetQuestion(q.name, q.t)
			in, _, err := c.Exchange(m, r.Addr().String())
			Expect(err).NotTo(HaveOccurred())
			Expect(in.Answer).NotTo(BeEmpty(), q.name)
			Expect(in.Answer[0].Header().Rrtype).To(Equal(q.t))
		}
		m := new(dns.Msg)
		m.SetQuestion("_http._tcp.local.", dns.TypePTR)
		_, _, err = c.Exchange(m, r.Addr().String())
		Expect(err).To(HaveOccurred()) // not ours: no answer at all
	})
})
