package session_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/policy"
)

// Flow F3: a capable device whose direct path to the server fails moves to
// its LAN gateway, which carries its management traffic on the control
// channel, so the server can still manage it.
var _ = Describe("failover through the gateway", func() {
	It("keeps the device manageable over WS-MAN once its direct tunnel is gone", func() {
		e := newEnv(envOpts{})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		before, err := e.api.Power(ctx, devUUID)
		Expect(err).NotTo(HaveOccurred())

		e.dev.Post(policy.DirectPathLost{Reason: "test: the WAN link is cut"})
		Eventually(func() bool { _, ok := e.srv.Tunnel(devUUID); return ok }, "10s", "20ms").Should(BeFalse())
		Eventually(func() bool { return e.dev.Status().OnGateway && e.dev.Status().Tunnel == policy.TunnelUp }, "10s", "20ms").Should(BeTrue())

		var after any
		Eventually(func() error {
			p, err := e.api.Power(ctx, devUUID)
			after = p
			return err
		}, "10s", "100ms").Should(Succeed())
		Expect(after).To(Equal(before))
		d, err := e.api.Device(ctx, devUUID)
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Online).To(BeTrue())
	})
})
