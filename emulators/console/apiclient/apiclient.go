// Package apiclient is a typed client for the management server's console
// API (REST/JSON under /api/v1, bearer tokens; docs/api.md) and its KVM/SOL
// web relay (/relay/webrelay.ashx, the session token in
// Sec-WebSocket-Protocol). The structs mirror the server's JSON; the client
// does not import the server.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// maxResponse bounds a response body read into memory.
const maxResponse = 32 << 20

// DefaultTimeout bounds one API request.
const DefaultTimeout = 60 * time.Second

// Error is an error answer of the API: {"error": "...", "code": "..."}.
type Error struct {
	Status  int    // HTTP status
	Code    string `json:"code"`
	Message string `json:"error"`
	Method  string
	Path    string
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if hint := codeHints[e.Code]; hint != "" {
		msg = hint + " (" + msg + ")"
	}
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, msg)
}

// codeHints say what an error code means to an operator.
var codeHints = map[string]string{
	"kvm_busy":           "a KVM session is already active on this device",
	"not_connected":      "the device is offline (no CIRA tunnel)",
	"unauthorized":       "the token was refused",
	"forbidden":          "the token does not allow this",
	"not_found":          "no such device or resource",
	"device_auth":        "the device refused the stored AMT credentials",
	"device_unreachable": "the device did not answer through its tunnel",
	"power_refused":      "the device refused the power action",
}

// IsCode reports whether err is an API error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Client talks to one server.
type Client struct {
	// Base is the server's URL, e.g. http://127.0.0.1:8080.
	Base  *url.URL
	Token string
	HTTP  *http.Client
}

// New returns a client for the server at base with a bearer token.
func New(base, token string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", base, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: expected http://host:port or https://host:port", base)
	}
	return &Client{Base: u, Token: token, HTTP: &http.Client{Timeout: DefaultTimeout}}, nil
}

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (nil: discard). Non-2xx answers become *Error.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	u := *c.Base
	u.Path = strings.TrimRight(u.Path, "/") + path
	if q != nil {
		u.RawQuery = q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if len(data) > maxResponse {
		return fmt.Errorf("%s %s: answer larger than %d bytes", method, path, maxResponse)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(method, path, resp.StatusCode, data)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: answer is not the expected JSON: %w", method, path, err)
	}
	return nil
}

func apiError(method, path string, status int, data []byte) *Error {
	e := &Error{Status: status, Method: method, Path: path}
	if json.Unmarshal(data, e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(data))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
	}
	e.Status, e.Method, e.Path = status, method, path
	return e
}

// ListDevices returns every device, following the pagination cursor.
func (c *Client) ListDevices(ctx context.Context) ([]Device, error) {
	var all []Device
	after := ""
	for page := 0; ; page++ {
		if page > 100000 {
			return nil, errors.New("GET /api/v1/devices: the pagination cursor does not end")
		}
		q := url.Values{}
		if after != "" {
			q.Set("after", after)
		}
		var l DeviceList
		if err := c.do(ctx, http.MethodGet, "/api/v1/devices", q, nil, &l); err != nil {
			return nil, err
		}
		all = append(all, l.Devices...)
		if l.Next == "" || l.Next == after {
			return all, nil
		}
		after = l.Next
	}
}

// Device returns one device.
func (c *Client) Device(ctx context.Context, uuid string) (Device, error) {
	var d Device
	err := c.do(ctx, http.MethodGet, "/api/v1/devices/"+url.PathEscape(uuid), nil, nil, &d)
	return d, err
}

// Enrol adds a device.
func (c *Client) Enrol(ctx context.Context, e EnrolRequest) (Device, error) {
	var d Device
	err := c.do(ctx, http.MethodPost, "/api/v1/devices", nil, e, &d)
	return d, err
}

// DeleteDevice removes a device.
func (c *Client) DeleteDevice(ctx context.Context, uuid string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/devices/"+url.PathEscape(uuid), nil, nil, nil)
}

