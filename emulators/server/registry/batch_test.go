package registry_test

import (
	"errors"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/server/registry"
)

var _ = Describe("ApplyWrites", func() {
	var s *registry.SQLite
	BeforeEach(func() { s = open(GinkgoT().TempDir()) })

	It("applies every write in order and fails only the refused ones", func() {
		enrol(s, 1)
		enrol(s, 2)
		later := t0.Add(time.Minute)
		trig := "periodic"
		ws := []registry.Write{
			{UUID: devUUID(1), Connection: &registry.ConnectionUpdate{Now: t0, State: registry.StateConnected, Trigger: &trig}},
			{UUID: devUUID(9), Connection: &registry.ConnectionUpdate{Now: t0, State: registry.StateConnected}},
			{UUID: devUUID(2), Connection: &registry.ConnectionUpdate{State: registry.StateConnected}},
			{Audit: &registry.AuditRecord{Time: t0, Actor: "device", Action: "cira.connect", Subject: devUUID(1), Outcome: "ok"}},
			{Audit: &registry.AuditRecord{Time: t0, Actor: "device"}},
			{UUID: devUUID(2), Connection: &registry.ConnectionUpdate{Now: later, State: registry.StateConnected}},
			{UUID: devUUID(1), Connection: &registry.ConnectionUpdate{Now: later, State: registry.StateDisconnected}},
			{},
		}
		errs := s.ApplyWrites(ctx, ws)
		Expect(errs).To(HaveLen(len(ws)))
		Expect(errs[0]).NotTo(HaveOccurred())
		Expect(errs[1]).To(MatchError(registry.ErrNotFound))
		Expect(errs[1].Error()).To(ContainSubstring(devUUID(9)))
		Expect(errs[2]).To(MatchError(registry.ErrInvalid))
		Expect(errs[3]).NotTo(HaveOccurred())
		Expect(errs[4]).To(MatchError(registry.ErrInvalid))
		Expect(errs[5]).NotTo(HaveOccurred())
		Expect(errs[6]).NotTo(HaveOccurred())
		Expect(errs[7]).To(MatchError(registry.ErrInvalid))

		d1, err := s.GetDevice(ctx, devUUID(1))
		Expect(err).NotTo(HaveOccurred())
		// Order holds inside the batch: the later "disconnected" wins.
		Expect(d1.State).To(Equal(registry.StateDisconnected))
		Expect(d1.LastTrigger).To(Equal("periodic"))
		Expect(d1.LastSeen).To(Equal(later))
		d2, err := s.GetDevice(ctx, devUUID(2))
		Expect(err).NotTo(HaveOccurred())
		Expect(d2.State).To(Equal(registry.StateConnected))
		Expect(d2.ConnectedAt).To(Equal(later))
		recs, err := s.QueryAudit(ctx, registry.AuditQuery{})
		Expect(err).NotTo(HaveOccurred())
		Expect(recs).To(HaveLen(1))
		Expect(recs[0].Action).To(Equal("cira.connect"))
	})

	It("splits long queues into several transactions and loses nothing", func() {
		const n = registry.MaxBatch*2 + 7
		for i := 1; i <= 3; i++ {
			enrol(s, i)
		}
		ws := make([]registry.Write, n)
		for i := range ws {
			if i%2 == 0 {
				ws[i] = registry.Write{UUID: devUUID(1 + i%3), Connection: &registry.ConnectionUpdate{Now: t0.Add(time.Duration(i) * time.Second)}}
			} else {
				ws[i] = registry.Write{Audit: &registry.AuditRecord{Time: t0, Actor: "test", Action: "batch", Subject: devUUID(i)}}
			}
		}
		for i, err := range s.ApplyWrites(ctx, ws) {
			Expect(err).NotTo(HaveOccurred(), "write %d", i)
		}
		var got int
		q := registry.AuditQuery{Action: "batch", Limit: 1000}
		for {
			recs, err := s.QueryAudit(ctx, q)
			Expect(err).NotTo(HaveOccurred())
			got += len(recs)
			if len(recs) < q.Limit {
				break
			}
			q.AfterID = recs[len(recs)-1].ID
		}
		Expect(got).To(Equal(n / 2))
		d, err := s.GetDevice(ctx, devUUID(1+(n-1)%3))
		Expect(err).NotTo(HaveOccurred())
		Expect(d.LastSeen).To(Equal(t0.Add(time.Duration(n-1) * time.Second)))
	})

	It("reports a closed store for every write", func() {
		enrol(s, 1)
		Expect(s.Close()).To(Succeed())
		errs := s.ApplyWrites(ctx, []registry.Write{
			{UUID: devUUID(1), Connection: &registry.ConnectionUpdate{Now: t0}},
			{Audit: &registry.AuditRecord{Time: t0, Actor: "a", Action: "b"}},
		})
		for _, err := range errs {
			Expect(errors.Is(err, registry.ErrClosed)).To(BeTrue(), "%v", err)
		}
	})

	It("answers DeviceExists from the enrolment", func() {
		enrol(s, 1)
		Expect(s.DeviceExists(ctx, devUUID(1))).To(BeTrue())
		Expect(s.DeviceExists(ctx, devUUID(2))).To(BeFalse())
		_, err := s.DeviceExists(ctx, "not-a-uuid")
		Expect(err).To(HaveOccurred())
	})
})
