package session_test

import (
	"context"
	"encoding/hex"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/console"
	"github.com/oobtb/oobtb/emulators/console/kvmclient"
	"github.com/oobtb/oobtb/emulators/console/redirclient"
	"github.com/oobtb/oobtb/emulators/console/session"
	"github.com/oobtb/oobtb/emulators/gateway/p2p"
	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
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

var _ = Describe("Relay fallback", func() {
	It("falls back to the P2P relay when the gateway's WAN endpoint is unreachable; the relay sees ciphertext only", func() {
		e := newEnv(envOpts{})
		bn := &blockNet{blocked: map[string]bool{e.gw.WANAddr().String(): true}}
		c := e.console(func(cfg *session.Config) { cfg.Network = bn; cfg.DirectWait = time.Second })
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		s, err := c.Open(ctx, session.PairingRequest{Device: devUUID})
		Expect(err).NotTo(HaveOccurred())
		defer s.Close()
		Expect(s.Path).To(Equal(session.PathRelay))
		Expect(s.Why).To(ContainSubstring("direct path to the gateway failed within 1s"))
		Expect(s.Why).To(ContainSubstring("blocked by the test's firewall"))

		st, err := s.OpenStream(ctx, "kvm")
		Expect(err).NotTo(HaveOccurred())
		rs := &recStream{Conn: st}
		kc, err := kvmclient.Open(rs, kvmclient.Config{Credentials: creds, Timeout: 20 * time.Second})
		Expect(err).NotTo(HaveOccurred())
		o := kvmOpts()
		o.Type = "ls\n"
		stats, err := console.RunKVM(ctx, kc, o)
		Expect(err).NotTo(HaveOccurred())
		Expect(stats.Inputs.Seen).To(BeNumerically(">", 0))

		plain := rs.bytes()
		Expect(contains(plain, "RFB 00")).To(BeTrue(), "the console's plaintext has the RFB banner")
		wire := bn.bytes()
		Expect(len(wire)).To(BeNumerically(">", len(plain)))
		Expect(contains(wire, "RFB 00")).To(BeFalse())
		Expect(contains(wire, "\xb7\x1e\x01")).To(BeFalse(), "frame stamp magic on the relay")
		// No 32-byte window of the plaintext KVM stream crosses the relay.
		for off := 0; off+32 <= len(plain); off += 512 {
			Expect(contains(wire, string(plain[off:off+32]))).To(BeFalse(), "plaintext at offset %d seen on the relay", off)
		}
		Eventually(func() float64 { return e.counter("oobtb_server_p2p_relay_bytes_total", nil) }).Should(BeNumerically(">", len(plain)))
		Expect(e.counter("oobtb_server_relay_bytes_total", kvmRelayed)).To(BeZero())
		p, err := e.srv.Store().GetPairing(ctx, s.Answer.SessionID)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(p.Path)).To(Equal("relay"))
	})

	It("refuses wrong and reused relay tokens", func() {
		e := newEnv(envOpts{})
		bn := &blockNet{blocked: map[string]bool{e.gw.WANAddr().String(): true}}
		c := e.console(func(cfg *session.Config) { cfg.Network = bn; cfg.DirectWait = 500 * time.Millisecond })
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a, err := c.Pair(ctx, session.PairingRequest{Device: devUUID})
		Expect(err).NotTo(HaveOccurred())
		_, err = session.DialRelay(ctx, bn, a.RelayURL, "not-the-token")
		Expect(err).To(MatchError(And(ContainSubstring("403"), ContainSubstring("unknown token"))))
		s, err := c.Connect(ctx, a)
		Expect(err).NotTo(HaveOccurred())
		defer s.Close()
		Expect(s.Path).To(Equal(session.PathRelay))
		_, err = session.DialRelay(ctx, bn, a.RelayURL, a.RelayToken)
		Expect(err).To(MatchError(ContainSubstring("token already used")))
	})
})

