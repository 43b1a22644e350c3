package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"

	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/wire/digest"
	"github.com/oobtb/oobtb/emulators/wire/httpwire"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

// Errors of the device manager; test with errors.Is.
var (
	ErrNotConnected = errors.New("server: device is not connected")
	ErrDeviceAuth   = errors.New("server: the device refused the stored AMT credentials")
)

// maxDigestAttempts: the unauthenticated first try, one with the fresh
// challenge, one more if the nonce went stale in between (DMT MPS allows 3).
const maxDigestAttempts = 3

// digestState is a device's WS-MAN digest context. As DMT MPS, the server
// keeps it per device across channels and API calls and reuses the nonce
// with an increasing nc until the device answers 401 again.
type digestState struct {
	mu     sync.Mutex
	ch     *digest.Challenge
	nc     uint32
	cnonce string
}

func (d *digestState) authorization(user, pass string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		return ""
	}
	d.nc++
	a := digest.Authorization{Username: user, Realm: d.ch.Realm, Nonce: d.ch.Nonce, URI: "/wsman",
		QOP: digest.ChooseQOP(d.ch.QOP), Opaque: d.ch.Opaque, Style: digest.StyleQuoted}
	if a.QOP != "" {
		a.NC, a.CNonce = digest.NCHex(d.nc), d.cnonce
	}
	a.Sign(pass, "POST")
	return a.String()
}

func (d *digestState) challenge(c digest.Challenge) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ch, d.nc = &c, 0
	var b [16]byte
	_, _ = rand.Read(b[:])
	d.cnonce = hex.EncodeToString(b[:])
}

func (s *Server) digestFor(uuid string) *digestState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.digests == nil {
		s.digests = map[string]*digestState{}
	}
	d := s.digests[uuid]
	if d == nil {
		d = &digestState{}
		s.digests[uuid] = d
	}
	return d
}

// WSMAN is a WS-MAN client to one device through its CIRA tunnel: HTTP with
// digest on an APF channel to 16992, requests in DMT's shape. It keeps one
// channel open across requests; not safe for concurrent use.
type WSMAN struct {
	s       *Server
	uuid    string
	user    string
	pass    string
	ds      *digestState
	ch      net.Conn
	buf     []byte
	msgID   uint64
	builder wsman.Builder
}

// WSMAN returns a client for the device's WS-MAN service. Close it after use.
func (s *Server) WSMAN(ctx context.Context, uuid string) (*WSMAN, error) {
	t, ok := s.Tunnel(uuid)
	switch {
	case ok:
		uuid = t.UUID()
	case s.failoverGateway(uuid) != nil:
		if c, err := registry.CanonicalUUID(uuid); err == nil {
			uuid = c
		}
	default:
		return nil, fmt.Errorf("%w: %s", ErrNotConnected, uuid)
	}
	user, pass, err := s.store.AMTCredentials(ctx, uuid)
	if err != nil {
		return nil, fmt.Errorf("server: AMT credentials of %s: %w", uuid, err)
	}
	return &WSMAN{s: s, uuid: uuid, user: user, pass: pass, ds: s.digestFor(uuid),
		builder: wsman.Builder{Style: wsman.StyleDMT}}, nil
}

// Close closes the channel.
func (w *WSMAN) Close() {
	w.closeChannel()
}

func (w *WSMAN) closeChannel() {
	if w.ch != nil {
		_ = w.ch.Close()
		w.ch = nil
		w.s.met.channels.Dec()
	}
	w.buf = w.buf[:0]
}

func (w *WSMAN) nextID() string {
	id := strconv.FormatUint(w.msgID, 10)
	w.msgID++
	return id
}

// openChannel opens a fresh channel to the device's 16992.
func (w *WSMAN) openChannel(ctx context.Context) error {
	ch, err := w.s.deviceChannel(ctx, w.uuid, httpwire.WSManPort)
	if err != nil {
		return fmt.Errorf("server: WS-MAN: %w", err)
	}
	w.s.met.channels.Inc()
	w.ch = ch
	return nil
}

// Do sends one WS-MAN request and returns the parsed response. A SOAP fault
// is returned as both the response and a *wsman.Fault error.
func (w *WSMAN) Do(ctx context.Context, body []byte) (*wsman.Response, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.s.cfg.WSMANTimeout)
		defer cancel()
	}
	var last *httpwire.Response
	for attempt := 0; attempt < maxDigestAttempts; attempt++ {
		resp, err := w.roundTrip(ctx, body, attempt)
		if err != nil {
			w.s.met.wsman.WithLabelValues("error").Inc()
			return nil, err
		}
		w.s.met.wsman.WithLabelValues(strconv.Itoa(resp.StatusCode)).Inc()
		if resp.StatusCode == 401 {
			last = resp
			ch, perr := digest.ParseChallenge(resp.Header.Get("WWW-Authenticate"))
			// Stock servers close the channel after a 401 and retry on a new
			// one; AMT sends the 401 with Connection: close.
			w.closeChannel()
			if perr != nil {
				return nil, fmt.Errorf("server: WS-MAN 401 from %s without a usable challenge: %w", w.uuid, perr)
			}
			w.ds.challenge(ch)
			continue
		}
		if resp.Close() {
			w.closeChannel()
		}
		if resp.StatusCode != 200 && resp.StatusCode != 400 && resp.StatusCode != 500 {
			return nil, fmt.Errorf("server: WS-MAN from %s: HTTP %d %s", w.uuid, resp.StatusCode, resp.Reason)
		}
		r, err := wsman.ParseResponse(resp.Body, wsman.Limits{})
		if err != nil {
			var f *wsman.Fault
			if errors.As(err, &f) {
				return r, err
			}
			return nil, fmt.Errorf("server: WS-MAN response from %s (HTTP %d): %w", w.uuid, resp.StatusCode, err)
		}
		return r, nil
	}
	w.s.met.authFailures.WithLabelValues("wsman").Inc()
	_ = last
	return nil, fmt.Errorf("%w: %s answered 401 %d times", ErrDeviceAuth, w.uuid, maxDigestAttempts)
}

