// Package session is the console's side of the gateway-assisted session
// (ARCHITECTURE F1, F2, F4): it asks the server's pairing module for a
// session, connects peer to peer to the gateway's WAN endpoint and runs the
// Noise KK channel of package p2p bound to the pairing, falls back to the
// server's P2P relay after a bounded wait, or to the classic relayed session
// when the server says so or the gateway is lost mid-session; and runs the
// existing KVM client over a "kvm" stream of the channel. Every session
// reports its path (direct, relay, classic) and why.
package session

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/console"
	"github.com/oobtb/oobtb/emulators/console/apiclient"
	"github.com/oobtb/oobtb/emulators/console/kvmclient"
	"github.com/oobtb/oobtb/emulators/gateway/p2p"
	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/sim/clock"
)

// Paths.
const (
	PathDirect  = "direct"
	PathRelay   = "relay"
	PathClassic = "classic"
)

// DefaultDirectWait bounds the direct attempt before the relay is tried.
const DefaultDirectWait = 3 * time.Second

// Config configures a Client.
type Config struct {
	// API is the server's API client (base URL and bearer token).
	API *apiclient.Client
	// Key is the console's static X25519 key; ConsoleID its name in
	// pairings (the server defaults it to the token's subject when empty).
	Key       p2p.Key
	ConsoleID string
	// Network dials the gateway and the relay (netx.Host{} when nil).
	Network netx.Network
	// DirectWait bounds TCP connect + Noise handshake straight to the
	// gateway (DefaultDirectWait when 0).
	DirectWait time.Duration
	// HandshakeTimeout bounds the relay attempt (10 s when 0).
	HandshakeTimeout time.Duration
	Clock            clock.Clock
	Logger           *slog.Logger
}

// Client is a console that pairs and connects.
type Client struct {
	cfg Config

	mu    sync.Mutex
	sizes map[string]image.Point // screen size per device, from its last ServerInit
}

// sizeHint is the device's screen size seen last (zero when never seen).
func (c *Client) sizeHint(device string) image.Point {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sizes[device]
}

// noteSize remembers the device's screen size for the next session's
// pipelined first update request.
func (c *Client) noteSize(device string, kc *kvmclient.Client) {
	si := kc.ServerInit()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sizes == nil {
		c.sizes = map[string]image.Point{}
	}
	if len(c.sizes) >= maxSizeHints {
		clear(c.sizes)
	}
	c.sizes[device] = image.Pt(int(si.Width), int(si.Height))
}

// maxSizeHints bounds the remembered screen sizes.
const maxSizeHints = 4096

// New checks cfg.
func New(cfg Config) (*Client, error) {
	if cfg.API == nil {
		return nil, errors.New("session: Config.API is required")
	}
	if len(cfg.Key.Public) != 32 || len(cfg.Key.Private) != 32 {
		return nil, errors.New("session: Config.Key must be an X25519 key pair (p2p.GenerateKey)")
	}
	if cfg.Network == nil {
		cfg.Network = netx.Host{}
	}
	if cfg.DirectWait <= 0 {
		cfg.DirectWait = DefaultDirectWait
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg}, nil
}

func (c *Client) publicHex() string { return hex.EncodeToString(c.cfg.Key.Public) }

// Session is a connected session: a Noise channel to the gateway (direct or
// relayed) or, on the classic path, the server's web relay.
type Session struct {
	Answer Answer
	// Path is direct, relay or classic; Why says why it is not direct.
	Path string
	Why  string
	// Conn is the channel (nil on the classic path).
	Conn *p2p.Conn
	// PairTime is the session request's round trip; ConnectTime the
	// channel's setup (dial, handshake, fallback included).
	PairTime, ConnectTime time.Duration

	c *Client
}

// Open requests a session and connects it.
func (c *Client) Open(ctx context.Context, r PairingRequest) (*Session, error) {
	start := c.cfg.Clock.Now()
	a, err := c.Pair(ctx, r)
	if err != nil {
		return nil, err
	}
	return c.connectTimed(ctx, a, c.cfg.Clock.Now().Sub(start))
}

