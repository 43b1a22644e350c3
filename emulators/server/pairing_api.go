package server

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/oobtb/oobtb/emulators/server/pairing"
	"github.com/oobtb/oobtb/emulators/server/registry"
)

// PairingRequest is the body of POST /api/v1/pairings.
type PairingRequest struct {
	Device string `json:"device"`
	// Gateway names the gateway by any identifier type (ipv4, ipv6, port,
	// mac, domain, udi, url) or "id"; nil → the one the device reported.
	Gateway   *pairing.GatewayRef `json:"gateway,omitempty"`
	ConsoleID string              `json:"consoleId,omitempty"` // default: the bearer token's subject
	// ConsoleKey is the console's static X25519 public key, 64 hex digits.
	ConsoleKey string `json:"consoleKey"`
	// Fallback is "none" (default: refuse when the gateway path is
	// impossible) or "classic" (serve the classic relayed session instead).
	Fallback string `json:"fallback,omitempty"`
}

// PrologueFields are the pairing fields the Noise prologue binds (F4).
type PrologueFields struct {
	SessionID  string `json:"sessionId"`
	GatewayID  string `json:"gatewayId"`
	DeviceUUID string `json:"deviceUuid"`
	ConsoleID  string `json:"consoleId"`
}

// PairingAnswer is the pairing module's answer to a console.
type PairingAnswer struct {
	Device string `json:"device"`
	// Path is "direct" (connect to the gateway, relay as fallback) or
	// "classic" (use POST /api/v1/sessions and the web relay).
	Path   string `json:"path"`
	Reason string `json:"reason,omitempty"`

	SessionID    string          `json:"sessionId,omitempty"`
	GatewayID    string          `json:"gatewayId,omitempty"`
	WANEndpoints []string        `json:"wanEndpoints,omitempty"`
	GatewayKey   string          `json:"gatewayKey,omitempty"` // 64 hex digits
	Prologue     *PrologueFields `json:"prologue,omitempty"`
	// RelayURL is the P2P relay for this session; RelayToken the console's
	// one-time token for it (Authorization: Bearer).
	RelayURL    string    `json:"relayUrl,omitempty"`
	RelayToken  string    `json:"relayToken,omitempty"`
	ExpiresAt   time.Time `json:"expiresAt"`
	HelpRequest string    `json:"helpRequest,omitempty"`
}

// RefusalError is the body of a refused pairing: APIError plus the device.
type RefusalError struct {
	APIError
	Device string `json:"device"`
}

var refTypes = map[string]bool{pairing.TypeID: true, "ipv4": true, "ipv6": true, "port": true, "mac": true,
	"domain": true, "udi": true, "url": true}

func (pm *pairingModule) handleCreatePairing(w http.ResponseWriter, r *http.Request) {
	var body PairingRequest
	if err := decodeBody(r, &body); err != nil {
		pm.s.writeErr(w, err)
		return
	}
	req, err := pm.checkRequest(r, body)
	if err != nil {
		pm.s.writeErr(w, err)
		return
	}
	pm.answer(w, r, req, nil)
}

// checkRequest validates a request body into the machine's form.
func (pm *pairingModule) checkRequest(r *http.Request, body PairingRequest) (pairing.Request, error) {
	var req pairing.Request
	uuid, err := registry.CanonicalUUID(body.Device)
	if err != nil {
		return req, fmt.Errorf("%w: device %q is not a UUID", ErrBadRequest, body.Device)
	}
	if _, err := pm.s.store.GetDevice(r.Context(), uuid); err != nil {
		return req, err
	}
	req.Device = uuid
	k, err := hex.DecodeString(body.ConsoleKey)
	if err != nil || len(k) != 32 {
		return req, fmt.Errorf("%w: consoleKey: expected the console's X25519 public key as 64 hex digits, got %d characters",
			ErrBadRequest, len(body.ConsoleKey))
	}
	req.ConsoleKey = [32]byte(k)
	req.ConsoleID = body.ConsoleID
	if req.ConsoleID == "" {
		if c, ok := ClaimsFrom(r.Context()); ok {
			req.ConsoleID = c.Subject
		}
	}
	if req.ConsoleID == "" || len(req.ConsoleID) > 128 || strings.ContainsAny(req.ConsoleID, "\x00\r\n") {
		return req, fmt.Errorf("%w: consoleId: expected 1-128 characters", ErrBadRequest)
	}
	switch body.Fallback {
	case "", string(pairing.FallbackNone):
		req.Fallback = pairing.FallbackNone
	case string(pairing.FallbackClassic):
		req.Fallback = pairing.FallbackClassic
	default:
		return req, fmt.Errorf("%w: fallback %q: expected none or classic", ErrBadRequest, body.Fallback)
	}
	if g := body.Gateway; g != nil {
		if !refTypes[g.Type] {
			return req, fmt.Errorf("%w: gateway.type %q: expected id, ipv4, ipv6, port, mac, domain, udi or url", ErrBadRequest, g.Type)
		}
		if g.Value == "" || len(g.Value) > registry.MaxIdentifierLen {
			return req, fmt.Errorf("%w: gateway.value: expected 1-%d characters", ErrBadRequest, registry.MaxIdentifierLen)
		}
		if g.Type != pairing.TypeID {
			if _, err := registry.NormalizeIdentifier(registry.Identifier{Type: registry.IdentifierType(g.Type), Value: g.Value}); err != nil {
				return req, fmt.Errorf("%w: gateway %s: %v", ErrBadRequest, g, err)
			}
		}
		ref := *g
		req.Gateway = &ref
	}
	return req, nil
}

