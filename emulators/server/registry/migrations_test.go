package registry_test

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/server/registry"
)

var _ = Describe("schema migrations", func() {
	It("brings a new database to the latest version, recording each step", func() {
		s := open(GinkgoT().TempDir())
		v, err := s.SchemaVersion(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(v).To(Equal(registry.LatestSchemaVersion))
		rows, err := rawDB(s).Query(`SELECT version FROM schema_migrations ORDER BY version`)
		Expect(err).NotTo(HaveOccurred())
		var got []int
		for rows.Next() {
			var n int
			Expect(rows.Scan(&n)).To(Succeed())
			got = append(got, n)
		}
		rows.Close()
		want := make([]int, registry.LatestSchemaVersion)
		for i := range want {
			want[i] = i + 1
		}
		Expect(got).To(Equal(want))
	})

	It("migrates a database at version N-1 and keeps its data; reopening is idempotent", func() {
		dir := GinkgoT().TempDir()
		old, err := registry.Open(ctx, registry.Options{Dir: dir, PasswordIterations: 1000, SchemaVersion: registry.LatestSchemaVersion - 1})
		Expect(err).NotTo(HaveOccurred())
		v, _ := old.SchemaVersion(ctx)
		Expect(v).To(Equal(registry.LatestSchemaVersion - 1))
		enrol(old, 1)
		// The newest step (help requests) is not there yet.
		_, err = old.CreateHelpRequest(ctx, devUUID(1), "", t0, time.Minute)
		Expect(err).To(MatchError(ContainSubstring("no such table")))
		Expect(old.Close()).To(Succeed())

		for i := 0; i < 2; i++ {
			s, err := registry.Open(ctx, registry.Options{Dir: dir, PasswordIterations: 1000})
			Expect(err).NotTo(HaveOccurred())
			v, _ := s.SchemaVersion(ctx)
			Expect(v).To(Equal(registry.LatestSchemaVersion))
			Expect(s.VerifyCIRA(ctx, devUUID(1), "user1", "cira-pass-1")).To(Succeed())
			_, err = s.CreateHelpRequest(ctx, devUUID(1), "", t0, time.Minute)
			Expect(err).NotTo(HaveOccurred())
			var n int
			Expect(rawDB(s).QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n)).To(Succeed())
			Expect(n).To(Equal(registry.LatestSchemaVersion))
			Expect(s.Close()).To(Succeed())
		}
	})

	It("refuses a database from a newer program", func() {
		dir := GinkgoT().TempDir()
		s := open(dir)
		_, err := rawDB(s).Exec(`INSERT INTO schema_migrations(version, name, applied_at) VALUES (999, 'future', 0)`)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Close()).To(Succeed())
		_, err = registry.Open(ctx, registry.Options{Dir: dir})
		Expect(err).To(MatchError(ContainSubstring("newer than this program")))
	})

	It("refuses bad options and a damaged key file", func() {
		_, err := registry.Open(ctx, registry.Options{})
		Expect(err).To(MatchError(registry.ErrInvalid))
		_, err = registry.Open(ctx, registry.Options{Dir: GinkgoT().TempDir(), SchemaVersion: 99})
		Expect(err).To(MatchError(registry.ErrInvalid))
		dir := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(dir, registry.KeyFile), []byte("short"), 0o600)).To(Succeed())
		_, err = registry.Open(ctx, registry.Options{Dir: dir})
		Expect(err).To(MatchError(ContainSubstring("want 32 bytes")))
	})
})
