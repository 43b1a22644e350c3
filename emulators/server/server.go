// Package server is the remote management server in the MPS role: the CIRA
// listener that AMT devices (and vMCs) tunnel to, the device manager that
// speaks WS-MAN to them through those tunnels, the console REST API, the
// KVM/SOL web relay in the AMT ecosystem's webrelay.ashx convention, and the
// server's Prometheus metrics. docs/server.md describes the architecture,
// docs/api.md the API.
//
// The registry (package registry) holds every persistent fact; this package
// keeps only live state: the tunnel per device, its gateway-extension
// presence, the WS-MAN digest state and the KVM session locks.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/server/authtoken"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/sim/clock"
)

// Defaults for Config fields left zero.
const (
	DefaultCIRAListen       = "127.0.0.1:4433"
	DefaultAPIListen        = "127.0.0.1:8080"
	DefaultIdleTimeout      = 90 * time.Second
	DefaultTLSHandshake     = 10 * time.Second
	DefaultSessionTTL       = 5 * time.Minute
	DefaultFDReserve        = 256
	DefaultWSMANTimeout     = 20 * time.Second
	DefaultCommonName       = "oobtb-mps"
	acceptBackoffMin        = 5 * time.Millisecond
	acceptBackoffMax        = time.Second
	refusalLogEvery         = 10 * time.Second
	maxRelayFrame           = 64 << 10
	relayOriginatorAddr     = "127.0.0.1"
	wsmanOriginatorBasePort = 1024
)

// ServerCapabilities is the failover capability field this server answers
// with: it accepts gateway-info and runs (through the pairing module) the
// pairing, gateway-connect and failover features.
const ServerCapabilities = gwext.CapPairing | gwext.CapGatewayConnect | gwext.CapFailover | gwext.CapGatewayInfo

// Config configures a Server. Only DataDir is required.
type Config struct {
	// DataDir holds the registry, the CA and server certificate, the token
	// key and the admin token (created on first start).
	DataDir string

	// CIRAListen and APIListen are listen addresses used when the
	// corresponding listener is nil (defaults 127.0.0.1:4433 and :8080).
	CIRAListen, APIListen     string
	CIRAListener, APIListener net.Listener

	// CertFile/KeyFile give the CIRA server certificate; empty → the one
	// generated in DataDir by the data directory's CA.
	CertFile, KeyFile string
	// CommonName, DNSNames and IPs go into a generated server certificate;
	// loopback addresses and "localhost" are always added.
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	// KeyType of generated keys (pki.RSA2048 when empty; AMT needs RSA).
	KeyType pki.KeyType

	Network netx.Network // netx.Host{} when nil
	Clock   clock.Clock  // clock.Real{} when nil
	Logger  *slog.Logger // discard when nil

	// IdleTimeout closes a CIRA tunnel without traffic (90 s).
	IdleTimeout time.Duration
	// TLSHandshakeTimeout bounds each CIRA TLS handshake (10 s).
	TLSHandshakeTimeout time.Duration
	// MaxConns caps simultaneous CIRA sockets; 0 → RLIMIT_NOFILE − FDReserve.
	MaxConns int
	// FDReserve is what MaxConns leaves of the fd limit for the API,
	// the registry and relays (256).
	FDReserve int
	// SessionTTL is the life of a console session token (5 min).
	SessionTTL time.Duration
	// WSMANTimeout bounds one WS-MAN operation (20 s).
	WSMANTimeout time.Duration

	// AdaptiveProcs lets the server run the Go scheduler on one P while it
	// only holds idle tunnels and on all of them when busy (procs.go). It
	// changes GOMAXPROCS for the whole process, so it is for a process of
	// its own (the daemon), not for a server embedded with other parties.
	AdaptiveProcs bool

	// Store replaces the SQLite registry in DataDir (the server closes it).
	Store registry.Store
	// PasswordScheme and PasswordIterations set how the SQLite registry
	// stores newly enrolled CIRA passwords (registry.SchemeHMAC when empty;
	// the iterations apply to registry.SchemePBKDF2).
	PasswordScheme     registry.PasswordScheme
	PasswordIterations int
	// Announce receives the admin token line on first start (nil: the caller
	// reads AdminToken).
	Announce io.Writer

	// GatewayListen / GatewayListener serve the gateway control channel
	// (TLS with the CIRA certificate); both empty → no gateways.
	GatewayListen   string
	GatewayListener net.Listener
	// PairingTTL is a pairing's life (DefaultPairingTTL); GatewayHeartbeat
	// the interval gateways are told (DefaultGatewayHeartbeat).
	PairingTTL       time.Duration
	GatewayHeartbeat time.Duration
}

