// Package authtoken issues and checks the console API's bearer tokens.
//
// Two kinds exist. The admin token is a random secret created on the
// server's first start, written to the data directory (0600) and shown once;
// only its SHA-256 is compared, in constant time. Session tokens are
// short-lived, HMAC-SHA256-signed claims (subject, scopes such as
// "kvm:<uuid>", expiry, id) that the server hands to a console for one job,
// e.g. a KVM web-relay connection; a revocation list ends them early.
// Verification takes now as an argument so tests and the simulator control
// time.
package authtoken

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// File names inside the data directory.
const (
	AdminTokenFile = "admin.token"
	KeyFile        = "token.key"
	RevokedFile    = "token.revoked.json"
)

// ScopeAdmin grants everything; the admin token carries it.
const ScopeAdmin = "admin"

// Prefixes make a leaked token recognisable (secret scanners, logs review).
const (
	adminPrefix   = "oobtb-admin-"
	sessionPrefix = "oobtb-s1."
)

// MaxTokenLen bounds what Verify will look at.
const MaxTokenLen = 4096

// MaxSessionTTL bounds a session token's life: they are for one job (a KVM
// session, a console run); long-lived access is the admin token's role.
const MaxSessionTTL = 24 * time.Hour

// Errors Verify returns; test with errors.Is.
var (
	ErrMalformed    = errors.New("authtoken: malformed token")
	ErrBadSignature = errors.New("authtoken: bad signature")
	ErrExpired      = errors.New("authtoken: token expired")
	ErrNotYetValid  = errors.New("authtoken: token not yet valid")
	ErrRevoked      = errors.New("authtoken: token revoked")
	ErrUnknown      = errors.New("authtoken: unknown token")
	ErrScope        = errors.New("authtoken: token lacks scope")
)

// Claims is what a verified token says.
type Claims struct {
	ID       string    `json:"jti"`
	Subject  string    `json:"sub"`
	Scopes   []string  `json:"scp"`
	IssuedAt time.Time `json:"iat"`
	Expires  time.Time `json:"exp"`
	Admin    bool      `json:"-"`
}

// Allows reports whether the claims grant scope. ScopeAdmin grants all; a
// scope "kind:*" grants every "kind:<x>".
func (c Claims) Allows(scope string) bool {
	for _, s := range c.Scopes {
		if s == ScopeAdmin || s == scope {
			return true
		}
		if strings.HasSuffix(s, ":*") && strings.HasPrefix(scope, strings.TrimSuffix(s, "*")) {
			return true
		}
	}
	return false
}

// Require returns ErrScope (wrapped with the scope) unless c allows scope.
func (c Claims) Require(scope string) error {
	if c.Allows(scope) {
		return nil
	}
	return fmt.Errorf("%w %q", ErrScope, scope)
}

// Manager holds the signing key, the admin token's hash and the revocation
// list. It is safe for concurrent use.
type Manager struct {
	key       []byte
	adminHash [32]byte
	rand      io.Reader
	dir       string

	mu      sync.RWMutex
	revoked map[string]time.Time // token id → expiry (pruned after it)
}

// Options configures LoadOrCreate.
type Options struct {
	// Announce receives one line with the admin token when it is created
	// (first start only). Nil: the caller prints Result.AdminToken itself.
	Announce io.Writer
	Rand     io.Reader // crypto/rand when nil
}

// Result tells what LoadOrCreate found or made.
type Result struct {
	// AdminToken is set only when it was created by this call; afterwards it
	// lives only in the 0600 file.
	AdminToken string
	Created    bool
}

