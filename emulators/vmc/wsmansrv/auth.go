package wsmansrv

import (
	"crypto/subtle"
	"io"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/wire/digest"
	"github.com/oobtb/oobtb/emulators/wire/httpwire"
)

// authState is the device's digest state: one nonce table for all channels,
// because clients reuse a nonce on every new channel (§1.9).
type authState struct {
	mu     sync.Mutex
	nonces *digest.NonceTable
}

func newAuthState(rand io.Reader, lifetime time.Duration) *authState {
	return &authState{nonces: digest.NewNonceTable(rand, lifetime, 0)}
}

// check authenticates req. On failure it returns the WWW-Authenticate value
// of the 401 to send: a fresh nonce, stale="true" when the client's digest
// was right but its nonce has expired.
func (a *authState) check(req *httpwire.Request, id host.Identity, now time.Time) (bool, string) {
	stale := false
	if v, ok := req.Header.Lookup("Authorization"); ok {
		if auth, err := digest.ParseAuthorization(v); err == nil && a.valid(auth, req.Method, id) {
			a.mu.Lock()
			var st digest.NonceStatus
			if auth.QOP == "" {
				st = a.nonces.CheckNoQOP(auth.Nonce, now)
			} else {
				st = a.nonces.Check(auth.Nonce, auth.NC, now)
			}
			a.mu.Unlock()
			if st == digest.NonceOK {
				return true, ""
			}
			stale = st == digest.NonceStale
		}
	}
	a.mu.Lock()
	nonce, err := a.nonces.Issue(now)
	a.mu.Unlock()
	if err != nil {
		// Without randomness no nonce can be trusted; a challenge with an
		// empty nonce can never be answered, which fails closed.
		nonce = ""
	}
	return false, digest.Challenge{Realm: id.Realm, Nonce: nonce, Stale: stale, QOP: digest.QOPAuth}.String()
}

// valid checks user, realm and the response; the nonce is checked after,
// so a wrong password never consumes a nonce count.
func (a *authState) valid(auth *digest.Authorization, method string, id host.Identity) bool {
	if subtle.ConstantTimeCompare([]byte(auth.Username), []byte(id.AMTUser)) != 1 || auth.Realm != id.Realm {
		return false
	}
	return digest.Verify(auth, id.AMTPass, method)
}
