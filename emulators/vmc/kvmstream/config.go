package kvmstream

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// Dialect selects the conventions of the client population.
type Dialect uint8

const (
	// DialectAMT is RFB as AMT's consoles expect it on 16994: encoding 16
	// ships each tile as one stored deflate block until the client switches
	// compression on with KvmExtCmd 4.
	DialectAMT Dialect = iota
	// DialectStandard is RFC 6143 RFB for stock viewers on 5900: a client
	// listing 16 means ZRLE, which is one zlib stream for the connection, so
	// encoding 16 is always sent deflated.
	DialectStandard
)

// Default timeouts.
const (
	DefaultReadTimeout  = 5 * time.Minute
	DefaultWriteTimeout = 30 * time.Second
)

// Errors that end a session. Protocol errors wrap the codec's *wireerr.Error.
var (
	// ErrNotAllowed ends a session when KVM stops being allowed (the host
	// powered off or KVM was disabled); nothing more is sent.
	ErrNotAllowed = errors.New("kvm: KVM is no longer allowed on this host")
	// ErrAuthFailed is a wrong VNC password.
	ErrAuthFailed = errors.New("rfb: VNC authentication failed")
	// ErrRefused is a handshake refused with a reason (busy, powered off,
	// port disabled).
	ErrRefused = errors.New("rfb: connection refused")
)

// Config configures one session.
type Config struct {
	Host *host.Host
	// Format is the pixel format announced in ServerInit.
	Format  rfb.PixelFormat
	Dialect Dialect
	// ReadTimeout bounds the silence between client messages; 0 → 5 min.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write; a client that stops reading ends the
	// session when it passes. 0 → 30 s.
	WriteTimeout time.Duration
	// Counters, if set, accumulate the session's figures (several sessions
	// may share one).
	Counters *Counters
	Logger   *slog.Logger
}

func (c *Config) defaults() {
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.Counters == nil {
		c.Counters = &Counters{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Counters are a session's figures for benchmarks and metrics.
type Counters struct {
	Updates          atomic.Uint64 // FramebufferUpdate messages sent
	Bytes            atomic.Uint64 // bytes written after the handshake
	RectsRaw         atomic.Uint64
	RectsAMT16       atomic.Uint64
	RectsDesktopSize atomic.Uint64
	Requests         atomic.Uint64 // FramebufferUpdateRequests received
	Inputs           atomic.Uint64 // key and pointer events applied
	EncodeNanos      atomic.Uint64 // time spent taking damage and encoding
}
