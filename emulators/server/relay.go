package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/oobtb/oobtb/emulators/server/authtoken"
	"github.com/oobtb/oobtb/emulators/server/registry"
)

// RedirectionPort is the plain redirection port the relay connects to.
const RedirectionPort = 16994

// relayOpenTimeout bounds opening the APF channel before the upgrade;
// relayWriteTimeout cuts off a side that stops reading (a console that never
// reads would otherwise hold the device's KVM session for ever).
const (
	relayOpenTimeout  = 15 * time.Second
	relayWriteTimeout = 30 * time.Second
)

// handleRelay is the web relay in the AMT ecosystem's convention (reference
// §2.1): GET /relay/webrelay.ashx?host=<uuid>&port=16994&p=2&tls=0&mode=kvm|sol
// upgraded to a WebSocket whose binary frames are piped to and from a new APF
// channel to the device's 16994, with the session token in
// Sec-WebSocket-Protocol, and the redirection digest injected by the relay.
func (s *Server) handleRelay(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	mode := q.Get("mode")
	switch {
	case q.Get("host") == "":
		writeError(w, http.StatusBadRequest, "invalid", "host (the device UUID) is required")
		return
	case q.Get("p") != "2":
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("p=%q: only p=2 (redirection) is relayed", q.Get("p")))
		return
	case q.Get("port") != "16994" || (q.Get("tls") != "" && q.Get("tls") != "0"):
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("port=%q tls=%q: only port 16994 with tls=0 is relayed", q.Get("port"), q.Get("tls")))
		return
	case mode != "kvm" && mode != "sol":
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("mode=%q: expected kvm or sol", mode))
		return
	}
	uuid, err := registry.CanonicalUUID(q.Get("host"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("host=%q is not a device UUID", q.Get("host")))
		return
	}
	tok, viaProto := relayToken(r)
	if tok == "" {
		s.met.authFailures.WithLabelValues("relay").Inc()
		writeError(w, http.StatusUnauthorized, "unauthorized", "no token: send the session token in Sec-WebSocket-Protocol")
		return
	}
	claims, err := s.tokens.Authorize(tok, mode+":"+uuid, s.clk.Now())
	if err != nil {
		s.met.authFailures.WithLabelValues("relay").Inc()
		status, code := http.StatusUnauthorized, "unauthorized"
		if errors.Is(err, authtoken.ErrScope) {
			status, code = http.StatusForbidden, "forbidden"
		}
		writeError(w, status, code, err.Error())
		return
	}
	if !s.reachable(uuid) {
		writeError(w, http.StatusConflict, "not_connected", fmt.Sprintf("device %s has no CIRA tunnel, direct or through a gateway", uuid))
		return
	}
	user, pass, err := s.store.AMTCredentials(r.Context(), uuid)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	release, busy := s.acquireRelay(uuid, mode)
	if busy != nil {
		writeError(w, http.StatusConflict, busy.Code, busy.Error)
		return
	}
	defer release()

	octx, cancel := context.WithTimeout(r.Context(), relayOpenTimeout)
	ch, err := s.deviceChannel(octx, uuid, RedirectionPort)
	cancel()
	if err != nil {
		writeError(w, http.StatusBadGateway, "device_unreachable", fmt.Sprintf("opening the redirection channel to %s: %v", uuid, err))
		return
	}
	s.met.channels.Inc()
	defer s.met.channels.Dec()
	opts := &websocket.AcceptOptions{InsecureSkipVerify: true}
	if viaProto {
		opts.Subprotocols = []string{tok}
	}
	ws, err := websocket.Accept(w, r, opts)
	if err != nil {
		_ = ch.Close()
		s.log.Info("relay upgrade failed", "uuid", uuid, "err", err)
		return
	}
	ws.SetReadLimit(maxRelayFrame)
	s.met.relays.WithLabelValues(mode).Inc()
	defer s.met.relays.WithLabelValues(mode).Dec()
	d, _ := json.Marshal(map[string]string{"mode": mode, "session": claims.ID, "peer": r.RemoteAddr})
	s.audit(r.Context(), claims.Subject, "relay.start", uuid, "ok", "", d)
	start := time.Now()
	up, down, rerr := s.pipe(ws, ch, mode, newInterceptor(user, pass))
	reason := ""
	if rerr != nil {
		reason = rerr.Error()
	}
	d, _ = json.Marshal(map[string]any{"mode": mode, "session": claims.ID, "toDevice": up, "fromDevice": down,
		"seconds": time.Since(start).Seconds()})
	s.audit(context.Background(), claims.Subject, "relay.end", uuid, "ok", reason, d)
	s.log.Info("relay session ended", "uuid", uuid, "mode", mode, "toDevice", up, "fromDevice", down, "err", rerr)
}

// relayToken takes the token from Sec-WebSocket-Protocol (the convention;
// browsers cannot set headers on a WebSocket) or an Authorization header.
func relayToken(r *http.Request) (string, bool) {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if p = strings.TrimSpace(p); p != "" {
				return p, true
			}
		}
	}
	if t, ok := authtoken.ParseBearer(r.Header.Get("Authorization")); ok {
		return t, false
	}
	return "", false
}

// acquireRelay enforces one KVM session per device.
func (s *Server) acquireRelay(uuid, mode string) (func(), *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, &APIError{Error: "server is shutting down", Code: "unavailable"}
	}
	if mode == "kvm" {
		if s.kvm[uuid] {
			return nil, &APIError{Error: fmt.Sprintf("device %s already has a KVM session; one KVM session per device", uuid), Code: "kvm_busy"}
		}
		s.kvm[uuid] = true
	}
	s.relayWG.Add(1)
	return func() {
		s.mu.Lock()
		if mode == "kvm" {
			delete(s.kvm, uuid)
		}
		s.mu.Unlock()
		s.relayWG.Done()
	}, nil
}

// pipe copies frames both ways until either side ends or the server closes.
func (s *Server) pipe(ws *websocket.Conn, ch net.Conn, kind string, ic *interceptor) (up, down int64, err error) {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	toDev := s.met.relayBytes.WithLabelValues(kind, "to_device")
	fromDev := s.met.relayBytes.WithLabelValues(kind, "from_device")
	errc := make(chan error, 2)
	go func() { // console → device
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				errc <- nil
				return
			}
			out, err := ic.toAMT(data)
			if err != nil {
				errc <- err
				return
			}
			if len(out) == 0 {
				continue
			}
			_ = ch.SetWriteDeadline(time.Now().Add(relayWriteTimeout))
			if _, err := ch.Write(out); err != nil {
				errc <- fmt.Errorf("relay: write to device: %w", err)
				return
			}
			up += int64(len(out))
			toDev.Add(float64(len(out)))
		}
	}()
	go func() { // device → console
		buf := make([]byte, 16<<10)
		for {
			n, err := ch.Read(buf)
			if n > 0 {
				out, ierr := ic.fromAMT(buf[:n])
				if ierr != nil {
					errc <- ierr
					return
				}
				wctx, wcancel := context.WithTimeout(ctx, relayWriteTimeout)
				werr := ws.Write(wctx, websocket.MessageBinary, out)
				wcancel()
				if werr != nil {
					errc <- nil
					return
				}
				down += int64(n)
				fromDev.Add(float64(n))
			}
			if err != nil {
				errc <- nil
				return
			}
		}
	}()
	err = <-errc
	cancel()
	_ = ch.Close()
	if err != nil {
		_ = ws.Close(websocket.StatusPolicyViolation, truncate(err.Error(), 120))
	} else {
		_ = ws.Close(websocket.StatusNormalClosure, "")
	}
	<-errc
	return up, down, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
