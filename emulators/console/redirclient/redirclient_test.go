package redirclient_test

import (
	"errors"
	"io"
	"net"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/console/redirclient"
	"github.com/oobtb/oobtb/emulators/wire/redir"
)

const (
	realm = "Digest:ABCDEF"
	nonce = "n0nce"
	pass  = "P@ssw0rd"
)

// amt is an in-test device side: it reads console messages and answers
// with the scripted replies.
type amt struct {
	conn net.Conn
	buf  []byte
}

func (a *amt) recv() redir.Msg {
	for {
		if len(a.buf) > 0 {
			m, n, err := redir.Decode(a.buf, redir.ToAMT)
			if err == nil {
				a.buf = a.buf[n:]
				return m
			}
			Expect(errors.Is(err, redir.ErrShort)).To(BeTrue(), "console sent garbage: %v", err)
		}
		tmp := make([]byte, 1024)
		_ = a.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := a.conn.Read(tmp)
		Expect(err).NotTo(HaveOccurred())
		a.buf = append(a.buf, tmp[:n]...)
	}
}

func (a *amt) send(b []byte) {
	_, err := a.conn.Write(b)
	Expect(err).NotTo(HaveOccurred())
}

// pair runs the console's Open against script on a pipe.
func pair(cred redirclient.Credentials, script func(a *amt)) (*redirclient.Conn, redirclient.Info, error) {
	c, s := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		defer s.Close()
		script(&amt{conn: s})
	}()
	rc, info, err := redirclient.Open(c, redir.SessionSOL, cred, 2*time.Second)
	if err != nil {
		c.Close()
	}
	<-done
	return rc, info, err
}

func startOK(a *amt) {
	Expect(a.recv()).To(Equal(redir.NewStart(redir.SessionSOL)))
	a.send((&redir.StartRedirectionSessionReply{ProtoMajor: 1}).Append(nil))
}

