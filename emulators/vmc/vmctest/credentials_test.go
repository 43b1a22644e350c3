package vmctest_test

import (
	"log/slog"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/backoff"
	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream/kvmtest"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/vmc/services"
	"github.com/oobtb/oobtb/emulators/vmc/vmctest"
	"github.com/oobtb/oobtb/emulators/wire/digest"
	"github.com/oobtb/oobtb/emulators/wire/redir"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// userDevice is a device whose only rule is user-initiated ("call for
// help"), so its retries follow the back-off alone, not a periodic schedule.
func userDevice(port uint16, pass string, bo backoff.Config, lg *slog.Logger) *vmc.Device {
	h, err := host.New(host.Config{Identity: host.Identity{UUID: vmctest.UUID(7), Hostname: "pc7",
		Realm: vmc.RealmFor(vmctest.UUID(7)), AMTUser: amtUser, AMTPass: amtPass}, Settings: host.DefaultSettings()})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(h.Close)
	cfg := policy.DefaultRPS("127.0.0.1", ciraUser, pass, "outside.invalid")
	cfg.MPS[0].Port = port
	cfg.Rules = cfg.Rules[1:]
	cfg.Applies = cfg.Applies[1:]
	cfg.Backoff = bo
	d, err := vmc.New(vmc.Config{Host: h, Policy: cfg, Services: services.For(h), RootCAs: ca.Pool(), Seed: 11, Logger: lg})
	Expect(err).NotTo(HaveOccurred())
	d.Start()
	DeferCleanup(d.Stop)
	d.Post(policy.UserRequest{Source: policy.FromOS})
	return d
}

var _ = Describe("Wrong credentials", func() {
	It("CIRA: the MPS refuses, the device backs off with jitter and shows its retries in Status", func() {
		m := startMPS()
		defer m.Close()
		bo := backoff.Config{Initial: 200 * time.Millisecond, Max: 1600 * time.Millisecond, Multiplier: 2, JitterFraction: 1, Mode: backoff.JitterEqual}
		d := userDevice(m.Port(), "wrong-password", bo, nil)
		Eventually(func() int { return len(m.Attempts()) }, "15s", "20ms").Should(BeNumerically(">=", 6))
		st := d.Status()
		Expect(st.Tunnel).NotTo(Equal(policy.TunnelUp))
		Expect(st.LastError).To(ContainSubstring("refused the CIRA credentials"))
		Expect(st.RetryAttempts).To(BeNumerically(">=", 5))
		Expect(m.Ready()).To(BeZero())

		at := m.Attempts()
		jittered := false
		for i := 1; i < 6; i++ {
			Expect(at[i].OK).To(BeFalse())
			Expect(at[i].UUID).To(Equal(vmctest.UUID(7)))
			base := min(bo.Initial<<(i-1), bo.Max)
			gap := at[i].At.Sub(at[i-1].At)
			// Equal jitter: the delay is in (base/2, base]; the gap adds a
			// connect (TLS + APF) on top.
			Expect(gap).To(BeNumerically(">", base/2-10*time.Millisecond), "gap %d", i)
			Expect(gap).To(BeNumerically("<", base+500*time.Millisecond), "gap %d", i)
			if gap < base*85/100 {
				jittered = true
			}
		}
		Expect(jittered).To(BeTrue(), "five retries all within 15%% of the un-jittered base")
	})

	It("WS-MAN: a wrong digest password gets 401 again, the right one 200", func() {
		if !wsmanServed() {
			Skip("services.For does not serve WS-MAN on 16992 in this tree")
		}
		m := startMPS()
		defer m.Close()
		d := build(spec(1, m.Addr()))
		Eventually(m.Ready, "10s").Should(Equal(1))
		c := m.Conn(d.Host().Identity().UUID)

		ch := openChannel(c, 16992)
		head := wsmanRequest(ch, "")
		ch.Close()
		Expect(head).To(HavePrefix("HTTP/1.1 401"))
		chal, err := digest.ParseChallenge(header(head, "WWW-Authenticate"))
		Expect(err).NotTo(HaveOccurred())
		Expect(chal.Realm).To(Equal(vmc.RealmFor(vmctest.UUID(1))))

		sign := func(pass, nc string) string {
			a := &digest.Authorization{Username: amtUser, Realm: chal.Realm, Nonce: chal.Nonce, URI: "/wsman",
				QOP: "auth", NC: nc, CNonce: "0a1b2c3d"}
			a.Sign(pass, "POST")
			return a.String()
		}
		ch = openChannel(c, 16992)
		head = wsmanRequest(ch, sign("not-the-password", "00000001"))
		ch.Close()
		Expect(head).To(HavePrefix("HTTP/1.1 401"))

		ch = openChannel(c, 16992)
		defer ch.Close()
		head = wsmanRequest(ch, sign(amtPass, "00000002"))
		Expect(head).To(HavePrefix("HTTP/1.1 200"))
	})

	It("redirection: a wrong digest password fails with a fresh challenge, the right one succeeds", func() {
		m := startMPS()
		defer m.Close()
		d := build(spec(2, m.Addr()))
		Eventually(m.Ready, "10s").Should(Equal(1))
		c := m.Conn(d.Host().Identity().UUID)

		ch := openChannel(c, 16994)
		rc := &vmctest.RedirConsole{Conn: ch}
		r, err := rc.Start(redir.SessionKVM)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Status).To(Equal(redir.StartStatusSuccess))
		a, err := rc.DigestLogin(amtUser, "not-the-password")
		Expect(err).NotTo(HaveOccurred())
		Expect(a.Status).NotTo(Equal(redir.AuthStatusSuccess))
		ch.Close()

		// The KVM reservation is released with the failed session.
		Eventually(d.Host().KVMActive, "5s").Should(BeFalse())
		ch = openChannel(c, 16994)
		defer ch.Close()
		cl, si, err := vmctest.OpenKVM(ch, amtUser, amtPass)
		Expect(err).NotTo(HaveOccurred())
		Expect(si.Width).To(BeEquivalentTo(1920))
		Expect(cl.Request(false)).To(Succeed())
		_, _, err = cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
	})

	It("VNC on 5900: a wrong password fails, the right one gets ServerInit", func() {
		m := startMPS()
		defer m.Close()
		d := build(spec(3, m.Addr()))
		Eventually(m.Ready, "10s").Should(Equal(1))
		c := m.Conn(d.Host().Identity().UUID)

		ch := openChannel(c, 5900)
		_, err := kvmtest.VNCHandshake(ch, rfb.V38, "wrongpw1")
		ch.Close()
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("fail"))

		Eventually(d.Host().KVMActive, "5s").Should(BeFalse())
		ch = openChannel(c, 5900)
		defer ch.Close()
		si, err := kvmtest.VNCHandshake(ch, rfb.V38, vncPass)
		Expect(err).NotTo(HaveOccurred())
		Expect(si.Width).To(BeEquivalentTo(1920))
	})
})
