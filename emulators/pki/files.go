package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names LoadOrCreate uses inside its directory.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
)

// Options configures LoadOrCreate.
type Options struct {
	// CommonName of the server certificate; AMT matches it against its MPS
	// entry (the FQDN, or the separate CN when the entry is an address).
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	KeyType    KeyType // server key, RSA2048 when empty
	CAKeyType  KeyType // RSA2048 when empty
	CAName     string  // DefaultCAName when empty
	Validity   time.Duration
	Now        time.Time
}

// Bundle is the CA and server certificate of one data directory.
type Bundle struct {
	CA     *CA
	Server *Certificate
	// CACreated and ServerIssued tell what this call generated (so a daemon
	// can log it once).
	CACreated    bool
	ServerIssued bool
}

// TLSCertificate returns the server certificate for a tls.Config.
func (b *Bundle) TLSCertificate() tls.Certificate { return b.Server.TLS() }

// TLS returns the certificate and key as a tls.Certificate.
func (c *Certificate) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
}

// renewBefore: a server certificate this close to expiry is reissued on start.
const renewBefore = 30 * 24 * time.Hour

// LoadOrCreate loads the CA and server certificate from dir, creating
// whichever is missing. The CA is never replaced once written (devices trust
// it); the server certificate is reissued from it when missing, near expiry,
// issued by another CA, or for another common name. Key files are 0600.
func LoadOrCreate(dir string, o Options) (*Bundle, error) {
	if o.CommonName == "" {
		return nil, errors.New("pki: LoadOrCreate needs a server common name")
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	b := &Bundle{}
	ca, err := loadCA(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ca, err = NewCA(CAOptions{CommonName: o.CAName, KeyType: o.CAKeyType, Now: o.Now})
		if err != nil {
			return nil, err
		}
		keyPEM, err := encodeKey(ca.Key)
		if err != nil {
			return nil, err
		}
		if err := writeFile(filepath.Join(dir, CAKeyFile), keyPEM, 0o600); err != nil {
			return nil, err
		}
		if err := writeFile(filepath.Join(dir, CACertFile), encodeCert(ca.Cert.Raw), 0o644); err != nil {
			return nil, err
		}
		b.CACreated = true
	case err != nil:
		return nil, err
	}
	b.CA = ca

	srv, err := loadCertificate(filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile))
	if err == nil && !serverUsable(srv, ca, o) {
		srv, err = nil, fs.ErrNotExist
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		srv, err = ca.IssueServer(LeafOptions{CommonName: o.CommonName, DNSNames: o.DNSNames, IPs: o.IPs,
			KeyType: o.KeyType, Validity: o.Validity, Now: o.Now})
		if err != nil {
			return nil, err
		}
		if err := writeFile(filepath.Join(dir, ServerKeyFile), srv.KeyPEM, 0o600); err != nil {
			return nil, err
		}
		if err := writeFile(filepath.Join(dir, ServerCertFile), srv.CertPEM, 0o644); err != nil {
			return nil, err
		}
		b.ServerIssued = true
	case err != nil:
		return nil, err
	}
	b.Server = srv
	return b, nil
}

func serverUsable(c *Certificate, ca *CA, o Options) bool {
	if c.Cert.Subject.CommonName != o.CommonName {
		return false
	}
	if o.Now.Add(renewBefore).After(c.Cert.NotAfter) {
		return false
	}
	if err := c.Cert.CheckSignatureFrom(ca.Cert); err != nil {
		return false
	}
	for _, n := range o.DNSNames {
		if !contains(c.Cert.DNSNames, n) {
			return false
		}
	}
	for _, ip := range o.IPs {
		found := false
		for _, have := range c.Cert.IPAddresses {
			if have.Equal(ip) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func loadCA(dir string) (*CA, error) {
	c, err := loadCertificate(filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, err
	}
	if !c.Cert.IsCA {
		return nil, fmt.Errorf("pki: %s is not a CA certificate", filepath.Join(dir, CACertFile))
	}
	return &CA{Cert: c.Cert, Key: c.Key}, nil
}

// LoadCertificate reads a PEM certificate and PEM private key (PKCS#8,
// PKCS#1 or SEC1), e.g. operator-supplied files.
func LoadCertificate(certFile, keyFile string) (*Certificate, error) {
	return loadCertificate(certFile, keyFile)
}

func loadCertificate(certFile, keyFile string) (*Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("pki: %s: no PEM CERTIFICATE block", certFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", certFile, err)
	}
	key, err := decodeKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", keyFile, err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("pki: %s does not match %s", keyFile, certFile)
	}
	return &Certificate{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func decodeKey(p []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(p)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	var k any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q", b.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key type %T cannot sign", k)
	}
	return s, nil
}

// writeFile writes via a temporary file and rename so a crash never leaves
// a half-written key, and creates the file with perm from the start so a key
// is never briefly world-readable.
func writeFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	name := tmp.Name()
	defer os.Remove(name)
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}