// LoadOrCreate opens the token state in dir, creating the signing key and
// the admin token on first start (files 0600).
func LoadOrCreate(dir string, o Options) (*Manager, Result, error) {
	r := o.Rand
	if r == nil {
		r = rand.Reader
	}
	var res Result
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, res, fmt.Errorf("authtoken: %w", err)
	}
	key, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := io.ReadFull(r, key); err != nil {
			return nil, res, fmt.Errorf("authtoken: %w", err)
		}
		if err := writeFile(filepath.Join(dir, KeyFile), key, 0o600); err != nil {
			return nil, res, err
		}
	} else if err != nil {
		return nil, res, fmt.Errorf("authtoken: %w", err)
	}
	if len(key) != 32 {
		return nil, res, fmt.Errorf("authtoken: %s: want 32 bytes, got %d", KeyFile, len(key))
	}
	adminPath := filepath.Join(dir, AdminTokenFile)
	admin, err := os.ReadFile(adminPath)
	if errors.Is(err, fs.ErrNotExist) {
		secret := make([]byte, 32)
		if _, err := io.ReadFull(r, secret); err != nil {
			return nil, res, fmt.Errorf("authtoken: %w", err)
		}
		tok := adminPrefix + base64.RawURLEncoding.EncodeToString(secret)
		if err := writeFile(adminPath, []byte(tok+"\n"), 0o600); err != nil {
			return nil, res, err
		}
		admin = []byte(tok)
		res = Result{AdminToken: tok, Created: true}
		if o.Announce != nil {
			fmt.Fprintf(o.Announce, "oobtb: admin API token (shown once; also in %s): %s\n", adminPath, tok)
		}
	} else if err != nil {
		return nil, res, fmt.Errorf("authtoken: %w", err)
	}
	adminTok := strings.TrimSpace(string(admin))
	if !strings.HasPrefix(adminTok, adminPrefix) {
		return nil, res, fmt.Errorf("authtoken: %s does not hold an admin token", adminPath)
	}
	m := &Manager{key: key, adminHash: sha256.Sum256([]byte(adminTok)), rand: r, dir: dir,
		revoked: map[string]time.Time{}}
	if b, err := os.ReadFile(filepath.Join(dir, RevokedFile)); err == nil {
		if err := json.Unmarshal(b, &m.revoked); err != nil {
			return nil, res, fmt.Errorf("authtoken: %s: %w", RevokedFile, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, res, fmt.Errorf("authtoken: %w", err)
	}
	return m, res, nil
}

// New returns an in-memory manager (no files) with the given 32-byte key
// and admin token; for tests and embedders that keep secrets elsewhere.
func New(key []byte, adminToken string) (*Manager, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("authtoken: key must be 32 bytes, got %d", len(key))
	}
	if !strings.HasPrefix(adminToken, adminPrefix) || len(adminToken) < len(adminPrefix)+16 {
		return nil, fmt.Errorf("authtoken: admin token must start with %q and carry at least 16 characters of secret", adminPrefix)
	}
	return &Manager{key: append([]byte(nil), key...), adminHash: sha256.Sum256([]byte(adminToken)),
		rand: rand.Reader, revoked: map[string]time.Time{}}, nil
}

// Issue signs a session token for subject with the given scopes, valid from
// now for ttl.
func (m *Manager) Issue(subject string, scopes []string, now time.Time, ttl time.Duration) (string, Claims, error) {
	if ttl <= 0 || ttl > MaxSessionTTL {
		return "", Claims{}, fmt.Errorf("authtoken: ttl must be in (0, %s]", MaxSessionTTL)
	}
	for _, s := range scopes {
		if s == ScopeAdmin {
			return "", Claims{}, errors.New("authtoken: session tokens cannot carry the admin scope")
		}
	}
	id := make([]byte, 16)
	if _, err := io.ReadFull(m.rand, id); err != nil {
		return "", Claims{}, fmt.Errorf("authtoken: %w", err)
	}
	c := Claims{ID: hex.EncodeToString(id), Subject: subject, Scopes: append([]string(nil), scopes...),
		IssuedAt: now.UTC().Truncate(time.Second), Expires: now.Add(ttl).UTC().Truncate(time.Second)}
	if !c.Expires.After(now) {
		c.Expires = c.Expires.Add(time.Second)
	}
	payload, err := json.Marshal(wireClaims{ID: c.ID, Sub: c.Subject, Scp: c.Scopes, Iat: c.IssuedAt.Unix(), Exp: c.Expires.Unix()})
	if err != nil {
		return "", Claims{}, err
	}
	body := sessionPrefix + base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(m.sign(body)), c, nil
}

type wireClaims struct {
	ID  string   `json:"jti"`
	Sub string   `json:"sub"`
	Scp []string `json:"scp"`
	Iat int64    `json:"iat"`
	Exp int64    `json:"exp"`
}

func (m *Manager) sign(body string) []byte {
	h := hmac.New(sha256.New, m.key)
	h.Write([]byte(body))
	return h.Sum(nil)
}

