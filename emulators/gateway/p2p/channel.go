package p2p

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/flynn/noise"

	"github.com/oobtb/oobtb/emulators/gateway/mux"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/sim/clock"
)

// Suite is the Noise protocol of the channel.
var Suite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2s)

// ProtocolName is the full Noise protocol name.
const ProtocolName = "Noise_KK_25519_ChaChaPoly_BLAKE2s"

const (
	// MaxRecord is the largest Noise message (ciphertext) on the wire.
	MaxRecord = 65535
	// MaxPlaintext is the largest mux frame one record carries.
	MaxPlaintext = MaxRecord - 16
	// MaxReject bounds the reason text of a reject record.
	MaxReject = 512
)

// Key is a static X25519 key pair.
type Key = noise.DHKey

// GenerateKey makes a static key pair from crypto/rand.
func GenerateKey() (Key, error) { return noise.DH25519.GenerateKeypair(rand.Reader) }

// KeyFromPrivate rebuilds a key pair from its 32-byte private half.
func KeyFromPrivate(priv []byte) (Key, error) {
	if len(priv) != 32 {
		return Key{}, fmt.Errorf("p2p: private key is %d bytes, want 32", len(priv))
	}
	return noise.DH25519.GenerateKeypair(constReader(priv))
}

type constReader []byte

func (c constReader) Read(p []byte) (int, error) { return copy(p, c), nil }

// HandshakeError is a failed or refused handshake; Reason is fit for logs
// and session events (never key or token material).
type HandshakeError struct {
	Session gwext.SessionID
	Reason  string
	// Refused is set on the dialler when the gateway sent a reject record
	// (advisory: it is not authenticated).
	Refused bool
}

func (e *HandshakeError) Error() string {
	if e.Refused {
		return fmt.Sprintf("p2p: session %s: gateway refused: %s", e.Session, e.Reason)
	}
	return fmt.Sprintf("p2p: session %s: handshake failed: %s", e.Session, e.Reason)
}

// Conn is an established channel: a mux session over Noise transport
// records.
type Conn struct {
	*mux.Session
	Params Params
	nc     net.Conn
}

// RemoteAddr is the underlying connection's peer (the gateway, or the relay).
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// DialConfig is the console side.
type DialConfig struct {
	Params     Params
	Static     Key
	GatewayKey [32]byte // from the pairing
	// Mux configures the channel; its EarlyData is set from the gateway's
	// capabilities (CapEarlyData), unless NoEarlyData.
	Mux         mux.Config
	NoEarlyData bool
}

// CapEarlyData is bit 0 of the capability byte a gateway sends as Noise
// message 2's payload: its mux accepts DATA right after OPEN (0-RTT open,
// console-gateway.md §3).
const CapEarlyData = 0x01

// Dial runs the initiator side over nc (TCP to the gateway or a relay
// socket). On error nc is closed.
func Dial(ctx context.Context, nc net.Conn, cfg DialConfig) (*Conn, error) {
	c, err := dial(ctx, nc, cfg)
	if err != nil {
		nc.Close()
	}
	return c, err
}