// Server is one management server.
type Server struct {
	cfg    Config
	log    *slog.Logger
	clk    clock.Clock
	net    netx.Network
	store  registry.Store
	tokens *authtoken.Manager
	admin  string
	bundle *pki.Bundle
	caPool *x509.CertPool
	tlsCfg *tls.Config
	met    *metrics
	mux    *http.ServeMux
	routes []route
	pm     *pairingModule

	ciraLn net.Listener
	apiLn  net.Listener
	http   *http.Server

	conns atomic.Int64 // open CIRA sockets (TLS handshake included)
	// acceptCount counts accepted sockets, for the scheduler governor.
	acceptCount atomic.Int64
	maxConns    int

	mu      sync.Mutex
	devices map[string]*Tunnel // authenticated tunnels by UUID
	kvm     map[string]bool    // devices with a KVM session on the relay
	digests map[string]*digestState
	all     map[*Tunnel]struct{}
	closed  bool

	origPort atomic.Uint32
	writer   *regWriter

	refusalLog refusalLimiter

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	relayWG sync.WaitGroup
	once    sync.Once
}

// New prepares a server: opens the registry, loads or creates the PKI and the
// token state, and binds the listeners. Start begins serving.
func New(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("server: Config.DataDir is required")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: data directory %s: %w", cfg.DataDir, err)
	}
	if cfg.Network == nil {
		cfg.Network = netx.Host{}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CIRAListen == "" {
		cfg.CIRAListen = DefaultCIRAListen
	}
	if cfg.APIListen == "" {
		cfg.APIListen = DefaultAPIListen
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.TLSHandshakeTimeout <= 0 {
		cfg.TLSHandshakeTimeout = DefaultTLSHandshake
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.WSMANTimeout <= 0 {
		cfg.WSMANTimeout = DefaultWSMANTimeout
	}
	if cfg.FDReserve <= 0 {
		cfg.FDReserve = DefaultFDReserve
	}
	if cfg.CommonName == "" {
		cfg.CommonName = DefaultCommonName
	}
	s := &Server{cfg: cfg, log: cfg.Logger, clk: cfg.Clock, net: cfg.Network,
		devices: map[string]*Tunnel{}, kvm: map[string]bool{}, all: map[*Tunnel]struct{}{}}
	s.refusalLog.every = refusalLogEvery
	s.maxConns = cfg.MaxConns
	if s.maxConns <= 0 {
		s.maxConns = defaultMaxConns(cfg.FDReserve)
	}
	ok := false
	defer func() {
		if !ok {
			s.closeResources()
		}
	}()

	if err := s.loadPKI(); err != nil {
		return nil, err
	}
	tm, res, err := authtoken.LoadOrCreate(cfg.DataDir, authtoken.Options{Announce: cfg.Announce})
	if err != nil {
		return nil, fmt.Errorf("server: token state: %w", err)
	}
	s.tokens = tm
	if res.Created {
		s.admin = res.AdminToken
	} else if b, err := os.ReadFile(filepath.Join(cfg.DataDir, authtoken.AdminTokenFile)); err == nil {
		s.admin = trimSpace(string(b))
	}
	if cfg.Store != nil {
		s.store = cfg.Store
	} else {
		st, err := registry.Open(context.Background(), registry.Options{Dir: cfg.DataDir,
			PasswordScheme: cfg.PasswordScheme, PasswordIterations: cfg.PasswordIterations})
		if err != nil {
			return nil, fmt.Errorf("server: registry: %w", err)
		}
		s.store = st
	}
	s.met = newMetrics(s)
	s.writer = newRegWriter(s)
	if s.pm, err = newPairingModule(s); err != nil {
		return nil, err
	}
	s.buildMux()

	ctx := context.Background()
	if cfg.CIRAListener != nil {
		s.ciraLn = cfg.CIRAListener
	} else if s.ciraLn, err = cfg.Network.Listen(ctx, "tcp", cfg.CIRAListen); err != nil {
		return nil, fmt.Errorf("server: CIRA listener on %s: %w", cfg.CIRAListen, err)
	}
	if cfg.APIListener != nil {
		s.apiLn = cfg.APIListener
	} else if s.apiLn, err = cfg.Network.Listen(ctx, "tcp", cfg.APIListen); err != nil {
		return nil, fmt.Errorf("server: API listener on %s: %w", cfg.APIListen, err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	ok = true
	return s, nil
}

// loadPKI loads or creates the CA and server certificate.
func (s *Server) loadPKI() error {
	ips := append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, s.cfg.IPs...)
	dns := append([]string{"localhost"}, s.cfg.DNSNames...)
	b, err := pki.LoadOrCreate(s.cfg.DataDir, pki.Options{CommonName: s.cfg.CommonName, DNSNames: dns, IPs: ips,
		KeyType: s.cfg.KeyType, CAKeyType: s.cfg.KeyType})
	if err != nil {
		return fmt.Errorf("server: PKI in %s: %w", s.cfg.DataDir, err)
	}
	s.bundle = b
	s.caPool = b.CA.Pool()
	cert := b.TLSCertificate()
	if s.cfg.CertFile != "" || s.cfg.KeyFile != "" {
		c, err := pki.LoadCertificate(s.cfg.CertFile, s.cfg.KeyFile)
		if err != nil {
			return fmt.Errorf("server: --cert/--key: %w", err)
		}
		cert = c.TLS()
	}
	// A ticket key kept in the data directory: devices that cache their
	// TLS session resume after a server restart instead of costing a full
	// RSA handshake each.
	tk, err := pki.LoadOrCreateTicketKey(s.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.tlsCfg = pki.ServerTLSConfig(cert, pki.ServerTLSOptions{RequestClientCert: true, SessionTicketKeys: [][32]byte{tk}})
	return nil
}

// Start serves the CIRA listener and the API until ctx ends or Close.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("server: closed")
	}
	s.mu.Unlock()
	s.http = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context { return s.ctx }}
	s.pm.start()
	s.wg.Add(2)
	go s.acceptLoop()
	if s.cfg.AdaptiveProcs {
		s.wg.Add(1)
		go s.governProcs()
	}
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(s.apiLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("API server stopped", "err", err)
		}
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-ctx.Done():
			go s.Close()
		case <-s.ctx.Done():
		}
	}()
	s.log.Info("server started", "cira", s.CIRAAddr().String(), "api", s.APIURL(), "maxConns", s.maxConns,
		"ca", filepath.Join(s.cfg.DataDir, pki.CACertFile))
	return nil
}

