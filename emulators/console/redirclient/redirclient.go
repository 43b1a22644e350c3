// Package redirclient is the console side of Intel AMT's redirection session
// manager (reference §2.2–§2.3): StartRedirectionSession, the authentication
// query, the digest probe and the digest response, as MeshCentral and the DMT
// console perform them. KVM (package kvmclient) and SOL (package solclient)
// run on the stream it returns.
//
// The handshake works both directly against a device, where the digest is
// checked against Credentials, and through a web relay that injects the
// device's credentials itself (reference §2.1): the relay replaces the
// console's digest messages, so the console's own credentials may be empty or
// wrong and the session still succeeds.
package redirclient

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/redir"
)

// DefaultTimeout bounds each read of the handshake.
const DefaultTimeout = 30 * time.Second

// Errors a handshake ends with; test with errors.Is.
var (
	// ErrBusy is StartRedirectionSessionReply status 2.
	ErrBusy = errors.New("a KVM session is already active on this device")
	// ErrRefused is any other non-zero start status.
	ErrRefused = errors.New("the device refused the redirection session")
	// ErrAuth is an authentication failure.
	ErrAuth = errors.New("redirection authentication failed")
)

// Credentials are the device's AMT user and password. Through a relay that
// injects credentials they may be empty.
type Credentials struct {
	User, Password string
}

// Info is what the device said while the session opened.
type Info struct {
	Start    redir.StartRedirectionSessionReply
	Types    []redir.AuthType // offered by the query reply
	AuthType redir.AuthType   // the one used
	Realm    string
}

// Conn is the redirection stream after the handshake: bytes that arrived
// with the last handshake message are returned by Read before the socket's.
type Conn struct {
	net.Conn
	pre []byte
}

// Read drains the bytes left over from the handshake first.
func (c *Conn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		if len(c.pre) == 0 {
			c.pre = nil
		}
		return n, nil
	}
	return c.Conn.Read(b)
}

// Buffered is the number of leftover handshake bytes not yet read.
func (c *Conn) Buffered() int { return len(c.pre) }

// Reader cuts redirection messages from a stream with a deadline per read.
type Reader struct {
	conn    net.Conn
	buf     []byte
	timeout time.Duration
}

// NewReader returns a message reader on conn; timeout ≤ 0 → DefaultTimeout.
func NewReader(conn net.Conn, timeout time.Duration) *Reader {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Reader{conn: conn, timeout: timeout}
}

// Next reads one message travelling from AMT.
func (r *Reader) Next() (redir.Msg, error) {
	var tmp [4096]byte
	for {
		if len(r.buf) > 0 {
			m, n, err := redir.Decode(r.buf, redir.FromAMT)
			if err == nil {
				r.buf = r.buf[n:]
				return m, nil
			}
			if !errors.Is(err, redir.ErrShort) {
				return nil, fmt.Errorf("redirection: from the device: %w", err)
			}
		}
		// A connection closed by the peer refuses the deadline (net.Pipe)
		// as well as the read: report either as the read's failure.
		n, err := 0, r.conn.SetReadDeadline(time.Now().Add(r.timeout))
		if err == nil {
			n, err = r.conn.Read(tmp[:])
		}
		r.buf = append(r.buf, tmp[:n]...)
		if err != nil && n == 0 {
			if len(r.buf) > 0 {
				return nil, fmt.Errorf("redirection: connection ended inside a message (%d bytes pending, opcode %#02x): %w", len(r.buf), r.buf[0], err)
			}
			return nil, fmt.Errorf("redirection: reading from the device: %w", err)
		}
	}
}

// Rest returns the unread bytes and forgets them.
func (r *Reader) Rest() []byte {
	b := r.buf
	r.buf = nil
	return b
}

func write(conn net.Conn, timeout time.Duration, m redir.Msg) error {
	if err := conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := conn.Write(m.Append(nil)); err != nil {
		return fmt.Errorf("redirection: sending %s: %w", m.Opcode(), err)
	}
	return nil
}