func dial(ctx context.Context, nc net.Conn, cfg DialConfig) (*Conn, error) {
	fail := func(format string, a ...any) error {
		return &HandshakeError{Session: cfg.Params.Session, Reason: fmt.Sprintf(format, a...)}
	}
	pro, err := Prologue(cfg.Params)
	if err != nil {
		return nil, err
	}
	hs, err := noise.NewHandshakeState(noise.Config{CipherSuite: Suite, Pattern: noise.HandshakeKK, Initiator: true,
		Prologue: pro, StaticKeypair: cfg.Static, PeerStatic: cfg.GatewayKey[:]})
	if err != nil {
		return nil, fmt.Errorf("p2p: %w", err)
	}
	stop := deadlineFromContext(ctx, nc)
	defer stop()
	msg1, _, _, err := hs.WriteMessage(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("p2p: %w", err)
	}
	out := EncodePreamble(cfg.Params.Session)
	out = appendRecord(out, msg1)
	if _, err := nc.Write(out); err != nil {
		return nil, fail("send preamble and first message: %v", err)
	}
	br := bufio.NewReaderSize(nc, 4096)
	rec, err := readRecord(br, MaxRecord)
	if err != nil {
		return nil, fail("read the gateway's answer: %v", ctxErr(ctx, err))
	}
	if len(rec) == 0 {
		reason, err := readReject(br)
		if err != nil {
			return nil, fail("read the gateway's reject record: %v", ctxErr(ctx, err))
		}
		return nil, &HandshakeError{Session: cfg.Params.Session, Reason: reason, Refused: true}
	}
	caps, send, recv, err := hs.ReadMessage(nil, rec)
	if err != nil {
		return nil, fail("second message does not authenticate (wrong gateway key, tampered prologue or a man in the middle): %v", err)
	}
	if send == nil || recv == nil {
		return nil, fail("handshake did not complete after two messages")
	}
	// Message 2's payload is the gateway's capability byte (empty from
	// gateways that predate it); early data only goes to one that
	// announced it.
	cfg.Mux.EarlyData = !cfg.NoEarlyData && len(caps) >= 1 && caps[0]&CapEarlyData != 0
	return finish(nc, br, send, recv, cfg.Params, true, cfg.Mux), nil
}

// Expectation is what the gateway knows about a session before a console
// arrives (the expect-console command).
type Expectation struct {
	Params     Params
	ConsoleKey [32]byte
	Expiry     time.Time
}

// AcceptConfig is the gateway side.
type AcceptConfig struct {
	Static Key
	// Lookup resolves the preamble's session; an error is a refusal whose
	// text is sent back as the reason.
	Lookup func(sid gwext.SessionID) (Expectation, error)
	// Claim marks the session used once the handshake succeeded; an error
	// (already used: a replay) refuses the console.
	Claim func(sid gwext.SessionID) error
	Clock clock.Clock
	Mux   mux.Config
}

// Accept runs the responder side over nc. On error nc is closed and, when
// the session was known, the error is a *HandshakeError.
func Accept(ctx context.Context, nc net.Conn, cfg AcceptConfig) (*Conn, error) {
	c, err := accept(ctx, nc, cfg)
	if err != nil {
		nc.Close()
	}
	return c, err
}

func accept(ctx context.Context, nc net.Conn, cfg AcceptConfig) (*Conn, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	stop := deadlineFromContext(ctx, nc)
	defer stop()
	br := bufio.NewReaderSize(nc, 4096)
	pre := make([]byte, PreambleLen)
	if _, err := io.ReadFull(br, pre); err != nil {
		return nil, fmt.Errorf("p2p: read preamble: %w", ctxErr(ctx, err))
	}
	sid, err := DecodePreamble(pre)
	if err != nil {
		return nil, err
	}
	refuse := func(reason string) error {
		_ = writeReject(nc, reason)
		return &HandshakeError{Session: sid, Reason: reason}
	}
	exp, err := cfg.Lookup(sid)
	if err != nil {
		return nil, refuse(err.Error())
	}
	if exp.Params.Session != sid {
		return nil, refuse("session mismatch")
	}
	if now := cfg.Clock.Now(); !now.Before(exp.Expiry) {
		return nil, refuse(fmt.Sprintf("session expired at %s", exp.Expiry.UTC().Format(time.RFC3339)))
	}
	pro, err := Prologue(exp.Params)
	if err != nil {
		return nil, refuse(err.Error())
	}
	hs, err := noise.NewHandshakeState(noise.Config{CipherSuite: Suite, Pattern: noise.HandshakeKK, Initiator: false,
		Prologue: pro, StaticKeypair: cfg.Static, PeerStatic: exp.ConsoleKey[:]})
	if err != nil {
		return nil, refuse("internal error")
	}
	rec, err := readRecord(br, MaxRecord)
	if err != nil {
		return nil, &HandshakeError{Session: sid, Reason: fmt.Sprintf("read first message: %v", ctxErr(ctx, err))}
	}
	if _, _, _, err := hs.ReadMessage(nil, rec); err != nil {
		// Fail closed: the console's static key is not the one the server
		// brokered, or the prologue fields differ.
		return nil, refuse("first message does not authenticate: wrong console key or tampered pairing fields")
	}
	if err := cfg.Claim(sid); err != nil {
		return nil, refuse(err.Error())
	}
	msg2, recv, send, err := hs.WriteMessage(nil, []byte{CapEarlyData})
	if err != nil || recv == nil {
		return nil, refuse("internal error")
	}
	if _, err := nc.Write(appendRecord(nil, msg2)); err != nil {
		return nil, &HandshakeError{Session: sid, Reason: fmt.Sprintf("send second message: %v", err)}
	}
	return finish(nc, br, send, recv, exp.Params, false, cfg.Mux), nil
}

