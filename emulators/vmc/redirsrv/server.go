package redirsrv

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream"
	"github.com/oobtb/oobtb/emulators/wire/digest"
	"github.com/oobtb/oobtb/emulators/wire/redir"
	"github.com/oobtb/oobtb/sim/clock"
)

// Defaults.
const (
	DefaultAuthTimeout     = 60 * time.Second
	DefaultMaxAuthFailures = 3
	DefaultIdleTimeout     = 5 * time.Minute
	DefaultWriteTimeout    = 30 * time.Second
)

// Errors a session ends with.
var (
	ErrAuthFailed = errors.New("redirection: authentication failed")
	ErrRefused    = errors.New("redirection: session refused")
)

// Config configures a Server.
type Config struct {
	Host *host.Host
	// Clock dates nonces; nil → the wall clock. Socket deadlines always use
	// the wall clock, as net.Conn requires.
	Clock clock.Clock
	// Rand draws nonces; nil → crypto/rand.
	Rand io.Reader
	// AllowPlain accepts AuthenticateSession type 1 (user and password in
	// clear) and advertises it; off by default, so the query answer is
	// [3, 4].
	AllowPlain bool
	// AuthTimeout bounds the time from connect to authenticated; 0 → 60 s.
	AuthTimeout time.Duration
	// MaxAuthFailures closes a session after that many failed attempts;
	// 0 → 3.
	MaxAuthFailures int
	// IdleTimeout bounds the silence of an established session (KVM reads,
	// SOL messages); 0 → 5 min. MeshCentral heartbeats SOL every 2 s.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write; 0 → 30 s.
	WriteTimeout time.Duration
	// Counters, if set, accumulate the KVM sessions' figures.
	Counters *kvmstream.Counters
	Logger   *slog.Logger
}

// Server serves redirection sessions for one host.
type Server struct {
	cfg Config

	mu     sync.Mutex
	nonces *digest.NonceTable
	sol    bool // a SOL session is running
}

// New returns a server.
func New(cfg Config) *Server {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = DefaultAuthTimeout
	}
	if cfg.MaxAuthFailures <= 0 {
		cfg.MaxAuthFailures = DefaultMaxAuthFailures
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, nonces: digest.NewNonceTable(cfg.Rand, 0, 0)}
}

// session is one connection's state.
type session struct {
	s    *Server
	conn net.Conn
	f    *framer
	log  *slog.Logger
}

// Serve runs one redirection session on conn and closes it. It returns nil
// when the console ended the session (EndRedirectionSession, closing), and
// otherwise what went wrong.
func (s *Server) Serve(ctx context.Context, conn net.Conn) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	ss := &session{s: s, conn: conn, f: &framer{conn: conn},
		log: s.cfg.Logger.With("remote", conn.RemoteAddr().String())}
	err := ss.run(ctx)
	if errors.Is(err, io.EOF) {
		err = nil // the console left between messages
	}
	if err != nil {
		ss.log.Info("redirection session ended", "err", err)
	}
	return err
}

func (ss *session) write(m redir.Msg) error {
	if err := ss.conn.SetWriteDeadline(time.Now().Add(ss.s.cfg.WriteTimeout)); err != nil {
		return err
	}
	if _, err := ss.conn.Write(m.Append(nil)); err != nil {
		return fmt.Errorf("redirection: writing %s: %w", m.Opcode(), err)
	}
	return nil
}

func startReply(status uint8) *redir.StartRedirectionSessionReply {
	// Protocol 1.0 and firmware 2.0 as in the switchbox sample; no OEM data.
	return &redir.StartRedirectionSessionReply{Status: status, ProtoMajor: 1, FirmwareMajor: 2}
}

