package ciraload

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/wire/apf"
)

// idleReadTimeout bounds a tunnel's silence from the server.
const idleReadTimeout = 10 * time.Minute

// probeCookie marks the keep-alives of liveness probes (AMT's own start at 1).
const probeCookie = 0x0B0B0000

// WorkerMain is one worker process: it reads its configuration from in,
// opens its tunnels, reports each outcome on out, then answers "probe" and
// "close" commands. It returns after "close", or after closing every tunnel
// when in ends or ctx is done. The goroutine reading in may stay blocked
// until in ends; the process is expected to exit after WorkerMain returns.
func WorkerMain(ctx context.Context, in io.Reader, out io.Writer) error {
	br := bufio.NewReaderSize(in, 1<<20)
	line, err := readLine(br)
	if err != nil {
		return fmt.Errorf("ciraload worker: reading the configuration line: %w", err)
	}
	var wc workerConfig
	if err := json.Unmarshal(line, &wc); err != nil {
		return fmt.Errorf("ciraload worker: configuration line: %w", err)
	}
	if wc.GOMAXPROCS > 0 {
		runtime.GOMAXPROCS(wc.GOMAXPROCS)
	}
	w, err := newWorker(wc, out)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmds := make(chan command)
	go func() {
		defer cancel() // stdin ended: the coordinator is gone
		for {
			line, err := readLine(br)
			if err != nil {
				return
			}
			var c command
			if err := json.Unmarshal(line, &c); err != nil {
				return
			}
			select {
			case cmds <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	if wc.Resume {
		w.prime(ctx)
		select {
		case c := <-cmds:
			if c.Cmd != "ramp" {
				return fmt.Errorf("ciraload worker: primed, expected the ramp command, got %q", c.Cmd)
			}
		case <-ctx.Done():
			return nil
		}
	}
	w.ramp(ctx)
	for {
		select {
		case <-ctx.Done():
			w.closeAll()
			return nil
		case c := <-cmds:
			switch c.Cmd {
			case "probe":
				alive, dead := w.probe(ctx, c.Timeout)
				w.emit(event{T: evProbe, Alive: alive, Dead: dead, RSSKiB: selfRSS()})
			case "close":
				w.closeAll()
				w.emit(event{T: evClosed})
				return nil
			default:
				return fmt.Errorf("ciraload worker: unknown command %q (expected probe or close)", c.Cmd)
			}
		}
	}
}

type worker struct {
	cfg   workerConfig
	tls   *tls.Config
	conns []*cira.Conn
	// caches holds one session cache per device (Resume): a device
	// resumes only its own session, as a fleet of real AMTs would.
	caches []tls.ClientSessionCache

	wmu sync.Mutex
	enc *json.Encoder
	bw  *bufio.Writer
}

func newWorker(wc workerConfig, out io.Writer) (*worker, error) {
	var pool *x509.CertPool
	if len(wc.CAPEM) > 0 {
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(wc.CAPEM) {
			return nil, errors.New("ciraload worker: the CA PEM holds no certificate")
		}
	}
	tc := pki.ClientTLSConfig(pool, wc.ServerName, wc.Insecure).Clone()
	if pool != nil && !wc.Insecure {
		// Every device checks the server's chain; a worker checks each
		// distinct chain once and then compares bytes, so the generator
		// spends its CPU on the load, not on re-verifying one chain 5,000
		// times (which would also steal the server's cores on a shared
		// machine).
		name := wc.ServerName
		if name == "" {
			if h, _, err := net.SplitHostPort(wc.Target); err == nil {
				name = h
			}
		}
		vc := &verifiedChains{roots: pool, name: name}
		tc.InsecureSkipVerify = true //nolint:gosec // verified in VerifyConnection
		tc.VerifyConnection = vc.verify
	}
	// Every simulated device is a different AMT: full handshakes, no
	// resumption across devices.
	tc.ClientSessionCache = nil
	if wc.TLS != TLSGo {
		tc.MaxVersion = tls.VersionTLS12
		tc.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	}
	if wc.Inflight <= 0 {
		wc.Inflight = DefaultInflight
	}
	if wc.ConnectTimeout <= 0 {
		wc.ConnectTimeout = DefaultConnectTimeout
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	w := &worker{cfg: wc, tls: tc, conns: make([]*cira.Conn, len(wc.Devices)), bw: bw, enc: json.NewEncoder(bw)}
	if wc.Resume {
		w.caches = make([]tls.ClientSessionCache, len(wc.Devices))
		for i := range w.caches {
			w.caches[i] = tls.NewLRUClientSessionCache(1)
		}
	}
	return w, nil
}

// prime brings every device up once and closes its tunnel again, so each
// holds a TLS session (ticket) for the measured ramp to resume. As fast as
// Inflight allows: the pace is not measured.
func (w *worker) prime(ctx context.Context) {
	start := time.Now()
	sem := make(chan struct{}, w.cfg.Inflight)
	var wg sync.WaitGroup
	var mu sync.Mutex
	up, failed := 0, 0
	for j, d := range w.cfg.Devices {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, _, _, err := w.dial(ctx, j, d)
			mu.Lock()
			if err == nil {
				up++
			} else {
				failed++
			}
			mu.Unlock()
			if err == nil {
				_ = c.Close()
			}
		}()
	}
	wg.Wait()
	w.emit(event{T: evPrimed, Up: up, Failed: failed, Seconds: time.Since(start).Seconds()})
}

func (w *worker) emit(e event) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	_ = w.enc.Encode(e)
	_ = w.bw.Flush()
}

// ramp opens every tunnel at the configured pace, at most Inflight at once.
func (w *worker) ramp(ctx context.Context) {
	start := time.Now()
	sem := make(chan struct{}, w.cfg.Inflight)
	var wg sync.WaitGroup
	var mu sync.Mutex
	up, failed := 0, 0
loop:
	for j, d := range w.cfg.Devices {
		if w.cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(j) / w.cfg.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					break loop
				}
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			c, resumed, reason, err := w.dial(ctx, j, d)
			ms := float64(time.Since(t0).Microseconds()) / 1000
			mu.Lock()
			if err == nil {
				w.conns[j] = c
				up++
			} else {
				failed++
			}
			mu.Unlock()
			if err == nil {
				w.emit(event{T: evConn, Index: d.Index, OK: true, MS: ms, Resumed: resumed})
			} else {
				w.emit(event{T: evConn, Index: d.Index, Reason: reason, Err: err.Error(), MS: ms})
			}
		}()
	}
	wg.Wait()
	w.emit(event{T: evRamped, Up: up, Failed: failed, RSSKiB: selfRSS(), Seconds: time.Since(start).Seconds()})
}