// Close stops the listeners, ends every tunnel and relay, and closes the
// registry. It is idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		if s.cancel != nil {
			s.cancel()
		}
		if s.ciraLn != nil {
			_ = s.ciraLn.Close()
		}
		if s.http != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = s.http.Shutdown(sctx)
			cancel()
			_ = s.http.Close()
		} else if s.apiLn != nil {
			_ = s.apiLn.Close()
		}
		s.mu.Lock()
		ts := make([]*Tunnel, 0, len(s.all))
		for t := range s.all {
			ts = append(ts, t)
		}
		s.mu.Unlock()
		var wg sync.WaitGroup
		for _, t := range ts {
			wg.Add(1)
			go func() { defer wg.Done(); t.close() }()
		}
		wg.Wait()
		s.pm.close()
		s.relayWG.Wait()
		s.wg.Wait()
		s.closeResources()
	})
	return nil
}

func (s *Server) closeResources() {
	if s.pm != nil && s.ctx == nil {
		s.pm.close()
	}
	if s.writer != nil {
		s.writer.close()
	}
	if s.store != nil {
		_ = s.store.Close()
	}
	if s.ciraLn != nil && s.cfg.CIRAListener == nil && s.ctx == nil {
		_ = s.ciraLn.Close()
	}
	if s.apiLn != nil && s.ctx == nil {
		_ = s.apiLn.Close()
	}
}

// CAPool is the pool holding the server's CA; vMCs trust it.
func (s *Server) CAPool() *x509.CertPool { return s.caPool }

// CACertPath is the PEM file of the CA in the data directory.
func (s *Server) CACertPath() string { return filepath.Join(s.cfg.DataDir, pki.CACertFile) }

// AdminToken is the admin bearer token ("" if the token file is unreadable).
func (s *Server) AdminToken() string { return s.admin }

// Tokens is the token manager, for modules that issue their own tokens.
func (s *Server) Tokens() *authtoken.Manager { return s.tokens }

// APIURL is the API's base URL, e.g. http://127.0.0.1:8080.
func (s *Server) APIURL() string { return "http://" + s.apiLn.Addr().String() }

// CIRAAddr is the CIRA listener's address.
func (s *Server) CIRAAddr() net.Addr { return s.ciraLn.Addr() }

// Store is the registry.
func (s *Server) Store() registry.Store { return s.store }

// Logger is the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Clock is the server's clock.
func (s *Server) Clock() clock.Clock { return s.clk }

// MaxConns is the effective CIRA connection cap.
func (s *Server) MaxConns() int { return s.maxConns }

// Enrol adds a device to the registry and audits it.
func (s *Server) Enrol(ctx context.Context, e registry.DeviceEnrolment) (registry.Device, error) {
	d, err := s.store.EnrolDevice(ctx, e, s.clk.Now())
	outcome, reason := "ok", ""
	if err != nil {
		outcome, reason = "error", err.Error()
	}
	s.audit(ctx, "api", "device.enrol", e.UUID, outcome, reason, nil)
	return d, err
}

// audit appends an audit record; a failure is logged, never fatal.
func (s *Server) audit(ctx context.Context, actor, action, subject, outcome, reason string, details []byte) {
	if ctx == nil || ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
	}
	_, err := s.store.AppendAudit(ctx, registry.AuditRecord{Time: s.clk.Now(), Actor: actor, Action: action,
		Subject: subject, Outcome: outcome, Reason: reason, Details: details})
	if err != nil && !errors.Is(err, registry.ErrClosed) {
		s.log.Warn("audit append failed", "action", action, "subject", subject, "err", err)
	}
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}
