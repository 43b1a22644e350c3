package registry_test

import (
	"errors"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/server/registry"
)

func reason(err error) string {
	var te *registry.TokenError
	if errors.As(err, &te) {
		return te.Reason
	}
	return "not a token error: " + fmt.Sprint(err)
}

var _ = Describe("pairings", func() {
	var s *registry.SQLite
	np := func() registry.NewPairing {
		return registry.NewPairing{DeviceUUID: devUUID(1), GatewayID: "gw50", ConsoleID: "console-1", TTL: time.Minute,
			GatewayPublicKey: key32(0x11), ConsolePublicKey: key32(0x22), Path: registry.SessionDirect,
			Roles: []registry.TokenRole{registry.RoleDevice, registry.RoleConsole, registry.RoleGateway}}
	}
	BeforeEach(func() { s = open(GinkgoT().TempDir()) })

	It("creates a pairing with one token per role and both public keys", func() {
		p, toks, err := s.CreatePairing(ctx, np(), t0)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.SessionID).To(HavePrefix("ps-"))
		Expect(p.State).To(Equal(registry.PairingCreated))
		Expect(p.ExpiresAt).To(Equal(t0.Add(time.Minute)))
		Expect(p.GatewayPublicKey).To(Equal(key32(0x11)))
		Expect(p.ConsolePublicKey).To(Equal(key32(0x22)))
		Expect(toks).To(HaveLen(3))
		Expect(toks[registry.RoleDevice]).NotTo(Equal(toks[registry.RoleConsole]))

		got, err := s.GetPairing(ctx, p.SessionID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(p))

		bad := np()
		bad.GatewayID = ""
		_, _, err = s.CreatePairing(ctx, bad, t0)
		Expect(err).To(MatchError(registry.ErrInvalid))
		bad.Path = registry.SessionClassic
		_, _, err = s.CreatePairing(ctx, bad, t0)
		Expect(err).NotTo(HaveOccurred())
		bad = np()
		bad.ConsolePublicKey = []byte{1, 2}
		_, _, err = s.CreatePairing(ctx, bad, t0)
		Expect(err).To(MatchError(registry.ErrInvalid))
		bad = np()
		bad.TTL = 0
		_, _, err = s.CreatePairing(ctx, bad, t0)
		Expect(err).To(MatchError(registry.ErrInvalid))
		bad = np()
		bad.SessionID = p.SessionID
		_, _, err = s.CreatePairing(ctx, bad, t0)
		Expect(err).To(MatchError(registry.ErrExists))
	})

	It("spends each token once and refuses with a reason", func() {
		p, toks, err := s.CreatePairing(ctx, np(), t0)
		Expect(err).NotTo(HaveOccurred())
		other, otherToks, err := s.CreatePairing(ctx, np(), t0)
		Expect(err).NotTo(HaveOccurred())

		_, err = s.ConsumeToken(ctx, p.SessionID, registry.RoleConsole, toks[registry.RoleDevice], t0)
		Expect(reason(err)).To(Equal(registry.TokenWrongRole))
		_, err = s.ConsumeToken(ctx, other.SessionID, registry.RoleDevice, toks[registry.RoleDevice], t0)
		Expect(reason(err)).To(Equal(registry.TokenWrongSession))
		_, err = s.ConsumeToken(ctx, p.SessionID, registry.RoleDevice, "forged", t0)
		Expect(reason(err)).To(Equal(registry.TokenUnknown))
		_, err = s.ConsumeToken(ctx, p.SessionID, registry.RoleDevice, "", t0)
		Expect(reason(err)).To(Equal(registry.TokenUnknown))

		got, err := s.ConsumeToken(ctx, p.SessionID, registry.RoleDevice, toks[registry.RoleDevice], t0.Add(time.Second))
		Expect(err).NotTo(HaveOccurred())
		Expect(got.SessionID).To(Equal(p.SessionID))
		Expect(got.DeviceUUID).To(Equal(devUUID(1)))
		_, err = s.ConsumeToken(ctx, p.SessionID, registry.RoleDevice, toks[registry.RoleDevice], t0.Add(2*time.Second))
		Expect(err).To(MatchError(registry.ErrToken))
		Expect(reason(err)).To(Equal(registry.TokenReused))

		// The token alone identifies the session.
		_, err = s.ConsumeToken(ctx, "", registry.RoleConsole, toks[registry.RoleConsole], t0)
		Expect(err).NotTo(HaveOccurred())

		// Expired pairing.
		_, err = s.ConsumeToken(ctx, p.SessionID, registry.RoleGateway, toks[registry.RoleGateway], t0.Add(time.Minute))
		Expect(reason(err)).To(Equal(registry.TokenExpired))

		// Closed pairing.
		_, err = s.UpdatePairing(ctx, other.SessionID, registry.PairingUpdate{State: registry.PairingFailed, Reason: "gateway offline"}, t0)
		Expect(err).NotTo(HaveOccurred())
		_, err = s.ConsumeToken(ctx, other.SessionID, registry.RoleDevice, otherToks[registry.RoleDevice], t0)
		Expect(reason(err)).To(Equal(registry.TokenClosed))
	})

	It("lets exactly one of many concurrent presenters spend a token", func() {
		p, toks, err := s.CreatePairing(ctx, np(), t0)
		Expect(err).NotTo(HaveOccurred())
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, reused := 0, 0
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.ConsumeToken(ctx, p.SessionID, registry.RoleConsole, toks[registry.RoleConsole], t0)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					wins++
				} else if reason(err) == registry.TokenReused {
					reused++
				}
			}()
		}
		wg.Wait()
		Expect(wins).To(Equal(1))
		Expect(reused).To(Equal(19))
	})

	It("updates, lists and expires pairings", func() {
		a, _, _ := s.CreatePairing(ctx, np(), t0)
		b, _, _ := s.CreatePairing(ctx, np(), t0.Add(time.Second))
		c := np()
		c.DeviceUUID = devUUID(2)
		c.TTL = time.Hour
		_, _, err := s.CreatePairing(ctx, c, t0)
		Expect(err).NotTo(HaveOccurred())

		u, err := s.UpdatePairing(ctx, a.SessionID, registry.PairingUpdate{State: registry.PairingActive, Path: registry.SessionRelay,
			Reason: "direct connect timed out", Outcome: "first frame 210ms"}, t0.Add(5*time.Second))
		Expect(err).NotTo(HaveOccurred())
		Expect(u.Path).To(Equal(registry.SessionRelay))
		Expect(u.Reason).To(Equal("direct connect timed out"))
		Expect(u.UpdatedAt).To(Equal(t0.Add(5 * time.Second)))
		_, err = s.UpdatePairing(ctx, a.SessionID, registry.PairingUpdate{State: "bogus"}, t0)
		Expect(err).To(MatchError(registry.ErrInvalid))
		_, err = s.UpdatePairing(ctx, "ps-none", registry.PairingUpdate{State: registry.PairingClosed}, t0)
		Expect(err).To(MatchError(registry.ErrNotFound))

		list, err := s.ListPairings(ctx, registry.PairingFilter{DeviceUUID: devUUID(1)})
		Expect(err).NotTo(HaveOccurred())
		Expect(list).To(HaveLen(2))
		Expect(list[0].SessionID).To(Equal(b.SessionID)) // newest first
		list, _ = s.ListPairings(ctx, registry.PairingFilter{State: registry.PairingActive})
		Expect(list).To(HaveLen(1))

		n, err := s.ExpirePairings(ctx, t0.Add(2*time.Minute))
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(2))
		list, _ = s.ListPairings(ctx, registry.PairingFilter{State: registry.PairingExpired})
		Expect(list).To(HaveLen(2))
	})
})