// roundTrip writes one request and reads one response, opening a channel
// when none is open. A channel the device closed between requests is
// replaced once.
func (w *WSMAN) roundTrip(ctx context.Context, body []byte, attempt int) (*httpwire.Response, error) {
	for try := 0; ; try++ {
		fresh := w.ch == nil
		if fresh {
			if err := w.openChannel(ctx); err != nil {
				return nil, err
			}
		}
		auth := w.ds.authorization(w.user, w.pass)
		req := httpwire.WSManRequest(httpwire.HostPort(w.uuid, httpwire.WSManPort), auth, "", body)
		if dl, ok := ctx.Deadline(); ok {
			_ = w.ch.SetDeadline(dl)
		}
		resp, err := w.exchange(httpwire.AppendRequest(nil, req))
		if err == nil {
			return resp, nil
		}
		w.closeChannel()
		if fresh || try > 0 || ctx.Err() != nil {
			return nil, fmt.Errorf("server: WS-MAN exchange with %s: %w", w.uuid, err)
		}
	}
}

// exchange writes req and reads exactly one response from the channel.
func (w *WSMAN) exchange(req []byte) (*httpwire.Response, error) {
	if _, err := w.ch.Write(req); err != nil {
		return nil, err
	}
	w.buf = w.buf[:0]
	tmp := make([]byte, 8192)
	for {
		if len(w.buf) > 0 {
			resp, n, err := httpwire.ParseResponse(w.buf, httpwire.Limits{})
			if err == nil {
				w.buf = append(w.buf[:0], w.buf[n:]...)
				return resp, nil
			}
			if !errors.Is(err, wireerr.ErrShort) {
				return nil, err
			}
		}
		n, err := w.ch.Read(tmp)
		w.buf = append(w.buf, tmp[:n]...)
		if err != nil {
			if errors.Is(err, io.EOF) && len(w.buf) > 0 {
				resp, _, perr := httpwire.ParseResponseAtEOF(w.buf, httpwire.Limits{})
				w.buf = w.buf[:0]
				if perr == nil {
					return resp, nil
				}
				return nil, perr
			}
			return nil, err
		}
	}
}

// Get, Enumerate+Pull and Invoke in DMT's request shape.

// Get reads one instance.
func (w *WSMAN) Get(ctx context.Context, class string, sel ...wsman.Selector) (*wsman.Instance, error) {
	r, err := w.Do(ctx, w.builder.Get(w.nextID(), wsman.ResourceURI(class), sel...))
	if err != nil {
		return nil, err
	}
	if r.Instance == nil {
		return nil, fmt.Errorf("server: Get %s on %s: response has no instance", class, w.uuid)
	}
	return r.Instance, nil
}

// Enumerate reads every instance of class (Enumerate, then Pull until the
// sequence ends).
func (w *WSMAN) Enumerate(ctx context.Context, class string) ([]wsman.Instance, error) {
	uri := wsman.ResourceURI(class)
	r, err := w.Do(ctx, w.builder.Enumerate(w.nextID(), uri))
	if err != nil {
		return nil, err
	}
	ectx := r.EnumerationContext
	var items []wsman.Instance
	for i := 0; ectx != "" && i < 1000; i++ {
		p, err := w.Do(ctx, w.builder.Pull(w.nextID(), uri, ectx, 999, 99999))
		if err != nil {
			return nil, err
		}
		items = append(items, p.Items...)
		if p.EndOfSequence {
			break
		}
		ectx = p.EnumerationContext
	}
	return items, nil
}

// Invoke calls a method and returns its ReturnValue and output.
func (w *WSMAN) Invoke(ctx context.Context, class, method string, args []wsman.Prop, sel ...wsman.Selector) (*wsman.Response, error) {
	return w.Do(ctx, w.builder.Invoke(w.nextID(), wsman.ResourceURI(class), method, args, sel...))
}

// originatorPort numbers channel opens the way MeshCentral does.
func (s *Server) originatorPort() uint32 {
	return wsmanOriginatorBasePort + s.origPort.Add(1)%30000
}