var _ = Describe("Classic path", func() {
	It("serves a stock device classically, with the reason, through the server's relay", func() {
		e := newEnv(envOpts{spec: func(s *vmc.Spec) { s.Stock = true }})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		s, err := e.console().Open(ctx, session.PairingRequest{Device: devUUID})
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Path).To(Equal(session.PathClassic))
		Expect(s.Why).To(Equal("device sent no failover capability field (stock AMT)"))
		rep, err := s.RunKVM(ctx, kvmOpts(), time.Time{})
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Path).To(Equal(session.PathClassic))
		Expect(e.counter("oobtb_server_relay_bytes_total", kvmRelayed)).To(BeNumerically(">", 0))
	})

	It("serves an incapable device classically with that reason", func() {
		e := newEnv(envOpts{spec: func(s *vmc.Spec) { s.Incapable = true }})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a, err := e.console().Pair(ctx, session.PairingRequest{Device: devUUID})
		Expect(err).NotTo(HaveOccurred())
		Expect(a.Path).To(Equal("classic"))
		Expect(a.Reason).To(HavePrefix("device is not failover-capable"))
	})

	It("refuses a malformed capability field with a clear error, or serves it classically when allowed", func() {
		e := newEnv(envOpts{spec: func(s *vmc.Spec) { s.Malformed = true }})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := e.console()
		_, err := c.Pair(ctx, session.PairingRequest{Device: devUUID})
		re := refusal(err)
		Expect(re.Status).To(Equal(422))
		Expect(re.Code).To(Equal("malformed_capability"))
		Expect(re.Reason).To(HavePrefix("device sent a malformed failover capability field: "))
		a, err := c.Pair(ctx, session.PairingRequest{Device: devUUID, Fallback: "classic"})
		Expect(err).NotTo(HaveOccurred())
		Expect(a.Path).To(Equal("classic"))
		Expect(a.Reason).To(HavePrefix("device sent a malformed failover capability field: "))
	})

	It("serves the classic path with reason \"gateway offline\" when the gateway is down", func() {
		e := newEnv(envOpts{})
		Expect(e.gw.Close()).To(Succeed())
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		Eventually(func() bool { g, _ := e.srv.Store().GetGateway(ctx, gwID); return g.Online }, "10s", "20ms").Should(BeFalse())
		s, err := e.console().Open(ctx, session.PairingRequest{Device: devUUID, Gateway: &session.GatewayRef{Type: "udi", Value: "GW-0001"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Path).To(Equal(session.PathClassic))
		Expect(s.Why).To(HavePrefix("gateway offline: " + gwID))
		_, err = s.RunKVM(ctx, kvmOpts(), time.Time{})
		Expect(err).NotTo(HaveOccurred())
	})

	It("recovers over the classic path when the gateway dies mid-session, within 5 s", func() {
		e := newEnv(envOpts{})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		s, err := e.console().Open(ctx, session.PairingRequest{Device: devUUID})
		Expect(err).NotTo(HaveOccurred())
		defer s.Close()
		Expect(s.Path).To(Equal(session.PathDirect))
		o := kvmOpts()
		o.Duration = 3 * time.Second
		done := make(chan session.KVMReport, 1)
		go func() {
			defer GinkgoRecover()
			rep, err := s.RunKVM(ctx, o, time.Time{})
			Expect(err).NotTo(HaveOccurred())
			done <- rep
		}()
		time.Sleep(700 * time.Millisecond)
		Expect(e.gw.Close()).To(Succeed())
		var rep session.KVMReport
		Eventually(done, "30s").Should(Receive(&rep))
		Expect(rep.Recovered).To(BeTrue())
		Expect(rep.Path).To(Equal(session.PathClassic))
		Expect(rep.LostReason).To(ContainSubstring("channel to the gateway lost"))
		Expect(rep.RecoveryMs).To(And(BeNumerically(">", 0), BeNumerically("<", 5000)))
		Expect(rep.Before.Updates).To(BeNumerically(">", 0))
		Expect(rep.Stats.Updates).To(BeNumerically(">", 0))
		GinkgoWriter.Printf("recovery after the gateway died: %.1f ms\n", rep.RecoveryMs)
	})
})

var _ = Describe("F2: user-initiated help request", func() {
	It("queues a help request, a console accepts it (once) and gets a paired session", func() {
		e := newEnv(envOpts{})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c := e.console()
		// The user presses "call for help" on a device whose periodic tunnel
		// is up: the vMC reconnects with trigger user-initiated.
		e.dev.Post(policy.UserRequest{Source: policy.FromOS})
		var reqs []session.HelpRequest
		Eventually(func() ([]session.HelpRequest, error) {
			var err error
			reqs, err = c.HelpRequests(ctx, "open")
			return reqs, err
		}, "10s", "50ms").Should(HaveLen(1))
		Expect(reqs[0].DeviceUUID).To(Equal(devUUID))
		// The vMC settles on its user-initiated tunnel (it reconnects once
		// after replacing the periodic one) before it follows gateway-connect.
		Eventually(func() bool {
			st := e.dev.Status()
			t, ok := e.srv.Tunnel(devUUID)
			return st.ServerExt && st.Trigger == policy.TriggerUser && st.LastError == "" && ok && t.Conn() != nil
		}, "10s", "50ms").Should(BeTrue())
		a, err := c.Accept(ctx, reqs[0].ID, session.PairingRequest{})
		Expect(err).NotTo(HaveOccurred())
		Expect(a.Path).To(Equal("direct"))
		Expect(a.HelpRequest).To(Equal(reqs[0].ID))
		s, err := c.Connect(ctx, a)
		Expect(err).NotTo(HaveOccurred())
		defer s.Close()
		rep, err := s.RunKVM(ctx, kvmOpts(), time.Time{})
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Path).To(Equal(session.PathDirect))

		other := e.console(func(cfg *session.Config) { cfg.ConsoleID = "console-b" })
		_, err = other.Accept(ctx, reqs[0].ID, session.PairingRequest{})
		re := refusal(err)
		Expect(re.Status).To(Equal(409))
		Expect(re.Reason).To(ContainSubstring("console-a"))
		acc, err := c.HelpRequests(ctx, "accepted")
		Expect(err).NotTo(HaveOccurred())
		Expect(acc).To(ConsistOf(And(HaveField("AcceptedBy", "console-a"), HaveField("SessionID", a.SessionID))))
	})
})

