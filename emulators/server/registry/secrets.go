package registry

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// PasswordScheme is how a CIRA password is stored. The scheme and its
// parameters are stored with each record, so records of either scheme keep
// verifying whichever scheme new records use.
type PasswordScheme string

const (
	// SchemeHMAC (the default) stores HMAC-SHA256 of a 16-byte salt and the
	// password under a key derived from the registry key (a "pepper"):
	// "hmac-sha256$<salt b64>$<mac b64>". CIRA passwords are machine-
	// generated secrets (DMT MPS and MeshCentral generate them), so what
	// protects them at rest is that the database alone cannot be tested
	// against guesses at all; whoever also holds the key file holds every
	// sealed AMT admin password too, which is worth more than the CIRA
	// ones. Verifying costs two SHA-256 blocks, so a reconnect storm of
	// first logins (19,000 devices after a server restart) does not queue
	// behind a slow hash.
	SchemeHMAC PasswordScheme = "hmac-sha256"
	// SchemePBKDF2 stores PBKDF2-HMAC-SHA256 with a 16-byte salt:
	// "pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>". For operators
	// who enrol human-chosen passwords; each first login then costs the
	// iterations.
	SchemePBKDF2 PasswordScheme = "pbkdf2-sha256"
)

const (
	saltLen = 16
	hashLen = 32
	// DefaultPasswordIterations is the PBKDF2 cost when SchemePBKDF2 is
	// chosen without a cost.
	DefaultPasswordIterations = 10_000
	// maxIterations bounds the cost a tampered record could impose.
	maxIterations = 10_000_000
)

// passwords hashes and verifies CIRA passwords.
type passwords struct {
	scheme     PasswordScheme
	iterations int
	key        []byte // SchemeHMAC's pepper, derived from the registry key
	rand       io.Reader
}

func newPasswords(scheme PasswordScheme, iterations int, registryKey []byte, r io.Reader) (*passwords, error) {
	switch scheme {
	case "":
		scheme = SchemeHMAC
	case SchemeHMAC, SchemePBKDF2:
	default:
		return nil, fmt.Errorf("%w: password scheme %q (expected %q or %q)", ErrInvalid, truncate(string(scheme), 32), SchemeHMAC, SchemePBKDF2)
	}
	if iterations <= 0 {
		iterations = DefaultPasswordIterations
	}
	if iterations > maxIterations {
		return nil, fmt.Errorf("%w: PasswordIterations above %d", ErrInvalid, maxIterations)
	}
	// A key of its own: the registry key also seals secrets (AES-GCM).
	m := hmac.New(sha256.New, registryKey)
	m.Write([]byte("oobtb-registry\x00cira-password-pepper\x00v1"))
	return &passwords{scheme: scheme, iterations: iterations, key: m.Sum(nil), rand: r}, nil
}

func (p *passwords) hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := io.ReadFull(p.rand, salt); err != nil {
		return "", err
	}
	b64 := base64.RawStdEncoding.EncodeToString
	if p.scheme == SchemeHMAC {
		return fmt.Sprintf("%s$%s$%s", SchemeHMAC, b64(salt), b64(p.mac(salt, password))), nil
	}
	dk, err := pbkdf2.Key(sha256.New, password, salt, p.iterations, hashLen)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s$%d$%s$%s", SchemePBKDF2, p.iterations, b64(salt), b64(dk)), nil
}

func (p *passwords) mac(salt []byte, password string) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write(salt)
	m.Write([]byte(password))
	return m.Sum(nil)
}

// verify recomputes the stored hash for password and compares in constant
// time.
func (p *passwords) verify(stored, password string) (bool, error) {
	parts := strings.Split(stored, "$")
	dec := base64.RawStdEncoding.DecodeString
	switch {
	case len(parts) == 3 && parts[0] == string(SchemeHMAC):
		salt, err1 := dec(parts[1])
		want, err2 := dec(parts[2])
		if err1 != nil || err2 != nil || len(salt) == 0 || len(want) != sha256.Size {
			return false, errors.New("registry: bad password hash encoding")
		}
		return hmac.Equal(p.mac(salt, password), want), nil
	case len(parts) == 4 && parts[0] == string(SchemePBKDF2):
		iter, err := strconv.Atoi(parts[1])
		if err != nil || iter < 1 || iter > maxIterations {
			return false, errors.New("registry: bad password hash cost")
		}
		salt, err1 := dec(parts[2])
		want, err2 := dec(parts[3])
		if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
			return false, errors.New("registry: bad password hash encoding")
		}
		got, err := pbkdf2.Key(sha256.New, password, salt, iter, len(want))
		if err != nil {
			return false, err
		}
		return subtle.ConstantTimeCompare(got, want) == 1, nil
	}
	return false, errors.New("registry: unknown password hash format")
}

