package wsman_test

import (
	"errors"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/wire/digest"
	"github.com/oobtb/oobtb/emulators/wire/httpwire"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

// seqReader is deterministic randomness for nonces.
type seqReader struct{ n byte }

func (s *seqReader) Read(p []byte) (int, error) {
	for i := range p {
		s.n += 37
		p[i] = s.n
	}
	return len(p), nil
}

// The whole §1.9 flow across the three codecs, byte streams only: a
// MeshCentral-style client without credentials gets AMT's 401, signs the
// retry, and gets a chunked Get response whose RelatesTo matches.
var _ = Describe("an authenticated WS-MAN exchange over the three codecs", func() {
	It("works end to end", func() {
		const version = "16.1.27"
		realm := digest.Realm([16]byte{1, 2, 3})
		now := time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
		nonces := digest.NewNonceTable(&seqReader{}, time.Minute, 16)
		var ids wsman.MessageIDs

		// Server: one request in, one response out.
		serve := func(wire []byte) []byte {
			req, n, err := httpwire.ParseRequest(wire, httpwire.Limits{})
			Expect(err).NotTo(HaveOccurred())
			Expect(n).To(Equal(len(wire)))
			challenge := func(stale bool) []byte {
				nonce, err := nonces.Issue(now)
				Expect(err).NotTo(HaveOccurred())
				c := digest.Challenge{Realm: realm, Nonce: nonce, Stale: stale, QOP: "auth"}
				return httpwire.AppendResponse(nil, httpwire.Unauthorized(version, c.String()))
			}
			h, ok := req.Header.Lookup("Authorization")
			if !ok {
				return challenge(false)
			}
			a, err := digest.ParseAuthorization(h)
			Expect(err).NotTo(HaveOccurred())
			if st := nonces.Check(a.Nonce, a.NC, now); st != digest.NonceOK || !digest.Verify(a, "P@ssw0rd", req.Method) {
				return challenge(st == digest.NonceStale)
			}
			wr, err := wsman.ParseRequest(req.Body, wsman.Limits{})
			Expect(err).NotTo(HaveOccurred())
			var body []byte
			if wr.ResourceURI == wsman.ResourceURI("AMT_GeneralSettings") && wr.Operation == wsman.OpGet {
				body = wsman.AppendGetResponse(nil, wsman.ReplyTo(wr, ids.Next()), &wsman.Instance{
					Class: "AMT_GeneralSettings", ResourceURI: wr.ResourceURI,
					Props: []wsman.Prop{wsman.S("DigestRealm", realm)},
				})
				return httpwire.AppendResponse(nil, httpwire.SOAPResponse(200, version, now, body))
			}
			f := wsman.FaultDestinationUnreachable()
			body = wsman.AppendFault(nil, wsman.ReplyTo(wr, ids.Next()), f)
			return httpwire.AppendResponse(nil, httpwire.SOAPResponse(f.HTTPStatus(), version, now, body))
		}

		host := httpwire.HostPort("node//abc", httpwire.WSManPort)
		b := wsman.Builder{Style: wsman.StyleMeshCentral}

		// 1. No credentials → 401 whose realm and nonce the client can use.
		resp, _, err := httpwire.ParseResponse(serve(httpwire.AppendRequest(nil, httpwire.WSManRequest(host, "", "", b.Get("0", wsman.ResourceURI("AMT_GeneralSettings"))))), httpwire.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.StatusCode).To(Equal(401))
		ch, err := digest.ParseChallenge(resp.Header.Get("WWW-Authenticate"))
		Expect(err).NotTo(HaveOccurred())
		Expect(ch.Realm).To(Equal(realm))

		// 2. Signed retries with MeshCentral's decimal nc reuse the nonce.
		sign := func(nc uint32) string {
			a := &digest.Authorization{Username: "admin", Realm: ch.Realm, Nonce: ch.Nonce, URI: "/wsman",
				QOP: digest.ChooseQOP(ch.QOP), NC: digest.NCDecimal(nc), CNonce: "0123456789abcdef0123456789abcdef"}
			a.Sign("P@ssw0rd", "POST")
			return a.String()
		}
		wire := httpwire.AppendRequest(nil, httpwire.WSManRequest(host, sign(1), "", b.Get("1", wsman.ResourceURI("AMT_GeneralSettings"))))
		resp, _, err = httpwire.ParseResponse(serve(wire), httpwire.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.StatusCode).To(Equal(200))
		Expect(resp.Chunked).To(BeTrue())
		v, ok := httpwire.AMTVersion(resp.Header.Get("Server"))
		Expect(ok).To(BeTrue())
		Expect(v).To(Equal(version))
		wr, err := wsman.ParseResponse(resp.Body, wsman.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(wr.RelatesTo).To(Equal("1"))
		Expect(wr.Instance.Get("DigestRealm")).To(Equal(ch.Realm))

		// 3. Replaying nc 1 is refused; nc 2 to an unknown class is a 400 fault.
		resp, _, err = httpwire.ParseResponse(serve(wire), httpwire.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.StatusCode).To(Equal(401))
		wire = httpwire.AppendRequest(nil, httpwire.WSManRequest(host, sign(2), "", b.Get("2", wsman.ResourceURI("AMT_Nothing"))))
		resp, _, err = httpwire.ParseResponse(serve(wire), httpwire.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.StatusCode).To(Equal(400))
		_, err = wsman.ParseResponse(resp.Body, wsman.Limits{})
		var f *wsman.Fault
		Expect(errors.As(err, &f)).To(BeTrue())
		Expect(f.Subcode).To(Equal("DestinationUnreachable"))
		Expect(errors.Is(err, wireerr.ErrShort)).To(BeFalse())
	})
})
