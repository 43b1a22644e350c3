package digest_test

import (
	"bytes"
	"errors"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/wire/digest"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// §6 worked example.
const (
	user   = "admin"
	realm  = "Digest:0123456789ABCDEF0123456789ABCDEF"
	pass   = "P@ssw0rd"
	nonce  = "AbCdEfGhIjKlMnOpQrStUvWx"
	cnonce = "0a1b2c3d4e"
)

var _ = Describe("response formula (§6)", func() {
	It("computes HA1, HA2 and the responses of the worked example", func() {
		Expect(digest.HA1(user, realm, pass)).To(Equal("b6710485f86e6174cca7404518df56da"))
		Expect(digest.HA2("POST", "/wsman")).To(Equal("d83ba950d85d6f9b22682df889d8b847"))
		Expect(digest.Response(user, realm, pass, "POST", "/wsman", nonce, "00000001", cnonce, "auth")).
			To(Equal("477fed87b5b123b90830ba3f03aef85e"))
		Expect(digest.Response(user, realm, pass, "POST", "/RedirectionService", nonce, "00000001", cnonce, "auth")).
			To(Equal("5d64bf384b66e8e7603bc653ebd6f94e"))
	})
	It("uses the literal nc string", func() {
		Expect(digest.Response(user, realm, pass, "POST", "/wsman", nonce, "1", cnonce, "auth")).
			NotTo(Equal("477fed87b5b123b90830ba3f03aef85e"))
	})
	It("computes the RFC 2069 form without qop", func() {
		ha1 := digest.HA1(user, realm, pass)
		Expect(digest.Response(user, realm, pass, "POST", "/wsman", nonce, "", "", "")).
			To(Equal(md5hex(ha1 + ":" + nonce + ":" + digest.HA2("POST", "/wsman"))))
	})
})

var _ = Describe("Challenge", func() {
	It("formats exactly as AMT", func() {
		c := digest.Challenge{Realm: "Digest:34BF4B5A0561F95248F58509A406E046", Nonce: "bQali2IAAAAAAAAAn0xaWCOcxNsRcEHX", QOP: "auth"}
		Expect(c.String()).To(Equal(`Digest realm="Digest:34BF4B5A0561F95248F58509A406E046", nonce="bQali2IAAAAAAAAAn0xaWCOcxNsRcEHX",stale="false",qop="auth"`))
		c.Stale = true
		Expect(c.String()).To(ContainSubstring(`,stale="true",`))
	})
	It("parses what it formats and what others send", func() {
		c := digest.Challenge{Realm: realm, Nonce: nonce, Stale: true, QOP: "auth"}
		got, err := digest.ParseChallenge(c.String())
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(c))
		got, err = digest.ParseChallenge(`digest  realm="r" , qop="auth-int, auth",nonce=abc ,algorithm=MD5, opaque="o"`)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(digest.Challenge{Realm: "r", Nonce: "abc", QOP: "auth-int, auth", Opaque: "o", Algorithm: "MD5"}))
		Expect(digest.ChooseQOP(got.QOP)).To(Equal("auth"))
		Expect(digest.ChooseQOP("")).To(Equal(""))
	})
	DescribeTable("rejects malformed challenges with a located error",
		func(in, field string) {
			_, err := digest.ParseChallenge(in)
			var we *wireerr.Error
			Expect(errors.As(err, &we)).To(BeTrue(), "%v", err)
			Expect(we.Field).To(Equal(field))
		},
		Entry("basic scheme", `Basic realm="x"`, "scheme"),
		Entry("no realm", `Digest nonce="n"`, "realm"),
		Entry("no nonce", `Digest realm="r"`, "nonce"),
		Entry("unterminated", `Digest realm="r, nonce="n`, "realm"),
		Entry("unterminated at end", `Digest realm="r", nonce="n`, "nonce"),
		Entry("missing =", `Digest realm`, "realm"),
		Entry("sha256", `Digest realm="r",nonce="n",algorithm=SHA-256`, "algorithm"),
		Entry("duplicate", `Digest realm="r",realm="s",nonce="n"`, "realm"),
		Entry("too long", "Digest realm=\""+strings.Repeat("a", 5000)+"\"", "header"),
	)
})

