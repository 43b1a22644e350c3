package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/oobtb/oobtb/emulators/console/kvmclient"
	csession "github.com/oobtb/oobtb/emulators/console/session"
	"github.com/oobtb/oobtb/emulators/server"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/scenarios/spec"
)

// session is one console session as the timeline opened it.
type session struct {
	name    string
	console string
	device  *device
	step    int

	mu          sync.Mutex
	path        string // classic, direct, relay
	reason      string
	established bool
	refused     bool
	refusal     string
	err         string
	setup       time.Duration

	kvm     *kvmclient.Client
	cancel  context.CancelFunc
	runDone chan struct{}
	runErr  error
	done    chan struct{} // closed when the KVM run is over and figures are in
	final   *kvmclient.Stats
	closeMu sync.Once

	// paired is the session from the pairing module (nil: classic API);
	// started when it was requested, report its KVM report, extra its
	// figures beyond kvmclient's (pair_ms, connect_ms, recovery_ms).
	paired  *csession.Session
	started time.Time
	report  *csession.KVMReport
	extra   map[string]float64
}

// httpClient reaches the console's server from the console's node.
func (k *consoleParty) httpClient() *http.Client { return k.c.httpClient(k.node) }

// requestSession asks the server for a console session (classic path: the
// server's relay through the device's CIRA tunnel).
func (k *consoleParty) requestSession(ctx context.Context, uuid string) (*server.Session, string, error) {
	body, _ := json.Marshal(server.SessionRequest{Device: uuid, Mode: "kvm"})
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+k.server.apiAddr+"/api/v1/sessions", bytes.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+k.server.admin)
	req.Header.Set("Content-Type", "application/json")
	hc := k.httpClient()
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return nil, "server unreachable: " + err.Error(), nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, "", fmt.Errorf("reading the session reply: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		var ae server.APIError
		if json.Unmarshal(b, &ae) == nil && ae.Code != "" {
			return nil, ae.Code + ": " + ae.Error, nil
		}
		return nil, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b))), nil
	}
	var s server.Session
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, "", fmt.Errorf("decoding the session reply %q: %w", b, err)
	}
	return &s, "", nil
}

// classicReason says why the server served a session the classic way, from
// what the server recorded about the device's tunnel.
func classicReason(sp *serverParty, uuid string) string {
	srv := sp.current()
	if srv == nil {
		return "classic relay (server state unavailable)"
	}
	t, ok := srv.Tunnel(uuid)
	if !ok {
		return "classic relay (device not connected)"
	}
	e := t.Extension()
	switch e.Presence {
	case gwext.Absent:
		return "device has no gateway extension (stock AMT): classic relay through the server"
	case gwext.Malformed:
		return fmt.Sprintf("device sent a malformed gateway extension (%v): classic relay through the server", e.Err)
	}
	if !e.Capability().Has(gwext.CapFailover) {
		return "device's failover capability field is clear (incapable): classic relay through the server"
	}
	return "no pairing module on the server: classic relay through the server"
}

// kvmConfig maps the step's encoding to what the console asks for.
func kvmConfig(st *spec.Step) kvmclient.Config {
	cfg := kvmclient.Config{Timeout: 20 * time.Second}
	switch st.Encoding {
	case "deflate":
		cfg.Deflate = true
	case "raw":
		cfg.Encodings = []int32{0}
	}
	return cfg
}

// open requests the session and establishes the KVM stream up to its first
// complete frame. A refusal is recorded, not returned as an error.
func (k *consoleParty) open(ctx context.Context, ss *session, st *spec.Step) error {
	if pairedStep(st) {
		return k.openPaired(ctx, ss, st)
	}
	t0 := time.Now()
	sess, refusal, err := k.requestSession(ctx, ss.device.spec.UUID)
	if err != nil {
		return err
	}
	if sess == nil {
		ss.setRefused(refusal)
		return nil
	}
	ss.mu.Lock()
	ss.path, ss.reason = spec.PathClassic, classicReason(k.server, ss.device.spec.UUID)
	ss.mu.Unlock()
	hc := k.httpClient()
	ws, resp, err := websocket.Dial(ctx, sess.RelayURL, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{sess.Token}})
	if err != nil {
		reason := "relay: " + err.Error()
		if resp != nil {
			var ae server.APIError
			if resp.Body != nil && json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&ae) == nil && ae.Code != "" {
				reason = ae.Code + ": " + ae.Error
			}
		}
		ss.setRefused(reason)
		return nil
	}
	ws.SetReadLimit(-1)
	runCtx, cancel := context.WithCancel(context.Background())
	conn := websocket.NetConn(runCtx, ws, websocket.MessageBinary)
	type opened struct {
		c   *kvmclient.Client
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		c, err := kvmclient.Open(conn, kvmConfig(st))
		ch <- opened{c, err}
	}()
	var o opened
	select {
	case o = <-ch:
	case <-ctx.Done():
		cancel()
		conn.Close()
		o = <-ch
		if o.err == nil {
			o.c.Close()
		}
		ss.setRefused("KVM handshake did not finish: " + ctx.Err().Error())
		return nil
	}
	if o.err != nil {
		cancel()
		conn.Close()
		ss.setRefused("KVM handshake: " + o.err.Error())
		return nil
	}
	ss.mu.Lock()
	ss.kvm, ss.cancel = o.c, cancel
	ss.runDone = make(chan struct{})
	ss.mu.Unlock()
	go func() {
		err := o.c.Run(runCtx)
		ss.mu.Lock()
		ss.runErr = err
		ss.mu.Unlock()
		close(ss.runDone)
	}()
	if err := o.c.WaitFirstFrame(ctx); err != nil {
		ss.close()
		ss.setRefused("no first frame: " + err.Error())
		return nil
	}
	ss.mu.Lock()
	ss.established, ss.setup = true, time.Since(t0)
	ss.mu.Unlock()
	return nil
}

