package wsmansrv_test

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/services"
	"github.com/oobtb/oobtb/emulators/vmc/wsmansrv"
	"github.com/oobtb/oobtb/emulators/wire/digest"
	"github.com/oobtb/oobtb/emulators/wire/httpwire"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

// AMT's challenge, byte for byte: the nonce is 24 base64 characters with
// neither '=' nor ',' (§1.9 item 6).
var challengeRE = regexp.MustCompile(`^Digest realm="` + regexp.QuoteMeta(tRealm) +
	`", nonce="[A-Za-z0-9+/]{24}",stale="(true|false)",qop="auth"$`)

var _ = Describe("HTTP and digest in a channel", func() {
	var e *env
	BeforeEach(func() { e = newEnv(nil) })
	AfterEach(func() { e.close() })

	It("answers MeshCentral's initial contact: 401 and close, then the batch with decimal nc, then nonce reuse on a new channel", func() {
		// First request without Authorization, exactly as MeshCentral sends it.
		c := e.dial()
		c.send([]byte(meshFirstRequest))
		r := c.recv()
		Expect(r.StatusCode).To(Equal(401))
		www := r.Header.Get("WWW-Authenticate")
		Expect(www).To(MatchRegexp(challengeRE.String()))
		Expect(www).To(ContainSubstring(`stale="false"`))
		Expect(r.Header.Get("Connection")).To(Equal("close"))
		Expect(r.Header.Get("Server")).To(Equal("Intel(R) Active Management Technology 16.1.27.2225"))
		Expect(string(r.Body)).To(HaveSuffix("</html>\n"))
		Expect(c.closed()).To(MatchError(wsmansrv.ErrUnauthorized), "AMT closes the channel after a 401")
		ch, err := digest.ParseChallenge(www)
		Expect(err).NotTo(HaveOccurred())

		// MeshCentral resends the batch on a new channel: nc "1", "2",
		// one fixed 32-hex cnonce.
		c = e.dial()
		c.send(append(httpReq(authz(ch, tPass, "1", tCNonce, digest.StyleQuoted), mesh.Get("0", wsman.ResourceURI("AMT_GeneralSettings"))),
			httpReq(authz(ch, tPass, "2", tCNonce, digest.StyleQuoted), mesh.Get("1", wsman.ResourceURI("IPS_HostBasedSetupService")))...))
		r1, r2 := c.recv(), c.recv()
		Expect(c.hangUp()).To(Succeed())
		for _, r := range []*httpwire.Response{r1, r2} {
			Expect(r.StatusCode).To(Equal(200))
			Expect(r.Chunked).To(BeTrue())
			v, ok := httpwire.AMTVersion(r.Header.Get("Server"))
			Expect(ok).To(BeTrue())
			Expect(v).To(HavePrefix("16.1.27"))
		}
		gs, err := wsman.ParseResponse(r1.Body, wsman.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(gs.RelatesTo).To(Equal("0"))
		Expect(gs.Instance.Get("DigestRealm")).To(Equal(ch.Realm), "MeshCentral accepts a device only if the realms match")
		hb, err := wsman.ParseResponse(r2.Body, wsman.Limits{})
		Expect(err).NotTo(HaveOccurred())
		Expect(hb.RelatesTo).To(Equal("1"))
		Expect(hb.Instance.Get("CurrentControlMode")).To(Equal("2"))

		// Later calls reuse the nonce on yet another channel: nc "3".
		c = e.dial()
		r, w := c.exchange(authz(ch, tPass, "3", tCNonce, digest.StyleQuoted),
			mesh.Invoke("2", wsman.ResourceURI("AMT_TimeSynchronizationService"), "GetLowAccuracyTimeSynch", nil))
		Expect(r.StatusCode).To(Equal(200))
		Expect(w.ReturnValue).To(Equal("0"))
		Expect(w.Output.Get("Ta0")).To(Equal(strconv.FormatInt(t0.Unix(), 10)))
		Expect(c.hangUp()).To(Succeed())
	})

	It("answers pipelined requests in order with RelatesTo echoing each MessageID", func() {
		s := e.login(true)
		c := e.dial()
		var batch []byte
		ids := []string{"7", "8", "9"}
		classes := []string{"AMT_GeneralSettings", "AMT_RedirectionService", "CIM_KVMRedirectionSAP"}
		for i := range ids {
			batch = append(batch, httpReq(s.auth(), dmt.Get(ids[i], wsman.ResourceURI(classes[i])))...)
		}
		c.send(batch) // one write: three requests in flight, as DMT MPS's limiter allows
		for i := range ids {
			r := c.recv()
			Expect(r.StatusCode).To(Equal(200))
			Expect(r.Chunked).To(BeTrue())
			w, err := wsman.ParseResponse(r.Body, wsman.Limits{})
			Expect(err).NotTo(HaveOccurred())
			Expect(w.RelatesTo).To(Equal(ids[i]))
			Expect(w.Instance.Class).To(Equal(classes[i]))
		}
		Expect(c.hangUp()).To(Succeed())
	})

	It("reuses one nonce across channels with increasing 8-hex nc (DMT MPS) and refuses a replayed nc", func() {
		s := e.login(true)
		for i := 0; i < 3; i++ {
			in := s.get("AMT_GeneralSettings")
			Expect(in.Get("DigestRealm")).To(Equal(tRealm))
		}
		c := e.dial()
		c.send(httpReq(authz(s.ch, tPass, digest.NCHex(2), tCNonce, digest.StyleQuoted), dmt.Get("1", wsman.ResourceURI("AMT_GeneralSettings"))))
		r := c.recv()
		Expect(r.StatusCode).To(Equal(401))
		Expect(r.Header.Get("WWW-Authenticate")).To(ContainSubstring(`stale="false"`))
		Expect(c.closed()).To(MatchError(wsmansrv.ErrUnauthorized))
	})

	It("accepts MeshCentral's interceptor style (unquoted qop and nc) and RFC 2069 digests without qop", func() {
		s := e.login(false)
		c := e.dial()
		r, _ := c.exchange(authz(s.ch, tPass, "1", "0a1b2c3d4e", digest.StyleInterceptor), mesh.Get("0", wsman.ResourceURI("AMT_GeneralSettings")))
		Expect(r.StatusCode).To(Equal(200))
		a := &digest.Authorization{Username: tUser, Realm: tRealm, Nonce: s.ch.Nonce, URI: "/wsman"}
		a.Sign(tPass, "POST")
		r, _ = c.exchange(a.String(), mesh.Get("1", wsman.ResourceURI("AMT_GeneralSettings")))
		Expect(r.StatusCode).To(Equal(200))
		Expect(c.hangUp()).To(Succeed())
	})

	It("answers a wrong password with 401 stale=false and a fresh nonce", func() {
		s := e.login(true)
		c := e.dial()
		c.send(httpReq(authz(s.ch, "wrong", "00000001", tCNonce, digest.StyleQuoted), dmt.Get("1", wsman.ResourceURI("AMT_GeneralSettings"))))
		r := c.recv()
		Expect(r.StatusCode).To(Equal(401))
		Expect(r.Header.Get("WWW-Authenticate")).To(MatchRegexp(challengeRE.String()))
		Expect(r.Header.Get("WWW-Authenticate")).To(ContainSubstring(`stale="false"`))
		Expect(c.closed()).To(MatchError(wsmansrv.ErrUnauthorized))
		// The failed attempt consumed nothing: nc 1 still works.
		Expect(s.get("AMT_GeneralSettings").Get("HostName")).To(Equal("vmc1"))
	})

	It("answers an expired nonce with a fresh one and stale=true, which then works", func() {
		s := e.login(true)
		Expect(s.get("AMT_GeneralSettings")).NotTo(BeNil())
		e.clk.Advance(digest.DefaultNonceLifetime + time.Second)
		c := e.dial()
		c.send(httpReq(s.auth(), dmt.Get("1", wsman.ResourceURI("AMT_GeneralSettings"))))
		r := c.recv()
		Expect(r.StatusCode).To(Equal(401))
		www := r.Header.Get("WWW-Authenticate")
		Expect(www).To(MatchRegexp(challengeRE.String()))
		Expect(www).To(ContainSubstring(`stale="true"`))
		Expect(c.closed()).To(MatchError(wsmansrv.ErrUnauthorized))
		ch, err := digest.ParseChallenge(www)
		Expect(err).NotTo(HaveOccurred())
		Expect(ch.Nonce).NotTo(Equal(s.ch.Nonce))
		s.ch, s.nc = ch, 0
		Expect(s.get("AMT_GeneralSettings")).NotTo(BeNil())
	})

	It("answers an unsupported class with a chunked 400 DestinationUnreachable and keeps the channel", func() {
		s := e.login(true)
		c := e.dial()
		r, w := c.exchange(s.auth(), dmt.Get("3", wsman.ResourceURI("AMT_AuditLog")))
		Expect(r.StatusCode).To(Equal(400))
		Expect(r.Chunked).To(BeTrue())
		Expect(r.Header.Get("Content-Type")).To(Equal(httpwire.SOAPContentType))
		Expect(w.Fault).NotTo(BeNil())
		Expect(w.Fault.Subcode).To(Equal("DestinationUnreachable"))
		Expect(w.Fault.Reason).To(Equal(wsman.ReasonDestinationUnreachable))
		Expect(w.RelatesTo).To(Equal("3"))
		r, _ = c.exchange(s.auth(), dmt.Get("4", wsman.ResourceURI("AMT_GeneralSettings")))
		Expect(r.StatusCode).To(Equal(200))
		// A resource URI outside the three prefixes is unreachable too.
		r, w = c.exchange(s.auth(), dmt.Get("5", "http://example.com/wbem/AMT_GeneralSettings"))
		Expect(r.StatusCode).To(Equal(400))
		Expect(w.Fault.Subcode).To(Equal("DestinationUnreachable"))
		Expect(c.hangUp()).To(Succeed())
	})

	It("answers unsupported methods and operations with ActionNotSupported, bad selectors with InvalidSelectors", func() {
		s := e.login(true)
		_, w := s.invoke("AMT_GeneralSettings", "Reboot")
		Expect(w.Fault.Subcode).To(Equal("ActionNotSupported"))
		_, w = s.do(dmt.Delete("1", wsman.ResourceURI("AMT_GeneralSettings")))
		Expect(w.Fault.Subcode).To(Equal("ActionNotSupported"))
		_, w = s.put(&wsman.Instance{Class: "CIM_Chassis", ResourceURI: wsman.ResourceURI("CIM_Chassis")})
		Expect(w.Fault.Subcode).To(Equal("ActionNotSupported"))
		_, w = s.do(dmt.Get("1", wsman.ResourceURI("AMT_RedirectionService"), wsman.Sel("Name", "nope")))
		Expect(w.Fault.Subcode).To(Equal("InvalidSelectors"))
		_, w = s.do(dmt.Get("1", wsman.ResourceURI("AMT_RedirectionService"), wsman.Sel("Colour", "blue")))
		Expect(w.Fault.Subcode).To(Equal("InvalidSelectors"))
		_, w = s.do(dmt.Get("1", wsman.ResourceURI("CIM_SoftwareIdentity")))
		Expect(w.Fault.Subcode).To(Equal("InvalidSelectors"), "eleven instances need a selector")
		in := s.get("CIM_SoftwareIdentity", wsman.Sel("InstanceID", "AMT"))
		Expect(in.Get("VersionString")).To(Equal("16.1.27"))
		_, w = s.do([]byte(`<not-soap/>`))
		Expect(w.Fault.Subcode).To(Equal("SchemaValidationError"))
	})

	It("answers a body that is not WS-MAN with a 400 SOAP fault naming the problem", func() {
		s := e.login(true)
		c := e.dial()
		c.send(httpReq(s.auth(), []byte(`<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope"><Header></Header><Body></Body></Envelope>`)))
		r := c.recv()
		Expect(r.StatusCode).To(Equal(400))
		Expect(string(r.Body)).To(ContainSubstring("SchemaValidationError"))
		Expect(string(r.Body)).To(ContainSubstring("Action"))
		Expect(c.hangUp()).To(Succeed())
	})

	Describe("bad input", func() {
		It("answers garbage with a 400 naming the problem and closes", func() {
			c := e.dial()
			c.send([]byte("\x16\x03\x01\x02\x00garbage that is no HTTP\r\n\r\n"))
			r := c.recv()
			Expect(r.StatusCode).To(Equal(400))
			Expect(string(r.Body)).To(ContainSubstring("400 Bad Request: "))
			Expect(r.Header.Get("Connection")).To(Equal("close"))
			Expect(c.closed()).To(MatchError(wsmansrv.ErrBadRequest))
		})

		It("refuses an oversized body before reading it", func() {
			c := e.dial()
			c.send([]byte("POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n"))
			r := c.recv()
			Expect(r.StatusCode).To(Equal(400))
			Expect(string(r.Body)).To(ContainSubstring("Content-Length"))
			Expect(c.closed()).To(MatchError(wsmansrv.ErrBadRequest))
		})

		It("refuses an oversized header line", func() {
			c := e.dial()
			c.send([]byte("POST /wsman HTTP/1.1\r\nX-Long: " + strings.Repeat("a", 20000) + "\r\n\r\n"))
			r := c.recv()
			Expect(r.StatusCode).To(Equal(400))
			Expect(c.closed()).To(MatchError(wsmansrv.ErrBadRequest))
		})

		It("reports a request truncated by the peer closing", func() {
			c := e.dial()
			full := httpReq("", mesh.Get("0", wsman.ResourceURI("AMT_GeneralSettings")))
			c.send(full[:len(full)-10])
			Eventually(c.writes).Should(Receive(BeNil()))
			Expect(c.hangUp()).To(MatchError(wsmansrv.ErrTruncated))
		})

		It("closes an idle channel and one whose request never completes", func() {
			e2 := newEnv(func(o *wsmansrv.Options) {
				o.IdleTimeout = 50 * time.Millisecond
				o.RequestTimeout = 50 * time.Millisecond
			})
			defer e2.close()
			c := e2.dial()
			Expect(c.closed()).To(MatchError(wsmansrv.ErrIdle))
			c = e2.dial()
			c.send([]byte("POST /wsman HTTP/1.1\r\n"))
			Expect(c.closed()).To(MatchError(wsmansrv.ErrTruncated))
		})

		It("answers other methods and paths clearly without closing", func() {
			s := e.login(true)
			c := e.dial()
			c.send(httpwire.AppendRequest(nil, &httpwire.Request{Method: "GET", Target: "/index.htm", Version: "HTTP/1.1",
				Header: httpwire.Headers{{Name: "Authorization", Value: authzFor(s, "GET", "/index.htm")}}}))
			r := c.recv()
			Expect(r.StatusCode).To(Equal(405))
			Expect(string(r.Body)).To(ContainSubstring("POST /wsman"))
			r2, _ := c.exchange(s.auth(), dmt.Get("1", wsman.ResourceURI("AMT_GeneralSettings")))
			Expect(r2.StatusCode).To(Equal(200))
			Expect(c.hangUp()).To(Succeed())
		})

		It("survives many channels of random bytes", func() {
			for i := 0; i < 50; i++ {
				c := e.dial()
				junk := bytes.Repeat([]byte{byte(i), 0xff, '\n', ':'}, 50+i*7)
				c.send(junk)
				_, _ = c.tryRecv()
				_ = c.hangUp()
			}
		})
	})
})

// authzFor signs a request with another method and uri.
func authzFor(s *session, method, uri string) string {
	s.nc++
	a := &digest.Authorization{Username: tUser, Realm: s.ch.Realm, Nonce: s.ch.Nonce, URI: uri,
		QOP: digest.QOPAuth, NC: digest.NCHex(s.nc), CNonce: tCNonce}
	a.Sign(tPass, method)
	return a.String()
}

var _ = Describe("the vMC's port map", func() {
	It("serves this WS-MAN service on 16992", func() {
		e := newEnv(nil)
		defer e.close()
		svc, ok := services.For(e.host)[16992]
		Expect(ok).To(BeTrue())
		a, z := net.Pipe()
		done := make(chan struct{})
		go func() { defer close(done); svc(z) }()
		c := &client{conn: a, writes: make(chan error, 4)}
		c.send([]byte(meshFirstRequest))
		r := c.recv()
		Expect(r.StatusCode).To(Equal(401))
		Expect(r.Header.Get("WWW-Authenticate")).To(MatchRegexp(challengeRE.String()))
		Eventually(done, 5*time.Second).Should(BeClosed())
		a.Close()
	})
})

var _ = Describe("16993", func() {
	It("serves the same WS-MAN inside TLS with the certificate AMT_PublicKeyCertificate reports", func() {
		e := newEnv(nil)
		defer e.close()
		a, z := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- e.srv.ServeTLS(z) }()
		tc := tls.Client(a, &tls.Config{InsecureSkipVerify: true})
		c := &client{conn: tc, done: done, writes: make(chan error, 4)}
		c.send([]byte(meshFirstRequest))
		r := c.recv()
		Expect(r.StatusCode).To(Equal(401))
		ch, err := digest.ParseChallenge(r.Header.Get("WWW-Authenticate"))
		Expect(err).NotTo(HaveOccurred())
		// The server's close sends close_notify; read it as a TLS client does
		// (net.Pipe has no buffer to absorb it).
		go func() { _, _ = io.Copy(io.Discard, tc) }()
		Expect(c.closed()).To(MatchError(wsmansrv.ErrUnauthorized))
		peer := tc.ConnectionState().PeerCertificates
		Expect(peer).To(HaveLen(1))

		s := &session{e: e, ch: ch, hexNC: true}
		certs, _ := s.enumerate("AMT_PublicKeyCertificate", 999)
		der, err := base64.StdEncoding.DecodeString(certs[0].Get("X509Certificate"))
		Expect(err).NotTo(HaveOccurred())
		Expect(der).To(Equal(peer[0].Raw))

		a, z = net.Pipe()
		done = make(chan error, 1)
		go func() { done <- e.srv.ServeTLS(z) }()
		c = &client{conn: tls.Client(a, &tls.Config{InsecureSkipVerify: true}), done: done, writes: make(chan error, 4)}
		r, w := c.exchange(s.auth(), mesh.Get("1", wsman.ResourceURI("AMT_GeneralSettings")))
		Expect(r.StatusCode).To(Equal(200))
		Expect(w.Instance.Get("DigestRealm")).To(Equal(tRealm))
		Expect(c.hangUp()).To(Succeed())
	})

	It("refuses a peer that does not speak TLS, naming the handshake", func() {
		e := newEnv(nil)
		defer e.close()
		a, z := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- e.srv.ServeTLS(z) }()
		go func() { _, _ = a.Write([]byte("POST /wsman HTTP/1.1\r\n\r\n")) }()
		var err error
		Eventually(done, 5*time.Second).Should(Receive(&err))
		Expect(err).To(MatchError(ContainSubstring("TLS handshake on 16993")))
		a.Close()
	})
})
