package server

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/server/authtoken"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the API's OpenAPI 3 document.
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

// ErrBadRequest marks a caller error (HTTP 400).
var ErrBadRequest = errors.New("bad request")

// maxBody bounds JSON request bodies.
const maxBody = 64 << 10

// route is one API endpoint. Scope "" means no bearer token (public, or the
// handler authenticates itself as the relay does).
type route struct {
	Method, Path, Scope string
	h                   func(w http.ResponseWriter, r *http.Request)
}

// Routes lists "METHOD path" of every built-in route, for documentation
// checks.
func (s *Server) Routes() []string {
	out := make([]string, 0, len(s.routes))
	for _, rt := range s.routes {
		out = append(out, rt.Method+" "+rt.Path)
	}
	return out
}

func (s *Server) buildMux() {
	s.mux = http.NewServeMux()
	s.routes = []route{
		{"GET", "/api/v1/openapi.json", "", s.handleOpenAPI},
		{"GET", "/api/v1/devices", authtoken.ScopeAdmin, s.handleListDevices},
		{"POST", "/api/v1/devices", authtoken.ScopeAdmin, s.handleEnrol},
		{"GET", "/api/v1/devices/{uuid}", authtoken.ScopeAdmin, s.handleShowDevice},
		{"DELETE", "/api/v1/devices/{uuid}", authtoken.ScopeAdmin, s.handleDeleteDevice},
		{"GET", "/api/v1/devices/{uuid}/power", authtoken.ScopeAdmin, s.handleGetPower},
		{"POST", "/api/v1/devices/{uuid}/power", authtoken.ScopeAdmin, s.handlePowerAction},
		{"GET", "/api/v1/devices/{uuid}/inventory", authtoken.ScopeAdmin, s.handleInventory},
		{"GET", "/api/v1/devices/{uuid}/settings", authtoken.ScopeAdmin, s.handleSettings},
		{"POST", "/api/v1/sessions", authtoken.ScopeAdmin, s.handleCreateSession},
		{"GET", "/api/v1/audit", authtoken.ScopeAdmin, s.handleAudit},
		{"GET", "/relay/webrelay.ashx", "", s.handleRelay},
		{"GET", "/metrics", "", promhttp.HandlerFor(s.met.reg, promhttp.HandlerOpts{}).ServeHTTP},
	}
	s.routes = append(s.routes, s.pm.routes()...)
	for _, rt := range s.routes {
		s.mux.Handle(rt.Method+" "+rt.Path, s.instrument(rt.Path, s.authenticate(rt.Scope, http.HandlerFunc(rt.h))))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	})
}

// Handle adds a route (a net/http pattern such as "POST /api/v1/pairings")
// for modules built on the server, such as the pairing module. When scope is
// non-empty the request must carry a bearer token granting it. The route
// is instrumented like the built-in ones.
func (s *Server) Handle(pattern, scope string, h http.Handler) {
	path := pattern
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		path = pattern[i+1:]
	}
	s.mux.Handle(pattern, s.instrument(path, s.authenticate(scope, h)))
}

type claimsKey struct{}

// ClaimsFrom returns the verified token claims of a request that passed a
// scoped route.
func ClaimsFrom(ctx context.Context) (authtoken.Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(authtoken.Claims)
	return c, ok
}

func (s *Server) authenticate(scope string, h http.Handler) http.Handler {
	if scope == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := authtoken.ParseBearer(r.Header.Get("Authorization"))
		if !ok {
			s.met.authFailures.WithLabelValues("api").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="oobtb"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing bearer token (Authorization: Bearer <token>)")
			return
		}
		c, err := s.tokens.Authorize(tok, scope, s.clk.Now())
		if err != nil {
			s.met.authFailures.WithLabelValues("api").Inc()
			if errors.Is(err, authtoken.ErrScope) {
				writeError(w, http.StatusForbidden, "forbidden", err.Error())
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="oobtb", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", err.Error())
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

// statusRecorder captures the status for the latency histogram; Unwrap lets
// the WebSocket upgrade reach the Hijacker.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(c int) {
	if r.code == 0 {
		r.code = c
	}
	r.ResponseWriter.WriteHeader(c)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) instrument(path string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		code := rec.code
		if code == 0 {
			code = http.StatusSwitchingProtocols // hijacked by the WebSocket upgrade
		}
		s.met.apiLatency.WithLabelValues(path, r.Method, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
	})
}

// APIError is the JSON error body.
type APIError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, APIError{Error: msg, Code: code})
}

