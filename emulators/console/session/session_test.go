package session_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/console"
	"github.com/oobtb/oobtb/emulators/console/kvmclient"
	"github.com/oobtb/oobtb/emulators/console/redirclient"
	"github.com/oobtb/oobtb/emulators/console/session"
)

var creds = redirclient.Credentials{User: "admin", Password: amtPass}

func kvmOpts() console.KVMOptions {
	return console.KVMOptions{Config: kvmclient.Config{Credentials: creds, Timeout: 20 * time.Second}, TypeTimeout: 20 * time.Second}
}

var kvmRelayed = map[string]string{"kind": "kvm"}

var _ = Describe("F1: console-initiated session via the gateway", func() {
	It("pairs by each identifier type and runs KVM peer to peer: the server relays no KVM byte", func() {
		e := newEnv(envOpts{})
		c := e.console()
		refs := []*session.GatewayRef{
			nil, // the gateway the device reported
			{Type: "id", Value: gwID},
			{Type: "ipv4", Value: "127.0.0.1"},
			{Type: "port", Value: portOf(e.gw.LANMPSAddr().String())},
			{Type: "mac", Value: "02:00:5E:10:00:01"},
			{Type: "domain", Value: "LAN.oobtb.test."},
			{Type: "udi", Value: "GW-0001"},
			{Type: "url", Value: "https://GW1.lan.oobtb.test:8443/"},
		}
		for _, ref := range refs {
			By("gateway " + refString(ref))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			start := time.Now()
			s, err := c.Open(ctx, session.PairingRequest{Device: devUUID, Gateway: ref})
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Path).To(Equal(session.PathDirect))
			Expect(s.Answer.GatewayID).To(Equal(gwID))
			rep, err := s.RunKVM(ctx, kvmOpts(), start)
			Expect(err).NotTo(HaveOccurred())
			Expect(rep.Path).To(Equal(session.PathDirect))
			Expect(rep.Stats.Width).To(Equal(640))
			Expect(rep.Stats.Integrity.Valid).To(BeNumerically(">", 0))
			Expect(rep.FirstFrameMs).To(BeNumerically(">", 0))
			Expect(s.Close()).To(Succeed())
			cancel()
			Expect(e.counter("oobtb_server_relay_bytes_total", kvmRelayed)).To(BeZero())
			Expect(e.counter("oobtb_server_p2p_relay_bytes_total", nil)).To(BeZero())
		}
	})
})