// answer runs the pairing and writes the answer or the refusal.
// before, if set, sees the result before the answer is written.
func (pm *pairingModule) answer(w http.ResponseWriter, r *http.Request, req pairing.Request, before func(pairing.Result)) {
	res, toks := pm.pair(r.Context(), req)
	if before != nil {
		before(res)
	}
	if res.Refused {
		writeJSON(w, refusalStatus(res.Code), RefusalError{APIError: APIError{Error: res.Reason, Code: res.Code}, Device: req.Device})
		return
	}
	a := PairingAnswer{Device: req.Device, Path: string(res.Path), Reason: res.Reason, HelpRequest: req.HelpRequest}
	if res.Path == pairing.Direct && res.Gateway != nil {
		g := res.Gateway
		a.SessionID, a.GatewayID, a.WANEndpoints = res.SessionID, g.ID, g.WANEndpoints
		a.GatewayKey = hex.EncodeToString(g.PublicKey)
		a.Prologue = &PrologueFields{SessionID: res.SessionID, GatewayID: g.ID, DeviceUUID: req.Device, ConsoleID: req.ConsoleID}
		a.RelayURL = pm.relayURL(r, res.SessionID, "console")
		a.RelayToken = toks[registry.RoleConsole]
		a.ExpiresAt = res.Expiry
	}
	writeJSON(w, http.StatusOK, a)
}

func refusalStatus(code string) int {
	switch code {
	case pairing.CodeUnknown:
		return http.StatusNotFound
	case pairing.CodeNotConnected, pairing.CodeNotOnLAN:
		return http.StatusConflict
	case pairing.CodeMalformed:
		return http.StatusUnprocessableEntity
	case pairing.CodeGateway, pairing.CodeDevice:
		return http.StatusBadGateway
	case pairing.CodeExpired:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// relayURL is the P2P relay on the API origin the console used.
func (pm *pairingModule) relayURL(r *http.Request, sid, role string) string {
	host := r.Host
	if host == "" {
		host = pm.s.apiLn.Addr().String()
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + host + "/api/v1/p2p-relay?" + url.Values{"session": {sid}, "role": {role}}.Encode()
}

func (pm *pairingModule) handleGetPairing(w http.ResponseWriter, r *http.Request) {
	p, err := pm.s.store.GetPairing(r.Context(), r.PathValue("id"))
	if err != nil {
		pm.s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// GatewayCreate is the body of POST /api/v1/gateways.
type GatewayCreate struct {
	ID string `json:"id"`
}

// GatewayCreated is its answer: the one-time enrolment token, shown once.
type GatewayCreated struct {
	ID         string `json:"id"`
	EnrolToken string `json:"enrolToken"`
}

// GatewayView is a gateway as the API shows it.
type GatewayView struct {
	registry.Gateway
	Connected bool   `json:"connected"` // control channel up to this server now
	LANMPS    string `json:"lanMps,omitempty"`
}

func (pm *pairingModule) handleCreateGateway(w http.ResponseWriter, r *http.Request) {
	var body GatewayCreate
	if err := decodeBody(r, &body); err != nil {
		pm.s.writeErr(w, err)
		return
	}
	if strings.Contains(body.ID, EnrolTokenSep) {
		pm.s.writeErr(w, fmt.Errorf("%w: gateway id must not contain %q", ErrBadRequest, EnrolTokenSep))
		return
	}
	tok, err := pm.s.store.CreateGateway(r.Context(), body.ID, pm.s.clk.Now())
	if err != nil {
		pm.s.writeErr(w, err)
		return
	}
	actor := "api"
	if c, ok := ClaimsFrom(r.Context()); ok {
		actor = c.Subject
	}
	pm.s.auditAsync(actor, "gateway.create", body.ID, "ok", "", nil)
	writeJSON(w, http.StatusCreated, GatewayCreated{ID: body.ID, EnrolToken: body.ID + EnrolTokenSep + tok})
}

func (pm *pairingModule) handleListGateways(w http.ResponseWriter, r *http.Request) {
	gws, err := pm.s.store.ListGateways(r.Context())
	if err != nil {
		pm.s.writeErr(w, err)
		return
	}
	out := make([]GatewayView, 0, len(gws))
	for _, g := range gws {
		v := GatewayView{Gateway: g}
		if c, ok := pm.gws.conn(g.ID); ok {
			v.Connected, v.LANMPS = true, c.Registration().LANMPS
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"gateways": out})
}
