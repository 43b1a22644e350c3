package gateway

import (
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/oobtb/oobtb/emulators/gateway/control"
	"github.com/oobtb/oobtb/emulators/gateway/p2p"
	"github.com/oobtb/oobtb/emulators/pki"
)

// Files in the data directory (all 0600).
const (
	IdentityFile  = "gateway.json" // gateway id and secret from enrolment
	StaticKeyFile = "static.key"   // X25519 private key, 64 hex digits
)

type identityStore struct {
	dir string
	mu  sync.Mutex
	id  *control.Identity
	key p2p.Key
}

func openIdentity(dir string) (*identityStore, error) {
	s := &identityStore{dir: dir}
	if dir == "" {
		k, err := p2p.GenerateKey()
		if err != nil {
			return nil, err
		}
		s.key = k
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("gateway: data dir: %w", err)
	}
	kp := filepath.Join(dir, StaticKeyFile)
	b, err := os.ReadFile(kp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		k, err := p2p.GenerateKey()
		if err != nil {
			return nil, err
		}
		if err := writeFile(kp, []byte(hex.EncodeToString(k.Private)+"\n")); err != nil {
			return nil, err
		}
		s.key = k
	case err != nil:
		return nil, fmt.Errorf("gateway: %w", err)
	default:
		priv, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("gateway: %s: not hex: %v", kp, err)
		}
		if s.key, err = p2p.KeyFromPrivate(priv); err != nil {
			return nil, fmt.Errorf("gateway: %s: %w", kp, err)
		}
	}
	ip := filepath.Join(dir, IdentityFile)
	b, err = os.ReadFile(ip)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("gateway: %w", err)
	default:
		var id control.Identity
		if err := json.Unmarshal(b, &id); err != nil || id.GatewayID == "" || id.Secret == "" {
			return nil, fmt.Errorf("gateway: %s: want {\"gateway_id\":…,\"secret\":…}: %v", ip, err)
		}
		s.id = &id
	}
	return s, nil
}

func (s *identityStore) save(id control.Identity) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.id = &id
	if s.dir == "" {
		return nil
	}
	b, _ := json.MarshalIndent(id, "", "  ")
	return writeFile(filepath.Join(s.dir, IdentityFile), append(b, '\n'))
}

func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}

// lanCertificate loads or creates the local MPS certificate under
// dir/lan, named after the listen address's host.
func lanCertificate(dir, listen string) (*tls.Certificate, error) {
	if dir == "" {
		return nil, errors.New("gateway: LANCert or a DataDir for the LAN certificate authority is required")
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("gateway: LAN MPS address %q: %w", listen, err)
	}
	o := pki.Options{CommonName: host, CAName: "oobtb gateway LAN Root"}
	if ip := net.ParseIP(host); ip != nil {
		o.IPs = []net.IP{ip}
	} else {
		o.DNSNames = []string{host}
	}
	b, err := pki.LoadOrCreate(filepath.Join(dir, "lan"), o)
	if err != nil {
		return nil, fmt.Errorf("gateway: LAN certificate: %w", err)
	}
	c := b.TLSCertificate()
	return &c, nil
}

func lanTLSConfig(cert tls.Certificate) *tls.Config {
	return pki.ServerTLSConfig(cert, pki.ServerTLSOptions{RequestClientCert: true})
}