// Options tune a handshake.
type Options struct {
	// Timeout bounds each read; ≤ 0 → DefaultTimeout.
	Timeout time.Duration
	// Pipeline sends StartRedirectionSession, the authentication query and
	// the digest probe (type 4, the type every AMT since 3.0 offers) in one
	// flight instead of one message per round trip, then reads the replies
	// in order. AMT and the vMC read console messages from a stream one
	// after the other, and the relays' interceptors parse them one by one,
	// so the device sees the sequence a console would have sent; only the
	// waits between them are gone. If the device turns out not to offer
	// type 4, its answer to the early probe is read and dropped and the
	// handshake goes on with the type it offers (costing one failed
	// attempt of the device's allowance, usually 3).
	Pipeline bool
	// Then is sent in the same flight as the last authentication message
	// (the digest response, or the password), before the device's verdict:
	// the session's first bytes (kvmclient's KVM start and RFB opening).
	// Only for a stream that reaches the device end to end: a relay's
	// interceptor parses console bytes as redirection messages until the
	// device accepted. If authentication fails the device reads these
	// bytes as a protocol error and closes; Open still reports ErrAuth.
	// Then is not sent when the handshake fails before its last message.
	Then []byte
}

// Open starts a session of type t on conn and authenticates (reference §2.3
// steps 1–6), one message per round trip as the stock consoles do. On
// success it returns conn wrapped so that bytes that came after the
// authentication reply are read first. It does not close conn.
func Open(conn net.Conn, t redir.SessionType, cred Credentials, timeout time.Duration) (*Conn, Info, error) {
	return OpenWith(conn, t, cred, Options{Timeout: timeout})
}

// OpenWith is Open with options (pipelining).
func OpenWith(conn net.Conn, t redir.SessionType, cred Credentials, o Options) (*Conn, Info, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var info Info
	r := NewReader(conn, timeout)
	defer conn.SetDeadline(time.Time{})

	// The early probe, when pipelining: a digest with an empty realm asks
	// for the challenge.
	var early *redir.AuthenticateSession
	if o.Pipeline {
		early = &redir.AuthenticateSession{Type: redir.AuthDigestQop, User: cred.User, URI: redir.RedirectionURI}
		flight := redir.NewStart(t).Append(nil)
		flight = (&redir.AuthenticateSession{Type: redir.AuthQuery}).Append(flight)
		flight = early.Append(flight)
		if err := conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
			return nil, info, err
		}
		if _, err := conn.Write(flight); err != nil {
			return nil, info, fmt.Errorf("redirection: sending StartRedirectionSession, the query and the digest probe: %w", err)
		}
	} else if err := write(conn, timeout, redir.NewStart(t)); err != nil {
		return nil, info, err
	}
	m, err := r.Next()
	if err != nil {
		return nil, info, fmt.Errorf("redirection: waiting for StartRedirectionSessionReply: %w", err)
	}
	sr, ok := m.(*redir.StartRedirectionSessionReply)
	if !ok {
		return nil, info, fmt.Errorf("redirection: expected StartRedirectionSessionReply (0x11), got %s", m.Opcode())
	}
	info.Start = *sr
	if err := startStatusErr(t, sr.Status); err != nil {
		return nil, info, err
	}

	if early == nil {
		if err := write(conn, timeout, &redir.AuthenticateSession{Type: redir.AuthQuery}); err != nil {
			return nil, info, err
		}
	}
	q, err := authReply(r, "the authentication query")
	if err != nil {
		return nil, info, err
	}
	if q.Status != redir.AuthStatusSuccess {
		return nil, info, fmt.Errorf("%w: the query was answered with status %d", ErrAuth, q.Status)
	}
	info.Types = q.Types
	switch {
	case slices.Contains(q.Types, redir.AuthDigestQop):
		info.AuthType = redir.AuthDigestQop
	case slices.Contains(q.Types, redir.AuthDigest):
		info.AuthType = redir.AuthDigest
	case slices.Contains(q.Types, redir.AuthPassword):
		info.AuthType = redir.AuthPassword
	default:
		return nil, info, fmt.Errorf("%w: the device offers authentication types %v; expected digest (3 or 4) or password (1)", ErrAuth, q.Types)
	}
	var earlyReply *redir.AuthenticateSessionReply
	if early != nil {
		// The device answers the early probe whatever it offers: a
		// challenge when type 4 is offered, else "not supported", which
		// is dropped.
		if earlyReply, err = authReply(r, "the digest probe"); err != nil {
			return nil, info, err
		}
		if info.AuthType != early.Type {
			earlyReply = nil
		}
	}

	var final *redir.AuthenticateSessionReply
	if info.AuthType == redir.AuthPassword {
		if err := writeThen(conn, timeout, &redir.AuthenticateSession{Type: redir.AuthPassword, User: cred.User, Password: cred.Password}, o.Then); err != nil {
			return nil, info, err
		}
		if final, err = authReply(r, "the password"); err != nil {
			return nil, info, err
		}
	} else {
		ch := earlyReply
		if ch == nil {
			probe := &redir.AuthenticateSession{Type: info.AuthType, User: cred.User, URI: redir.RedirectionURI}
			if err := write(conn, timeout, probe); err != nil {
				return nil, info, err
			}
			if ch, err = authReply(r, "the digest probe"); err != nil {
				return nil, info, err
			}
		}
		if ch.Status == redir.AuthStatusSuccess {
			final = ch // a device that needs no challenge
			if len(o.Then) > 0 {
				if err := conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
					return nil, info, err
				}
				if _, err := conn.Write(o.Then); err != nil {
					return nil, info, fmt.Errorf("redirection: sending the session's first bytes: %w", err)
				}
			}
		} else {
			if !ch.IsChallenge() {
				return nil, info, fmt.Errorf("%w: expected a digest challenge (status 1 with realm and nonce) after the probe, got status %d", ErrAuth, ch.Status)
			}
			info.Realm = ch.Realm
			var cb [5]byte
			if _, err := rand.Read(cb[:]); err != nil {
				return nil, info, err
			}
			d := &redir.AuthenticateSession{Type: info.AuthType, User: cred.User, Realm: ch.Realm, Nonce: ch.Nonce,
				URI: redir.RedirectionURI, CNonce: hex.EncodeToString(cb[:]), NC: "00000001", Qop: ch.Qop}
			if info.AuthType == redir.AuthDigestQop && d.Qop == "" {
				d.Qop = "auth"
			}
			if info.AuthType == redir.AuthDigest {
				d.CNonce, d.NC, d.Qop = "", "", ""
			}
			d.Response = redir.DigestResponse(cred.User, ch.Realm, cred.Password, ch.Nonce, d.NC, d.CNonce, d.Qop, d.URI)
			if err := writeThen(conn, timeout, d, o.Then); err != nil {
				return nil, info, err
			}
			if final, err = authReply(r, "the digest response"); err != nil {
				return nil, info, err
			}
		}
	}
	if final.Status != redir.AuthStatusSuccess {
		return nil, info, fmt.Errorf("%w: the device rejected user %q (status %d); check the AMT user and password", ErrAuth, cred.User, final.Status)
	}
	return &Conn{Conn: conn, pre: r.Rest()}, info, nil
}