// dial opens the tunnel of device j (index in this worker): TCP from the
// device's source address, TLS, APF up to the last tcpip-forward's
// REQUEST_SUCCESS. resumed says whether TLS resumed the device's session.
func (w *worker) dial(ctx context.Context, j int, d workerDevice) (c *cira.Conn, resumed bool, reason string, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.ConnectTimeout)
	defer cancel()
	guid, err := apf.ParseGUID(d.Cred.UUID)
	if err != nil {
		return nil, false, ReasonAPF, fmt.Errorf("device %d: %w", d.Index, err)
	}
	host := netx.Host{KeepAlive: -1}
	if w.cfg.TCPKeepAlive > 0 {
		host.KeepAlive = w.cfg.TCPKeepAlive
	}
	if d.Source != "" {
		a, err := netip.ParseAddr(d.Source)
		if err != nil {
			return nil, false, ReasonDial, fmt.Errorf("device %d: source address %q: %w", d.Index, d.Source, err)
		}
		host.LocalAddr = &net.TCPAddr{IP: a.AsSlice()}
	}
	nc, err := host.Dial(ctx, "tcp", w.cfg.Target)
	if err != nil {
		return nil, false, classifyDial(err), fmt.Errorf("connect to %s: %w", w.cfg.Target, err)
	}
	cfg := w.tls
	if w.caches != nil {
		cfg = w.tls.Clone()
		cfg.ClientSessionCache = w.caches[j]
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		return nil, false, classifyTLS(err), fmt.Errorf("TLS handshake with %s: %w", w.cfg.Target, err)
	}
	resumed = tc.ConnectionState().DidResume
	c, err = cira.New(tc, cira.RoleDevice, cira.Config{
		Device: &cira.DeviceConfig{UUID: guid, Trigger: apf.TriggerPeriodic, Username: d.Cred.User,
			Password: d.Cred.Password, Ports: w.cfg.Ports},
		// Our context decides first, so a slow server reads as a timeout.
		HandshakeTimeout: w.cfg.ConnectTimeout + 5*time.Second,
		// cira derives its read bound from the initial 30 s keep-alive;
		// a server may ask for a longer interval in KEEPALIVE_OPTIONS, and
		// liveness is what the probes measure, so read patiently.
		ReadTimeout: idleReadTimeout,
	})
	if err != nil {
		_ = tc.Close()
		return nil, false, handshakeReason(err), fmt.Errorf("APF start: %w", err)
	}
	select {
	case <-c.Ready():
		return c, resumed, "", nil
	case <-c.Done():
		err := c.Err()
		return nil, false, handshakeReason(err), fmt.Errorf("APF handshake: %w", err)
	case <-ctx.Done():
		_ = c.Close()
		return nil, false, classifyAPF(ctx.Err()), fmt.Errorf("APF handshake: %w", ctx.Err())
	}
}

