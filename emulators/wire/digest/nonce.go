package digest

import (
	"encoding/base64"
	"fmt"
	"io"
	"time"
)

// NonceLen is the length of the nonces NonceTable issues: 18 random bytes in
// standard base64, so 24 characters with no padding. The alphabet has neither
// '=' nor ',', which MeshCentral's challenge parser cannot cope with (§1.9).
const NonceLen = 24

// NonceStatus is the verdict of NonceTable.Check.
type NonceStatus uint8

const (
	// NonceOK: known, fresh, and nc is higher than any seen for it.
	NonceOK NonceStatus = iota
	// NonceStale: the nonce was issued by us but its lifetime is over. Answer
	// 401 with a fresh nonce and stale=true.
	NonceStale
	// NonceUnknown: never issued, or evicted. Answer 401 with stale=false.
	NonceUnknown
	// NonceReplay: nc is not higher than the last accepted one.
	NonceReplay
	// NonceBadNC: nc is not a count in either accepted format.
	NonceBadNC
)

func (s NonceStatus) String() string {
	switch s {
	case NonceOK:
		return "ok"
	case NonceStale:
		return "stale"
	case NonceUnknown:
		return "unknown"
	case NonceReplay:
		return "replayed nc"
	case NonceBadNC:
		return "bad nc"
	}
	return fmt.Sprintf("NonceStatus(%d)", uint8(s))
}

type nonceEntry struct {
	issued time.Time
	lastNC uint64
	used   bool
}

// NonceTable issues nonces and checks their use. AMT accepts a nonce on any
// channel for many minutes with any increasing nc, and clients keep reusing
// one nonce until they see another 401 (§1.9), so a nonce is not bound to a
// channel. The table holds at most Max nonces and forgets the oldest first.
// It reads no clock: every call takes now. Not safe for concurrent use.
type NonceTable struct {
	rand     io.Reader
	lifetime time.Duration
	max      int
	entries  map[string]*nonceEntry
	order    []string // issue order, oldest first; may hold evicted names
}

// Defaults for NewNonceTable arguments ≤ 0.
const (
	DefaultNonceLifetime = 15 * time.Minute
	DefaultNonceMax      = 1024
)

// NewNonceTable returns a table drawing randomness from rand. lifetime ≤ 0 and
// max ≤ 0 select the defaults.
func NewNonceTable(rand io.Reader, lifetime time.Duration, max int) *NonceTable {
	if lifetime <= 0 {
		lifetime = DefaultNonceLifetime
	}
	if max <= 0 {
		max = DefaultNonceMax
	}
	return &NonceTable{rand: rand, lifetime: lifetime, max: max, entries: make(map[string]*nonceEntry)}
}

// Len is the number of nonces held (fresh or expired but not yet forgotten).
func (t *NonceTable) Len() int { return len(t.entries) }

// Issue returns a new nonce valid from now for the table's lifetime.
func (t *NonceTable) Issue(now time.Time) (string, error) {
	var raw [NonceLen / 4 * 3]byte
	var n string
	for tries := 0; ; tries++ {
		if _, err := io.ReadFull(t.rand, raw[:]); err != nil {
			return "", fmt.Errorf("digest: nonce randomness: %w", err)
		}
		n = base64.StdEncoding.EncodeToString(raw[:])
		if _, dup := t.entries[n]; !dup {
			break
		}
		if tries == 8 {
			return "", fmt.Errorf("digest: nonce randomness repeats")
		}
	}
	t.expire(now)
	for len(t.entries) >= t.max {
		t.evictOldest()
	}
	t.entries[n] = &nonceEntry{issued: now}
	t.order = append(t.order, n)
	return n, nil
}

// Check validates one use of nonce with count nc at now, and on NonceOK
// records nc so the same or a lower count is refused next time.
func (t *NonceTable) Check(nonce, nc string, now time.Time) NonceStatus {
	e, ok := t.entries[nonce]
	if !ok {
		return NonceUnknown
	}
	if now.Sub(e.issued) >= t.lifetime || now.Before(e.issued) {
		return NonceStale
	}
	v, err := ParseNC(nc)
	if err != nil {
		return NonceBadNC
	}
	if e.used && v <= e.lastNC {
		return NonceReplay
	}
	e.used, e.lastNC = true, v
	return NonceOK
}

// CheckNoQOP validates a nonce used without qop (RFC 2069 digest has no nc,
// so replay cannot be detected): known and fresh is enough.
func (t *NonceTable) CheckNoQOP(nonce string, now time.Time) NonceStatus {
	e, ok := t.entries[nonce]
	if !ok {
		return NonceUnknown
	}
	if now.Sub(e.issued) >= t.lifetime || now.Before(e.issued) {
		return NonceStale
	}
	return NonceOK
}

// expire forgets nonces that have been stale for a further lifetime: a client
// using one after that gets NonceUnknown, which also leads to a fresh 401.
func (t *NonceTable) expire(now time.Time) {
	for len(t.order) > 0 {
		n := t.order[0]
		e, ok := t.entries[n]
		if ok && now.Sub(e.issued) < 2*t.lifetime {
			return
		}
		delete(t.entries, n)
		t.order = t.order[1:]
	}
	t.compact()
}

func (t *NonceTable) evictOldest() {
	for len(t.order) > 0 {
		n := t.order[0]
		t.order = t.order[1:]
		if _, ok := t.entries[n]; ok {
			delete(t.entries, n)
			break
		}
	}
	t.compact()
}

// compact keeps the order slice's backing array from growing without bound.
func (t *NonceTable) compact() {
	if cap(t.order) > 64 && len(t.order) < cap(t.order)/4 {
		t.order = append([]string(nil), t.order...)
	}
}
