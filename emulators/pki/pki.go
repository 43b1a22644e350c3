// Package pki creates the testbed's certificate authority and the server,
// gateway and client certificates it issues, and builds the TLS
// configurations every oobtb party uses.
//
// The server certificate follows the profile DMT MPS issues (reference
// §1.1): RSA 2048 (3072 optional), SHA-384 signature, basicConstraints
// CA=false, keyUsage digitalSignature+keyEncipherment, extKeyUsage
// serverAuth, SAN URI http://<cn>/. AMT matches that name against its MPS
// entry and must trust the issuing root, so both are stable across restarts:
// LoadOrCreate writes them once and reloads them after.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"time"
)

// KeyType selects the key algorithm of a generated certificate.
type KeyType string

const (
	// RSA2048 is what AMT needs: its RSA key-exchange suites require an RSA
	// server key, and it is DMT MPS's default size.
	RSA2048 KeyType = "rsa2048"
	// RSA3072 is DMT MPS's optional larger key.
	RSA3072 KeyType = "rsa3072"
	// ECDSAP256 is for tests and gateway/console links that never meet a
	// real AMT: generation is ~1000× faster than RSA. The RSA key-exchange
	// suites do not work with it.
	ECDSAP256 KeyType = "ecdsa-p256"
)

// DefaultCAName is the subject CN of the generated root.
const DefaultCAName = "oobtb MPS Root"

// CA is a certificate authority held in memory.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Rand is the entropy source for keys and serials (crypto/rand when nil).
	Rand io.Reader
}

// CAOptions configures NewCA.
type CAOptions struct {
	CommonName string        // DefaultCAName when empty
	KeyType    KeyType       // RSA2048 when empty
	Validity   time.Duration // 10 years when zero
	Now        time.Time     // time.Now() when zero
	Rand       io.Reader     // crypto/rand when nil
}

// LeafOptions configures a certificate issued by a CA.
type LeafOptions struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	// URIs are added to the SAN. IssueServer always adds http://<cn>/ as DMT
	// MPS does.
	URIs     []*url.URL
	KeyType  KeyType       // RSA2048 when empty
	Validity time.Duration // 2 years when zero
	Now      time.Time     // time.Now() when zero
}

// Certificate is an issued certificate with its key, in both parsed and
// PEM form.
type Certificate struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

func (o CAOptions) withDefaults() CAOptions {
	if o.CommonName == "" {
		o.CommonName = DefaultCAName
	}
	if o.KeyType == "" {
		o.KeyType = RSA2048
	}
	if o.Validity == 0 {
		o.Validity = 10 * 365 * 24 * time.Hour
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	return o
}

func (o LeafOptions) withDefaults() LeafOptions {
	if o.KeyType == "" {
		o.KeyType = RSA2048
	}
	if o.Validity == 0 {
		o.Validity = 2 * 365 * 24 * time.Hour
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	return o
}

func generateKey(kt KeyType, r io.Reader) (crypto.Signer, error) {
	switch kt {
	case RSA2048:
		return rsa.GenerateKey(r, 2048)
	case RSA3072:
		return rsa.GenerateKey(r, 3072)
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), r)
	default:
		return nil, fmt.Errorf("pki: unknown key type %q (want %s, %s or %s)", kt, RSA2048, RSA3072, ECDSAP256)
	}
}

// sigAlg is SHA-384 for both key families, as DMT MPS signs.
func sigAlg(k crypto.Signer) x509.SignatureAlgorithm {
	if _, ok := k.Public().(*ecdsa.PublicKey); ok {
		return x509.ECDSAWithSHA384
	}
	return x509.SHA384WithRSA
}

func serial(r io.Reader) (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 127)
	return rand.Int(r, limit)
}

func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}

// NewCA generates a self-signed root.
func NewCA(o CAOptions) (*CA, error) {
	o = o.withDefaults()
	key, err := generateKey(o.KeyType, o.Rand)
	if err != nil {
		return nil, err
	}
	sn, err := serial(o.Rand)
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: o.CommonName, Organization: []string{"oobtb"}},
		NotBefore:             o.Now.Add(-time.Hour),
		NotAfter:              o.Now.Add(o.Validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		SubjectKeyId:          ski,
		SignatureAlgorithm:    sigAlg(key),
	}
	der, err := x509.CreateCertificate(o.Rand, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, Rand: o.Rand}, nil
}

func (ca *CA) rand() io.Reader {
	if ca.Rand == nil {
		return rand.Reader
	}
	return ca.Rand
}

// Pool returns a pool holding only this root.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// IssueServer issues a TLS server certificate in the DMT MPS profile.
func (ca *CA) IssueServer(o LeafOptions) (*Certificate, error) {
	if o.CommonName == "" {
		return nil, errors.New("pki: server certificate needs a common name")
	}
	uris := append([]*url.URL{{Scheme: "http", Host: o.CommonName, Path: "/"}}, o.URIs...)
	o.URIs = uris
	dns := o.DNSNames
	if net.ParseIP(o.CommonName) == nil && !contains(dns, o.CommonName) {
		dns = append([]string{o.CommonName}, dns...)
	}
	o.DNSNames = dns
	return ca.issue(o, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
}

// IssueClient issues a TLS client certificate (consoles, gateways on the
// control channel, vMCs using AuthMethod 1).
func (ca *CA) IssueClient(o LeafOptions) (*Certificate, error) {
	if o.CommonName == "" {
		return nil, errors.New("pki: client certificate needs a common name")
	}
	return ca.issue(o, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
}

// IssueGateway issues a certificate a gateway uses both as the local MPS the
// vMCs connect to (server) and on its control channel (client).
func (ca *CA) IssueGateway(o LeafOptions) (*Certificate, error) {
	if o.CommonName == "" {
		return nil, errors.New("pki: gateway certificate needs a common name")
	}
	o.URIs = append([]*url.URL{{Scheme: "http", Host: o.CommonName, Path: "/"}}, o.URIs...)
	if net.ParseIP(o.CommonName) == nil && !contains(o.DNSNames, o.CommonName) {
		o.DNSNames = append([]string{o.CommonName}, o.DNSNames...)
	}
	return ca.issue(o, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (ca *CA) issue(o LeafOptions, eku []x509.ExtKeyUsage) (*Certificate, error) {
	o = o.withDefaults()
	r := ca.rand()
	key, err := generateKey(o.KeyType, r)
	if err != nil {
		return nil, err
	}
	sn, err := serial(r)
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	ku := x509.KeyUsageDigitalSignature
	if _, isRSA := key.Public().(*rsa.PublicKey); isRSA {
		// RSA key exchange encrypts the premaster secret to this key.
		ku |= x509.KeyUsageKeyEncipherment
	}
	notAfter := o.Now.Add(o.Validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: o.CommonName, Organization: []string{"oobtb"}},
		NotBefore:             o.Now.Add(-time.Hour),
		NotAfter:              notAfter,
		IsCA:                  false,
		BasicConstraintsValid: true,
		KeyUsage:              ku,
		ExtKeyUsage:           eku,
		DNSNames:              o.DNSNames,
		IPAddresses:           o.IPs,
		URIs:                  o.URIs,
		SubjectKeyId:          ski,
		AuthorityKeyId:        ca.Cert.SubjectKeyId,
		SignatureAlgorithm:    sigAlg(ca.Key),
	}
	der, err := x509.CreateCertificate(r, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: issue %q: %w", o.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &Certificate{Cert: cert, Key: key, CertPEM: encodeCert(der), KeyPEM: keyPEM}, nil
}
