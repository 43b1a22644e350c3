package wsmansrv

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

// tlsMaterial is the device's TLS certificate as the TLS classes report
// it, so MeshCentral finds TLS set up (§3.2 step 3) and does not try to
// provision it.
type tlsMaterial struct {
	certDER []byte
	pubDER  []byte // PKCS#1 RSA public key, AMT_PublicPrivateKeyPair.DERKey
	subject string
	issuer  string
}

// The RSA key is drawn once per process and shared by every emulated
// device: generating 2048-bit keys for thousands of vMCs would dominate
// start-up, and nothing in the testbed relies on devices having distinct
// keys. Each device's certificate is its own (its host name, serial).
var (
	sharedKeyOnce sync.Once
	sharedKey     *rsa.PrivateKey
	sharedKeyErr  error
)

func deviceKey() (*rsa.PrivateKey, error) {
	sharedKeyOnce.Do(func() { sharedKey, sharedKeyErr = rsa.GenerateKey(rand.Reader, 2048) })
	return sharedKey, sharedKeyErr
}

// tlsLocked returns the device's certificate, made on first use.
func (s *Server) tlsLocked() (*tlsMaterial, error) {
	if s.tls != nil {
		return s.tls, nil
	}
	key, err := deviceKey()
	if err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	id := s.identity()
	cn := id.Hostname
	if cn == "" {
		cn = id.UUID
	}
	serial := new(big.Int).SetBytes([]byte(id.UUID))
	notBefore := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"oobtb vMC"}, Country: []string{"US"}},
		NotBefore:    notBefore,
		NotAfter:     notBefore.AddDate(20, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{cn},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("device certificate: %w", err)
	}
	name := "C=US,O=oobtb vMC,CN=" + cn
	s.tls = &tlsMaterial{certDER: der, pubDER: x509.MarshalPKCS1PublicKey(&key.PublicKey), subject: name, issuer: name}
	return s.tls, nil
}

const (
	certInstanceID = "Intel(r) AMT Certificate: Handle: 0"
	keyInstanceID  = "Intel(r) AMT Key: Handle: 0"
)

func publicKeyCertificate(s *Server) []wsman.Instance {
	m, err := s.tlsLocked()
	if err != nil {
		s.log.Error("no TLS certificate", "err", err)
		return nil
	}
	return []wsman.Instance{inst("AMT_PublicKeyCertificate",
		wsman.S("ElementName", "Intel(r) AMT Certificate"),
		wsman.S("InstanceID", certInstanceID),
		wsman.S("IsTrustedRootCertificate", "false"),
		wsman.S("Issuer", m.issuer),
		wsman.S("Subject", m.subject),
		wsman.S("X509Certificate", base64.StdEncoding.EncodeToString(m.certDER)))}
}

func publicPrivateKeyPair(s *Server) []wsman.Instance {
	m, err := s.tlsLocked()
	if err != nil {
		s.log.Error("no TLS key", "err", err)
		return nil
	}
	return []wsman.Instance{inst("AMT_PublicPrivateKeyPair",
		wsman.S("DERKey", base64.StdEncoding.EncodeToString(m.pubDER)),
		wsman.S("ElementName", "Intel(r) AMT Key"),
		wsman.S("InstanceID", keyInstanceID))}
}

// tlsSettingData: remote TLS is set up (port 16993) and non-TLS connections
// stay accepted, which is what lets 16992 answer at all; local (LMS) TLS is
// off.
func tlsSettingData(*Server) []wsman.Instance {
	return []wsman.Instance{
		inst("AMT_TLSSettingData",
			wsman.S("AcceptNonSecureConnections", "true"),
			wsman.S("ElementName", "Intel(r) AMT 802.3 TLS Settings"),
			wsman.S("Enabled", "true"),
			wsman.S("InstanceID", "Intel(r) AMT 802.3 TLS Settings"),
			wsman.S("MutualAuthentication", "false")),
		inst("AMT_TLSSettingData",
			wsman.S("AcceptNonSecureConnections", "true"),
			wsman.S("ElementName", "Intel(r) AMT LMS TLS Settings"),
			wsman.S("Enabled", "false"),
			wsman.S("InstanceID", "Intel(r) AMT LMS TLS Settings"),
			wsman.S("MutualAuthentication", "false")),
	}
}

// tlsCredentialContext ties the certificate to the TLS endpoints: its
// ElementInContext selector is the certificate's InstanceID, which is what
// MeshCentral checks.
func tlsCredentialContext(*Server) []wsman.Instance {
	return []wsman.Instance{inst("AMT_TLSCredentialContext",
		wsman.R("ElementInContext", wsman.NewEPR(wsman.ResourceURI("AMT_PublicKeyCertificate"),
			wsman.Sel("InstanceID", certInstanceID))),
		wsman.R("ElementProvidingContext", wsman.NewEPR(wsman.ResourceURI("AMT_TLSProtocolEndpointCollection"),
			wsman.Sel("ElementName", "TLSProtocolEndpointInstances Collection"))))}
}

// DefaultHandshakeTimeout bounds the TLS handshake of a 16993 channel.
const DefaultHandshakeTimeout = 30 * time.Second

// ServeTLS serves one channel to port 16993: TLS inside the APF channel,
// with the certificate AMT_PublicKeyCertificate reports (the RSA suites AMT
// uses are allowed), then the same HTTP service as Serve.
func (s *Server) ServeTLS(ch net.Conn) error {
	conn, err := s.WrapTLS(ch, "16993")
	if err != nil {
		return fmt.Errorf("wsman: %w", err)
	}
	return s.Serve(conn)
}

// WrapTLS runs the device's TLS server handshake on ch (a channel to 16993 or
// 16995) with the certificate AMT_PublicKeyCertificate reports, as real AMT
// uses one TLS identity for both TLS ports. ch is closed on failure.
func (s *Server) WrapTLS(ch net.Conn, port string) (net.Conn, error) {
	s.mu.Lock()
	m, err := s.tlsLocked()
	s.mu.Unlock()
	if err != nil {
		ch.Close()
		return nil, fmt.Errorf("TLS on %s: %w", port, err)
	}
	key, _ := deviceKey() // made by tlsLocked
	conn := tls.Server(ch, pki.ServerTLSConfig(tls.Certificate{Certificate: [][]byte{m.certDER}, PrivateKey: key}))
	if err := ch.SetDeadline(time.Now().Add(DefaultHandshakeTimeout)); err != nil {
		ch.Close()
		return nil, err
	}
	if err := conn.Handshake(); err != nil {
		ch.Close()
		return nil, fmt.Errorf("TLS handshake on %s: %w", port, err)
	}
	if err := ch.SetDeadline(time.Time{}); err != nil {
		ch.Close()
		return nil, err
	}
	return conn, nil
}