func finish(nc net.Conn, br *bufio.Reader, send, recv *noise.CipherState, p Params, dialer bool, mc mux.Config) *Conn {
	_ = nc.SetDeadline(time.Time{})
	mc.Dialer = dialer
	if !dialer {
		mc.EarlyData = false // the gateway opens no streams to consoles
	}
	mc.MaxFrame = MaxPlaintext
	t := &noiseTransport{nc: nc, br: br, send: send, recv: recv}
	return &Conn{Session: mux.New(t, mc), Params: p, nc: nc}
}

// deadlineFromContext applies ctx's deadline to nc and interrupts blocked
// I/O when ctx is cancelled.
func deadlineFromContext(ctx context.Context, nc net.Conn) (stop func()) {
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	} else {
		_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			_ = nc.SetDeadline(time.Unix(1, 0))
		case <-done:
		}
	}()
	return func() { close(done); wg.Wait() }
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func appendRecord(b, rec []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(rec)))
	return append(b, rec...)
}

func readRecord(r io.Reader, max int) ([]byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(h[:]))
	if n > max {
		return nil, fmt.Errorf("record of %d bytes exceeds %d", n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// writeReject sends a zero-length record then u16 length ‖ reason. No
// Noise message is empty, so the dialler cannot confuse the two.
func writeReject(nc net.Conn, reason string) error {
	if len(reason) > MaxReject {
		reason = reason[:MaxReject]
	}
	b := appendRecord([]byte{0, 0}, []byte(reason))
	_, err := nc.Write(b)
	return err
}

func readReject(r io.Reader) (string, error) {
	b, err := readRecord(r, MaxReject)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// noiseTransport carries one mux frame per Noise transport record.
type noiseTransport struct {
	nc   net.Conn
	br   *bufio.Reader
	send *noise.CipherState
	recv *noise.CipherState
	wbuf []byte
}

func (t *noiseTransport) ReadMsg() ([]byte, error) {
	rec, err := readRecord(t.br, MaxRecord)
	if err != nil {
		return nil, err
	}
	p, err := t.recv.Decrypt(rec[:0], nil, rec)
	if err != nil {
		return nil, fmt.Errorf("p2p: record does not authenticate: %w", err)
	}
	return p, nil
}

func (t *noiseTransport) WriteMsg(p []byte) error {
	if len(p) > MaxPlaintext {
		return fmt.Errorf("p2p: frame of %d bytes exceeds %d", len(p), MaxPlaintext)
	}
	b := append(t.wbuf[:0], 0, 0)
	b, err := t.send.Encrypt(b, nil, p)
	if err != nil {
		return err
	}
	binary.BigEndian.PutUint16(b, uint16(len(b)-2))
	t.wbuf = b[:0]
	_, err = t.nc.Write(b)
	return err
}

func (t *noiseTransport) SetReadDeadline(d time.Time) error  { return t.nc.SetReadDeadline(d) }
func (t *noiseTransport) SetWriteDeadline(d time.Time) error { return t.nc.SetWriteDeadline(d) }
func (t *noiseTransport) Close() error                       { return t.nc.Close() }
