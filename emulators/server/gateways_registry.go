package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/gateway/control"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// GatewaySecretKeyFile holds the key gateway secrets are derived from
// (0600 in the data directory).
const GatewaySecretKeyFile = "gateway-secret.key"

// EnrolTokenSep joins a gateway id and its one-time registry token into the
// enrolment token an operator hands to the gateway: the control channel's
// hello carries only the token, so the token names its gateway. '~' is in
// neither a gateway id nor a registry token.
const EnrolTokenSep = "~"

// gatewayHost implements control.Registry on the server's registry: the
// persistent facts go to the Store, the live control connections stay here.
type gatewayHost struct {
	pm  *pairingModule
	key []byte

	mu       sync.Mutex
	live     map[string]*control.Gateway
	failover map[string]*control.Gateway // device uuid → the gateway carrying it
}

func newGatewayHost(pm *pairingModule) (*gatewayHost, error) {
	key, err := loadOrCreateKey(filepath.Join(pm.s.cfg.DataDir, GatewaySecretKeyFile))
	if err != nil {
		return nil, fmt.Errorf("server: gateway secret key: %w", err)
	}
	return &gatewayHost{pm: pm, key: key, live: map[string]*control.Gateway{}}, nil
}

func loadOrCreateKey(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%s: expected 64 hex digits", path)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

// secretFor derives a gateway's control-channel secret: nothing to store,
// and deleting the gateway from the registry revokes it.
func (h *gatewayHost) secretFor(id string) string {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte("oobtb gateway secret v1\x00" + id))
	return hex.EncodeToString(m.Sum(nil))
}

func (h *gatewayHost) now() time.Time { return h.pm.s.clk.Now() }

// conn returns the live control connection of a gateway.
func (h *gatewayHost) conn(id string) (*control.Gateway, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g, ok := h.live[id]
	return g, ok
}

// Enrol consumes "<gateway id>~<token>".
func (h *gatewayHost) Enrol(ctx context.Context, token string, _ control.Hello) (string, string, error) {
	id, tok, ok := strings.Cut(token, EnrolTokenSep)
	if !ok || id == "" || tok == "" {
		return "", "", control.Errf(control.CodeTokenInvalid, "enrolment token is not of the form <gateway id>%s<token>", EnrolTokenSep)
	}
	// The control protocol enrols at hello and registers right after; the
	// registry wants a declaration with the token, so enrolment stores a
	// placeholder (an all-zero key, which the pairing module never uses)
	// that the registration replaces.
	_, err := h.pm.s.store.EnrolGateway(ctx, registry.GatewayEnrolment{ID: id, Token: tok,
		GatewayRegistration: registry.GatewayRegistration{PublicKey: make([]byte, registry.X25519KeyLen)}}, h.now())
	var te *registry.TokenError
	switch {
	case errors.As(err, &te):
		h.pm.s.auditAsync("gateway", "gateway.enrol", id, "refused", te.Reason, nil)
		code := control.CodeTokenInvalid
		if te.Reason == registry.TokenReused {
			code = control.CodeTokenUsed
		}
		return "", "", control.Errf(code, "enrolment refused: %s", te.Reason)
	case errors.Is(err, registry.ErrInvalid):
		return "", "", control.Errf(control.CodeTokenInvalid, "enrolment refused: %v", err)
	case err != nil:
		return "", "", err
	}
	h.pm.s.log.Info("gateway enrolled", "gateway", id)
	h.pm.s.auditAsync("gateway", "gateway.enrol", id, "ok", "", nil)
	return id, h.secretFor(id), nil
}

// Authenticate checks a returning gateway's id and secret.
func (h *gatewayHost) Authenticate(ctx context.Context, id, secret string) error {
	g, err := h.pm.s.store.GetGateway(ctx, id)
	if err != nil || !g.Enrolled || !hmac.Equal([]byte(secret), []byte(h.secretFor(id))) {
		h.pm.s.auditAsync("gateway", "gateway.hello", id, "refused", "unknown gateway or wrong secret", nil)
		return control.Errf(control.CodeUnauthorised, "unknown gateway or wrong secret")
	}
	return nil
}

// Register stores every identifier, the WAN endpoints and the static key.
func (h *gatewayHost) Register(ctx context.Context, id string, reg control.Registration) error {
	key, err := reg.KeyBytes()
	if err != nil {
		return control.Errf(control.CodeBadRequest, "registration key: %v", err)
	}
	wids, err := reg.GWExt()
	if err != nil {
		return control.Errf(control.CodeBadRequest, "registration identifiers: %v", err)
	}
	ids := registryIDs(wids)
	var domain string
	for _, w := range wids {
		if w.Type == gwext.IDDomain {
			domain = string(w.Value)
			break
		}
	}
	_, err = h.pm.s.store.RegisterGateway(ctx, id, registry.GatewayRegistration{PublicKey: key[:], Identifiers: ids,
		WANEndpoints: reg.WANEndpoints, LANDomain: domain}, h.now())
	if errors.Is(err, registry.ErrInvalid) {
		return control.Errf(control.CodeBadRequest, "registration: %v", err)
	}
	if err != nil {
		return err
	}
	h.pm.s.auditAsync("gateway", "gateway.register", id, "ok", "", map[string]any{"identifiers": len(ids),
		"wanEndpoints": reg.WANEndpoints, "lanMps": reg.LANMPS})
	return nil
}