// writeErr maps an error to its status and code.
func (s *Server) writeErr(w http.ResponseWriter, err error) {
	var f *wsman.Fault
	switch {
	case errors.Is(err, ErrBadRequest), errors.Is(err, registry.ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid", err.Error())
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, registry.ErrUnknownDevice):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, registry.ErrExists):
		writeError(w, http.StatusConflict, "exists", err.Error())
	case errors.Is(err, ErrNotConnected):
		writeError(w, http.StatusConflict, "not_connected", err.Error())
	case errors.Is(err, ErrDeviceAuth):
		writeError(w, http.StatusBadGateway, "device_auth", err.Error())
	case errors.As(err, &f):
		writeError(w, http.StatusBadGateway, "device_fault", "the device answered with a SOAP fault: "+f.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, "timeout", err.Error())
	case errors.Is(err, cira.ErrClosed), cira.IsOpenRefused(err):
		writeError(w, http.StatusBadGateway, "device_unreachable", err.Error())
	default:
		s.log.Warn("API request failed", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
	}
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %v", ErrBadRequest, err)
	}
	return nil
}

// pathUUID canonicalises the {uuid} path value.
func pathUUID(r *http.Request) (string, error) {
	u, err := registry.CanonicalUUID(r.PathValue("uuid"))
	if err != nil {
		return "", fmt.Errorf("%w: device %q is not a UUID", ErrBadRequest, r.PathValue("uuid"))
	}
	return u, nil
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
}

// DeviceView is a device as the API shows it: the registry record plus
// whether a tunnel is live and the extension state of that tunnel.
type DeviceView struct {
	registry.Device
	Online     bool   `json:"online"`
	Extension  string `json:"extension,omitempty"`
	Capability string `json:"capability,omitempty"`
}

func (s *Server) view(d registry.Device) DeviceView {
	v := DeviceView{Device: d}
	if t, ok := s.Tunnel(d.UUID); ok {
		v.Online = true
		e := t.Extension()
		v.Extension = e.Presence.String()
		if c := e.Capability(); c != 0 {
			v.Capability = c.String()
		}
	} else if s.failoverGateway(d.UUID) != nil {
		v.Online = true // managed through its gateway (failover)
	}
	return v
}

// DeviceList is a page of devices.
type DeviceList struct {
	Devices []DeviceView `json:"devices"`
	Next    string       `json:"next,omitempty"`
}

func (s *Server) handleListDevices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > registry.MaxPageLimit {
			s.writeErr(w, fmt.Errorf("%w: limit %q (expected 1–%d)", ErrBadRequest, l, registry.MaxPageLimit))
			return
		}
		limit = n
	}
	devs, next, err := s.store.ListDevices(r.Context(), registry.Page{After: q.Get("after"), Limit: limit})
	if err != nil {
		s.writeErr(w, err)
		return
	}
	out := DeviceList{Devices: make([]DeviceView, 0, len(devs)), Next: next}
	for _, d := range devs {
		out.Devices = append(out.Devices, s.view(d))
	}
	writeJSON(w, http.StatusOK, out)
}

// EnrolRequest is the body of POST /api/v1/devices.
type EnrolRequest struct {
	UUID     string `json:"uuid"`
	CIRAUser string `json:"ciraUser"`
	CIRAPass string `json:"ciraPass"`
	AMTUser  string `json:"amtUser,omitempty"`
	AMTPass  string `json:"amtPass"`
}

func (s *Server) handleEnrol(w http.ResponseWriter, r *http.Request) {
	var req EnrolRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeErr(w, err)
		return
	}
	if req.UUID == "" || req.CIRAUser == "" || req.CIRAPass == "" || req.AMTPass == "" {
		s.writeErr(w, fmt.Errorf("%w: uuid, ciraUser, ciraPass and amtPass are required", ErrBadRequest))
		return
	}
	d, err := s.Enrol(r.Context(), registry.DeviceEnrolment{UUID: req.UUID, CIRAUser: req.CIRAUser,
		CIRAPassword: req.CIRAPass, AMTUser: req.AMTUser, AMTPassword: req.AMTPass})
	if err != nil {
		s.writeErr(w, err)
		return
	}
	w.Header().Set("Location", "/api/v1/devices/"+d.UUID)
	writeJSON(w, http.StatusCreated, s.view(d))
}

func (s *Server) handleShowDevice(w http.ResponseWriter, r *http.Request) {
	u, err := pathUUID(r)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	d, err := s.store.GetDevice(r.Context(), u)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.view(d))
}

func (s *Server) handleDeleteDevice(w http.ResponseWriter, r *http.Request) {
	u, err := pathUUID(r)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	if err := s.store.DeleteDevice(r.Context(), u); err != nil {
		s.writeErr(w, err)
		return
	}
	if t, ok := s.Tunnel(u); ok {
		t.close()
	}
	s.audit(r.Context(), "api", "device.delete", u, "ok", "", nil)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleGetPower(w http.ResponseWriter, r *http.Request) {
	u, err := pathUUID(r)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	ps, err := s.Power(r.Context(), u)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ps)
}

