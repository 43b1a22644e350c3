package session

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// GatewayRef names a gateway by any identifier type (ipv4, ipv6, port, mac,
// domain, udi, url) or "id".
type GatewayRef struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// PairingRequest mirrors the server's POST /api/v1/pairings body.
type PairingRequest struct {
	Device     string      `json:"device"`
	Gateway    *GatewayRef `json:"gateway,omitempty"`
	ConsoleID  string      `json:"consoleId,omitempty"`
	ConsoleKey string      `json:"consoleKey"`
	Fallback   string      `json:"fallback,omitempty"`
}

// Prologue are the pairing fields the Noise prologue binds.
type Prologue struct {
	SessionID  string `json:"sessionId"`
	GatewayID  string `json:"gatewayId"`
	DeviceUUID string `json:"deviceUuid"`
	ConsoleID  string `json:"consoleId"`
}

// Answer mirrors the server's pairing answer (docs/protocols/pairing-api.md).
type Answer struct {
	Device       string    `json:"device"`
	Path         string    `json:"path"`
	Reason       string    `json:"reason,omitempty"`
	SessionID    string    `json:"sessionId,omitempty"`
	GatewayID    string    `json:"gatewayId,omitempty"`
	WANEndpoints []string  `json:"wanEndpoints,omitempty"`
	GatewayKey   string    `json:"gatewayKey,omitempty"`
	Prologue     *Prologue `json:"prologue,omitempty"`
	RelayURL     string    `json:"relayUrl,omitempty"`
	RelayToken   string    `json:"relayToken,omitempty"`
	ExpiresAt    time.Time `json:"expiresAt"`
	HelpRequest  string    `json:"helpRequest,omitempty"`
}

// HelpRequest mirrors one entry of GET /api/v1/help-requests.
type HelpRequest struct {
	ID         string    `json:"id"`
	DeviceUUID string    `json:"deviceUuid"`
	Message    string    `json:"message,omitempty"`
	State      string    `json:"state"`
	CreatedAt  time.Time `json:"createdAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	AcceptedBy string    `json:"acceptedBy,omitempty"`
	SessionID  string    `json:"sessionId,omitempty"`
}

// RefusedError is a refused session request: the server's code and reason.
type RefusedError struct {
	Status int
	Code   string
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("session refused (%d %s): %s", e.Status, e.Code, e.Reason)
}

// call does one JSON request against the server's API.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := c.cfg.API.Base.JoinPath(path)
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	req.URL.RawQuery = ""
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.API.Token)
	resp, err := c.cfg.API.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
			Code  string `json:"code"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = string(bytes.TrimSpace(raw))
		}
		return &RefusedError{Status: resp.StatusCode, Code: e.Code, Reason: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: answer is not the expected JSON: %w", method, path, err)
		}
	}
	return nil
}

// Pair asks the server's pairing module for a session.
func (c *Client) Pair(ctx context.Context, r PairingRequest) (Answer, error) {
	r.ConsoleKey = c.publicHex()
	if r.ConsoleID == "" {
		r.ConsoleID = c.cfg.ConsoleID
	}
	var a Answer
	err := c.call(ctx, http.MethodPost, "/api/v1/pairings", r, &a)
	return a, err
}

// HelpRequests lists the server's help requests in a state ("" for all).
func (c *Client) HelpRequests(ctx context.Context, state string) ([]HelpRequest, error) {
	var l struct {
		Requests []HelpRequest `json:"requests"`
	}
	path := "/api/v1/help-requests"
	u := c.cfg.API.Base.JoinPath(path)
	if state != "" {
		u.RawQuery = "state=" + state
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.API.Token)
	resp, err := c.cfg.API.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&l); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return l.Requests, nil
}

// Accept accepts a help request and pairs for its device.
func (c *Client) Accept(ctx context.Context, id string, r PairingRequest) (Answer, error) {
	r.ConsoleKey = c.publicHex()
	if r.ConsoleID == "" {
		r.ConsoleID = c.cfg.ConsoleID
	}
	var a Answer
	err := c.call(ctx, http.MethodPost, "/api/v1/help-requests/"+url.PathEscape(id)+"/accept", r, &a)
	return a, err
}
