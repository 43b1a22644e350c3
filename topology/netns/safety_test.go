package netns_test

import (
	"net/netip"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/topology"
	"github.com/oobtb/oobtb/topology/netns"
)

var _ = Describe("safety", func() {
	It("keeps every namespace to TAPs, bridges and 198.18.0.0/15, with no way out", func() {
		spec, err := topology.LoadFile("../examples/two-sites.yaml")
		Expect(err).NotTo(HaveOccurred())
		t := upSpec(spec)
		for _, name := range t.Namespaces() {
			ns, err := vnetns.GetFromName(name)
			Expect(err).NotTo(HaveOccurred())
			h, err := netlink.NewHandleAt(ns)
			Expect(err).NotTo(HaveOccurred())
			links, err := h.LinkList()
			Expect(err).NotTo(HaveOccurred())
			for _, l := range links {
				Expect(l.Type()).To(BeElementOf("device", "tuntap", "bridge"), "%s: %s is a %s", name, l.Attrs().Name, l.Type())
				if l.Type() == "device" {
					Expect(l.Attrs().Name).To(Equal("lo"))
				}
			}
			addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
			Expect(err).NotTo(HaveOccurred())
			for _, a := range addrs {
				ip, _ := netip.AddrFromSlice(a.IP)
				ip = ip.Unmap()
				Expect(ip.IsLoopback() || topology.AddressSpace.Contains(ip)).To(BeTrue(), "%s: address %s", name, ip)
			}
			routes, err := h.RouteList(nil, netlink.FAMILY_V4)
			Expect(err).NotTo(HaveOccurred())
			for _, r := range routes {
				if r.Gw != nil {
					gw, _ := netip.AddrFromSlice(r.Gw)
					Expect(topology.AddressSpace.Contains(gw.Unmap())).To(BeTrue(), "%s: route via %s", name, gw)
				}
			}
			h.Close()
			Expect(ns.Close()).To(Succeed())
		}
		Expect(netns.Leftovers(t.Prefix)).To(HaveLen(len(t.Namespaces())))
	})
})
