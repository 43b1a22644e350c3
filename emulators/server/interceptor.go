package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/oobtb/oobtb/emulators/wire/redir"
)

// maxInterceptBuffer bounds the bytes held while a redirection message is
// incomplete during authentication.
const maxInterceptBuffer = redir.MaxAuthData + 64

// interceptor injects the redirection digest credentials the way the web
// relays of MeshCentral, DMT MPS and the DMT console do (reference §2.3):
// until authentication succeeds it parses both directions, replaces the
// console's digest probe with its own blank probe and the console's digest
// with one computed from the device's stored AMT credentials (cnonce fixed
// per session, nc "%08x" counting up), and records the device's challenge.
// Once the device reports a non-query authentication success it becomes a
// transparent pipe. It is pure: bytes in, bytes out.
type interceptor struct {
	user, pass string
	cnonce     string

	mu                sync.Mutex
	nc                uint32
	realm, nonce, qop string
	authed            bool
	toBuf, fromBuf    []byte
	injected          int // digests replaced (for tests and logs)
}

func newInterceptor(user, pass string) *interceptor {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return &interceptor{user: user, pass: pass, cnonce: hex.EncodeToString(b[:])}
}

// Authenticated reports whether the device accepted the session.
func (ic *interceptor) Authenticated() bool {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return ic.authed
}

// toAMT processes console → device bytes and returns what to forward.
func (ic *interceptor) toAMT(p []byte) ([]byte, error) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.authed && len(ic.toBuf) == 0 {
		return p, nil
	}
	ic.toBuf = append(ic.toBuf, p...)
	var out []byte
	for len(ic.toBuf) > 0 {
		if ic.authed {
			out = append(out, ic.toBuf...)
			ic.toBuf = ic.toBuf[:0]
			break
		}
		m, n, err := redir.Decode(ic.toBuf, redir.ToAMT)
		if errors.Is(err, redir.ErrShort) {
			if len(ic.toBuf) > maxInterceptBuffer {
				return nil, fmt.Errorf("relay: console sent %d bytes of an incomplete redirection message", len(ic.toBuf))
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("relay: console → device: %w", err)
		}
		if a, ok := m.(*redir.AuthenticateSession); ok && (a.Type == redir.AuthDigest || a.Type == redir.AuthDigestQop) {
			out = ic.inject(out, a)
		} else {
			out = append(out, ic.toBuf[:n]...)
		}
		ic.toBuf = ic.toBuf[n:]
	}
	if len(ic.toBuf) == 0 {
		ic.toBuf = nil
	}
	return out, nil
}

// inject appends our replacement of a console digest message.
func (ic *interceptor) inject(out []byte, a *redir.AuthenticateSession) []byte {
	ic.injected++
	if a.IsProbe() || ic.nonce == "" {
		probe := &redir.AuthenticateSession{Type: a.Type, User: ic.user, URI: redir.RedirectionURI}
		return probe.Append(out)
	}
	ic.nc++
	m := &redir.AuthenticateSession{Type: redir.AuthDigestQop, User: ic.user, Realm: ic.realm, Nonce: ic.nonce,
		URI: redir.RedirectionURI, CNonce: ic.cnonce, NC: fmt.Sprintf("%08x", ic.nc), Qop: ic.qop}
	if ic.qop == "" {
		m.Type, m.CNonce, m.NC = redir.AuthDigest, "", ""
	}
	m.Response = redir.DigestResponse(ic.user, ic.realm, ic.pass, ic.nonce, m.NC, m.CNonce, m.Qop, m.URI)
	return m.Append(out)
}

// fromAMT processes device → console bytes; they are forwarded unchanged,
// but read for the challenge and the verdict.
func (ic *interceptor) fromAMT(p []byte) ([]byte, error) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.authed {
		return p, nil
	}
	ic.fromBuf = append(ic.fromBuf, p...)
	for len(ic.fromBuf) > 0 && !ic.authed {
		m, n, err := redir.Decode(ic.fromBuf, redir.FromAMT)
		if errors.Is(err, redir.ErrShort) {
			if len(ic.fromBuf) > maxInterceptBuffer {
				return nil, fmt.Errorf("relay: device sent %d bytes of an incomplete redirection message", len(ic.fromBuf))
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("relay: device → console: %w", err)
		}
		if r, ok := m.(*redir.AuthenticateSessionReply); ok {
			switch {
			case r.IsChallenge():
				ic.realm, ic.nonce, ic.qop = r.Realm, r.Nonce, r.Qop
			case r.Type != redir.AuthQuery && r.Status == redir.AuthStatusSuccess:
				ic.authed = true
			}
		}
		ic.fromBuf = ic.fromBuf[n:]
	}
	if ic.authed || len(ic.fromBuf) == 0 {
		ic.fromBuf = nil
	}
	return p, nil
}