// writeThen writes m and then in one write.
func writeThen(conn net.Conn, timeout time.Duration, m redir.Msg, then []byte) error {
	if err := conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := conn.Write(append(m.Append(nil), then...)); err != nil {
		return fmt.Errorf("redirection: sending %s: %w", m.Opcode(), err)
	}
	return nil
}

func authReply(r *Reader, after string) (*redir.AuthenticateSessionReply, error) {
	m, err := r.Next()
	if err != nil {
		return nil, fmt.Errorf("redirection: waiting for the reply to %s: %w", after, err)
	}
	a, ok := m.(*redir.AuthenticateSessionReply)
	if !ok {
		return nil, fmt.Errorf("redirection: expected AuthenticateSessionReply (0x14) after %s, got %s", after, m.Opcode())
	}
	return a, nil
}

func startStatusErr(t redir.SessionType, st uint8) error {
	switch st {
	case redir.StartStatusSuccess:
		return nil
	case redir.StartStatusBusy:
		if t == redir.SessionKVM {
			return fmt.Errorf("%w (StartRedirectionSessionReply status 2, busy)", ErrBusy)
		}
		return fmt.Errorf("%w: a %s session is already active (status 2, busy)", ErrRefused, t)
	case redir.StartStatusTypeUnknown:
		return fmt.Errorf("%w: session type %q unknown (status 1)", ErrRefused, t)
	case redir.StartStatusUnsupported:
		return fmt.Errorf("%w: %s unsupported or disabled on the device (status 3)", ErrRefused, t)
	case redir.StartStatusError:
		return fmt.Errorf("%w: status 0xFF (error): the host may be powered off, or %s disabled", ErrRefused, t)
	default:
		return fmt.Errorf("%w: status %d", ErrRefused, st)
	}
}

// WithPrefix wraps conn so that Read returns pre before the socket's bytes;
// used when a later stage (KVM start, SOL start) read past its message.
func WithPrefix(conn net.Conn, pre []byte) *Conn {
	if c, ok := conn.(*Conn); ok && len(c.pre) == 0 {
		return &Conn{Conn: c.Conn, pre: pre}
	}
	return &Conn{Conn: conn, pre: pre}
}