var _ = Describe("help requests", func() {
	var s *registry.SQLite
	BeforeEach(func() { s = open(GinkgoT().TempDir()) })

	It("queues one open request per device and expires it", func() {
		h, err := s.CreateHelpRequest(ctx, devUUID(1), "screen is black", t0, time.Minute)
		Expect(err).NotTo(HaveOccurred())
		Expect(h.State).To(Equal(registry.HelpOpen))
		again, err := s.CreateHelpRequest(ctx, devUUID(1), "still black", t0.Add(time.Second), time.Minute)
		Expect(err).NotTo(HaveOccurred())
		Expect(again.ID).To(Equal(h.ID))
		_, err = s.CreateHelpRequest(ctx, devUUID(2), "", t0, time.Minute)
		Expect(err).NotTo(HaveOccurred())

		open, err := s.ListHelpRequests(ctx, registry.HelpOpen, t0)
		Expect(err).NotTo(HaveOccurred())
		Expect(open).To(HaveLen(2))

		open, _ = s.ListHelpRequests(ctx, registry.HelpOpen, t0.Add(time.Minute))
		Expect(open).To(BeEmpty())
		exp, _ := s.ListHelpRequests(ctx, registry.HelpExpired, t0.Add(time.Minute))
		Expect(exp).To(HaveLen(2))
		_, err = s.AcceptHelpRequest(ctx, h.ID, "c1", t0.Add(time.Minute))
		Expect(err).To(MatchError(ContainSubstring("is expired")))

		// After expiry the device may ask again.
		h2, err := s.CreateHelpRequest(ctx, devUUID(1), "", t0.Add(2*time.Minute), time.Minute)
		Expect(err).NotTo(HaveOccurred())
		Expect(h2.ID).NotTo(Equal(h.ID))
		_, err = s.ListHelpRequests(ctx, "weird", t0)
		Expect(err).To(MatchError(registry.ErrInvalid))
	})

	It("lets exactly one of racing consoles accept", func() {
		h, err := s.CreateHelpRequest(ctx, devUUID(1), "", t0, time.Minute)
		Expect(err).NotTo(HaveOccurred())
		var wg sync.WaitGroup
		results := make(chan error, 10)
		winner := make(chan registry.HelpRequest, 10)
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				got, err := s.AcceptHelpRequest(ctx, h.ID, fmt.Sprint("console-", i), t0.Add(time.Second))
				results <- err
				if err == nil {
					winner <- got
				}
			}(i)
		}
		wg.Wait()
		close(results)
		ok, conflicts := 0, 0
		for err := range results {
			if err == nil {
				ok++
			} else if errors.Is(err, registry.ErrConflict) {
				conflicts++
				Expect(err.Error()).To(ContainSubstring("already accepted by console-"))
			}
		}
		Expect(ok).To(Equal(1))
		Expect(conflicts).To(Equal(9))
		w := <-winner
		Expect(w.State).To(Equal(registry.HelpAccepted))
		Expect(s.LinkHelpRequest(ctx, h.ID, "ps-abc")).To(Succeed())
		got, err := s.GetHelpRequest(ctx, h.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.AcceptedBy).To(Equal(w.AcceptedBy))
		Expect(got.SessionID).To(Equal("ps-abc"))

		_, err = s.AcceptHelpRequest(ctx, "hr-none", "c", t0)
		Expect(err).To(MatchError(registry.ErrNotFound))
		Expect(s.LinkHelpRequest(ctx, "hr-none", "x")).To(MatchError(registry.ErrNotFound))
	})
})