var _ = Describe("Authorization", func() {
	base := func() *digest.Authorization {
		a := &digest.Authorization{Username: user, Realm: realm, Nonce: nonce, URI: "/wsman", QOP: "auth", NC: "00000001", CNonce: cnonce}
		a.Sign(pass, "POST")
		return a
	}
	It("formats DMT MPS style with every value quoted", func() {
		Expect(base().String()).To(Equal(`Digest username="admin",realm="Digest:0123456789ABCDEF0123456789ABCDEF",nonce="AbCdEfGhIjKlMnOpQrStUvWx",uri="/wsman",qop="auth",response="477fed87b5b123b90830ba3f03aef85e",nc="00000001",cnonce="0a1b2c3d4e"`))
	})
	It("formats the interceptor style with unquoted qop and nc", func() {
		a := base()
		a.Style, a.NC = digest.StyleInterceptor, "1"
		a.Sign(pass, "POST")
		Expect(a.String()).To(ContainSubstring(`,qop=auth,response="`))
		Expect(a.String()).To(ContainSubstring(`",nc=1,cnonce="0a1b2c3d4e"`))
	})
	It("parses and verifies every client variant of §1.9", func() {
		for _, hdr := range []string{
			// DMT MPS
			`Digest username="admin",realm="` + realm + `",nonce="` + nonce + `",uri="/wsman",qop="auth",response="` + digest.Response(user, realm, pass, "POST", "/wsman", nonce, "00000001", "k3j4h5", "auth") + `",nc="00000001",cnonce="k3j4h5"`,
			// MeshCentral WS-MAN: decimal nc, 32-hex cnonce
			`Digest username="admin",realm="` + realm + `",nonce="` + nonce + `",uri="/wsman",qop="auth",response="` + digest.Response(user, realm, pass, "POST", "/wsman", nonce, "1", strings.Repeat("ab", 16), "auth") + `",nc="1",cnonce="` + strings.Repeat("ab", 16) + `"`,
			// MeshCentral interceptor: unquoted qop and nc, 10-hex cnonce
			`Digest username="admin",realm="` + realm + `",nonce="` + nonce + `",uri="/wsman",qop=auth,nc=2,cnonce="` + cnonce + `",response="` + digest.Response(user, realm, pass, "POST", "/wsman", nonce, "2", cnonce, "auth") + `"`,
			// no qop
			`Digest username="admin", realm="` + realm + `", nonce="` + nonce + `", uri="/wsman", response="` + strings.ToUpper(digest.Response(user, realm, pass, "POST", "/wsman", nonce, "", "", "")) + `"`,
		} {
			a, err := digest.ParseAuthorization(hdr)
			Expect(err).NotTo(HaveOccurred(), hdr)
			Expect(digest.Verify(a, pass, "POST")).To(BeTrue(), hdr)
			Expect(digest.Verify(a, "wrong", "POST")).To(BeFalse(), hdr)
			b, err := digest.ParseAuthorization(a.String())
			Expect(err).NotTo(HaveOccurred())
			Expect(b).To(Equal(a))
		}
	})
	It("records the interceptor style", func() {
		a, err := digest.ParseAuthorization(`Digest username="u",realm="r",nonce="n",uri="/wsman",qop=auth,nc=3,cnonce="c",response="` + strings.Repeat("0", 32) + `"`)
		Expect(err).NotTo(HaveOccurred())
		Expect(a.Style).To(Equal(digest.StyleInterceptor))
		Expect(a.NC).To(Equal("3"))
	})
	DescribeTable("rejects malformed headers",
		func(in, field string) {
			_, err := digest.ParseAuthorization(in)
			var we *wireerr.Error
			Expect(errors.As(err, &we)).To(BeTrue(), "%v", err)
			Expect(we.Field).To(Equal(field))
			Expect(we.Proto).To(Equal(digest.Proto))
		},
		Entry("no response", `Digest username="u",realm="r",nonce="n",uri="/"`, "response"),
		Entry("short response", `Digest username="u",realm="r",nonce="n",uri="/",response="abc"`, "response"),
		Entry("auth-int", `Digest username="u",realm="r",nonce="n",uri="/",qop=auth-int,nc=1,cnonce="c",response="`+strings.Repeat("0", 32)+`"`, "qop"),
		Entry("qop without nc", `Digest username="u",realm="r",nonce="n",uri="/",qop=auth,cnonce="c",response="`+strings.Repeat("0", 32)+`"`, "nc"),
		Entry("bad nc", `Digest username="u",realm="r",nonce="n",uri="/",qop=auth,nc=xyz,cnonce="c",response="`+strings.Repeat("0", 32)+`"`, "nc"),
		Entry("no cnonce", `Digest username="u",realm="r",nonce="n",uri="/",qop=auth,nc=1,response="`+strings.Repeat("0", 32)+`"`, "cnonce"),
		Entry("junk between", `Digest username="u" realm="r"`, "username"),
	)
	It("formats both nc styles", func() {
		Expect(digest.NCHex(1)).To(Equal("00000001"))
		Expect(digest.NCHex(0xabc)).To(Equal("00000abc"))
		Expect(digest.NCDecimal(12)).To(Equal("12"))
		v, err := digest.ParseNC("00000010")
		Expect(err).NotTo(HaveOccurred())
		Expect(v).To(Equal(uint64(16)))
		v, err = digest.ParseNC("10")
		Expect(err).NotTo(HaveOccurred())
		Expect(v).To(Equal(uint64(10)))
	})
})

