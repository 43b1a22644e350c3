package server

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/wire/redir"
)

var _ = Describe("redirection interceptor", func() {
	const realm, nonce = "Digest:0123456789ABCDEF0123456789ABCDEF", "AbCdEfGhIjKlMnOpQrStUvWx"
	decodeTo := func(b []byte) *redir.AuthenticateSession {
		m, n, err := redir.Decode(b, redir.ToAMT)
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(len(b)))
		return m.(*redir.AuthenticateSession)
	}
	challenge := (&redir.AuthenticateSessionReply{Status: redir.AuthStatusFailure, Type: redir.AuthDigestQop,
		Realm: realm, Nonce: nonce, Qop: "auth"}).Append(nil)

	It("replaces probe and digest with its own, nc counting up and cnonce fixed", func() {
		ic := newInterceptor("admin", "P@ssw0rd")
		start := redir.NewStart(redir.SessionKVM).Append(nil)
		out, err := ic.toAMT(start)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal(start))

		probe := (&redir.AuthenticateSession{Type: redir.AuthDigestQop, User: "browser", URI: ""}).Append(nil)
		// Split across two frames: the interceptor waits for the whole message.
		out, err = ic.toAMT(probe[:5])
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(BeEmpty())
		out, err = ic.toAMT(probe[5:])
		Expect(err).NotTo(HaveOccurred())
		p := decodeTo(out)
		Expect(p.IsProbe()).To(BeTrue())
		Expect(p.User).To(Equal("admin"))
		Expect(p.URI).To(Equal(redir.RedirectionURI))

		back, err := ic.fromAMT(challenge)
		Expect(err).NotTo(HaveOccurred())
		Expect(back).To(Equal(challenge))

		wrong := (&redir.AuthenticateSession{Type: redir.AuthDigestQop, User: "browser", Realm: realm, Nonce: nonce,
			URI: "", CNonce: "x", NC: "00000009", Qop: "auth", Response: "00000000000000000000000000000000"}).Append(nil)
		var cnonce string
		for i, nc := range []string{"00000001", "00000002"} {
			out, err = ic.toAMT(wrong)
			Expect(err).NotTo(HaveOccurred())
			d := decodeTo(out)
			Expect(d.NC).To(Equal(nc))
			Expect(d.CNonce).To(HaveLen(10))
			if i == 0 {
				cnonce = d.CNonce
			}
			Expect(d.CNonce).To(Equal(cnonce))
			Expect(redir.VerifyDigest(d, realm, nonce, "P@ssw0rd")).To(BeTrue())
			Expect(redir.VerifyDigest(d, realm, nonce, "other")).To(BeFalse())
		}
		Expect(ic.Authenticated()).To(BeFalse())
		okReply := (&redir.AuthenticateSessionReply{Status: redir.AuthStatusSuccess, Type: redir.AuthDigestQop}).Append(nil)
		rfb := []byte("\x41\x00\x00\x00\x00\x00\x00\x00RFB 003.008\n")
		back, err = ic.fromAMT(append(okReply, rfb...))
		Expect(err).NotTo(HaveOccurred())
		Expect(back).To(Equal(append(okReply, rfb...)))
		Expect(ic.Authenticated()).To(BeTrue())
		// Transparent afterwards, even for bytes that look like auth messages.
		out, err = ic.toAMT(wrong)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal(wrong))
	})

	It("rejects malformed and oversized input before authentication", func() {
		ic := newInterceptor("admin", "pw")
		_, err := ic.toAMT([]byte{0x99, 0, 0, 0})
		Expect(err).To(HaveOccurred())
		ic = newInterceptor("admin", "pw")
		big := (&redir.AuthenticateSession{Type: redir.AuthKerberos, Data: make([]byte, 10)}).Append(nil)
		big[5], big[6], big[7], big[8] = 0xff, 0xff, 0, 0 // claims 65535 bytes
		_, err = ic.toAMT(big)
		Expect(err).To(HaveOccurred())
	})
})