// Online records the live connection.
func (h *gatewayHost) Online(id string, gw *control.Gateway) {
	h.mu.Lock()
	old := h.live[id]
	h.live[id] = gw
	h.mu.Unlock()
	if old != nil && old != gw {
		_ = old.Close()
	}
	h.heartbeat(id, true)
	h.pm.s.log.Info("gateway online", "gateway", id, "peer", gw.RemoteAddr().String())
	h.pm.s.auditAsync("gateway", "gateway.online", id, "ok", "", map[string]any{"peer": gw.RemoteAddr().String()})
}

// Offline forgets the connection if it is still the live one.
func (h *gatewayHost) Offline(id string, gw *control.Gateway, err error) {
	h.mu.Lock()
	cur := h.live[id] == gw
	if cur {
		delete(h.live, id)
	}
	h.mu.Unlock()
	if !cur {
		return
	}
	reason := ""
	if err != nil {
		reason = err.Error()
	}
	h.heartbeat(id, false)
	h.pm.s.log.Info("gateway offline", "gateway", id, "reason", reason)
	h.pm.s.auditAsync("gateway", "gateway.offline", id, "ok", reason, nil)
}

// Heartbeat records liveness.
func (h *gatewayHost) Heartbeat(id string, _ control.Heartbeat, _ time.Time) { h.heartbeat(id, true) }

func (h *gatewayHost) heartbeat(id string, online bool) {
	ctx, cancel := context.WithTimeout(h.pm.ctx, 5*time.Second)
	defer cancel()
	if err := h.pm.s.store.GatewayHeartbeat(ctx, id, online, h.now()); err != nil && h.pm.ctx.Err() == nil {
		h.pm.s.log.Warn("recording gateway heartbeat failed", "gateway", id, "err", err)
	}
}

// SessionEvent wakes the pairing driver and records the pairing's progress.
func (h *gatewayHost) SessionEvent(id string, ev control.SessionEvent) {
	h.pm.notifySession(ev)
	outcome := "ok"
	var u registry.PairingUpdate
	switch ev.Event {
	case control.EventConsoleConnected:
		u.State = registry.PairingActive
	case control.EventSessionEnded:
		u.State, u.Outcome = registry.PairingClosed, "ended"
	case control.EventDeviceFailed, control.EventConsoleFailed:
		outcome = "failed"
		u.Outcome = ev.Event + ": " + ev.Reason
	}
	if u != (registry.PairingUpdate{}) {
		ctx, cancel := context.WithTimeout(h.pm.ctx, 5*time.Second)
		_, _ = h.pm.s.store.UpdatePairing(ctx, ev.Session, u, h.now())
		cancel()
	}
	h.pm.s.auditAsync("gateway:"+id, "pairing."+ev.Event, ev.Session, outcome, ev.Reason,
		map[string]any{"device": ev.DeviceUUID, "console": ev.ConsoleID})
}

// VerifyDevice lets a failover-capable device use the gateway as its MPS
// when its CIRA credentials are the enrolled ones.
func (h *gatewayHost) VerifyDevice(ctx context.Context, id string, v control.VerifyDevice) error {
	uuid, err := registry.CanonicalUUID(v.UUID)
	if err != nil {
		return control.Errf(control.CodeBadRequest, "device uuid %q: %v", v.UUID, err)
	}
	if !gwext.Capability(v.Capability).Has(gwext.CapFailover) {
		h.pm.s.auditAsync("gateway:"+id, "device.failover", uuid, "refused", "device is not failover-capable", nil)
		return control.Errf(control.CodeDenied, "device %s did not advertise the failover capability", uuid)
	}
	if err := h.pm.s.store.VerifyCIRA(ctx, uuid, v.Username, v.Password); err != nil {
		h.pm.s.auditAsync("gateway:"+id, "device.failover", uuid, "refused", "bad credentials", nil)
		return control.Errf(control.CodeDenied, "device %s: credentials refused", uuid)
	}
	h.pm.s.auditAsync("gateway:"+id, "device.failover", uuid, "ok", "", nil)
	return nil
}

// DeviceOnline records that the device's management now arrives through the
// gateway.
func (h *gatewayHost) DeviceOnline(id string, d control.DeviceOnline, g *control.Gateway) {
	uuid, err := registry.CanonicalUUID(d.UUID)
	if err != nil {
		return
	}
	// The device reached the gateway because its direct path failed: any
	// direct tunnel the server still holds is dead (a cut link gives no FIN)
	// and would swallow the next channel until its idle timeout. The newer
	// connection replaces it, as a new tunnel for the same UUID does.
	if t, ok := h.pm.s.Tunnel(uuid); ok {
		if c := t.Conn(); c != nil {
			c.Shutdown()
		}
	}
	h.setFailover(uuid, g)
	path := registry.PathGateway
	h.pm.s.updateAsync(uuid, registry.ConnectionUpdate{Now: h.now(), Path: &path, ViaGateway: &id}, "failover")
	h.pm.s.auditAsync("gateway:"+id, "device.failover.online", uuid, "ok", "", map[string]any{"ports": d.Ports})
}

// DeviceOffline records the failover device's departure.
func (h *gatewayHost) DeviceOffline(id string, d control.DeviceOffline) {
	if uuid, err := registry.CanonicalUUID(d.UUID); err == nil {
		h.setFailover(uuid, nil)
	}
	h.pm.s.auditAsync("gateway:"+id, "device.failover.offline", d.UUID, "ok", d.Reason, nil)
}

var _ control.Registry = (*gatewayHost)(nil)
