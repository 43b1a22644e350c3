package vmc_test

import (
	"context"
	"net"
	"net/netip"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/gateway/dhcpd"
	"github.com/oobtb/oobtb/emulators/gateway/dnssd"
	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

var _ = Describe("learning the gateway on the LAN", func() {
	var info gwext.GatewayInfo
	BeforeEach(func() {
		ep, _ := gwext.Endpoint(netip.MustParseAddrPort("198.18.1.1:4433"))
		dom, _ := gwext.Domain("lan.example")
		udi, _ := gwext.UDI("GW-0001")
		mac, _ := gwext.MAC(net.HardwareAddr{2, 0, 0, 0, 0, 1})
		info = gwext.GatewayInfo{IDs: []gwext.Identifier{ep, dom, udi, mac}, Key: [32]byte{7}}
	})

	It("takes address, domain and gateway from the gateway's DHCP server", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv, err := dhcpd.Listen(ctx, dhcpd.Config{Listen: "127.0.0.1:0", Pool: "198.18.1.100-198.18.1.110",
			Router: netip.MustParseAddr("198.18.1.1"), Domain: "lan.example", Gateway: info})
		Expect(err).NotTo(HaveOccurred())
		defer srv.Close()
		cfg := policy.DefaultRPS("127.0.0.1", "admin", "P@ssw0rd", "outside.example")
		d := newDevice(cfg, nil)
		r, err := d.LearnDHCP(ctx, dhcpd.Client{Network: netx.Host{}, Server: srv.Addr().String(), Listen: "127.0.0.1:0"})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Addr.String()).To(Equal("198.18.1.100"))
		id := d.Host().Identity()
		Expect(id.IP.String()).To(Equal("198.18.1.100/24"))
		Expect(id.Domain).To(Equal("lan.example"))
		Expect(id.DHCP).To(BeTrue())
		d.Start()
		defer d.Stop()
		Eventually(func() *policy.GatewayHint { return d.Status().Gateway }).ShouldNot(BeNil())
		g := d.Status().Gateway
		Expect(g.Addr.String()).To(Equal("198.18.1.1:4433"))
		Expect(g.PublicKey).To(Equal([32]byte{7}))
		Expect(g.Source).To(Equal(policy.FromDHCP))
		Expect(g.Identifiers).To(ContainElement(policy.Identifier{Kind: policy.IDUDI, Value: "GW-0001"}))
		Expect(g.Identifiers).To(ContainElement(policy.Identifier{Kind: policy.IDMAC, Value: "02:00:00:00:00:01"}))
	})

	It("finds the gateway by DNS-SD", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := dnssd.Listen(ctx, dnssd.ResponderConfig{Listen: "127.0.0.1:0", Gateway: info})
		Expect(err).NotTo(HaveOccurred())
		defer r.Close()
		d := newDevice(policy.DefaultRPS("127.0.0.1", "admin", "P@ssw0rd", "outside.example"), nil)
		h, err := d.LearnDNSSD(ctx, dnssd.Browser{Network: netx.Host{}, Server: r.Addr().String(), Listen: "127.0.0.1:0", Wait: 500 * time.Millisecond, Max: 1})
		Expect(err).NotTo(HaveOccurred())
		Expect(h.Addr.String()).To(Equal("198.18.1.1:4433"))
		Expect(h.Source).To(Equal(policy.FromDNSSD))
		Expect(h.ID).NotTo(BeEmpty())
	})

	It("says so when no gateway answers", func() {
		pc, _ := net.ListenPacket("udp", "127.0.0.1:0") // a silent peer
		defer pc.Close()
		d := newDevice(policy.DefaultRPS("127.0.0.1", "admin", "P@ssw0rd", "outside.example"), nil)
		_, err := d.LearnDNSSD(context.Background(), dnssd.Browser{Network: netx.Host{}, Server: pc.LocalAddr().String(), Listen: "127.0.0.1:0", Wait: 200 * time.Millisecond})
		Expect(err).To(MatchError(ContainSubstring("no _oobgw._tcp gateway")))
	})
})