func (ss *session) run(ctx context.Context) error {
	authBy := time.Now().Add(ss.s.cfg.AuthTimeout)
	m, err := ss.f.next(authBy)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	start, ok := m.(*redir.StartRedirectionSession)
	if !ok {
		return fmt.Errorf("redirection: expected StartRedirectionSession (0x10), got %s", m.Opcode())
	}
	hst := ss.s.cfg.Host
	var release func()
	switch start.Type {
	case redir.SessionKVM:
		rel, err := hst.AcquireKVM(fmt.Sprintf("redirection KVM from %s", ss.conn.RemoteAddr()))
		if err != nil {
			status := redir.StartStatusError
			switch {
			case errors.Is(err, host.ErrKVMBusy):
				status = redir.StartStatusBusy
			case !hst.Settings().KVMEnabled:
				status = redir.StartStatusUnsupported
			}
			ss.log.Info("refusing KVM session", "status", status, "reason", err)
			_ = ss.write(startReply(status))
			return fmt.Errorf("%w: KVM: %v", ErrRefused, err)
		}
		release = rel
		defer release()
	case redir.SessionSOL:
		if st := hst.Settings().RedirectionState; st != 32770 && st != 32771 {
			ss.log.Info("refusing SOL session: SOL is disabled", "redirection_state", st)
			_ = ss.write(startReply(redir.StartStatusUnsupported))
			return fmt.Errorf("%w: SOL is disabled (AMT_RedirectionService EnabledState %d)", ErrRefused, st)
		}
		ss.s.mu.Lock()
		busy := ss.s.sol
		ss.s.sol = true
		ss.s.mu.Unlock()
		if busy {
			_ = ss.write(startReply(redir.StartStatusBusy))
			return fmt.Errorf("%w: a SOL session is already active", ErrRefused)
		}
		defer func() {
			ss.s.mu.Lock()
			ss.s.sol = false
			ss.s.mu.Unlock()
		}()
	case redir.SessionIDER:
		_ = ss.write(startReply(redir.StartStatusUnsupported))
		return fmt.Errorf("%w: IDER is not emulated", ErrRefused)
	default:
		_ = ss.write(startReply(redir.StartStatusTypeUnknown))
		return fmt.Errorf("%w: unknown session type %q", ErrRefused, start.Type.String())
	}
	if err := ss.write(startReply(redir.StartStatusSuccess)); err != nil {
		return err
	}
	done, err := ss.authenticate(authBy)
	if errors.Is(err, io.EOF) {
		return nil // the console left
	}
	if done || err != nil {
		return err
	}
	if start.Type == redir.SessionKVM {
		return ss.kvm(ctx)
	}
	return ss.solSession(ctx)
}