// Verify checks token at time now and returns its claims. The admin token
// yields Claims{Subject: "admin", Scopes: [admin], Admin: true}.
func (m *Manager) Verify(token string, now time.Time) (Claims, error) {
	if len(token) == 0 || len(token) > MaxTokenLen {
		return Claims{}, ErrMalformed
	}
	if strings.HasPrefix(token, adminPrefix) {
		h := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(h[:], m.adminHash[:]) == 1 {
			return Claims{Subject: "admin", Scopes: []string{ScopeAdmin}, Admin: true}, nil
		}
		return Claims{}, ErrUnknown
	}
	if !strings.HasPrefix(token, sessionPrefix) {
		return Claims{}, ErrMalformed
	}
	dot := strings.LastIndexByte(token, '.')
	if dot <= len(sessionPrefix) {
		return Claims{}, ErrMalformed
	}
	body, sigTxt := token[:dot], token[dot+1:]
	sig, err := base64.RawURLEncoding.DecodeString(sigTxt)
	if err != nil || len(sig) != sha256.Size {
		return Claims{}, ErrMalformed
	}
	if !hmac.Equal(sig, m.sign(body)) {
		return Claims{}, ErrBadSignature
	}
	payload, err := base64.RawURLEncoding.DecodeString(body[len(sessionPrefix):])
	if err != nil {
		return Claims{}, ErrMalformed
	}
	var w wireClaims
	if err := json.Unmarshal(payload, &w); err != nil || w.ID == "" {
		return Claims{}, ErrMalformed
	}
	c := Claims{ID: w.ID, Subject: w.Sub, Scopes: w.Scp, IssuedAt: time.Unix(w.Iat, 0).UTC(), Expires: time.Unix(w.Exp, 0).UTC()}
	if !now.Before(c.Expires) {
		return Claims{}, ErrExpired
	}
	// A minute of grace for clocks of different parties.
	if now.Add(time.Minute).Before(c.IssuedAt) {
		return Claims{}, ErrNotYetValid
	}
	m.mu.RLock()
	_, revoked := m.revoked[c.ID]
	m.mu.RUnlock()
	if revoked {
		return Claims{}, ErrRevoked
	}
	return c, nil
}

// Authorize verifies token and requires scope.
func (m *Manager) Authorize(token, scope string, now time.Time) (Claims, error) {
	c, err := m.Verify(token, now)
	if err != nil {
		return c, err
	}
	return c, c.Require(scope)
}

// Revoke ends a session token before its expiry. Entries are kept until the
// token would have expired anyway, and persisted when the manager has a
// data directory, so a restart does not revive a revoked token.
func (m *Manager) Revoke(c Claims, now time.Time) error {
	if c.Admin || c.ID == "" {
		return errors.New("authtoken: only session tokens can be revoked")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revoked[c.ID] = c.Expires
	for id, exp := range m.revoked {
		if !now.Before(exp) {
			delete(m.revoked, id)
		}
	}
	return m.persistLocked()
}

// RevokeToken parses and revokes a session token string. Already expired or
// invalid tokens need no revocation and return the Verify error.
func (m *Manager) RevokeToken(token string, now time.Time) error {
	c, err := m.Verify(token, now)
	if err != nil {
		return err
	}
	return m.Revoke(c, now)
}

// Revoked lists the ids currently on the revocation list, sorted.
func (m *Manager) Revoked() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.revoked))
	for id := range m.revoked {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func (m *Manager) persistLocked() error {
	if m.dir == "" {
		return nil
	}
	b, err := json.Marshal(m.revoked)
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(m.dir, RevokedFile), b, 0o600)
}

// ParseBearer extracts the token from an Authorization header value
// ("Bearer <token>", scheme case-insensitive).
func ParseBearer(header string) (string, bool) {
	const scheme = "bearer "
	if len(header) <= len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", false
	}
	t := strings.TrimSpace(header[len(scheme):])
	return t, t != ""
}

func writeFile(path string, data []byte, perm os.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("authtoken: %w", err)
	}
	name := tmp.Name()
	defer os.Remove(name)
	err = tmp.Chmod(perm)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		return fmt.Errorf("authtoken: %w", err)
	}
	return nil
}
