package wsmansrv

import (
	"time"

	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

// enumeration is one open Enumerate: the instances snapshotted when it was
// opened and how far Pull has got. Snapshotting keeps a Pull sequence
// consistent even if the device changes in between, as AMT does.
type enumeration struct {
	resourceURI string
	items       []wsman.Instance
	pos         int
	expires     time.Time
	seq         uint64 // age, for evicting the oldest
}

// enumerations are the device's open enumeration contexts, shared by all
// channels (DMT MPS may Pull on another channel than the Enumerate's). The
// set is bounded: the oldest is dropped when full, and unused contexts
// expire. Guarded by Server.mu.
type enumerations struct {
	max      int
	lifetime time.Duration
	next     uint32
	seq      uint64
	open     map[string]*enumeration
}

func newEnumerations(max int, lifetime time.Duration) *enumerations {
	// AMT's contexts look like E2020000-0000-…; start in that style.
	return &enumerations{max: max, lifetime: lifetime, next: 0xE2020000, open: map[string]*enumeration{}}
}

func (e *enumerations) expire(now time.Time) {
	for k, en := range e.open {
		if !now.Before(en.expires) {
			delete(e.open, k)
		}
	}
}

// add opens a context for items and returns its name.
func (e *enumerations) add(resourceURI string, items []wsman.Instance, now time.Time) string {
	e.expire(now)
	for len(e.open) >= e.max {
		oldest, age := "", uint64(0)
		for k, en := range e.open {
			if oldest == "" || en.seq < age {
				oldest, age = k, en.seq
			}
		}
		delete(e.open, oldest)
	}
	var name string
	for {
		name = wsman.FormatEnumerationContext(e.next)
		e.next++
		if _, taken := e.open[name]; !taken {
			break
		}
	}
	e.seq++
	e.open[name] = &enumeration{resourceURI: resourceURI, items: items, expires: now.Add(e.lifetime), seq: e.seq}
	return name
}

// pull returns up to max items of context name; end reports that the
// sequence is finished, and the context is then closed.
func (e *enumerations) pull(name, resourceURI string, max int, now time.Time) (items []wsman.Instance, end bool, ok bool) {
	e.expire(now)
	en, found := e.open[name]
	if !found || en.resourceURI != resourceURI {
		return nil, false, false
	}
	if max <= 0 {
		max = 1 // WS-Enumeration's default MaxElements
	}
	hi := min(en.pos+max, len(en.items))
	items = en.items[en.pos:hi]
	en.pos = hi
	en.expires = now.Add(e.lifetime)
	if en.pos >= len(en.items) {
		delete(e.open, name)
		return items, true, true
	}
	return items, false, true
}

// release closes context name.
func (e *enumerations) release(name, resourceURI string, now time.Time) bool {
	e.expire(now)
	en, found := e.open[name]
	if !found || en.resourceURI != resourceURI {
		return false
	}
	delete(e.open, name)
	return true
}

func (e *enumerations) len() int { return len(e.open) }
