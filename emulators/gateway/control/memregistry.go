package control

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sync"
	"time"
)

// MemRegistry is an in-memory Registry: the reference behaviour for a
// server's implementation, and what tests and the demo use. Failover devices
// are authorised by AllowDevice.
type MemRegistry struct {
	mu       sync.Mutex
	tokens   map[string]bool // unused enrolment tokens
	used     map[string]bool
	gateways map[string]*MemGateway
	devices  map[string][2]string // uuid → username, password allowed to fail over
	events   []SessionEvent
	seq      int
	changed  chan struct{}
}

// MemGateway is what MemRegistry knows about one gateway.
type MemGateway struct {
	ID            string
	secretHash    [32]byte
	Registration  Registration
	Conn          *Gateway // nil while offline
	LastHeartbeat time.Time
	Heartbeats    int
	Devices       map[string]DeviceOnline
	OfflineErr    error
}

// NewMemRegistry returns a registry accepting the given enrolment tokens.
func NewMemRegistry(tokens ...string) *MemRegistry {
	r := &MemRegistry{tokens: map[string]bool{}, used: map[string]bool{}, gateways: map[string]*MemGateway{},
		devices: map[string][2]string{}, changed: make(chan struct{})}
	for _, t := range tokens {
		r.tokens[t] = true
	}
	return r
}

func (r *MemRegistry) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Changed is closed at the next change (for tests waiting on state).
func (r *MemRegistry) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// AddToken adds a one-time enrolment token.
func (r *MemRegistry) AddToken(t string) {
	r.mu.Lock()
	r.tokens[t] = true
	r.mu.Unlock()
}

// AllowDevice authorises a device to fail over with these credentials.
func (r *MemRegistry) AllowDevice(uuid, user, pass string) {
	r.mu.Lock()
	r.devices[uuid] = [2]string{user, pass}
	r.mu.Unlock()
}

// Gateway returns a copy of the gateway record (ok false if unknown).
func (r *MemRegistry) Gateway(id string) (MemGateway, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.gateways[id]
	if !ok {
		return MemGateway{}, false
	}
	c := *g
	c.Devices = map[string]DeviceOnline{}
	for k, v := range g.Devices {
		c.Devices[k] = v
	}
	return c, true
}

// Events returns the session events received so far.
func (r *MemRegistry) Events() []SessionEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]SessionEvent(nil), r.events...)
}

func (r *MemRegistry) Enrol(_ context.Context, token string, _ Hello) (string, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.used[token] {
		return "", "", Errf(CodeTokenUsed, "enrolment token already used")
	}
	if !r.tokens[token] {
		return "", "", Errf(CodeTokenInvalid, "unknown enrolment token")
	}
	delete(r.tokens, token)
	r.used[token] = true
	var b [16]byte
	_, _ = rand.Read(b[:])
	secret := hex.EncodeToString(b[:])
	_, _ = rand.Read(b[:4])
	id := "gw-" + hex.EncodeToString(b[:4])
	r.gateways[id] = &MemGateway{ID: id, secretHash: sha256.Sum256([]byte(secret)), Devices: map[string]DeviceOnline{}}
	r.notify()
	return id, secret, nil
}

func (r *MemRegistry) Authenticate(_ context.Context, id, secret string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.gateways[id]
	h := sha256.Sum256([]byte(secret))
	if !ok || subtle.ConstantTimeCompare(h[:], g.secretHash[:]) != 1 {
		return Errf(CodeUnauthorised, "unknown gateway or wrong secret")
	}
	return nil
}

func (r *MemRegistry) Register(_ context.Context, id string, reg Registration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gateways[id].Registration = reg
	r.notify()
	return nil
}

func (r *MemRegistry) Online(id string, gw *Gateway) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.gateways[id].Conn; old != nil && old != gw {
		go old.Close() // a newer connection replaces the old one
	}
	r.gateways[id].Conn = gw
	r.notify()
}

func (r *MemRegistry) Offline(id string, gw *Gateway, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.gateways[id]
	if g.Conn == gw {
		g.Conn = nil
		g.Devices = map[string]DeviceOnline{}
	}
	g.OfflineErr = err
	r.notify()
}

func (r *MemRegistry) Heartbeat(id string, _ Heartbeat, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.gateways[id]
	g.LastHeartbeat = now
	g.Heartbeats++
	r.notify()
}

func (r *MemRegistry) SessionEvent(_ string, ev SessionEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	r.notify()
}

func (r *MemRegistry) VerifyDevice(_ context.Context, _ string, v VerifyDevice) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cred, ok := r.devices[v.UUID]
	if !ok || subtle.ConstantTimeCompare([]byte(cred[0]), []byte(v.Username)) != 1 ||
		subtle.ConstantTimeCompare([]byte(cred[1]), []byte(v.Password)) != 1 {
		return Errf(CodeDenied, "device %s is not authorised to fail over with these credentials", v.UUID)
	}
	return nil
}

func (r *MemRegistry) DeviceOnline(id string, d DeviceOnline, _ *Gateway) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gateways[id].Devices[d.UUID] = d
	r.notify()
}

func (r *MemRegistry) DeviceOffline(id string, d DeviceOffline) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.gateways[id].Devices, d.UUID)
	r.notify()
}
