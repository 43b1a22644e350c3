package redirsrv_test

import (
	"context"
	"net"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/kvmstream/kvmtest"
	"github.com/oobtb/oobtb/emulators/vmc/redirsrv"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/redir"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

var _ = Describe("bad input on 16994", func() {
	var e *env
	BeforeEach(func() { e = newEnv(640, 480, screen.W2Terminal, nil) })
	AfterEach(func() { e.close() })

	It("rejects garbage instead of a session start", func() {
		c := e.dial()
		c.sendRaw([]byte("GET / HTTP/1.1\r\n\r\n"))
		c.expectClosed()
		Expect(e.sessionErr()).To(MatchError(ContainSubstring("redirection")))
	})

	It("reports a console that closes inside a message", func() {
		c := e.dial()
		c.sendRaw([]byte{0x10, 0x01, 0x00})
		c.conn.Close()
		Expect(e.sessionErr()).To(MatchError(ContainSubstring("closed inside a message")))
	})

	It("rejects an oversized AuthenticateSession", func() {
		c := e.dial()
		Expect(c.start(redir.SessionKVM).Status).To(BeZero())
		c.sendRaw([]byte{0x13, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0x7f})
		c.expectClosed()
		err := e.sessionErr()
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("redirection"))
	})

	It("rejects a session message before authentication", func() {
		c := e.dial()
		Expect(c.start(redir.SessionKVM).Status).To(BeZero())
		c.send(&redir.KVMStart{})
		c.expectClosed()
		Expect(e.sessionErr()).To(MatchError(ContainSubstring("expected AuthenticateSession")))
	})

	It("ends a KVM session on an unknown RFB message with a clear error", func() {
		c, _, _ := e.kvm()
		c.sendRaw([]byte{0xEE, 1, 2, 3})
		c.expectClosed()
		Expect(e.sessionErr()).To(MatchError(ContainSubstring("message-type")))
	})

	It("ends a KVM session on an oversized ClientCutText", func() {
		c, _, _ := e.kvm()
		c.sendRaw([]byte{6, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff})
		c.expectClosed()
		err := e.sessionErr()
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("ClientCutText"))
	})

	It("ends a KVM session whose client leaves inside a message", func() {
		c, _, _ := e.kvm()
		c.sendRaw([]byte{3, 1, 0})
		c.conn.Close()
		Expect(e.sessionErr()).To(MatchError(ContainSubstring("inside a message")))
	})

	It("ends cleanly when the client leaves between messages", func() {
		c, cl, _ := e.kvm()
		Expect(cl.Request(true)).To(Succeed())
		_, _, err := cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		c.conn.Close()
		Expect(e.sessionErr()).To(Succeed())
	})

	It("ends a KVM session whose client stops reading, by the write deadline", func() {
		srv := redirsrv.New(redirsrv.Config{Host: e.host, WriteTimeout: 200 * time.Millisecond})
		a, b := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- srv.Serve(context.Background(), a) }()
		defer b.Close()
		c := &console{conn: b}
		Expect(c.start(redir.SessionKVM).Status).To(BeZero())
		Expect(c.digestLogin(exPass).Status).To(BeZero())
		c.send(&redir.KVMStart{})
		c.readRaw(8)
		_, si, err := kvmtest.AMTHandshake(b)
		Expect(err).NotTo(HaveOccurred())
		_, err = b.Write((&rfb.FramebufferUpdateRequest{Incremental: true, Rect: rfb.Rect{W: si.Width, H: si.Height}}).Append(nil))
		Expect(err).NotTo(HaveOccurred())
		// ...and never reads the update.
		var serr error
		Eventually(done, 5*time.Second).Should(Receive(&serr))
		Expect(serr).To(MatchError(ContainSubstring("write deadline")))
	})

	It("ends a session that never authenticates, by the auth timeout", func() {
		srv := redirsrv.New(redirsrv.Config{Host: e.host, AuthTimeout: 200 * time.Millisecond})
		a, b := net.Pipe()
		defer b.Close()
		done := make(chan error, 1)
		go func() { done <- srv.Serve(context.Background(), a) }()
		c := &console{conn: b}
		Expect(c.start(redir.SessionSOL).Status).To(BeZero())
		var serr error
		Eventually(done, 5*time.Second).Should(Receive(&serr))
		Expect(serr).To(MatchError(ContainSubstring("no message from the console in time")))
	})
})