// authenticate runs AuthenticateSession until success. done reports that
// the console ended the session.
func (ss *session) authenticate(by time.Time) (done bool, err error) {
	cfg := &ss.s.cfg
	id := cfg.Host.Identity()
	failures := 0
	fail := func(t redir.AuthType, why string) (bool, error) {
		failures++
		ss.log.Info("redirection authentication failed", "type", t, "reason", why, "attempt", failures)
		if failures >= cfg.MaxAuthFailures {
			_ = ss.write(&redir.AuthenticateSessionReply{Status: redir.AuthStatusFailure, Type: t})
			return false, fmt.Errorf("%w after %d attempts: %s", ErrAuthFailed, failures, why)
		}
		return false, nil
	}
	for {
		m, err := ss.f.next(by)
		if err != nil {
			return false, err
		}
		var a *redir.AuthenticateSession
		switch m := m.(type) {
		case *redir.AuthenticateSession:
			a = m
		case *redir.EndRedirectionSession:
			return true, nil
		default:
			return false, fmt.Errorf("redirection: expected AuthenticateSession (0x13) before authentication, got %s", m.Opcode())
		}
		switch a.Type {
		case redir.AuthQuery:
			types := []redir.AuthType{redir.AuthDigest, redir.AuthDigestQop}
			if cfg.AllowPlain {
				types = append([]redir.AuthType{redir.AuthPassword}, types...)
			}
			if err := ss.write(&redir.AuthenticateSessionReply{Status: redir.AuthStatusSuccess, Type: redir.AuthQuery, Types: types}); err != nil {
				return false, err
			}
		case redir.AuthPassword:
			if !cfg.AllowPlain {
				if err := ss.write(&redir.AuthenticateSessionReply{Status: redir.AuthStatusNotSupported, Type: a.Type}); err != nil {
					return false, err
				}
				if _, err := fail(a.Type, "plain authentication is not enabled"); err != nil {
					return false, err
				}
				continue
			}
			if eq(a.User, id.AMTUser) && eq(a.Password, id.AMTPass) {
				return false, ss.write(&redir.AuthenticateSessionReply{Status: redir.AuthStatusSuccess, Type: a.Type})
			}
			if _, err := fail(a.Type, "wrong user or password"); err != nil {
				return false, err
			}
			if err := ss.write(&redir.AuthenticateSessionReply{Status: redir.AuthStatusFailure, Type: a.Type}); err != nil {
				return false, err
			}
		case redir.AuthDigest, redir.AuthDigestQop:
			if a.IsProbe() {
				if err := ss.challenge(a.Type, id.Realm); err != nil {
					return false, err
				}
				continue
			}
			if why := ss.checkDigest(a, id); why != "" {
				if _, err := fail(a.Type, why); err != nil {
					return false, err
				}
				if err := ss.challenge(a.Type, id.Realm); err != nil {
					return false, err
				}
				continue
			}
			ss.log.Debug("redirection authenticated", "user", a.User, "type", a.Type)
			return false, ss.write(&redir.AuthenticateSessionReply{Status: redir.AuthStatusSuccess, Type: a.Type})
		default:
			if err := ss.write(&redir.AuthenticateSessionReply{Status: redir.AuthStatusNotSupported, Type: a.Type}); err != nil {
				return false, err
			}
			if _, err := fail(a.Type, fmt.Sprintf("authentication type %d is not supported", a.Type)); err != nil {
				return false, err
			}
		}
	}
}

// challenge sends a digest challenge with a fresh nonce.
func (ss *session) challenge(t redir.AuthType, realm string) error {
	ss.s.mu.Lock()
	nonce, err := ss.s.nonces.Issue(ss.s.cfg.Clock.Now())
	ss.s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("redirection: issuing a nonce: %w", err)
	}
	r := &redir.AuthenticateSessionReply{Status: redir.AuthStatusFailure, Type: t, Realm: realm, Nonce: nonce}
	if t == redir.AuthDigestQop {
		r.Qop = digest.QOPAuth
	}
	return ss.write(r)
}

// checkDigest verifies a digest with the uri, nc, cnonce and qop as
// received (reference §2.3); it returns why it failed, or "".
func (ss *session) checkDigest(a *redir.AuthenticateSession, id host.Identity) string {
	switch {
	case !eq(a.User, id.AMTUser):
		return fmt.Sprintf("unknown user %q", a.User)
	case a.Realm != id.Realm:
		return fmt.Sprintf("realm %q is not this device's %q", a.Realm, id.Realm)
	case a.Type == redir.AuthDigestQop && a.Qop != digest.QOPAuth:
		return fmt.Sprintf("qop %q; only %q is supported", a.Qop, digest.QOPAuth)
	case !redir.VerifyDigest(a, id.Realm, a.Nonce, id.AMTPass):
		return "wrong digest response (wrong password?)"
	}
	now := ss.s.cfg.Clock.Now()
	ss.s.mu.Lock()
	var st digest.NonceStatus
	if a.Type == redir.AuthDigestQop {
		st = ss.s.nonces.Check(a.Nonce, a.NC, now)
	} else {
		st = ss.s.nonces.CheckNoQOP(a.Nonce, now)
	}
	ss.s.mu.Unlock()
	if st != digest.NonceOK {
		return fmt.Sprintf("nonce %q: %s", a.Nonce, st)
	}
	return ""
}

func eq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
