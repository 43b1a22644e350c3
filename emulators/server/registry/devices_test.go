package registry_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/server/registry"
)

var _ = Describe("devices", func() {
	var s *registry.SQLite
	BeforeEach(func() { s = open(GinkgoT().TempDir()) })

	It("enrols with a canonical lower-case UUID and refuses duplicates", func() {
		d, err := s.EnrolDevice(ctx, registry.DeviceEnrolment{UUID: "12345678-9ABC-DEF0-1122-334455667788",
			CIRAUser: "u", CIRAPassword: "p", AMTPassword: "a"}, t0)
		Expect(err).NotTo(HaveOccurred())
		Expect(d.UUID).To(Equal("12345678-9abc-def0-1122-334455667788"))
		Expect(d.State).To(Equal(registry.StateEnrolled))
		Expect(d.AMTUser).To(Equal("admin"))
		Expect(d.CreatedAt).To(Equal(t0))
		Expect(d.BoundPorts).To(BeEmpty())

		_, err = s.EnrolDevice(ctx, registry.DeviceEnrolment{UUID: "12345678-9abc-def0-1122-334455667788",
			CIRAUser: "u", CIRAPassword: "p"}, t0)
		Expect(err).To(MatchError(registry.ErrExists))

		for _, bad := range []registry.DeviceEnrolment{
			{UUID: "not-a-uuid", CIRAUser: "u", CIRAPassword: "p"},
			{UUID: "{12345678-9abc-def0-1122-334455667788}", CIRAUser: "u", CIRAPassword: "p"},
			{UUID: devUUID(1), CIRAPassword: "p"},
			{UUID: devUUID(1), CIRAUser: "u"},
			{UUID: devUUID(1), CIRAUser: string(make([]byte, 300)), CIRAPassword: "p"},
		} {
			_, err = s.EnrolDevice(ctx, bad, t0)
			Expect(err).To(MatchError(registry.ErrInvalid))
		}
		_, err = s.GetDevice(ctx, devUUID(1))
		Expect(err).To(MatchError(registry.ErrNotFound))
	})

	It("lists in stable UUID order with keyset pages", func() {
		for _, i := range []int{7, 3, 22, 1, 15, 9, 4, 30, 2, 11, 5, 6, 8} {
			enrol(s, i)
		}
		var seen []string
		cursor := ""
		for {
			page, next, err := s.ListDevices(ctx, registry.Page{After: cursor, Limit: 5})
			Expect(err).NotTo(HaveOccurred())
			Expect(len(page)).To(BeNumerically("<=", 5))
			for _, d := range page {
				seen = append(seen, d.UUID)
			}
			if next == "" {
				break
			}
			// A device enrolled mid-walk before the cursor must not shift pages.
			if len(seen) == 5 {
				enrol(s, 0)
			}
			cursor = next
		}
		Expect(seen).To(HaveLen(13))
		Expect(seen).To(BeEquivalentTo(sortedCopy(seen)))
		Expect(seen[0]).To(Equal(devUUID(1)))
	})

	It("records connection events and keeps untouched fields", func() {
		enrol(s, 1)
		gw := []registry.Identifier{{Type: registry.IDMAC, Value: "AA-BB-CC-DD-EE-FF"}, {Type: registry.IDDomain, Value: "Lan.Example."}}
		d, err := s.UpdateConnection(ctx, devUUID(1), registry.ConnectionUpdate{
			Now: t0.Add(time.Minute), State: registry.StateConnected, Trigger: ptr("user-initiated"),
			BoundPorts: &[]registry.BoundPort{{Address: "", Port: 16992}, {Address: "", Port: 16994}},
			Failover:   &registry.Failover{Raw: []byte{0x4f, 0x01, 0x03}, Summary: "capable v1"},
			GatewayIDs: &gw, Path: ptr(registry.PathDirect), RemoteAddr: ptr("127.0.0.1:5555"),
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.State).To(Equal(registry.StateConnected))
		Expect(d.ConnectedAt).To(Equal(t0.Add(time.Minute)))
		Expect(d.LastTrigger).To(Equal("user-initiated"))
		Expect(d.BoundPorts).To(HaveLen(2))
		Expect(d.Failover.Raw).To(Equal([]byte{0x4f, 0x01, 0x03}))
		Expect(d.GatewayIDs).To(Equal([]registry.Identifier{{Type: registry.IDMAC, Value: "aa:bb:cc:dd:ee:ff"},
			{Type: registry.IDDomain, Value: "lan.example"}}))

		// A keepalive only touches LastSeen.
		d, err = s.UpdateConnection(ctx, devUUID(1), registry.ConnectionUpdate{Now: t0.Add(2 * time.Minute)})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.LastSeen).To(Equal(t0.Add(2 * time.Minute)))
		Expect(d.State).To(Equal(registry.StateConnected))
		Expect(d.BoundPorts).To(HaveLen(2))
		Expect(d.LastTriggerAt).To(Equal(t0.Add(time.Minute)))

		d, err = s.UpdateConnection(ctx, devUUID(1), registry.ConnectionUpdate{Now: t0.Add(3 * time.Minute),
			State: registry.StateDisconnected, Failover: &registry.Failover{}, Path: ptr(registry.PathGateway), ViaGateway: ptr("gw1")})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.State).To(Equal(registry.StateDisconnected))
		Expect(d.Failover.Raw).To(BeNil())
		Expect(d.Path).To(Equal(registry.PathGateway))
		Expect(d.ViaGateway).To(Equal("gw1"))

		_, err = s.UpdateConnection(ctx, devUUID(2), registry.ConnectionUpdate{Now: t0})
		Expect(err).To(MatchError(registry.ErrNotFound))
		_, err = s.UpdateConnection(ctx, devUUID(1), registry.ConnectionUpdate{})
		Expect(err).To(MatchError(registry.ErrInvalid))
		_, err = s.UpdateConnection(ctx, devUUID(1), registry.ConnectionUpdate{Now: t0, State: "weird"})
		Expect(err).To(MatchError(registry.ErrInvalid))
		_, err = s.UpdateConnection(ctx, devUUID(1), registry.ConnectionUpdate{Now: t0, Failover: &registry.Failover{Raw: make([]byte, 65)}})
		Expect(err).To(MatchError(registry.ErrInvalid))
		_, err = s.UpdateConnection(ctx, devUUID(1), registry.ConnectionUpdate{Now: t0, GatewayIDs: &[]registry.Identifier{{Type: "ipv4", Value: "300.1.1.1"}}})
		Expect(err).To(MatchError(registry.ErrInvalid))
	})

	It("deletes", func() {
		enrol(s, 1)
		Expect(s.DeleteDevice(ctx, devUUID(1))).To(Succeed())
		_, err := s.GetDevice(ctx, devUUID(1))
		Expect(err).To(MatchError(registry.ErrNotFound))
		Expect(s.DeleteDevice(ctx, devUUID(1))).To(MatchError(registry.ErrNotFound))
		Expect(s.VerifyCIRA(ctx, devUUID(1), "user1", "cira-pass-1")).To(MatchError(registry.ErrUnknownDevice))
	})

	Describe("credentials", func() {
		It("verifies CIRA credentials and refuses wrong ones", func() {
			enrol(s, 1)
			for i := 0; i < 3; i++ { // the second and third hit the verifier cache
				Expect(s.VerifyCIRA(ctx, devUUID(1), "user1", "cira-pass-1")).To(Succeed())
			}
			Expect(s.VerifyCIRA(ctx, devUUID(1), "user1", "cira-pass-2")).To(MatchError(registry.ErrBadCredentials))
			Expect(s.VerifyCIRA(ctx, devUUID(1), "user2", "cira-pass-1")).To(MatchError(registry.ErrBadCredentials))
			Expect(s.VerifyCIRA(ctx, devUUID(1), "", "")).To(MatchError(registry.ErrBadCredentials))
			err := s.VerifyCIRA(ctx, devUUID(9), "user1", "cira-pass-1")
			Expect(err).To(MatchError(registry.ErrUnknownDevice))
			Expect(errors.Is(err, registry.ErrBadCredentials)).To(BeFalse())
			Expect(s.VerifyCIRA(ctx, "garbage", "u", "p")).To(MatchError(registry.ErrUnknownDevice))
			// Upper-case UUID from the wire maps to the same device.
			Expect(s.VerifyCIRA(ctx, "00000000-0000-4000-8000-000000000001", "user1", "cira-pass-1")).To(Succeed())
			Expect(err.Error()).NotTo(ContainSubstring("cira-pass"))
		})

		It("stores passwords in the chosen scheme and verifies records of either", func() {
			dir := GinkgoT().TempDir()
			hashOf := func(i int) string {
				db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, registry.DBFile)+"?mode=ro")
				Expect(err).NotTo(HaveOccurred())
				defer db.Close()
				var h string
				Expect(db.QueryRow(`SELECT cira_pass_hash FROM devices WHERE uuid = ?`, devUUID(i)).Scan(&h)).To(Succeed())
				return h
			}
			p, err := registry.Open(ctx, registry.Options{Dir: dir, PasswordScheme: registry.SchemePBKDF2, PasswordIterations: 2000, NoVerifierCache: true})
			Expect(err).NotTo(HaveOccurred())
			enrol(p, 1)
			Expect(p.Close()).To(Succeed())
			Expect(hashOf(1)).To(MatchRegexp(`^pbkdf2-sha256\$2000\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`))

			h := open(dir, registry.Options{NoVerifierCache: true}) // the default scheme
			enrol(h, 2)
			Expect(hashOf(2)).To(MatchRegexp(`^hmac-sha256\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`))
			for _, i := range []int{1, 2} {
				Expect(h.VerifyCIRA(ctx, devUUID(i), fmt.Sprintf("user%d", i), fmt.Sprintf("cira-pass-%d", i))).To(Succeed())
				Expect(h.VerifyCIRA(ctx, devUUID(i), fmt.Sprintf("user%d", i), "cira-pass-x")).To(MatchError(registry.ErrBadCredentials))
			}

			// The HMAC record is keyed: the database copied without its key
			// file (a stolen backup) no longer verifies it; the unkeyed
			// PBKDF2 record still does.
			Expect(h.Close()).To(Succeed())
			stolen := GinkgoT().TempDir()
			for _, f := range []string{registry.DBFile, registry.DBFile + "-wal"} {
				b, err := os.ReadFile(filepath.Join(dir, f))
				if errors.Is(err, os.ErrNotExist) {
					continue
				}
				Expect(err).NotTo(HaveOccurred())
				Expect(os.WriteFile(filepath.Join(stolen, f), b, 0o600)).To(Succeed())
			}
			thief := open(stolen, registry.Options{NoVerifierCache: true})
			Expect(thief.VerifyCIRA(ctx, devUUID(2), "user2", "cira-pass-2")).To(MatchError(registry.ErrBadCredentials))
			Expect(thief.VerifyCIRA(ctx, devUUID(1), "user1", "cira-pass-1")).To(Succeed())

			_, err = registry.Open(ctx, registry.Options{Dir: GinkgoT().TempDir(), PasswordScheme: "md5"})
			Expect(err).To(MatchError(registry.ErrInvalid))
			Expect(err.Error()).To(ContainSubstring(`"md5"`))
		})

		It("changing credentials invalidates the old ones", func() {
			enrol(s, 1)
			Expect(s.VerifyCIRA(ctx, devUUID(1), "user1", "cira-pass-1")).To(Succeed())
			Expect(s.UpdateCredentials(ctx, devUUID(1), registry.CredentialUpdate{CIRAPassword: ptr("new"), AMTPassword: ptr("amt-new")}, t0)).To(Succeed())
			Expect(s.VerifyCIRA(ctx, devUUID(1), "user1", "cira-pass-1")).To(MatchError(registry.ErrBadCredentials))
			Expect(s.VerifyCIRA(ctx, devUUID(1), "user1", "new")).To(Succeed())
			u, p, err := s.AMTCredentials(ctx, devUUID(1))
			Expect(err).NotTo(HaveOccurred())
			Expect(u).To(Equal("admin"))
			Expect(p).To(Equal("amt-new"))
			Expect(s.UpdateCredentials(ctx, devUUID(2), registry.CredentialUpdate{CIRAUser: ptr("x")}, t0)).To(MatchError(registry.ErrNotFound))
			Expect(s.UpdateCredentials(ctx, devUUID(1), registry.CredentialUpdate{CIRAPassword: ptr("")}, t0)).To(MatchError(registry.ErrInvalid))
		})

		It("seals AMT passwords bound to their device", func() {
			enrol(s, 1)
			enrol(s, 2)
			u, p, err := s.AMTCredentials(ctx, devUUID(2))
			Expect(err).NotTo(HaveOccurred())
			Expect(u).To(Equal("admin"))
			Expect(p).To(Equal("amt-pass-2"))

			// Copying device 2's sealed password onto device 1 must not open.
			raw := rawDB(s)
			_, err = raw.Exec(`UPDATE devices SET amt_pass_sealed = (SELECT amt_pass_sealed FROM devices WHERE uuid = ?) WHERE uuid = ?`,
				devUUID(2), devUUID(1))
			Expect(err).NotTo(HaveOccurred())
			_, _, err = s.AMTCredentials(ctx, devUUID(1))
			Expect(err).To(MatchError(ContainSubstring("does not open")))
		})
	})

	It("keeps secrets out of the database files", func() {
		dir := GinkgoT().TempDir()
		st := open(dir)
		const ciraPass, amtPass = "Cira-Secret-7f3a9c", "Amt-Secret-b81e44"
		_, err := st.EnrolDevice(ctx, registry.DeviceEnrolment{UUID: devUUID(1), CIRAUser: "u", CIRAPassword: ciraPass, AMTPassword: amtPass}, t0)
		Expect(err).NotTo(HaveOccurred())
		gwTok, err := st.CreateGateway(ctx, "gw1", t0)
		Expect(err).NotTo(HaveOccurred())
		_, toks, err := st.CreatePairing(ctx, registry.NewPairing{DeviceUUID: devUUID(1), ConsoleID: "c", GatewayID: "gw1",
			TTL: time.Minute, Roles: []registry.TokenRole{registry.RoleDevice, registry.RoleConsole}}, t0)
		Expect(err).NotTo(HaveOccurred())
		_, err = st.AppendAudit(ctx, registry.AuditRecord{Time: t0, Actor: "admin", Action: "device.enrol", Subject: devUUID(1),
			Outcome: "ok", Details: []byte(`{"password":"` + amtPass + `","nested":{"ciraToken":"` + toks[registry.RoleDevice] + `"}}`)})
		Expect(err).NotTo(HaveOccurred())

		secrets := []string{ciraPass, amtPass, gwTok, toks[registry.RoleDevice], toks[registry.RoleConsole]}
		check := func() {
			files, _ := filepath.Glob(filepath.Join(dir, "registry.db*"))
			Expect(files).NotTo(BeEmpty())
			for _, f := range files {
				b, err := os.ReadFile(f)
				Expect(err).NotTo(HaveOccurred())
				for _, sec := range secrets {
					Expect(string(b)).NotTo(ContainSubstring(sec), "%s holds a secret", f)
				}
			}
		}
		check() // with the WAL present
		for _, f := range []string{registry.DBFile + "-wal", registry.DBFile + "-shm"} {
			fi, err := os.Stat(filepath.Join(dir, f))
			Expect(err).NotTo(HaveOccurred())
			Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o600)), f)
		}
		Expect(st.Close()).To(Succeed())
		check() // after checkpoint

		for _, f := range []string{registry.KeyFile, registry.DBFile} {
			fi, err := os.Stat(filepath.Join(dir, f))
			Expect(err).NotTo(HaveOccurred())
			Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o600)), f)
		}
	})

	It("persists across reopen with the same key", func() {
		dir := GinkgoT().TempDir()
		a, err := registry.Open(ctx, registry.Options{Dir: dir, PasswordIterations: 1000})
		Expect(err).NotTo(HaveOccurred())
		enrol(a, 1)
		_, err = a.UpdateConnection(ctx, devUUID(1), registry.ConnectionUpdate{Now: t0, State: registry.StateConnected})
		Expect(err).NotTo(HaveOccurred())
		Expect(a.Close()).To(Succeed())
		_, err = a.GetDevice(ctx, devUUID(1))
		Expect(err).To(MatchError(registry.ErrClosed))
		Expect(a.VerifyCIRA(ctx, devUUID(1), "user1", "cira-pass-1")).To(MatchError(registry.ErrClosed))
		_, err = a.EnrolDevice(ctx, registry.DeviceEnrolment{UUID: devUUID(5), CIRAUser: "u", CIRAPassword: "p"}, t0)
		Expect(err).To(MatchError(registry.ErrClosed))

		b := open(dir)
		d, err := b.GetDevice(ctx, devUUID(1))
		Expect(err).NotTo(HaveOccurred())
		Expect(d.State).To(Equal(registry.StateConnected))
		Expect(b.VerifyCIRA(ctx, devUUID(1), "user1", "cira-pass-1")).To(Succeed())
		_, p, err := b.AMTCredentials(ctx, devUUID(1))
		Expect(err).NotTo(HaveOccurred())
		Expect(p).To(Equal("amt-pass-1"))
	})

	It("loses no writes under 100 concurrent enrolling and updating goroutines", func() {
		const n, updates = 100, 10
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if _, err := s.EnrolDevice(ctx, registry.DeviceEnrolment{UUID: devUUID(i), CIRAUser: "u",
					CIRAPassword: fmt.Sprint("p", i), AMTPassword: "a"}, t0); err != nil {
					errs <- err
					return
				}
				for k := 0; k < updates; k++ {
					if _, err := s.UpdateConnection(ctx, devUUID(i), registry.ConnectionUpdate{
						Now: t0.Add(time.Duration(k+1) * time.Second), State: registry.StateConnected,
						Trigger: ptr(fmt.Sprint("t-", k))}); err != nil {
						errs <- err
						return
					}
					if err := s.VerifyCIRA(ctx, devUUID(i), "u", fmt.Sprint("p", i)); err != nil {
						errs <- err
						return
					}
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			Expect(err).NotTo(HaveOccurred())
		}
		all, next, err := s.ListDevices(ctx, registry.Page{Limit: 1000})
		Expect(err).NotTo(HaveOccurred())
		Expect(next).To(BeEmpty())
		Expect(all).To(HaveLen(n))
		for _, d := range all {
			Expect(d.LastTrigger).To(Equal(fmt.Sprint("t-", updates-1)))
			Expect(d.LastSeen).To(Equal(t0.Add(updates * time.Second)))
		}
	})
})

// rawDB opens a second, independent handle on the store's file, as an
// attacker with the file (or a DBA) would.
func rawDB(s *registry.SQLite) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+s.Path()+"?_pragma=busy_timeout(5000)")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(db.Close)
	return db
}

func sortedCopy(in []string) []string {
	out := append([]string(nil), in...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