// Connect connects an answer got elsewhere (an accepted help request).
func (c *Client) Connect(ctx context.Context, a Answer) (*Session, error) {
	return c.connectTimed(ctx, a, 0)
}

func (c *Client) connectTimed(ctx context.Context, a Answer, pair time.Duration) (*Session, error) {
	s := &Session{Answer: a, PairTime: pair, c: c}
	start := c.cfg.Clock.Now()
	defer func() { s.ConnectTime = c.cfg.Clock.Now().Sub(start) }()
	if a.Path == PathClassic {
		s.Path, s.Why = PathClassic, a.Reason
		if s.Why == "" {
			s.Why = "the server chose the classic relayed session"
		}
		return s, nil
	}
	if a.Path != PathDirect {
		return nil, fmt.Errorf("session: the server answered path %q; expected direct or classic", a.Path)
	}
	dc, err := c.dialConfig(a)
	if err != nil {
		return nil, err
	}
	conn, derr := c.direct(ctx, a, dc)
	if derr == nil {
		s.Path, s.Conn = PathDirect, conn
		return s, nil
	}
	var he *p2p.HandshakeError
	if errors.As(derr, &he) && he.Refused {
		// The gateway itself refused the pairing (wrong key, replay, …):
		// the relay reaches the same gateway, so trying it changes nothing.
		return nil, fmt.Errorf("session: the gateway refused the console: %w", derr)
	}
	c.cfg.Logger.Info("direct path failed; trying the relay", "session", a.SessionID, "err", derr)
	conn, rerr := c.relay(ctx, a, dc)
	if rerr != nil {
		return nil, fmt.Errorf("session: direct path failed (%v) and the relay failed: %w", derr, rerr)
	}
	s.Path, s.Why, s.Conn = PathRelay, fmt.Sprintf("direct path to the gateway failed within %v: %v", c.cfg.DirectWait, derr), conn
	return s, nil
}

// dialConfig checks the answer's pairing fields.
func (c *Client) dialConfig(a Answer) (p2p.DialConfig, error) {
	var dc p2p.DialConfig
	if a.Prologue == nil {
		return dc, errors.New("session: the answer carries no prologue fields")
	}
	sid, err := parseSession(a.SessionID)
	if err != nil {
		return dc, err
	}
	k, err := hex.DecodeString(a.GatewayKey)
	if err != nil || len(k) != 32 {
		return dc, fmt.Errorf("session: gatewayKey: expected 64 hex digits, got %d characters", len(a.GatewayKey))
	}
	if a.Prologue.SessionID != a.SessionID || a.Prologue.GatewayID != a.GatewayID || a.Prologue.DeviceUUID != a.Device {
		return dc, errors.New("session: the answer's prologue fields disagree with its session, gateway or device")
	}
	dc.Params = p2p.Params{Session: sid, GatewayID: a.Prologue.GatewayID, DeviceUUID: a.Prologue.DeviceUUID, ConsoleID: a.Prologue.ConsoleID}
	dc.Static, dc.GatewayKey = c.cfg.Key, [32]byte(k)
	return dc, nil
}

func parseSession(s string) (gwext.SessionID, error) {
	var sid gwext.SessionID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(sid) {
		return sid, fmt.Errorf("session: sessionId %q: expected 32 hex digits", s)
	}
	copy(sid[:], b)
	return sid, nil
}

// direct dials each WAN endpoint and runs the handshake, all within
// DirectWait.
func (c *Client) direct(ctx context.Context, a Answer, dc p2p.DialConfig) (*p2p.Conn, error) {
	if len(a.WANEndpoints) == 0 {
		return nil, errors.New("the gateway registered no WAN endpoint")
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DirectWait)
	defer cancel()
	var errs []error
	for _, ep := range a.WANEndpoints {
		nc, err := c.cfg.Network.Dial(dctx, "tcp", ep)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		conn, err := p2p.Dial(dctx, nc, dc)
		if err == nil {
			return conn, nil
		}
		var he *p2p.HandshakeError
		if errors.As(err, &he) && he.Refused {
			return nil, err
		}
		errs = append(errs, fmt.Errorf("%s: %w", ep, err))
	}
	return nil, errors.Join(errs...)
}