var _ = Describe("Security: failing closed with a clear reason", func() {
	var (
		e   *env
		c   *session.Client
		ctx context.Context
	)
	BeforeEach(func() {
		e = newEnv(envOpts{pairingTTL: 3 * time.Second})
		c = e.console()
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
		DeferCleanup(cancel)
	})

	pair := func() session.Answer {
		a, err := c.Pair(ctx, session.PairingRequest{Device: devUUID})
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		ExpectWithOffset(1, a.Path).To(Equal("direct"))
		return a
	}

	It("refuses an unknown gateway", func() {
		_, err := c.Pair(ctx, session.PairingRequest{Device: devUUID, Gateway: &session.GatewayRef{Type: "udi", Value: "GW-9999"}})
		re := refusal(err)
		Expect(re.Status).To(Equal(404))
		Expect(re.Code).To(Equal("unknown_gateway"))
		Expect(re.Reason).To(Equal("unknown gateway udi:GW-9999 (not found)"))
		_, err = c.Pair(ctx, session.PairingRequest{Device: devUUID, Gateway: &session.GatewayRef{Type: "serial", Value: "x"}})
		Expect(refusal(err).Status).To(Equal(400))
	})

	It("refuses a console whose key is not the one in the pairing (tampered key)", func() {
		a := pair()
		intruder := e.console()
		_, err := intruder.Connect(ctx, a)
		Expect(err).To(MatchError(And(ContainSubstring("gateway refused the console"), ContainSubstring("wrong console key"))))
	})

	It("fails when the gateway key in the answer was tampered with", func() {
		a := pair()
		other, _ := p2p.GenerateKey()
		a.GatewayKey = hex.EncodeToString(other.Public)
		_, err := c.Connect(ctx, a)
		Expect(err).To(HaveOccurred())
	})

	It("refuses a wrong console id and a wrong device (tampered prologue)", func() {
		a := pair()
		wrong := a
		p := *a.Prologue
		p.ConsoleID = "console-x"
		wrong.Prologue = &p
		_, err := c.Connect(ctx, wrong)
		Expect(err).To(MatchError(ContainSubstring("tampered pairing fields")))
		wrong = a
		p = *a.Prologue
		p.DeviceUUID = "5e551011-0000-4000-8000-0000000000ff"
		wrong.Prologue, wrong.Device = &p, p.DeviceUUID
		_, err = c.Connect(ctx, wrong)
		Expect(err).To(MatchError(ContainSubstring("tampered pairing fields")))
	})

	It("refuses a replayed pairing", func() {
		a := pair()
		s, err := c.Connect(ctx, a)
		Expect(err).NotTo(HaveOccurred())
		defer s.Close()
		_, err = c.Connect(ctx, a)
		Expect(err).To(MatchError(ContainSubstring("replay")))
	})

	It("refuses an expired pairing at the gateway and at the relay", func() {
		a := pair()
		time.Sleep(time.Until(a.ExpiresAt.Add(1100 * time.Millisecond)))
		_, err := c.Connect(ctx, a)
		Expect(err).To(MatchError(ContainSubstring("expired")))
		_, err = session.DialRelay(ctx, netx.Host{}, a.RelayURL, a.RelayToken)
		Expect(err).To(MatchError(ContainSubstring("pairing expired")))
	})

	It("audits every decision with path, reason and outcome, and never logs a token", func() {
		a := pair()
		_, _ = c.Pair(ctx, session.PairingRequest{Device: devUUID, Gateway: &session.GatewayRef{Type: "udi", Value: "nope"}})
		Expect(e.srv.Flush(ctx)).To(Succeed())
		recs, err := e.srv.Store().QueryAudit(ctx, registry.AuditQuery{Action: "pairing.request"})
		Expect(err).NotTo(HaveOccurred())
		Expect(recs).To(ContainElements(
			And(HaveField("Outcome", "paired"), HaveField("Details", ContainSubstring(`"path":"direct"`))),
			And(HaveField("Outcome", "refused"), HaveField("Reason", ContainSubstring("unknown gateway")))))
		Expect(e.logs.String()).NotTo(ContainSubstring(a.RelayToken))
		for _, r := range recs {
			Expect(string(r.Details)).NotTo(ContainSubstring(a.RelayToken))
		}
	})
})
