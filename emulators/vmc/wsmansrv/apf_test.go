package wsmansrv_test

import (
	"context"
	"net"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/emulators/wire/digest"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

func loopbackPair() (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); acc <- c }()
	a, err := net.Dial("tcp", ln.Addr().String())
	Expect(err).NotTo(HaveOccurred())
	return a, <-acc
}

var _ = Describe("inside a CIRA tunnel", func() {
	It("serves DMT MPS's sequence over APF channels with a small window: 401, nonce reuse, pipelined Enumerate/Pull", func() {
		e := newEnv(nil)
		defer e.close()
		a, b := loopbackPair()
		served := make(chan error, 16)
		dev, err := cira.New(a, cira.RoleDevice, cira.Config{
			Device: &cira.DeviceConfig{UUID: apf.MustParseGUID(tUUID), Trigger: apf.TriggerPeriodic,
				Username: "admin", Password: "P@ssw0rd", Hostname: "vmc1"},
			AcceptChannel: func(o *apf.ChannelOpen) (bool, apf.OpenFailureReason) {
				return o.TargetPort == 16992, apf.OpenConnectFailed
			},
			ServeChannel: func(ch *cira.Channel) { served <- e.srv.Serve(ch) },
		})
		Expect(err).NotTo(HaveOccurred())
		defer dev.Close()
		srv, err := cira.New(b, cira.RoleServer, cira.Config{
			Server: &cira.ServerConfig{},
			Window: 1024, // responses take several window adjustments
			Verify: func(context.Context, cira.EventAuthRequest) bool { return true },
		})
		Expect(err).NotTo(HaveOccurred())
		defer srv.Close()
		Eventually(srv.Ready(), 5*time.Second).Should(BeClosed())

		open := func() *client {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ch, err := srv.OpenChannel(ctx, 16992, "127.0.0.1", 40000)
			Expect(err).NotTo(HaveOccurred())
			return &client{conn: ch, done: served, writes: make(chan error, 8)}
		}

		// First request without credentials: 401 and the device closes.
		c := open()
		c.send(httpReq("", dmt.Get("0", wsman.ResourceURI("AMT_GeneralSettings"))))
		r := c.recv()
		Expect(r.StatusCode).To(Equal(401))
		ch, err := digest.ParseChallenge(r.Header.Get("WWW-Authenticate"))
		Expect(err).NotTo(HaveOccurred())
		Expect(c.closed()).To(HaveOccurred())

		// A new channel, the same nonce, 8-hex nc; Enumerate then three
		// pipelined requests.
		s := &session{e: e, ch: ch, hexNC: true}
		c = open()
		uri := wsman.ResourceURI("CIM_SoftwareIdentity")
		_, w := c.exchange(s.auth(), dmt.Enumerate("1", uri))
		ctx := w.EnumerationContext
		var batch []byte
		batch = append(batch, httpReq(s.auth(), dmt.Pull("2", uri, ctx, 999, 99999))...)
		batch = append(batch, httpReq(s.auth(), dmt.Get("3", wsman.ResourceURI("AMT_SetupAndConfigurationService")))...)
		batch = append(batch, httpReq(s.auth(), dmt.Get("4", wsman.ResourceURI("AMT_GeneralSettings")))...)
		c.send(batch)
		for i, want := range []string{"2", "3", "4"} {
			r := c.recv()
			Expect(r.StatusCode).To(Equal(200), "response %d", i)
			w, err := wsman.ParseResponse(r.Body, wsman.Limits{})
			Expect(err).NotTo(HaveOccurred())
			Expect(w.RelatesTo).To(Equal(want))
			if want == "2" {
				Expect(len(r.Body)).To(BeNumerically(">", 1024), "the Pull needs more than one window")
				Expect(w.Items).To(HaveLen(11))
				Expect(w.EndOfSequence).To(BeTrue())
			}
		}
		// More requests on the same channel keep working.
		for i := 5; i < 8; i++ {
			r, _ := c.exchange(s.auth(), dmt.Get(strconv.Itoa(i), wsman.ResourceURI("CIM_KVMRedirectionSAP")))
			Expect(r.StatusCode).To(Equal(200))
		}
		Expect(c.conn.Close()).To(Succeed())
		Eventually(served, 5*time.Second).Should(Receive())
	})
})