// relay opens the server's P2P relay (HTTP Upgrade to oobtb-p2p with the
// one-time relay token) and runs the same handshake through it.
func (c *Client) relay(ctx context.Context, a Answer, dc p2p.DialConfig) (*p2p.Conn, error) {
	if a.RelayURL == "" || a.RelayToken == "" {
		return nil, errors.New("the answer names no relay")
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	nc, err := DialRelay(rctx, c.cfg.Network, a.RelayURL, a.RelayToken)
	if err != nil {
		return nil, err
	}
	return p2p.Dial(rctx, nc, dc)
}

// DialRelay opens a P2P relay socket: the HTTP Upgrade exchange, then the
// raw socket.
func DialRelay(ctx context.Context, nw netx.Network, relayURL, token string) (net.Conn, error) {
	u, err := url.Parse(relayURL)
	if err != nil || (u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("relay URL %q: expected http://host:port/...", relayURL)
	}
	nc, err := nw.Dial(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("relay %s: %w", u.Host, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nConnection: Upgrade\r\nUpgrade: oobtb-p2p\r\n" +
		"Authorization: Bearer " + token + "\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, fmt.Errorf("relay: %w", err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("relay: reading the upgrade answer: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		nc.Close()
		return nil, fmt.Errorf("relay refused: %s: %s", resp.Status, trim(b))
	}
	_ = nc.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		return &bufConn{Conn: nc, r: br}, nil
	}
	return nc, nil
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func trim(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return string(b)
}

// OpenStream opens a stream ("kvm", "sol", "wsman") inside the channel.
// When the gateway announced early data (mux Config.EarlyData) it returns
// without waiting for the gateway's answer; a refusal then surfaces as a
// *mux.OpenError from the stream's first read or write.
func (s *Session) OpenStream(ctx context.Context, target string) (net.Conn, error) {
	if s.Conn == nil {
		return nil, fmt.Errorf("session: the %s path has no channel", s.Path)
	}
	return s.Conn.Open(ctx, target)
}

// OpenKVM opens a KVM client: over a "kvm" stream of the channel (the
// redirection handshake and digest run end to end with the device, so cfg
// carries the device's AMT credentials), or on the classic path through
// the server's web relay (which injects them). Unless cfg.Sequential, the
// openings are pipelined (kvmclient.Config.Sequential), and the screen
// size this client saw at the device's last session is the SizeHint.
func (s *Session) OpenKVM(ctx context.Context, cfg kvmclient.Config) (*kvmclient.Client, error) {
	if cfg.SizeHint == (image.Point{}) && !cfg.Sequential {
		cfg.SizeHint = s.c.sizeHint(s.Answer.Device)
	}
	var kc *kvmclient.Client
	if s.Conn == nil {
		// The web relay's credential interceptor reads console bytes as
		// redirection messages until the device accepted.
		cfg.Optimistic = false
		con := &console.Console{API: s.c.cfg.API, Logger: s.c.cfg.Logger}
		var err error
		if kc, err = con.OpenKVM(ctx, s.Answer.Device, cfg); err != nil {
			return nil, err
		}
	} else {
		st, err := s.OpenStream(ctx, "kvm")
		if err != nil {
			return nil, err
		}
		if kc, err = kvmclient.Open(st, cfg); err != nil {
			st.Close()
			return nil, err
		}
	}
	s.c.noteSize(s.Answer.Device, kc)
	return kc, nil
}

// Close ends the channel.
func (s *Session) Close() error {
	if s.Conn == nil {
		return nil
	}
	err := s.Conn.Close()
	<-s.Conn.Done()
	return err
}