var _ = Describe("Realm", func() {
	It("formats Digest: + 32 upper-case hex", func() {
		r := digest.Realm([16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef})
		Expect(r).To(Equal(realm))
		Expect(digest.IsAMTRealm(r)).To(BeTrue())
		Expect(digest.IsAMTRealm(strings.ToLower(r))).To(BeFalse())
		r2, err := digest.NewRealm(bytes.NewReader(make([]byte, 16)))
		Expect(err).NotTo(HaveOccurred())
		Expect(r2).To(Equal("Digest:00000000000000000000000000000000"))
		_, err = digest.NewRealm(bytes.NewReader(nil))
		Expect(err).To(HaveOccurred())
	})
})

// counterReader yields distinct bytes so every nonce differs.
type counterReader struct{ n byte }

func (c *counterReader) Read(p []byte) (int, error) {
	for i := range p {
		c.n++
		p[i] = c.n * 7
	}
	return len(p), nil
}

var _ = Describe("NonceTable", func() {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	It("issues 24-char nonces without = or ,", func() {
		tab := digest.NewNonceTable(&counterReader{}, time.Minute, 10)
		for i := 0; i < 100; i++ {
			n, err := tab.Issue(t0)
			Expect(err).NotTo(HaveOccurred())
			Expect(n).To(HaveLen(digest.NonceLen))
			Expect(n).NotTo(ContainSubstring("="))
			Expect(n).NotTo(ContainSubstring(","))
		}
		Expect(tab.Len()).To(Equal(10))
	})
	It("accepts strictly increasing nc in both formats and refuses replays", func() {
		tab := digest.NewNonceTable(&counterReader{}, time.Minute, 10)
		n, _ := tab.Issue(t0)
		Expect(tab.Check(n, "00000001", t0)).To(Equal(digest.NonceOK))
		Expect(tab.Check(n, "00000001", t0)).To(Equal(digest.NonceReplay))
		Expect(tab.Check(n, "00000002", t0.Add(time.Second))).To(Equal(digest.NonceOK))
		m, _ := tab.Issue(t0)
		Expect(tab.Check(m, "1", t0)).To(Equal(digest.NonceOK))
		Expect(tab.Check(m, "2", t0)).To(Equal(digest.NonceOK))
		Expect(tab.Check(m, "10", t0)).To(Equal(digest.NonceOK))
		Expect(tab.Check(m, "9", t0)).To(Equal(digest.NonceReplay))
		Expect(tab.Check(m, "x", t0)).To(Equal(digest.NonceBadNC))
		Expect(tab.Check("nope", "1", t0)).To(Equal(digest.NonceUnknown))
		Expect(tab.CheckNoQOP(m, t0)).To(Equal(digest.NonceOK))
	})
	It("reports expiry as stale, then forgets", func() {
		tab := digest.NewNonceTable(&counterReader{}, time.Minute, 10)
		n, _ := tab.Issue(t0)
		Expect(tab.Check(n, "1", t0.Add(59*time.Second))).To(Equal(digest.NonceOK))
		Expect(tab.Check(n, "2", t0.Add(time.Minute))).To(Equal(digest.NonceStale))
		Expect(tab.CheckNoQOP(n, t0.Add(time.Minute))).To(Equal(digest.NonceStale))
		_, _ = tab.Issue(t0.Add(3 * time.Minute))
		Expect(tab.Check(n, "3", t0.Add(3*time.Minute))).To(Equal(digest.NonceUnknown))
		Expect(tab.Len()).To(Equal(1))
	})
	It("evicts the oldest when full", func() {
		tab := digest.NewNonceTable(&counterReader{}, time.Hour, 3)
		var ns []string
		for i := 0; i < 5; i++ {
			n, err := tab.Issue(t0.Add(time.Duration(i) * time.Second))
			Expect(err).NotTo(HaveOccurred())
			ns = append(ns, n)
		}
		Expect(tab.Len()).To(Equal(3))
		Expect(tab.Check(ns[0], "1", t0)).To(Equal(digest.NonceUnknown))
		Expect(tab.Check(ns[1], "1", t0)).To(Equal(digest.NonceUnknown))
		Expect(tab.Check(ns[4], "1", t0.Add(10*time.Second))).To(Equal(digest.NonceOK))
	})
	It("fails cleanly when randomness fails or repeats", func() {
		_, err := digest.NewNonceTable(bytes.NewReader(nil), 0, 0).Issue(t0)
		Expect(err).To(HaveOccurred())
		tab := digest.NewNonceTable(zeroReader{}, 0, 0)
		_, err = tab.Issue(t0)
		Expect(err).NotTo(HaveOccurred())
		_, err = tab.Issue(t0)
		Expect(err).To(HaveOccurred())
	})
	It("names its statuses", func() {
		Expect(digest.NonceStale.String()).To(Equal("stale"))
	})
})

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
