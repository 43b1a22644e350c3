package vmctest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/wire/apf"
)

// MPSConfig configures an in-test MPS.
type MPSConfig struct {
	// CA issues the server certificate for 127.0.0.1.
	CA *pki.CA
	// KeyType of the server certificate; empty → pki's default (RSA 2048,
	// what DMT MPS issues).
	KeyType pki.KeyType
	// User and Pass are the CIRA credentials the MPS admits.
	User, Pass string
	// MaxAuthAttempts before the MPS disconnects; 0 → cira's default (3).
	MaxAuthAttempts int
	// Window is the receive window the MPS advertises per channel; 0 →
	// cira's default (32768, as every stock MPS).
	Window uint32
	// WrapConn, if set, wraps each accepted TLS connection (a test can then
	// stall or break the MPS's side of a tunnel).
	WrapConn func(net.Conn) net.Conn
	// OnReady, if set, is called (in the tunnel's reader) when a device's
	// tunnel becomes ready.
	OnReady func(uuid string)
	Logger  *slog.Logger
}

// AuthAttempt is one USERAUTH_REQUEST the MPS judged.
type AuthAttempt struct {
	UUID string
	User string
	OK   bool
	At   time.Time
}

// MPS is an MPS built on the cira server role that can hold thousands of
// tunnels: it admits devices with the configured credentials, records when
// each became ready (its tcpip-forward of 5900, AMT's last), and hands out the tunnels by
// device UUID so a test can open channels to the device's ports.
type MPS struct {
	cfg MPSConfig
	ln  net.Listener
	wg  sync.WaitGroup

	mu       sync.Mutex
	conns    []*cira.Conn
	byUUID   map[string]*cira.Conn
	readyAt  map[string]time.Time
	attempts []AuthAttempt
	accepted int
	closed   bool
}

// StartMPS listens on 127.0.0.1 with a fresh server certificate.
func StartMPS(cfg MPSConfig) (*MPS, error) {
	if cfg.CA == nil {
		return nil, errors.New("vmctest: MPSConfig.CA is required")
	}
	crt, err := cfg.CA.IssueServer(pki.LeafOptions{CommonName: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyType: cfg.KeyType})
	if err != nil {
		return nil, fmt.Errorf("vmctest: server certificate: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.ServerTLSConfig(crt.TLS()))
	if err != nil {
		return nil, fmt.Errorf("vmctest: listen: %w", err)
	}
	m := &MPS{cfg: cfg, ln: ln, byUUID: map[string]*cira.Conn{}, readyAt: map[string]time.Time{}}
	m.wg.Add(1)
	go m.accept()
	return m, nil
}

// Addr is the MPS's host:port.
func (m *MPS) Addr() string { return m.ln.Addr().String() }

func (m *MPS) accept() {
	defer m.wg.Done()
	for {
		nc, err := m.ln.Accept()
		if err != nil {
			return
		}
		if m.cfg.WrapConn != nil {
			nc = m.cfg.WrapConn(nc)
		}
		c, err := cira.New(nc, cira.RoleServer, cira.Config{
			Server: &cira.ServerConfig{MaxAuthAttempts: m.cfg.MaxAuthAttempts},
			Window: m.cfg.Window,
			Logger: m.cfg.Logger,
			Verify: m.verify,
			OnEvent: func(c *cira.Conn, ev cira.Event) {
				// The server role reports each bound port; AMT's last
				// forward (5900) completes registration.
				if b, ok := ev.(cira.EventPortBound); ok && b.Port == apf.ForwardedPortOrder[len(apf.ForwardedPortOrder)-1] {
					m.ready(c)
				}
			},
		})
		if err != nil {
			nc.Close()
			continue
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			c.Close()
			return
		}
		m.accepted++
		// Forget ended tunnels as new ones come, so long robustness runs
		// do not grow the MPS without a goroutine per tunnel.
		live := m.conns[:0]
		for _, old := range m.conns {
			select {
			case <-old.Done():
			default:
				live = append(live, old)
			}
		}
		clear(m.conns[len(live):])
		m.conns = append(live, c)
		m.mu.Unlock()
	}
}

func (m *MPS) verify(_ context.Context, r cira.EventAuthRequest) bool {
	ok := r.Username == m.cfg.User && r.Password == m.cfg.Pass
	m.mu.Lock()
	m.attempts = append(m.attempts, AuthAttempt{UUID: r.UUID.String(), User: r.Username, OK: ok, At: time.Now()})
	m.mu.Unlock()
	return ok
}

func (m *MPS) ready(c *cira.Conn) {
	pv, ok := c.PeerVersion()
	if !ok {
		return
	}
	id := pv.UUID.String()
	m.mu.Lock()
	m.byUUID[id] = c
	m.readyAt[id] = time.Now()
	m.mu.Unlock()
	if m.cfg.OnReady != nil {
		m.cfg.OnReady(id)
	}
}

// Ready is the number of devices whose latest tunnel is ready and running.
func (m *MPS) Ready() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.byUUID {
		select {
		case <-c.Done():
		default:
			n++
		}
	}
	return n
}

// Accepted is the number of TCP connections the MPS has taken.
func (m *MPS) Accepted() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.accepted
}

// Conn is the device's latest ready tunnel, or nil.
func (m *MPS) Conn(uuid string) *cira.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.byUUID[uuid]
	if c == nil {
		return nil
	}
	select {
	case <-c.Done():
		return nil
	default:
		return c
	}
}

// ReadyAt is when the device's latest tunnel became ready.
func (m *MPS) ReadyAt(uuid string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.readyAt[uuid]
	return t, ok
}

// Attempts returns the authentication attempts seen so far.
func (m *MPS) Attempts() []AuthAttempt {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]AuthAttempt(nil), m.attempts...)
}

// Forget drops the MPS's records of a device (not its tunnel).
func (m *MPS) Forget(uuid string) {
	m.mu.Lock()
	delete(m.byUUID, uuid)
	delete(m.readyAt, uuid)
	m.mu.Unlock()
}

// Close stops listening and ends every tunnel.
func (m *MPS) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.ln.Close()
	m.wg.Wait()
	m.mu.Lock()
	cs := m.conns
	m.conns = nil
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() { defer wg.Done(); c.Close() }()
	}
	wg.Wait()
}

// UUID returns the canonical UUID of fleet member i (stable per index).
func UUID(i int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", 0x0ddba11+i, i)
}

// PortsReady is AMT's port order, what a ready tunnel has forwarded.
var PortsReady = apf.ForwardedPortOrder

// Port is the MPS's TCP port.
func (m *MPS) Port() uint16 { return uint16(m.ln.Addr().(*net.TCPAddr).Port) }
