package vmctest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/kvmstream/kvmtest"
	"github.com/oobtb/oobtb/emulators/wire/redir"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// RedirConsole is the console side of AMT's redirection protocol on one
// connection (normally an APF channel to 16994): what MeshCentral and the DMT
// console send before the KVM stream turns into RFB.
type RedirConsole struct {
	Conn    net.Conn
	Timeout time.Duration // per read; 0 → 10 s
	buf     []byte
}

// Send writes one redirection message.
func (c *RedirConsole) Send(m redir.Msg) error {
	_, err := c.Conn.Write(m.Append(nil))
	return err
}

// Recv reads one message from AMT.
func (c *RedirConsole) Recv() (redir.Msg, error) {
	to := c.Timeout
	if to <= 0 {
		to = 10 * time.Second
	}
	for {
		if len(c.buf) > 0 {
			m, n, err := redir.Decode(c.buf, redir.FromAMT)
			if err == nil {
				c.buf = c.buf[n:]
				return m, nil
			}
			if !errors.Is(err, redir.ErrShort) {
				return nil, err
			}
		}
		var tmp [4096]byte
		_ = c.Conn.SetReadDeadline(time.Now().Add(to))
		n, err := c.Conn.Read(tmp[:])
		c.buf = append(c.buf, tmp[:n]...)
		if err != nil && n == 0 {
			return nil, err
		}
	}
}

// Start sends StartRedirectionSession and returns AMT's reply.
func (c *RedirConsole) Start(t redir.SessionType) (*redir.StartRedirectionSessionReply, error) {
	if err := c.Send(redir.NewStart(t)); err != nil {
		return nil, err
	}
	m, err := c.Recv()
	if err != nil {
		return nil, fmt.Errorf("StartRedirectionSessionReply: %w", err)
	}
	r, ok := m.(*redir.StartRedirectionSessionReply)
	if !ok {
		return nil, fmt.Errorf("expected StartRedirectionSessionReply, got %T", m)
	}
	return r, nil
}

// DigestLogin runs the auth query, the digest challenge and the answer with
// qop=auth, and returns AMT's final reply.
func (c *RedirConsole) DigestLogin(user, password string) (*redir.AuthenticateSessionReply, error) {
	if err := c.Send(&redir.AuthenticateSession{Type: redir.AuthQuery}); err != nil {
		return nil, err
	}
	if _, err := c.authReply(); err != nil {
		return nil, fmt.Errorf("auth query: %w", err)
	}
	if err := c.Send(&redir.AuthenticateSession{Type: redir.AuthDigestQop, User: user, URI: redir.RedirectionURI}); err != nil {
		return nil, err
	}
	ch, err := c.authReply()
	if err != nil {
		return nil, fmt.Errorf("digest challenge: %w", err)
	}
	if !ch.IsChallenge() {
		return nil, fmt.Errorf("expected a digest challenge, got status %d", ch.Status)
	}
	const nc, cnonce = "00000001", "0a1b2c3d4e"
	resp := redir.DigestResponse(user, ch.Realm, password, ch.Nonce, nc, cnonce, "auth", redir.RedirectionURI)
	if err := c.Send(&redir.AuthenticateSession{Type: redir.AuthDigestQop, User: user, Realm: ch.Realm, Nonce: ch.Nonce,
		URI: redir.RedirectionURI, CNonce: cnonce, NC: nc, Response: resp, Qop: "auth"}); err != nil {
		return nil, err
	}
	return c.authReply()
}

func (c *RedirConsole) authReply() (*redir.AuthenticateSessionReply, error) {
	m, err := c.Recv()
	if err != nil {
		return nil, err
	}
	r, ok := m.(*redir.AuthenticateSessionReply)
	if !ok {
		return nil, fmt.Errorf("expected AuthenticateSessionReply, got %T", m)
	}
	return r, nil
}

// OpenKVM runs a console's whole KVM opening on conn: session start, digest,
// KVM start, AMT's RFB handshake, and the consoles' SetEncodings. It returns
// an RFB client ready for update requests.
func OpenKVM(conn net.Conn, user, password string) (*kvmtest.Client, rfb.ServerInit, error) {
	c := &RedirConsole{Conn: conn}
	r, err := c.Start(redir.SessionKVM)
	if err != nil {
		return nil, rfb.ServerInit{}, err
	}
	if r.Status != redir.StartStatusSuccess {
		return nil, rfb.ServerInit{}, fmt.Errorf("KVM session refused: status %d", r.Status)
	}
	a, err := c.DigestLogin(user, password)
	if err != nil {
		return nil, rfb.ServerInit{}, err
	}
	if a.Status != redir.AuthStatusSuccess {
		return nil, rfb.ServerInit{}, fmt.Errorf("KVM authentication failed: status %d", a.Status)
	}
	if err := c.Send(&redir.KVMStart{}); err != nil {
		return nil, rfb.ServerInit{}, err
	}
	if len(c.buf) != 0 {
		return nil, rfb.ServerInit{}, fmt.Errorf("%d unexpected bytes before the KVM start reply", len(c.buf))
	}
	var kr [8]byte
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(conn, kr[:]); err != nil {
		return nil, rfb.ServerInit{}, fmt.Errorf("KVM start reply: %w", err)
	}
	if kr[0] != 0x41 {
		return nil, rfb.ServerInit{}, fmt.Errorf("KVM start reply: expected opcode 0x41, got %#x", kr[0])
	}
	_, si, err := kvmtest.AMTHandshake(conn)
	if err != nil {
		return nil, si, err
	}
	cl, err := kvmtest.NewClient(conn, si.Format, int(si.Width), int(si.Height))
	if err != nil {
		return nil, si, err
	}
	if err := cl.Send(&rfb.SetEncodings{Encodings: rfb.AMTConsoleEncodings}); err != nil {
		return nil, si, err
	}
	return cl, si, nil
}