// PowerRequest is the body of POST /devices/{uuid}/power.
type PowerRequest struct {
	Action string `json:"action"`
}

func (s *Server) handlePowerAction(w http.ResponseWriter, r *http.Request) {
	u, err := pathUUID(r)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	var req PowerRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeErr(w, err)
		return
	}
	res, err := s.PowerAction(r.Context(), u, req.Action)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	if res.ReturnValue != 0 {
		writeJSON(w, http.StatusConflict, struct {
			PowerResult
			APIError
		}{res, APIError{Error: fmt.Sprintf("the device refused %s (ReturnValue %d)", req.Action, res.ReturnValue), Code: "power_refused"}})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleInventory(w http.ResponseWriter, r *http.Request) {
	u, err := pathUUID(r)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	inv, err := s.HardwareInventory(r.Context(), u)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, inv)
}

func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request) {
	u, err := pathUUID(r)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	gs, err := s.GeneralSettings(r.Context(), u)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, gs)
}

// SessionRequest is the body of POST /api/v1/sessions.
type SessionRequest struct {
	Device string `json:"device"`
	Mode   string `json:"mode"`
}

// Session is a console session: a short-lived token for one device and mode
// and the relay URL to use it on (the token goes in Sec-WebSocket-Protocol).
type Session struct {
	ID       string    `json:"id"`
	Device   string    `json:"device"`
	Mode     string    `json:"mode"`
	Token    string    `json:"token"`
	Expires  time.Time `json:"expires"`
	RelayURL string    `json:"relayUrl"`
}

func (s *Server) handleCreateSession(w http.ResponseWriter, r *http.Request) {
	var req SessionRequest
	if err := decodeBody(r, &req); err != nil {
		s.writeErr(w, err)
		return
	}
	sess, err := s.CreateSession(r.Context(), req.Device, req.Mode, relayBase(r))
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, sess)
}

// CreateSession issues a relay session token for a device and mode. base is
// the ws:// origin of the relay URL ("" → the API listener's address).
func (s *Server) CreateSession(ctx context.Context, device, mode, base string) (Session, error) {
	u, err := registry.CanonicalUUID(device)
	if err != nil {
		return Session{}, fmt.Errorf("%w: device %q is not a UUID", ErrBadRequest, device)
	}
	if mode != "kvm" && mode != "sol" {
		return Session{}, fmt.Errorf("%w: mode %q (expected kvm or sol)", ErrBadRequest, mode)
	}
	if _, err := s.store.GetDevice(ctx, u); err != nil {
		return Session{}, err
	}
	if !s.reachable(u) {
		return Session{}, fmt.Errorf("%w: %s", ErrNotConnected, u)
	}
	now := s.clk.Now()
	tok, c, err := s.tokens.Issue("session", []string{mode + ":" + u}, now, s.cfg.SessionTTL)
	if err != nil {
		return Session{}, err
	}
	if base == "" {
		base = "ws://" + s.apiLn.Addr().String()
	}
	q := url.Values{"host": {u}, "port": {"16994"}, "p": {"2"}, "tls": {"0"}, "mode": {mode}}
	s.audit(ctx, "api", "session.create", u, "ok", "", []byte(fmt.Sprintf(`{"mode":%q,"session":%q}`, mode, c.ID)))
	return Session{ID: c.ID, Device: u, Mode: mode, Token: tok, Expires: c.Expires,
		RelayURL: base + "/relay/webrelay.ashx?" + q.Encode()}, nil
}

func relayBase(r *http.Request) string {
	if r.Host == "" {
		return ""
	}
	scheme := "ws"
	if r.TLS != nil {
		scheme = "wss"
	}
	return scheme + "://" + r.Host
}

// AuditList is a page of audit records.
type AuditList struct {
	Records []registry.AuditRecord `json:"records"`
	Next    int64                  `json:"next,omitempty"`
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	aq := registry.AuditQuery{Subject: q.Get("subject"), Action: q.Get("action")}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			s.writeErr(w, fmt.Errorf("%w: after %q is not a record id", ErrBadRequest, v))
			return
		}
		aq.AfterID = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > registry.MaxPageLimit {
			s.writeErr(w, fmt.Errorf("%w: limit %q (expected 1–%d)", ErrBadRequest, v, registry.MaxPageLimit))
			return
		}
		aq.Limit = n
	}
	if aq.Subject != "" {
		if u, err := registry.CanonicalUUID(aq.Subject); err == nil {
			aq.Subject = u
		}
	}
	recs, err := s.store.QueryAudit(r.Context(), aq)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	out := AuditList{Records: recs}
	if recs == nil {
		out.Records = []registry.AuditRecord{}
	}
	lim := aq.Limit
	if lim == 0 {
		lim = registry.DefaultPageLimit
	}
	if len(recs) == lim {
		out.Next = recs[len(recs)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}