var _ = Describe("redirection handshake", func() {
	It("uses digest without qop (type 3) when that is all the device offers, and keeps the bytes after success", func() {
		rc, info, err := pair(redirclient.Credentials{User: "admin", Password: pass}, func(a *amt) {
			startOK(a)
			Expect(a.recv()).To(Equal(&redir.AuthenticateSession{Type: redir.AuthQuery}))
			a.send((&redir.AuthenticateSessionReply{Types: []redir.AuthType{redir.AuthDigest}}).Append(nil))
			p := a.recv().(*redir.AuthenticateSession)
			Expect(p.IsProbe()).To(BeTrue())
			Expect(p.Type).To(Equal(redir.AuthDigest))
			a.send((&redir.AuthenticateSessionReply{Status: 1, Type: redir.AuthDigest, Realm: realm, Nonce: nonce}).Append(nil))
			d := a.recv().(*redir.AuthenticateSession)
			Expect(d.URI).To(Equal("/RedirectionService"))
			Expect(redir.VerifyDigest(d, realm, nonce, pass)).To(BeTrue())
			reply := (&redir.AuthenticateSessionReply{Type: redir.AuthDigest}).Append(nil)
			a.send(append(reply, "tail"...))
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(info.AuthType).To(Equal(redir.AuthDigest))
		Expect(info.Realm).To(Equal(realm))
		Expect(rc.Buffered()).To(Equal(4))
		b := make([]byte, 4)
		_, err = io.ReadFull(rc, b)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(Equal("tail"))
		rc.Close()
	})

	It("uses the plain password type when only that is offered", func() {
		_, _, err := pair(redirclient.Credentials{User: "admin", Password: pass}, func(a *amt) {
			startOK(a)
			a.recv()
			a.send((&redir.AuthenticateSessionReply{Types: []redir.AuthType{redir.AuthPassword}}).Append(nil))
			Expect(a.recv()).To(Equal(&redir.AuthenticateSession{Type: redir.AuthPassword, User: "admin", Password: pass}))
			a.send((&redir.AuthenticateSessionReply{Type: redir.AuthPassword, Status: 1}).Append(nil))
		})
		Expect(err).To(MatchError(redirclient.ErrAuth))
		Expect(err.Error()).To(ContainSubstring(`rejected user "admin"`))
	})

	It("names what was expected when the device answers out of turn", func() {
		_, _, err := pair(redirclient.Credentials{}, func(a *amt) {
			a.recv()
			a.send((&redir.AuthenticateSessionReply{}).Append(nil))
		})
		Expect(err).To(MatchError(ContainSubstring("expected StartRedirectionSessionReply (0x11)")))
	})

	It("reports a device that offers no usable type, and Kerberos-only", func() {
		_, _, err := pair(redirclient.Credentials{}, func(a *amt) {
			startOK(a)
			a.recv()
			a.send((&redir.AuthenticateSessionReply{Types: []redir.AuthType{redir.AuthKerberos}}).Append(nil))
		})
		Expect(err).To(MatchError(ContainSubstring("expected digest (3 or 4) or password (1)")))
	})

	It("reports a connection that ends inside a message", func() {
		_, _, err := pair(redirclient.Credentials{}, func(a *amt) {
			a.recv()
			a.send([]byte{0x11, 0, 0, 0, 1})
		})
		Expect(err).To(MatchError(ContainSubstring("connection ended inside a message")))
	})

	It("reports malformed bytes and busy, refused and timed-out starts", func() {
		_, _, err := pair(redirclient.Credentials{}, func(a *amt) {
			a.recv()
			a.send([]byte{0x99, 0, 0, 0})
		})
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("from the device"))

		for st, want := range map[uint8]error{2: redirclient.ErrRefused, 3: redirclient.ErrRefused, 0xFF: redirclient.ErrRefused} {
			_, _, err = pair(redirclient.Credentials{}, func(a *amt) {
				a.recv()
				a.send((&redir.StartRedirectionSessionReply{Status: st}).Append(nil))
			})
			Expect(err).To(MatchError(want))
		}

		c, s := net.Pipe()
		defer s.Close()
		go func() { _, _ = io.Copy(io.Discard, s) }()
		start := time.Now()
		_, _, err = redirclient.Open(c, redir.SessionKVM, redirclient.Credentials{}, 200*time.Millisecond)
		Expect(err).To(MatchError(ContainSubstring("waiting for StartRedirectionSessionReply")))
		Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
		c.Close()
	})
})

// pairPipelined runs OpenWith with pipelining against script.
func pairPipelined(cred redirclient.Credentials, script func(a *amt)) (*redirclient.Conn, redirclient.Info, error) {
	c, s := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		defer s.Close()
		script(&amt{conn: s})
	}()
	rc, info, err := redirclient.OpenWith(c, redir.SessionKVM, cred, redirclient.Options{Timeout: 2 * time.Second, Pipeline: true})
	if err != nil {
		c.Close()
	}
	<-done
	return rc, info, err
}

// firstFlight reads the pipelined flight before answering anything: the
// start, the query and the type-4 probe must all be there already.
func firstFlight(a *amt) {
	Expect(a.recv()).To(Equal(redir.NewStart(redir.SessionKVM)))
	Expect(a.buf).NotTo(BeEmpty(), "the query did not come with the start")
	Expect(a.recv()).To(Equal(&redir.AuthenticateSession{Type: redir.AuthQuery}))
	Expect(a.buf).NotTo(BeEmpty(), "the probe did not come with the query")
	p := a.recv().(*redir.AuthenticateSession)
	Expect(p.IsProbe()).To(BeTrue())
	Expect(p.Type).To(Equal(redir.AuthDigestQop))
	Expect(p.User).To(Equal("admin"))
	Expect(p.URI).To(Equal(redir.RedirectionURI))
}