// Power reads a device's power state.
func (c *Client) Power(ctx context.Context, uuid string) (PowerState, error) {
	var p PowerState
	err := c.do(ctx, http.MethodGet, "/api/v1/devices/"+url.PathEscape(uuid)+"/power", nil, nil, &p)
	return p, err
}

// PowerAction asks for on, off, reset, cycle, sleep, hibernate or soft-off.
func (c *Client) PowerAction(ctx context.Context, uuid, action string) (PowerResult, error) {
	var p PowerResult
	err := c.do(ctx, http.MethodPost, "/api/v1/devices/"+url.PathEscape(uuid)+"/power", nil, PowerRequest{Action: action}, &p)
	return p, err
}

// Inventory reads a device's hardware inventory.
func (c *Client) Inventory(ctx context.Context, uuid string) (Inventory, error) {
	var inv Inventory
	err := c.do(ctx, http.MethodGet, "/api/v1/devices/"+url.PathEscape(uuid)+"/inventory", nil, nil, &inv)
	return inv, err
}

// Settings reads a device's AMT_GeneralSettings.
func (c *Client) Settings(ctx context.Context, uuid string) (Object, error) {
	var o Object
	err := c.do(ctx, http.MethodGet, "/api/v1/devices/"+url.PathEscape(uuid)+"/settings", nil, nil, &o)
	return o, err
}

// CreateSession asks for a relay session token (mode "kvm" or "sol").
func (c *Client) CreateSession(ctx context.Context, device, mode string) (Session, error) {
	var s Session
	err := c.do(ctx, http.MethodPost, "/api/v1/sessions", nil, SessionRequest{Device: device, Mode: mode}, &s)
	return s, err
}

// Audit reads a page of the audit log.
func (c *Client) Audit(ctx context.Context, q AuditQuery) (AuditList, error) {
	v := url.Values{}
	if q.Subject != "" {
		v.Set("subject", q.Subject)
	}
	if q.Action != "" {
		v.Set("action", q.Action)
	}
	if q.After > 0 {
		v.Set("after", fmt.Sprint(q.After))
	}
	if q.Limit > 0 {
		v.Set("limit", fmt.Sprint(q.Limit))
	}
	var l AuditList
	err := c.do(ctx, http.MethodGet, "/api/v1/audit", v, nil, &l)
	return l, err
}

// OpenAPI returns the server's OpenAPI document.
func (c *Client) OpenAPI(ctx context.Context) (map[string]any, error) {
	var m map[string]any
	err := c.do(ctx, http.MethodGet, "/api/v1/openapi.json", nil, nil, &m)
	return m, err
}

// DialRelay opens the session's relay WebSocket and returns it as a byte
// stream (binary messages). The token travels in Sec-WebSocket-Protocol as
// the AMT web relays expect. A refusal before the upgrade (busy, offline,
// bad token) is an *Error with the server's code. ctx bounds only the
// dial; close the returned conn to end the session.
func (c *Client) DialRelay(ctx context.Context, s Session) (net.Conn, error) {
	if s.RelayURL == "" {
		return nil, errors.New("relay: the session has no relay URL")
	}
	u, err := url.Parse(s.RelayURL)
	if err != nil {
		return nil, fmt.Errorf("relay URL %q: %w", s.RelayURL, err)
	}
	ws, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: c.HTTP.Transport},
		Subprotocols: []string{s.Token},
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			var data []byte
			if resp.Body != nil {
				data, _ = io.ReadAll(io.LimitReader(resp.Body, 4096))
				resp.Body.Close()
			}
			return nil, apiError(http.MethodGet, u.Path, resp.StatusCode, data)
		}
		return nil, fmt.Errorf("relay %s: %w", u.Redacted(), err)
	}
	ws.SetReadLimit(1 << 22)
	// The stream outlives ctx, which only bounded the dial.
	return websocket.NetConn(context.WithoutCancel(ctx), ws, websocket.MessageBinary), nil
}
