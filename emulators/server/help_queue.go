package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/oobtb/oobtb/emulators/server/pairing"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/wire/apf"
)

// HelpList is the answer of GET /api/v1/help-requests.
type HelpList struct {
	Requests []registry.HelpRequest `json:"requests"`
}

// deviceConnected queues a help request for a tunnel opened with AMT's
// user-initiated trigger (flow F2: the user pressed "call for help").
func (pm *pairingModule) deviceConnected(t *Tunnel) {
	if t.Trigger() != apf.TriggerUserInitiated {
		return
	}
	uuid := t.UUID()
	pm.wg.Add(1)
	go func() {
		defer pm.wg.Done()
		ctx, cancel := context.WithTimeout(pm.ctx, 10*time.Second)
		defer cancel()
		hr, err := pm.s.store.CreateHelpRequest(ctx, uuid, "", pm.s.clk.Now(), helpRequestTTL)
		if err != nil {
			if pm.ctx.Err() == nil {
				pm.s.log.Warn("queuing a help request failed", "uuid", uuid, "err", err)
			}
			return
		}
		pm.s.log.Info("help request queued", "uuid", uuid, "id", hr.ID)
		pm.s.auditAsync("device", "help.request", uuid, "ok", "", map[string]any{"id": hr.ID})
	}()
}

func (pm *pairingModule) handleListHelp(w http.ResponseWriter, r *http.Request) {
	state := registry.HelpState(r.URL.Query().Get("state"))
	switch state {
	case registry.HelpAny, registry.HelpOpen, registry.HelpAccepted, registry.HelpExpired:
	default:
		pm.s.writeErr(w, fmt.Errorf("%w: state %q: expected open, accepted or expired", ErrBadRequest, state))
		return
	}
	l, err := pm.s.store.ListHelpRequests(r.Context(), state, pm.s.clk.Now())
	if err != nil {
		pm.s.writeErr(w, err)
		return
	}
	if l == nil {
		l = []registry.HelpRequest{}
	}
	writeJSON(w, http.StatusOK, HelpList{Requests: l})
}

// handleAcceptHelp accepts an open request (exactly one console wins a
// race) and continues as a session request for its device (F1 step 5).
func (pm *pairingModule) handleAcceptHelp(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var body PairingRequest
	if err := decodeBody(r, &body); err != nil {
		pm.s.writeErr(w, err)
		return
	}
	hr, err := pm.s.store.GetHelpRequest(r.Context(), id)
	if err != nil {
		pm.s.writeErr(w, err)
		return
	}
	body.Device = hr.DeviceUUID
	req, err := pm.checkRequest(r, body)
	if err != nil {
		pm.s.writeErr(w, err)
		return
	}
	if _, err := pm.s.store.AcceptHelpRequest(r.Context(), id, req.ConsoleID, pm.s.clk.Now()); err != nil {
		if errors.Is(err, registry.ErrConflict) {
			writeError(w, http.StatusConflict, "conflict", err.Error())
			return
		}
		pm.s.writeErr(w, err)
		return
	}
	pm.s.auditAsync("console:"+req.ConsoleID, "help.accept", hr.DeviceUUID, "ok", "", map[string]any{"id": id})
	req.HelpRequest = id
	pm.answer(w, r, req, func(res pairing.Result) {
		if res.SessionID == "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		if err := pm.s.store.LinkHelpRequest(ctx, id, res.SessionID); err != nil {
			pm.s.log.Warn("linking a help request to its pairing failed", "id", id, "err", err)
		}
	})
}
