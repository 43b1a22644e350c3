package wsmansrv

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/wire/httpwire"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
	"github.com/oobtb/oobtb/sim/clock"
)

// Defaults for Options fields left zero.
const (
	// DefaultIdleTimeout closes a channel that sends nothing between
	// requests, as AMT closes idle HTTP channels.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultRequestTimeout bounds the time from the first byte of a
	// request to its last.
	DefaultRequestTimeout = 30 * time.Second
	DefaultWriteTimeout   = 30 * time.Second
	// DefaultMaxEnumerations bounds the open enumeration contexts of one
	// device; the oldest is dropped first.
	DefaultMaxEnumerations = 64
	// DefaultEnumerationLifetime is how long an unfinished enumeration
	// context stays valid after its last use.
	DefaultEnumerationLifetime = 5 * time.Minute
	// DefaultAMTVersion is used when the host's identity has none.
	DefaultAMTVersion = "16.1.27"
)

// DefaultLimits bound one request: WS-MAN requests are a few KiB, so a body
// of 256 KiB is generous while keeping a hostile peer's cost small.
var DefaultLimits = httpwire.Limits{MaxLineBytes: 8 << 10, MaxHeaderBytes: 32 << 10, MaxHeaders: 64,
	MaxBodyBytes: 256 << 10, MaxChunks: 1024}

// Options configure a Server. The zero value works: the policy configuration
// is then held by the Server itself. Policy and SetPolicy are called with the
// Server's lock held (so a read-modify-write of the configuration is atomic
// for WS-MAN clients); they must not call back into the Server.
type Options struct {
	// Policy returns the device's remote-access configuration, which the
	// §4.1 classes expose. Nil: the Server keeps its own copy, starting
	// empty.
	Policy func() policy.Config
	// SetPolicy applies a configuration changed over WS-MAN (AddMpServer,
	// AddRemoteAccessPolicyRule, Put of AppliesToMPS or of the environment
	// detection settings, UIC RequestStateChange). It is called with a
	// configuration that already passed policy.Config.Validate; an error
	// refuses the change. Nil: the Server's own copy is updated.
	SetPolicy func(policy.Config) error

	// Clock dates nonces, answers GetLowAccuracyTimeSynch and the Date
	// header; nil → the wall clock. Socket deadlines always use the wall
	// clock, as net.Conn requires.
	Clock clock.Clock
	// Rand draws nonces; nil → crypto/rand.
	Rand io.Reader
	// NonceLifetime is how long a nonce is accepted; 0 → the digest
	// package's default (15 min).
	NonceLifetime time.Duration

	IdleTimeout    time.Duration // 0 → DefaultIdleTimeout
	RequestTimeout time.Duration // 0 → DefaultRequestTimeout
	WriteTimeout   time.Duration // 0 → DefaultWriteTimeout
	// Limits bound each request; zero fields take DefaultLimits.
	Limits httpwire.Limits

	MaxEnumerations     int           // 0 → DefaultMaxEnumerations
	EnumerationLifetime time.Duration // 0 → DefaultEnumerationLifetime

	Logger *slog.Logger
}

// Server is the WS-MAN service of one device. Serve may run on many
// channels at once; requests are executed one at a time per device.
type Server struct {
	h   *host.Host
	o   Options
	clk clock.Clock
	log *slog.Logger

	mu         sync.Mutex
	auth       *authState
	ids        wsman.MessageIDs
	enums      *enumerations
	timeOffset time.Duration // added to the clock by SetHighAccuracyTimeSynch
	pol        policy.Config // used when Options.Policy is nil
	boot       bootState
	tls        *tlsMaterial
}

// New returns the WS-MAN server of h.
func New(h *host.Host, opts Options) *Server {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.MaxEnumerations <= 0 {
		opts.MaxEnumerations = DefaultMaxEnumerations
	}
	if opts.EnumerationLifetime <= 0 {
		opts.EnumerationLifetime = DefaultEnumerationLifetime
	}
	opts.Limits = fillLimits(opts.Limits)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{h: h, o: opts, clk: opts.Clock, log: opts.Logger,
		enums: newEnumerations(opts.MaxEnumerations, opts.EnumerationLifetime),
		boot:  defaultBootState(),
		// A device without a configuration: nothing set up, UIC off.
		pol: policy.Config{UIC: policy.UICDisabled}}
	s.auth = newAuthState(opts.Rand, opts.NonceLifetime)
	return s
}

func fillLimits(l httpwire.Limits) httpwire.Limits {
	d := DefaultLimits
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = d.MaxLineBytes
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = d.MaxHeaders
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	if l.MaxChunks <= 0 {
		l.MaxChunks = d.MaxChunks
	}
	return l
}

// identity is the host's identity with the defaults the wire needs filled in.
func (s *Server) identity() host.Identity {
	id := s.h.Identity()
	if id.AMTVersion == "" {
		id.AMTVersion = DefaultAMTVersion
	}
	if id.Realm == "" {
		// The same derivation as vmc.RealmFor, so a host built without a
		// realm still gets a stable, well-formed one.
		sum := md5.Sum([]byte("oobtb-realm:" + strings.ToLower(id.UUID)))
		id.Realm = "Digest:" + strings.ToUpper(hex.EncodeToString(sum[:]))
	}
	return id
}

// Errors a channel ends with.
var (
	// ErrUnauthorized: the channel was closed after a 401, as AMT does.
	ErrUnauthorized = errors.New("wsman: closed after 401 Unauthorized")
	// ErrBadRequest: the channel carried bytes that are not an HTTP request
	// within the limits; it was answered 400 and closed.
	ErrBadRequest = errors.New("wsman: malformed HTTP request")
	// ErrIdle: the channel was idle for IdleTimeout and was closed.
	ErrIdle = errors.New("wsman: idle channel closed")
	// ErrTruncated: the peer closed the channel in the middle of a request.
	ErrTruncated = errors.New("wsman: channel closed in the middle of a request")
)

