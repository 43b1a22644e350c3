package authtoken_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/server/authtoken"
)

var t0 = time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)

var _ = Describe("admin token", func() {
	It("is created once with 0600 files, announced once, and survives restart", func() {
		dir := GinkgoT().TempDir()
		var out bytes.Buffer
		m, res, err := authtoken.LoadOrCreate(dir, authtoken.Options{Announce: &out})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Created).To(BeTrue())
		Expect(out.String()).To(ContainSubstring(res.AdminToken))
		for _, f := range []string{authtoken.AdminTokenFile, authtoken.KeyFile} {
			st, err := os.Stat(filepath.Join(dir, f))
			Expect(err).NotTo(HaveOccurred())
			Expect(st.Mode().Perm()).To(Equal(os.FileMode(0o600)))
		}
		c, err := m.Verify(res.AdminToken, t0)
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Admin).To(BeTrue())
		Expect(c.Allows("kvm:anything")).To(BeTrue())

		sess, _, err := m.Issue("console-1", []string{"kvm:u1"}, t0, time.Minute)
		Expect(err).NotTo(HaveOccurred())

		out.Reset()
		m2, res2, err := authtoken.LoadOrCreate(dir, authtoken.Options{Announce: &out})
		Expect(err).NotTo(HaveOccurred())
		Expect(res2.Created).To(BeFalse())
		Expect(res2.AdminToken).To(BeEmpty())
		Expect(out.Len()).To(BeZero())
		_, err = m2.Verify(res.AdminToken, t0)
		Expect(err).NotTo(HaveOccurred())
		// Same key → tokens issued before the restart stay valid.
		_, err = m2.Verify(sess, t0)
		Expect(err).NotTo(HaveOccurred())
	})

	It("rejects a wrong admin token", func() {
		m, _, err := authtoken.LoadOrCreate(GinkgoT().TempDir(), authtoken.Options{})
		Expect(err).NotTo(HaveOccurred())
		_, err = m.Verify("oobtb-admin-"+strings.Repeat("A", 43), t0)
		Expect(err).To(MatchError(authtoken.ErrUnknown))
	})
})

var _ = Describe("session tokens", func() {
	var m *authtoken.Manager
	BeforeEach(func() {
		var err error
		m, err = authtoken.New(bytes.Repeat([]byte{7}, 32), "oobtb-admin-0123456789abcdef0123")
		Expect(err).NotTo(HaveOccurred())
	})

	It("carry subject and scope, and expire", func() {
		tok, c, err := m.Issue("console-1", []string{"kvm:1234"}, t0, 30*time.Second)
		Expect(err).NotTo(HaveOccurred())
		got, err := m.Authorize(tok, "kvm:1234", t0.Add(29*time.Second))
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Subject).To(Equal("console-1"))
		Expect(got.ID).To(Equal(c.ID))
		Expect(got.Admin).To(BeFalse())
		_, err = m.Authorize(tok, "kvm:9999", t0)
		Expect(err).To(MatchError(authtoken.ErrScope))
		_, err = m.Authorize(tok, authtoken.ScopeAdmin, t0)
		Expect(err).To(MatchError(authtoken.ErrScope))
		_, err = m.Verify(tok, t0.Add(30*time.Second))
		Expect(err).To(MatchError(authtoken.ErrExpired))
		_, err = m.Verify(tok, t0.Add(-time.Hour))
		Expect(err).To(MatchError(authtoken.ErrNotYetValid))
	})

	It("wildcard scopes grant a kind", func() {
		tok, _, _ := m.Issue("c", []string{"kvm:*"}, t0, time.Minute)
		_, err := m.Authorize(tok, "kvm:abc", t0)
		Expect(err).NotTo(HaveOccurred())
		_, err = m.Authorize(tok, "sol:abc", t0)
		Expect(err).To(MatchError(authtoken.ErrScope))
	})

	It("refuses tampered payloads and foreign keys", func() {
		tok, _, _ := m.Issue("c", []string{"kvm:1"}, t0, time.Minute)
		dot := strings.LastIndexByte(tok, '.')
		payload, err := base64.RawURLEncoding.DecodeString(tok[len("oobtb-s1."):dot])
		Expect(err).NotTo(HaveOccurred())
		forged := strings.Replace(string(payload), "kvm:1", "kvm:2", 1)
		bad := "oobtb-s1." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + tok[dot:]
		_, err = m.Verify(bad, t0)
		Expect(err).To(MatchError(authtoken.ErrBadSignature))

		other, _ := authtoken.New(bytes.Repeat([]byte{8}, 32), "oobtb-admin-0123456789abcdef0123")
		_, err = other.Verify(tok, t0)
		Expect(err).To(MatchError(authtoken.ErrBadSignature))

		for _, g := range []string{"", "x", "oobtb-s1.", "oobtb-s1..", "oobtb-s1.e30.AAAA", strings.Repeat("a", 5000), tok + "x"} {
			_, err = m.Verify(g, t0)
			Expect(err).To(HaveOccurred(), g)
		}
	})

	It("cannot mint admin scope", func() {
		_, _, err := m.Issue("c", []string{authtoken.ScopeAdmin}, t0, time.Minute)
		Expect(err).To(HaveOccurred())
		_, _, err = m.Issue("c", nil, t0, 0)
		Expect(err).To(HaveOccurred())
		_, _, err = m.Issue("c", nil, t0, authtoken.MaxSessionTTL+time.Second)
		Expect(err).To(HaveOccurred())
	})

	It("revocation ends a token and persists across restart, then is pruned", func() {
		dir := GinkgoT().TempDir()
		fm, _, err := authtoken.LoadOrCreate(dir, authtoken.Options{})
		Expect(err).NotTo(HaveOccurred())
		tok, c, _ := fm.Issue("c", []string{"kvm:1"}, t0, time.Minute)
		keep, _, _ := fm.Issue("c", []string{"kvm:1"}, t0, time.Hour)
		Expect(fm.RevokeToken(tok, t0)).To(Succeed())
		_, err = fm.Verify(tok, t0)
		Expect(err).To(MatchError(authtoken.ErrRevoked))
		_, err = fm.Verify(keep, t0)
		Expect(err).NotTo(HaveOccurred())

		fm2, _, err := authtoken.LoadOrCreate(dir, authtoken.Options{})
		Expect(err).NotTo(HaveOccurred())
		_, err = fm2.Verify(tok, t0)
		Expect(err).To(MatchError(authtoken.ErrRevoked))
		Expect(fm2.Revoked()).To(ConsistOf(c.ID))

		_, kc, _ := fm2.Issue("c", nil, t0, time.Hour)
		Expect(fm2.Revoke(kc, t0.Add(2*time.Minute))).To(Succeed())
		Expect(fm2.Revoked()).To(ConsistOf(kc.ID)) // the first one had expired
		Expect(fm2.Revoke(authtoken.Claims{Admin: true}, t0)).NotTo(Succeed())
	})

	It("parses bearer headers", func() {
		t, ok := authtoken.ParseBearer("Bearer abc")
		Expect(ok).To(BeTrue())
		Expect(t).To(Equal("abc"))
		t, ok = authtoken.ParseBearer("bearer  abc ")
		Expect(ok).To(BeTrue())
		Expect(t).To(Equal("abc"))
		_, ok = authtoken.ParseBearer("Basic abc")
		Expect(ok).To(BeFalse())
		_, ok = authtoken.ParseBearer("Bearer ")
		Expect(ok).To(BeFalse())
	})
})