func (ss *session) setRefused(reason string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.refused, ss.refusal = true, reason
}

// run keeps the KVM session going for d, typing text first, then records the
// figures and closes it.
func (ss *session) run(ctx context.Context, d time.Duration, text string) error {
	c := ss.client()
	if c == nil {
		return errors.New("no KVM session")
	}
	end := time.Now().Add(d)
	if text != "" {
		// One key at a time, spread over the first half of the run, so each
		// keystroke is its own input-to-pixel latency sample.
		runes := []rune(text)
		gap := min(250*time.Millisecond, d/2/time.Duration(len(runes)))
		for i, r := range runes {
			if err := c.Type(ctx, string(r)); err != nil {
				return fmt.Errorf("typing %q (character %d): %w", text, i+1, err)
			}
			if gap > 0 {
				select {
				case <-time.After(gap):
				case <-ctx.Done():
					return fmt.Errorf("the step's timeout ended typing: %w", ctx.Err())
				case <-ss.runDone:
					return fmt.Errorf("the KVM stream ended while typing: %v", ss.runError())
				}
			}
		}
	}
	t := time.NewTimer(time.Until(end))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return fmt.Errorf("the step's timeout ended the KVM run early: %w", ctx.Err())
	case <-ss.runDone:
		return fmt.Errorf("the KVM stream ended after %.1fs: %v", d.Seconds()-time.Until(end).Seconds(), ss.runError())
	}
	if text != "" {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = c.WaitInputs(wctx) // unseen inputs show in the figures
		cancel()
	}
	return nil
}

func (ss *session) client() *kvmclient.Client {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.kvm
}

func (ss *session) runError() error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.runErr
}

// close ends the KVM run and keeps its final figures.
func (ss *session) close() {
	ss.closeMu.Do(func() {
		ss.mu.Lock()
		c, cancel, runDone, paired := ss.kvm, ss.cancel, ss.runDone, ss.paired
		ss.mu.Unlock()
		if paired != nil {
			if cancel != nil {
				cancel()
			}
			_ = paired.Close()
		}
		if c != nil {
			st := c.Stats()
			ss.mu.Lock()
			ss.final = &st
			ss.mu.Unlock()
			cancel()
			c.Close()
			<-runDone
		}
		if ss.done != nil {
			select {
			case <-ss.done:
			default:
				close(ss.done)
			}
		}
	})
}

// metrics are the session's figures under its name.
func (ss *session) metrics() map[string]float64 {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := map[string]float64{}
	p := ss.name + "."
	if ss.established {
		out[p+"setup_ms"] = float64(ss.setup.Microseconds()) / 1000
	}
	for k, v := range ss.extra {
		out[p+k] = v
	}
	st := ss.final
	if st == nil {
		return out
	}
	out[p+"seconds"] = st.Seconds
	out[p+"fps"] = st.FramesPerSecond
	out[p+"mbit_s"] = st.MbitPerSecond
	out[p+"bytes"] = float64(st.Bytes)
	out[p+"updates"] = float64(st.Updates)
	out[p+"source_frames"] = float64(st.SourceFrames)
	out[p+"max_update_gap_ms"] = st.MaxUpdateGap
	out[p+"inputs_sent"] = float64(st.Inputs.Sent)
	out[p+"inputs_seen"] = float64(st.Inputs.Seen)
	if st.Latency.Samples > 0 {
		out[p+"latency_p50_ms"] = st.Latency.P50
		out[p+"latency_p95_ms"] = st.Latency.P95
		out[p+"latency_p99_ms"] = st.Latency.P99
		out[p+"latency_max_ms"] = st.Latency.Max
		out[p+"latency_samples"] = float64(st.Latency.Samples)
	}
	if st.Integrity.Checked > 0 {
		out[p+"integrity_pct"] = 100 * float64(st.Integrity.Valid) / float64(st.Integrity.Checked)
		out[p+"integrity_failures"] = float64(st.Integrity.Failures)
	}
	return out
}