// dummy is a well-formed record of the current scheme, verified against for
// unknown devices so the answer takes as long as for a known one.
func (p *passwords) dummy() string {
	if p.scheme == SchemeHMAC {
		return string(SchemeHMAC) + "$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	}
	return fmt.Sprintf("%s$%d$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", SchemePBKDF2, p.iterations)
}

// verifierCache remembers, per device, a keyed MAC of the password that
// last verified against a given stored hash. It lives only in memory under
// a per-process random key, so nothing on disk gets weaker; a changed
// stored hash invalidates the entry. Only successes are cached, so wrong
// guesses always pay the full PBKDF2 cost.
type verifierCache struct {
	on  bool
	key []byte
	mu  sync.RWMutex
	m   map[string]cacheEntry
}

type cacheEntry struct {
	stored string
	mac    [32]byte
}

func newVerifierCache(on bool) *verifierCache {
	k := make([]byte, 32)
	// Since Go 1.24 crypto/rand.Read never returns an error.
	_, _ = rand.Read(k)
	return &verifierCache{on: on, key: k, m: map[string]cacheEntry{}}
}

func (c *verifierCache) mac(user, password string) [32]byte {
	h := hmac.New(sha256.New, c.key)
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func (c *verifierCache) check(uuid, stored, user, password string) bool {
	if !c.on {
		return false
	}
	c.mu.RLock()
	e, ok := c.m[uuid]
	c.mu.RUnlock()
	if !ok || e.stored != stored {
		return false
	}
	m := c.mac(user, password)
	return subtle.ConstantTimeCompare(m[:], e.mac[:]) == 1
}

func (c *verifierCache) put(uuid, stored, user, password string) {
	if !c.on {
		return
	}
	m := c.mac(user, password)
	c.mu.Lock()
	c.m[uuid] = cacheEntry{stored: stored, mac: m}
	c.mu.Unlock()
}

func (c *verifierCache) drop(uuid string) {
	c.mu.Lock()
	delete(c.m, uuid)
	c.mu.Unlock()
}

// sealer encrypts secrets the server must read back (AMT passwords) with
// AES-256-GCM. The record's identity is bound as additional data, so a
// sealed value copied to another device's row does not open.
type sealer struct {
	aead cipher.AEAD
	rand io.Reader
}

const sealVersion = 1

// KeyFile is the name of the at-rest encryption key in the data directory.
const KeyFile = "registry.key"

func loadOrCreateKey(dir string, r io.Reader) ([]byte, error) {
	p := filepath.Join(dir, KeyFile)
	k, err := os.ReadFile(p)
	if err == nil {
		if len(k) != 32 {
			return nil, fmt.Errorf("registry: %s: want 32 bytes, got %d", p, len(k))
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("registry: %w", err)
	}
	k = make([]byte, 32)
	if _, err := io.ReadFull(r, k); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	// O_EXCL: two processes racing on first start must not end up with
	// different keys.
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadOrCreateKey(dir, r)
	}
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	if _, err := f.Write(k); err != nil {
		f.Close()
		os.Remove(p)
		return nil, fmt.Errorf("registry: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("registry: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return k, nil
}

func newSealer(key []byte, r io.Reader) (*sealer, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: g, rand: r}, nil
}

func (s *sealer) seal(plain, context string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return nil, err
	}
	out := append([]byte{sealVersion}, nonce...)
	return s.aead.Seal(out, nonce, []byte(plain), []byte("oobtb-registry\x00"+context)), nil
}

func (s *sealer) open(sealed []byte, context string) (string, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != sealVersion {
		return "", errors.New("registry: sealed secret has an unknown format")
	}
	p, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte("oobtb-registry\x00"+context))
	if err != nil {
		return "", errors.New("registry: sealed secret does not open (wrong key or tampered)")
	}
	return string(p), nil
}

// tokenHash is how one-time tokens are stored: they are 256-bit random
// values, so a plain SHA-256 is enough and keeps lookup a single index probe.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte("oobtb-token\x00" + token))
	return h[:]
}

// newToken returns a 256-bit random token, URL-safe.
func newToken(r io.Reader) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func newID(r io.Reader, prefix string) (string, error) {
	b := make([]byte, 12)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}