var _ = Describe("audit log", func() {
	var s *registry.SQLite
	BeforeEach(func() { s = open(GinkgoT().TempDir()) })

	It("appends, queries by subject and time, and cannot be altered", func() {
		for i := 0; i < 6; i++ {
			_, err := s.AppendAudit(ctx, registry.AuditRecord{Time: t0.Add(time.Duration(i) * time.Minute), Actor: "server",
				Action: "pairing.create", Subject: devUUID(i % 2), Outcome: "ok", Reason: "capable",
				Details: []byte(fmt.Sprintf(`{"path":"direct","n":%d}`, i))})
			Expect(err).NotTo(HaveOccurred())
		}
		recs, err := s.QueryAudit(ctx, registry.AuditQuery{Subject: devUUID(1)})
		Expect(err).NotTo(HaveOccurred())
		Expect(recs).To(HaveLen(3))
		Expect(string(recs[0].Details)).To(MatchJSON(`{"path":"direct","n":1}`))
		recs, _ = s.QueryAudit(ctx, registry.AuditQuery{Since: t0.Add(2 * time.Minute), Until: t0.Add(4 * time.Minute)})
		Expect(recs).To(HaveLen(2))
		Expect(recs[0].Time).To(Equal(t0.Add(2 * time.Minute)))
		page1, _ := s.QueryAudit(ctx, registry.AuditQuery{Limit: 4})
		page2, _ := s.QueryAudit(ctx, registry.AuditQuery{Limit: 4, AfterID: page1[3].ID})
		Expect(page1).To(HaveLen(4))
		Expect(page2).To(HaveLen(2))

		raw := rawDB(s)
		_, err = raw.Exec(`UPDATE audit_log SET outcome = 'tampered'`)
		Expect(err).To(MatchError(ContainSubstring("append-only")))
		_, err = raw.Exec(`DELETE FROM audit_log`)
		Expect(err).To(MatchError(ContainSubstring("append-only")))
	})

	It("redacts secrets in details and refuses bad details", func() {
		_, err := s.AppendAudit(ctx, registry.AuditRecord{Time: t0, Action: "device.enrol", Subject: "x",
			Details: []byte(`{"user":"u","ciraPassword":"p1","list":[{"Token":"t"}],"gatewayPublicKey":"AAAA","apiKey":"k"}`)})
		Expect(err).NotTo(HaveOccurred())
		recs, _ := s.QueryAudit(ctx, registry.AuditQuery{Subject: "x"})
		Expect(string(recs[0].Details)).To(MatchJSON(`{"user":"u","ciraPassword":"[redacted]","list":[{"Token":"[redacted]"}],"gatewayPublicKey":"AAAA","apiKey":"[redacted]"}`))

		for _, d := range []string{`[1]`, `{"a":`, `"x"`} {
			_, err = s.AppendAudit(ctx, registry.AuditRecord{Time: t0, Action: "a", Details: []byte(d)})
			Expect(err).To(MatchError(registry.ErrInvalid), d)
		}
		_, err = s.AppendAudit(ctx, registry.AuditRecord{Action: "a"})
		Expect(err).To(MatchError(registry.ErrInvalid))
		_, err = s.AppendAudit(ctx, registry.AuditRecord{Time: t0})
		Expect(err).To(MatchError(registry.ErrInvalid))
	})
})