// probe sends each live tunnel a keep-alive request and counts the ones
// that hear from the server within timeout; the others are dead, by reason.
func (w *worker) probe(ctx context.Context, timeout time.Duration) (int, map[string]int) {
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	dead := map[string]int{}
	type pending struct {
		c      *cira.Conn
		before uint64
	}
	var wait []pending
	for i, c := range w.conns {
		if c == nil {
			continue
		}
		select {
		case <-c.Done():
			dead[classifyAPF(c.Err())]++
			continue
		default:
		}
		before := c.Stats().MessagesIn
		if err := c.Send(&apf.KeepaliveRequest{Cookie: probeCookie | uint32(i&0xffff)}); err != nil {
			dead[classifyAPF(err)]++
			continue
		}
		wait = append(wait, pending{c, before})
	}
	alive := 0
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for len(wait) > 0 {
		rest := wait[:0]
		for _, p := range wait {
			select {
			case <-p.c.Done():
				dead[classifyAPF(p.c.Err())]++
				continue
			default:
			}
			if p.c.Stats().MessagesIn > p.before {
				alive++
				continue
			}
			rest = append(rest, p)
		}
		wait = rest
		if len(wait) == 0 {
			break
		}
		if time.Now().After(deadline) {
			dead["no_reply"] += len(wait)
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			dead[ReasonCanceled] += len(wait)
			return alive, dead
		}
	}
	return alive, dead
}

// closeAll ends every tunnel (DISCONNECT by application), 64 at a time.
func (w *worker) closeAll() {
	work := make(chan *cira.Conn)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				_ = c.Close()
			}
		}()
	}
	for i, c := range w.conns {
		if c != nil {
			work <- c
			w.conns[i] = nil
		}
	}
	close(work)
	wg.Wait()
}

// verifiedChains verifies a server's certificate chain as crypto/tls would
// and remembers the chains that passed, byte for byte.
type verifiedChains struct {
	roots *x509.CertPool
	name  string
	mu    sync.Mutex
	ok    [][][]byte
}

func (v *verifiedChains) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("ciraload: the server sent no certificate")
	}
	v.mu.Lock()
	for _, chain := range v.ok {
		if sameChain(chain, cs.PeerCertificates) {
			v.mu.Unlock()
			return nil
		}
	}
	v.mu.Unlock()
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: inter,
		DNSName: v.name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return err
	}
	raw := make([][]byte, len(cs.PeerCertificates))
	for i, c := range cs.PeerCertificates {
		raw[i] = c.Raw
	}
	v.mu.Lock()
	if len(v.ok) < 16 {
		v.ok = append(v.ok, raw)
	}
	v.mu.Unlock()
	return nil
}

func sameChain(raw [][]byte, certs []*x509.Certificate) bool {
	if len(raw) != len(certs) {
		return false
	}
	for i, c := range certs {
		if !bytes.Equal(raw[i], c.Raw) {
			return false
		}
	}
	return true
}
