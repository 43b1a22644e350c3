package pki_test

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/pki"
)

// One RSA bundle for the whole suite: RSA generation dominates the run time.
var (
	rsaOnce   sync.Once
	rsaDir    string
	rsaBundle *pki.Bundle
)

func sharedRSA() (string, *pki.Bundle) {
	rsaOnce.Do(func() {
		d, err := os.MkdirTemp("", "pki-rsa-")
		Expect(err).NotTo(HaveOccurred())
		b, err := pki.LoadOrCreate(d, pki.Options{CommonName: "mps.oobtb.test",
			DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
		Expect(err).NotTo(HaveOccurred())
		rsaDir, rsaBundle = d, b
	})
	return rsaDir, rsaBundle
}

var _ = AfterSuite(func() {
	if rsaDir != "" {
		os.RemoveAll(rsaDir)
	}
})

func handshake(serverCfg, clientCfg *tls.Config) (tls.ConnectionState, error, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer ln.Close()
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		tc := tls.Server(c, serverCfg)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		err = tc.Handshake()
		if err == nil {
			_, err = io.Copy(tc, io.LimitReader(tc, 5))
		}
		srvErr <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	Expect(err).NotTo(HaveOccurred())
	defer c.Close()
	tc := tls.Client(c, clientCfg)
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	cerr := tc.Handshake()
	var st tls.ConnectionState
	if cerr == nil {
		st = tc.ConnectionState()
		if _, err := tc.Write([]byte("hello")); err != nil {
			cerr = err
		} else {
			buf := make([]byte, 5)
			_, cerr = io.ReadFull(tc, buf)
		}
	}
	tc.Close()
	return st, cerr, <-srvErr
}

var _ = Describe("LoadOrCreate (RSA, DMT MPS profile)", func() {
	It("issues a chain that verifies with the reference §1.1 profile", func() {
		_, b := sharedRSA()
		Expect(b.CACreated).To(BeTrue())
		Expect(b.ServerIssued).To(BeTrue())
		ca, srv := b.CA.Cert, b.Server.Cert
		Expect(ca.Subject.CommonName).To(Equal(pki.DefaultCAName))
		Expect(ca.IsCA).To(BeTrue())

		Expect(srv.Subject.CommonName).To(Equal("mps.oobtb.test"))
		Expect(srv.SignatureAlgorithm).To(Equal(x509.SHA384WithRSA))
		Expect(srv.IsCA).To(BeFalse())
		Expect(srv.BasicConstraintsValid).To(BeTrue())
		Expect(srv.KeyUsage & x509.KeyUsageDigitalSignature).NotTo(BeZero())
		Expect(srv.KeyUsage & x509.KeyUsageKeyEncipherment).NotTo(BeZero())
		Expect(srv.ExtKeyUsage).To(ConsistOf(x509.ExtKeyUsageServerAuth))
		pub, ok := srv.PublicKey.(*rsa.PublicKey)
		Expect(ok).To(BeTrue())
		Expect(pub.N.BitLen()).To(Equal(2048))
		Expect(srv.DNSNames).To(ContainElements("mps.oobtb.test", "localhost"))
		Expect(srv.IPAddresses[0].Equal(net.ParseIP("127.0.0.1"))).To(BeTrue())
		var uris []string
		for _, u := range srv.URIs {
			uris = append(uris, u.String())
		}
		Expect(uris).To(ContainElement("http://mps.oobtb.test/"))

		_, err := srv.Verify(x509.VerifyOptions{Roots: b.CA.Pool(), DNSName: "mps.oobtb.test",
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		Expect(err).NotTo(HaveOccurred())
		_, err = srv.Verify(x509.VerifyOptions{Roots: x509.NewCertPool(), DNSName: "mps.oobtb.test"})
		Expect(err).To(HaveOccurred())
	})

	It("writes keys 0600 and reloads the same CA and server certificate", func() {
		dir, b := sharedRSA()
		for _, f := range []string{pki.CAKeyFile, pki.ServerKeyFile} {
			st, err := os.Stat(filepath.Join(dir, f))
			Expect(err).NotTo(HaveOccurred())
			Expect(st.Mode().Perm()).To(Equal(os.FileMode(0o600)), f)
		}
		again, err := pki.LoadOrCreate(dir, pki.Options{CommonName: "mps.oobtb.test", DNSNames: []string{"localhost"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(again.CACreated).To(BeFalse())
		Expect(again.ServerIssued).To(BeFalse())
		Expect(again.CA.Cert.Raw).To(Equal(b.CA.Cert.Raw))
		Expect(again.Server.Cert.Raw).To(Equal(b.Server.Cert.Raw))
	})

	It("completes a handshake with a client restricted to TLS_RSA_WITH_AES_128_CBC_SHA", func() {
		_, b := sharedRSA()
		srv := pki.ServerTLSConfig(b.TLSCertificate(), pki.ServerTLSOptions{RequestClientCert: true})
		for _, suite := range pki.AMTCipherSuites {
			cli := pki.ClientTLSConfig(b.CA.Pool(), "mps.oobtb.test", false)
			cli.CipherSuites = []uint16{suite}
			cli.MaxVersion = tls.VersionTLS12
			st, cerr, serr := handshake(srv, cli)
			Expect(cerr).NotTo(HaveOccurred(), tls.CipherSuiteName(suite))
			Expect(serr).NotTo(HaveOccurred(), tls.CipherSuiteName(suite))
			Expect(st.CipherSuite).To(Equal(suite))
			Expect(st.Version).To(Equal(uint16(tls.VersionTLS12)))
		}
	})

	It("negotiates TLS 1.3 with a default client and verifies the name", func() {
		_, b := sharedRSA()
		srv := pki.ServerTLSConfig(b.TLSCertificate())
		st, cerr, serr := handshake(srv, pki.ClientTLSConfig(b.CA.Pool(), "localhost", false))
		Expect(cerr).NotTo(HaveOccurred())
		Expect(serr).NotTo(HaveOccurred())
		Expect(st.Version).To(Equal(uint16(tls.VersionTLS13)))

		_, cerr, _ = handshake(srv, pki.ClientTLSConfig(b.CA.Pool(), "other.example", false))
		Expect(cerr).To(HaveOccurred())
		_, cerr, _ = handshake(srv, pki.ClientTLSConfig(nil, "other.example", true))
		Expect(cerr).NotTo(HaveOccurred())
	})

	It("resumes sessions from the client session cache, also on the RSA suites", func() {
		_, b := sharedRSA()
		srv := pki.ServerTLSConfig(b.TLSCertificate())
		for _, max := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			cli := pki.ClientTLSConfig(b.CA.Pool(), "localhost", false)
			cli.MaxVersion = max
			if max == tls.VersionTLS12 {
				cli.CipherSuites = []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}
			}
			st, cerr, serr := handshake(srv, cli)
			Expect(cerr).NotTo(HaveOccurred())
			Expect(serr).NotTo(HaveOccurred())
			Expect(st.DidResume).To(BeFalse())
			st, cerr, serr = handshake(srv, cli)
			Expect(cerr).NotTo(HaveOccurred())
			Expect(serr).NotTo(HaveOccurred())
			Expect(st.DidResume).To(BeTrue(), "TLS version %x", max)
		}
	})

	It("resumes across a restart with the persisted ticket key, not with a new one", func() {
		_, b := sharedRSA()
		dir := GinkgoT().TempDir()
		key, err := pki.LoadOrCreateTicketKey(dir)
		Expect(err).NotTo(HaveOccurred())
		fi, err := os.Stat(filepath.Join(dir, pki.TicketKeyFile))
		Expect(err).NotTo(HaveOccurred())
		Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o600)))
		again, err := pki.LoadOrCreateTicketKey(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(again).To(Equal(key))

		cli := pki.ClientTLSConfig(b.CA.Pool(), "localhost", false)
		cli.MaxVersion = tls.VersionTLS12
		first := pki.ServerTLSConfig(b.TLSCertificate(), pki.ServerTLSOptions{SessionTicketKeys: [][32]byte{key}})
		st, cerr, serr := handshake(first, cli)
		Expect(cerr).NotTo(HaveOccurred())
		Expect(serr).NotTo(HaveOccurred())
		Expect(st.DidResume).To(BeFalse())
		// "Restart": a fresh config from the same file resumes.
		restarted := pki.ServerTLSConfig(b.TLSCertificate(), pki.ServerTLSOptions{SessionTicketKeys: [][32]byte{again}})
		st, _, _ = handshake(restarted, cli)
		Expect(st.DidResume).To(BeTrue())
		// A server with Go's random keys cannot decrypt the ticket.
		st, _, _ = handshake(pki.ServerTLSConfig(b.TLSCertificate()), cli)
		Expect(st.DidResume).To(BeFalse())
	})

	It("refuses a ticket-key file of the wrong size", func() {
		dir := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(dir, pki.TicketKeyFile), []byte("short"), 0o600)).To(Succeed())
		_, err := pki.LoadOrCreateTicketKey(dir)
		Expect(err).To(MatchError(ContainSubstring("want a 32-byte session-ticket key, found 5 bytes")))
	})

	It("refuses TLS 1.1", func() {
		_, b := sharedRSA()
		cli := pki.ClientTLSConfig(b.CA.Pool(), "localhost", false)
		cli.MinVersion, cli.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		_, cerr, serr := handshake(pki.ServerTLSConfig(b.TLSCertificate()), cli)
		Expect(cerr).To(HaveOccurred())
		Expect(serr).To(HaveOccurred())
	})
})

var _ = Describe("ECDSA bundles", func() {
	It("creates quickly, reissues the server for a new name but keeps the CA", func() {
		dir := GinkgoT().TempDir()
		o := pki.Options{CommonName: "a.test", KeyType: pki.ECDSAP256, CAKeyType: pki.ECDSAP256}
		b, err := pki.LoadOrCreate(dir, o)
		Expect(err).NotTo(HaveOccurred())
		_, ok := b.Server.Cert.PublicKey.(*ecdsa.PublicKey)
		Expect(ok).To(BeTrue())
		Expect(b.Server.Cert.SignatureAlgorithm).To(Equal(x509.ECDSAWithSHA384))
		Expect(b.Server.Cert.KeyUsage & x509.KeyUsageKeyEncipherment).To(BeZero())

		o.CommonName = "b.test"
		b2, err := pki.LoadOrCreate(dir, o)
		Expect(err).NotTo(HaveOccurred())
		Expect(b2.CACreated).To(BeFalse())
		Expect(b2.ServerIssued).To(BeTrue())
		Expect(b2.CA.Cert.Raw).To(Equal(b.CA.Cert.Raw))
		Expect(b2.Server.Cert.Subject.CommonName).To(Equal("b.test"))

		// Near expiry → reissued.
		o.Now = b2.Server.Cert.NotAfter.Add(-time.Hour)
		b3, err := pki.LoadOrCreate(dir, o)
		Expect(err).NotTo(HaveOccurred())
		Expect(b3.ServerIssued).To(BeTrue())
	})

	It("issues client and gateway certificates that verify for their usages", func() {
		ca, err := pki.NewCA(pki.CAOptions{KeyType: pki.ECDSAP256})
		Expect(err).NotTo(HaveOccurred())
		cl, err := ca.IssueClient(pki.LeafOptions{CommonName: "console-1", KeyType: pki.ECDSAP256})
		Expect(err).NotTo(HaveOccurred())
		_, err = cl.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		Expect(err).NotTo(HaveOccurred())
		_, err = cl.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		Expect(err).To(HaveOccurred())

		gw, err := ca.IssueGateway(pki.LeafOptions{CommonName: "gw1.lan", KeyType: pki.ECDSAP256})
		Expect(err).NotTo(HaveOccurred())
		for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
			_, err = gw.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "gw1.lan", KeyUsages: []x509.ExtKeyUsage{u}})
			Expect(err).NotTo(HaveOccurred())
		}

		// Mutual TLS: the server requires a client certificate from the CA.
		srv, err := ca.IssueServer(pki.LeafOptions{CommonName: "srv", KeyType: pki.ECDSAP256})
		Expect(err).NotTo(HaveOccurred())
		scfg := pki.ServerTLSConfig(srv.TLS(), pki.ServerTLSOptions{ClientCAs: ca.Pool()})
		ccfg := pki.ClientTLSConfig(ca.Pool(), "srv", false)
		_, _, serr := handshake(scfg, ccfg)
		Expect(serr).To(HaveOccurred())
		ccfg.Certificates = []tls.Certificate{gw.TLS()}
		_, cerr, serr := handshake(scfg, ccfg)
		Expect(cerr).NotTo(HaveOccurred())
		Expect(serr).NotTo(HaveOccurred())
	})

	It("loads operator-supplied files and rejects mismatched or garbage files", func() {
		dir := GinkgoT().TempDir()
		ca, err := pki.NewCA(pki.CAOptions{KeyType: pki.ECDSAP256})
		Expect(err).NotTo(HaveOccurred())
		a, _ := ca.IssueServer(pki.LeafOptions{CommonName: "a", KeyType: pki.ECDSAP256})
		b, _ := ca.IssueServer(pki.LeafOptions{CommonName: "b", KeyType: pki.ECDSAP256})
		write := func(n string, d []byte) string {
			p := filepath.Join(dir, n)
			Expect(os.WriteFile(p, d, 0o600)).To(Succeed())
			return p
		}
		c, err := pki.LoadCertificate(write("a.crt", a.CertPEM), write("a.key", a.KeyPEM))
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Cert.Raw).To(Equal(a.Cert.Raw))
		_, err = pki.LoadCertificate(write("a.crt", a.CertPEM), write("b.key", b.KeyPEM))
		Expect(err).To(MatchError(ContainSubstring("does not match")))
		_, err = pki.LoadCertificate(write("g.crt", []byte("garbage")), write("a.key", a.KeyPEM))
		Expect(err).To(HaveOccurred())
		_, err = pki.LoadOrCreate(dir, pki.Options{})
		Expect(err).To(HaveOccurred())
	})
})
