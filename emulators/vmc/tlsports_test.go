package vmc_test

import (
	"context"
	"crypto/tls"
	"io"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/services"
	"github.com/oobtb/oobtb/emulators/wire/redir"
)

var _ = Describe("the TLS ports", func() {
	It("serve redirection inside TLS on 16995 and WS-MAN on 16993", func() {
		m := startMPS("admin", "P@ssw0rd", false)
		defer m.close()
		d, err := vmc.Build(vmc.Spec{UUID: uuid, Servers: []string{m.ln.Addr().String()}, User: "admin", Pass: "P@ssw0rd",
			AMTPass: "P@ssw0rd", Resolution: "640x480"}, vmc.Deps{RootCAs: ca.Pool(), Services: services.For})
		Expect(err).NotTo(HaveOccurred())
		d.Start()
		defer d.Stop()
		Eventually(m.conn, "10s").ShouldNot(BeNil())

		ch, err := m.conn().OpenChannel(context.Background(), 16995, "", 0)
		Expect(err).NotTo(HaveOccurred())
		tc := tls.Client(ch, &tls.Config{InsecureSkipVerify: true}) // AMT's self-signed device certificate
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		Expect(tc.Handshake()).To(Succeed())
		_, err = tc.Write(redir.NewStart(redir.SessionKVM).Append(nil))
		Expect(err).NotTo(HaveOccurred())
		reply := make([]byte, 13)
		_, err = io.ReadFull(tc, reply)
		Expect(err).NotTo(HaveOccurred())
		Expect(reply[0]).To(Equal(byte(0x11)))
		Expect(reply[1]).To(Equal(byte(0)), "status success")
		tc.Close()

		ch, err = m.conn().OpenChannel(context.Background(), 16993, "", 0)
		Expect(err).NotTo(HaveOccurred())
		tc = tls.Client(ch, &tls.Config{InsecureSkipVerify: true})
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		Expect(tc.Handshake()).To(Succeed())
		_, err = tc.Write([]byte("POST /wsman HTTP/1.1\r\nHost: x:16993\r\nContent-Length: 0\r\n\r\n"))
		Expect(err).NotTo(HaveOccurred())
		head := make([]byte, 12)
		_, err = io.ReadFull(tc, head)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(head)).To(Equal("HTTP/1.1 401"))
		tc.Close()
	})
})