// Serve answers the HTTP requests of one channel, in order, and closes it.
// It returns nil when the peer closed the channel between requests, and
// otherwise why the channel ended (ErrUnauthorized, ErrBadRequest, ErrIdle,
// ErrTruncated or an I/O error).
func (s *Server) Serve(ch net.Conn) error {
	defer ch.Close()
	c := &channel{s: s, conn: ch, buf: make([]byte, 0, 4096)}
	err := c.run()
	switch {
	case err == nil || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrIdle):
		// The normal ends of a channel: every client's first request draws
		// a 401, and servers leave channels to time out.
		s.log.Debug("WS-MAN channel ended", "remote", ch.RemoteAddr().String(), "err", err)
	default:
		s.log.Info("WS-MAN channel ended", "remote", ch.RemoteAddr().String(), "err", err)
	}
	return err
}

// channel is the state of one APF channel.
type channel struct {
	s    *Server
	conn net.Conn
	buf  []byte // unparsed bytes
	out  []byte // response scratch, reused
	read []byte // read scratch
}

func (c *channel) run() error {
	s := c.s
	c.read = make([]byte, 4096)
	for {
		req, n, err := httpwire.ParseRequest(c.buf, s.o.Limits)
		if err == nil {
			rest := copy(c.buf, c.buf[n:])
			c.buf = c.buf[:rest]
			done, err := c.handle(req)
			if done || err != nil {
				return err
			}
			continue
		}
		if !errors.Is(err, wireerr.ErrShort) {
			return c.badRequest(err)
		}
		// Wait for more: the idle timeout between requests, the request
		// timeout inside one.
		timeout := s.o.RequestTimeout
		if len(c.buf) == 0 {
			timeout = s.o.IdleTimeout
		}
		var k int
		rerr := c.conn.SetReadDeadline(time.Now().Add(timeout))
		if rerr == nil {
			k, rerr = c.conn.Read(c.read)
			c.buf = append(c.buf, c.read[:k]...)
			if k > 0 || rerr == nil {
				continue // parse before looking at the error
			}
		}
		var ne net.Error
		switch {
		case errors.As(rerr, &ne) && ne.Timeout():
			if len(c.buf) == 0 {
				return ErrIdle
			}
			return fmt.Errorf("%w: no complete request within %v (%d bytes received)", ErrTruncated, timeout, len(c.buf))
		case errors.Is(rerr, io.EOF) || errors.Is(rerr, net.ErrClosed) || errors.Is(rerr, io.ErrClosedPipe):
			if len(c.buf) == 0 {
				return nil
			}
			return fmt.Errorf("%w (%d bytes of an incomplete request: %v)", ErrTruncated, len(c.buf), err)
		default:
			return rerr
		}
	}
}

// badRequest answers bytes that are not a request with a plain 400 naming the
// problem, then closes: the stream cannot be resynchronised.
func (c *channel) badRequest(perr error) error {
	id := c.s.identity()
	body := []byte("400 Bad Request: " + perr.Error() + "\n")
	r := &httpwire.Response{Version: "HTTP/1.1", StatusCode: 400, Reason: httpwire.StatusText(400), Body: body}
	r.Header.Add("Content-Type", "text/plain")
	r.Header.Add("Server", httpwire.ServerHeader(id.AMTVersion))
	r.Header.Add("Connection", "close")
	_ = c.write(httpwire.AppendResponse(c.out[:0], r))
	return fmt.Errorf("%w: %v", ErrBadRequest, perr)
}

func (c *channel) write(b []byte) error {
	c.out = b
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.s.o.WriteTimeout)); err != nil {
		return err
	}
	if _, err := c.conn.Write(b); err != nil {
		return fmt.Errorf("wsman: writing response: %w", err)
	}
	return nil
}

// handle answers one request; done reports that the channel must close.
func (c *channel) handle(req *httpwire.Request) (done bool, err error) {
	s := c.s
	id := s.identity()
	now := s.clk.Now()
	if ok, challenge := s.auth.check(req, id, now); !ok {
		if err := c.write(httpwire.AppendResponse(c.out[:0], httpwire.Unauthorized(id.AMTVersion, challenge))); err != nil {
			return true, err
		}
		return true, ErrUnauthorized
	}
	var status int
	var body []byte
	switch {
	case req.Method != "POST":
		status, body = 405, nil
	case req.Target != "/wsman" && !strings.HasPrefix(req.Target, "/wsman?"):
		status, body = 404, nil
	default:
		status, body = s.dispatch(req.Body, now)
	}
	if body == nil {
		r := &httpwire.Response{Version: "HTTP/1.1", StatusCode: status, Reason: httpwire.StatusText(status), Chunked: true}
		r.Header.Add("Server", httpwire.ServerHeader(id.AMTVersion))
		r.Header.Add("Content-Type", "text/plain")
		r.Header.Add("Transfer-Encoding", "chunked")
		r.Body = []byte(fmt.Sprintf("%d %s: %s %s is not served; WS-MAN is POST /wsman\n", status, httpwire.StatusText(status), req.Method, req.Target))
		return req.Close(), c.write(httpwire.AppendResponse(c.out[:0], r))
	}
	resp := httpwire.SOAPResponse(status, id.AMTVersion, s.amtNow(), body)
	if err := c.write(httpwire.AppendResponse(c.out[:0], resp)); err != nil {
		return true, err
	}
	return req.Close(), nil
}
