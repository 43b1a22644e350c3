package dhcpd_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/gateway/dhcpd"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
	"github.com/oobtb/oobtb/sim/clock"
)

func gatewayInfo(urlLen int) gwext.GatewayInfo {
	ep, _ := gwext.Endpoint(netip.MustParseAddrPort("198.18.1.1:4433"))
	dom, _ := gwext.Domain("lan.oobtb.test")
	ids := []gwext.Identifier{ep, dom}
	if urlLen > 0 {
		u, err := gwext.URL("https://" + strings.Repeat("a", urlLen) + ".test/")
		Expect(err).NotTo(HaveOccurred())
		ids = append(ids, u)
	}
	return gwext.GatewayInfo{IDs: ids, Key: [32]byte{1, 2, 3}}
}

func start(clk clock.Clock, pool string, gi gwext.GatewayInfo) *dhcpd.Server {
	s, err := dhcpd.Listen(context.Background(), dhcpd.Config{Clock: clk, Listen: "127.0.0.1:0", Pool: pool,
		Router: netip.MustParseAddr("198.18.1.1"), Domain: "lan.oobtb.test", Gateway: gi, LeaseTime: time.Hour})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(s.Close)
	return s
}

func client(s *dhcpd.Server, mac string) dhcpd.Client {
	hw, _ := net.ParseMAC(mac)
	return dhcpd.Client{Server: s.Addr().String(), Listen: "127.0.0.1:0", MAC: hw, Timeout: 500 * time.Millisecond}
}

var _ = Describe("DHCP server and client", func() {
	ctx := context.Background()

	It("leases distinct addresses, keeps a client's lease, and frees it on RELEASE", func() {
		clk := clock.NewManual(time.Unix(1_800_000_000, 0))
		s := start(clk, "198.18.1.100-198.18.1.101", gatewayInfo(0))
		a, err := client(s, "02:00:00:00:00:01").Acquire(ctx)
		Expect(err).NotTo(HaveOccurred())
		b, err := client(s, "02:00:00:00:00:02").Acquire(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(a.Addr).NotTo(Equal(b.Addr))
		Expect(a.LeaseTime).To(Equal(time.Hour))
		again, err := client(s, "02:00:00:00:00:01").Acquire(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(again.Addr).To(Equal(a.Addr))
		Expect(s.Leases()).To(HaveLen(2))

		_, err = client(s, "02:00:00:00:00:03").Acquire(ctx)
		Expect(err).To(MatchError(ContainSubstring("no OFFER")))

		Expect(client(s, "02:00:00:00:00:01").Release(ctx, a)).To(Succeed())
		Eventually(s.Leases).Should(HaveLen(1))
		c, err := client(s, "02:00:00:00:00:03").Acquire(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Addr).To(Equal(a.Addr))

		clk.Advance(2 * time.Hour) // every lease expires
		Expect(s.Leases()).To(BeEmpty())
	})

	It("carries a long vendor option split into several option-43 instances (RFC 3396)", func() {
		gi := gatewayInfo(240)
		s := start(clock.Real{}, "198.18.1.100-198.18.1.110", gi)
		r, err := client(s, "02:00:00:00:00:01").Acquire(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.GatewayErr).NotTo(HaveOccurred())
		Expect(r.Gateway.IDs).To(Equal(gi.IDs))
		Expect(r.Gateway.Key).To(Equal(gi.Key))
	})

	It("NAKs a request for an address outside the pool or leased to another client", func() {
		s := start(clock.Real{}, "198.18.1.100-198.18.1.110", gatewayInfo(0))
		a, err := client(s, "02:00:00:00:00:01").Acquire(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(a.Addr.String()).To(Equal("198.18.1.100"))

		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		defer pc.Close()
		hw, _ := net.ParseMAC("02:00:00:00:00:09")
		for _, want := range []string{"10.0.0.5", "198.18.1.100"} {
			m := dhcpd.Message{Op: 1, XID: 77, CHAddr: hw, Options: map[uint8][]byte{
				dhcpd.OptMsgType: {byte(dhcpd.Request)}, dhcpd.OptRequestedIP: netip.MustParseAddr(want).AsSlice()}}
			b, err := m.Marshal()
			Expect(err).NotTo(HaveOccurred())
			_, err = pc.WriteTo(b, s.Addr())
			Expect(err).NotTo(HaveOccurred())
			buf := make([]byte, 1500)
			_ = pc.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, _, err := pc.ReadFrom(buf)
			Expect(err).NotTo(HaveOccurred())
			r, err := dhcpd.Unmarshal(buf[:n])
			Expect(err).NotTo(HaveOccurred())
			Expect(r.Type()).To(Equal(dhcpd.Nak))
			Expect(string(r.Options[dhcpd.OptMessage])).To(Or(ContainSubstring("not in this server's pool"), ContainSubstring("another client")))
		}
	})

	It("rejects malformed messages naming the field", func() {
		_, err := dhcpd.Unmarshal(make([]byte, 100))
		Expect(errors.Is(err, wireerr.ErrShort)).To(BeTrue())
		b := make([]byte, 241)
		b[0], b[1], b[2] = 1, 1, 6
		_, err = dhcpd.Unmarshal(b)
		Expect(err).To(MatchError(ContainSubstring("magic cookie")))
		hw, _ := net.ParseMAC("02:00:00:00:00:01")
		ok, _ := (&dhcpd.Message{Op: 1, CHAddr: hw, Options: map[uint8][]byte{dhcpd.OptMsgType: {1}}}).Marshal()
		_, err = dhcpd.Unmarshal(ok[:len(ok)-1]) // no end option
		Expect(errors.Is(err, wireerr.ErrShort)).To(BeTrue())
		bad := append([]byte(nil), ok...)
		bad[dhcpd.FixedLen+2] = 9 // message type 9
		_, err = dhcpd.Unmarshal(bad)
		Expect(err).To(MatchError(ContainSubstring("message type")))
	})

	It("refuses a pool that is not first ≤ last IPv4", func() {
		_, err := dhcpd.Listen(context.Background(), dhcpd.Config{Listen: "127.0.0.1:0", Pool: "198.18.1.9-198.18.1.1",
			Router: netip.MustParseAddr("198.18.1.1")})
		Expect(err).To(MatchError(ContainSubstring("first ≤ last")))
	})
})