var _ = Describe("pipelined redirection handshake", func() {
	cred := redirclient.Credentials{User: "admin", Password: pass}

	It("sends start, query and probe in one flight and answers the challenge once", func() {
		rc, info, err := pairPipelined(cred, func(a *amt) {
			firstFlight(a)
			var replies []byte
			replies = (&redir.StartRedirectionSessionReply{ProtoMajor: 1}).Append(replies)
			replies = (&redir.AuthenticateSessionReply{Types: []redir.AuthType{redir.AuthDigest, redir.AuthDigestQop}}).Append(replies)
			replies = (&redir.AuthenticateSessionReply{Status: 1, Type: redir.AuthDigestQop, Realm: realm, Nonce: nonce, Qop: "auth"}).Append(replies)
			a.send(replies)
			d := a.recv().(*redir.AuthenticateSession)
			Expect(d.Type).To(Equal(redir.AuthDigestQop))
			Expect(d.NC).To(Equal("00000001"))
			Expect(redir.VerifyDigest(d, realm, nonce, pass)).To(BeTrue())
			a.send((&redir.AuthenticateSessionReply{Type: redir.AuthDigestQop}).Append(nil))
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(info.AuthType).To(Equal(redir.AuthDigestQop))
		Expect(info.Realm).To(Equal(realm))
		rc.Close()
	})

	It("drops the early probe's refusal and goes on with digest type 3 when that is all the device offers", func() {
		_, info, err := pairPipelined(cred, func(a *amt) {
			firstFlight(a)
			a.send((&redir.StartRedirectionSessionReply{ProtoMajor: 1}).Append(nil))
			a.send((&redir.AuthenticateSessionReply{Types: []redir.AuthType{redir.AuthDigest}}).Append(nil))
			a.send((&redir.AuthenticateSessionReply{Status: 2, Type: redir.AuthDigestQop}).Append(nil))
			p := a.recv().(*redir.AuthenticateSession)
			Expect(p.IsProbe()).To(BeTrue())
			Expect(p.Type).To(Equal(redir.AuthDigest))
			a.send((&redir.AuthenticateSessionReply{Status: 1, Type: redir.AuthDigest, Realm: realm, Nonce: nonce}).Append(nil))
			d := a.recv().(*redir.AuthenticateSession)
			Expect(redir.VerifyDigest(d, realm, nonce, pass)).To(BeTrue())
			a.send((&redir.AuthenticateSessionReply{Type: redir.AuthDigest}).Append(nil))
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(info.AuthType).To(Equal(redir.AuthDigest))
	})

	It("sends Then with the digest response, before the verdict", func() {
		c, s := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			defer close(done)
			defer s.Close()
			a := &amt{conn: s}
			firstFlight(a)
			a.send((&redir.StartRedirectionSessionReply{ProtoMajor: 1}).Append(nil))
			a.send((&redir.AuthenticateSessionReply{Types: []redir.AuthType{redir.AuthDigestQop}}).Append(nil))
			a.send((&redir.AuthenticateSessionReply{Status: 1, Type: redir.AuthDigestQop, Realm: realm, Nonce: nonce, Qop: "auth"}).Append(nil))
			d := a.recv().(*redir.AuthenticateSession)
			Expect(redir.VerifyDigest(d, realm, nonce, pass)).To(BeTrue())
			Expect(a.buf).NotTo(BeEmpty(), "Then did not come with the digest")
			Expect(a.recv()).To(Equal(&redir.KVMStart{}))
			a.send((&redir.AuthenticateSessionReply{Type: redir.AuthDigestQop}).Append(nil))
		}()
		rc, _, err := redirclient.OpenWith(c, redir.SessionKVM, cred, redirclient.Options{Timeout: 2 * time.Second, Pipeline: true,
			Then: (&redir.KVMStart{}).Append(nil)})
		<-done
		Expect(err).NotTo(HaveOccurred())
		rc.Close()
	})

	It("stops at a busy start although the rest of the flight was sent", func() {
		_, _, err := pairPipelined(cred, func(a *amt) {
			firstFlight(a)
			a.send((&redir.StartRedirectionSessionReply{Status: redir.StartStatusBusy}).Append(nil))
		})
		Expect(err).To(MatchError(redirclient.ErrBusy))
	})

	It("reports a wrong password after the pipelined probe", func() {
		_, _, err := pairPipelined(redirclient.Credentials{User: "admin", Password: "nope"}, func(a *amt) {
			firstFlight(a)
			a.send((&redir.StartRedirectionSessionReply{ProtoMajor: 1}).Append(nil))
			a.send((&redir.AuthenticateSessionReply{Types: []redir.AuthType{redir.AuthDigestQop}}).Append(nil))
			a.send((&redir.AuthenticateSessionReply{Status: 1, Type: redir.AuthDigestQop, Realm: realm, Nonce: nonce, Qop: "auth"}).Append(nil))
			d := a.recv().(*redir.AuthenticateSession)
			Expect(redir.VerifyDigest(d, realm, nonce, pass)).To(BeFalse())
			a.send((&redir.AuthenticateSessionReply{Status: 1, Type: redir.AuthDigestQop}).Append(nil))
		})
		Expect(err).To(MatchError(redirclient.ErrAuth))
	})
})
