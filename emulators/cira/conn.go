package cira

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/sim/clock"
)

// Role says which side of the tunnel a Conn plays.
type Role int

const (
	RoleDevice Role = iota // AMT: TLS client, forwards ports, accepts channels
	RoleServer             // MPS: authenticates, opens channels
)

func (r Role) String() string { return [...]string{"device", "server"}[r] }

// Config configures a Conn. Device or Server must be set to match the role.
type Config struct {
	Device *DeviceConfig
	Server *ServerConfig

	// Clock drives the session's timers (handshake bound, keep-alives,
	// idle timeout); nil → clock.Real. Socket and Channel deadlines are
	// wall-clock times, as net.Conn defines them.
	Clock  clock.Clock
	Logger *slog.Logger // nil → discard

	// Window is the receive window advertised per channel; 0 → 32768.
	Window uint32
	// MaxChunk bounds each CHANNEL_DATA payload; 0 → 4087 so every message
	// fits the DMT console's 4096-byte single read.
	MaxChunk int
	// MaxChannels bounds simultaneously open channels; 0 → 64.
	MaxChannels int
	// HandshakeTimeout bounds the time to EventReady (device) or to
	// authentication (server); 0 → 30 s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each write to the peer; a peer that stops reading
	// is cut off after it. 0 → 30 s. The server role keeps one socket
	// deadline for several writes (see lazyDeadlineSpan): there a write is
	// cut off after between WriteTimeout and 3×WriteTimeout.
	WriteTimeout time.Duration
	// ReadTimeout bounds each read; 0 → 3 keep-alive intervals (device) or
	// the idle timeout + 5 s (server). In the server role, whose idle
	// timer enforces the idle timeout exactly, it is a backstop kept lazily:
	// a silent peer's read ends after between ReadTimeout and 3×ReadTimeout.
	ReadTimeout time.Duration

	// Verify checks CIRA credentials (server role). Required for servers.
	Verify func(ctx context.Context, req EventAuthRequest) bool
	// AcceptChannel decides on a CHANNEL_OPEN from the peer; nil refuses
	// every open with reason 3 (unknown channel type), as stock MPSes do.
	AcceptChannel func(open *apf.ChannelOpen) (bool, apf.OpenFailureReason)
	// ServeChannel runs in its own goroutine for each accepted channel; the
	// channel is closed when it returns.
	ServeChannel func(ch *Channel)
	// OnEvent receives session events in the reader goroutine; it must not
	// block for long.
	OnEvent func(c *Conn, ev Event)
}

// Conn is one APF tunnel.
type Conn struct {
	cfg  Config
	role Role
	nc   net.Conn
	clk  clock.Clock
	log  *slog.Logger

	wmu  sync.Mutex // one APF message per Write, in order
	wbuf []byte
	wdl  time.Time // the socket's write deadline (wmu)
	rdl  time.Time // the socket's read deadline (reader only)
	lazy bool      // lazy socket deadlines (server role)

	mu       sync.Mutex
	dev      *deviceSession
	srv      *serverSession
	channels map[uint32]*Channel
	nextID   uint32
	opens    map[uint32]pendingOpen
	replies  []chan bool
	timer    clock.Timer
	err      error
	stats    Stats

	framer *apf.Framer
	ready  chan struct{}
	done   chan struct{}
	// live counts the tunnel's goroutines (the reader and channel servers);
	// the last to end closes done. A counter instead of a WaitGroup plus a
	// waiting goroutine: an idle tunnel then costs one goroutine, not two.
	live atomic.Int32
	once sync.Once
}

// Stats counts a tunnel's traffic.
type Stats struct {
	MessagesIn, MessagesOut uint64
	BytesIn, BytesOut       uint64 // channel payload bytes
	ChannelsOpened          uint64
}

type pendingOpen struct {
	res  chan openResult
	port uint32
}

type openResult struct {
	ch  *Channel
	err error
}

// ErrClosed is returned by operations on a closed tunnel.
var ErrClosed = errors.New("cira: tunnel closed")

// New starts a tunnel over nc (already TLS-wrapped if it should be). The
// device role sends its opening messages at once. Close, or the peer, ends
// it; Done is closed when every goroutine it started has returned.
func New(nc net.Conn, role Role, cfg Config) (*Conn, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Window == 0 {
		cfg.Window = 32768
	}
	if cfg.MaxChunk <= 0 {
		cfg.MaxChunk = apf.ConsoleMaxData
	}
	if cfg.MaxChannels <= 0 {
		cfg.MaxChannels = 64
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	c := &Conn{cfg: cfg, role: role, nc: nc, clk: cfg.Clock, log: cfg.Logger, lazy: role == RoleServer,
		channels: map[uint32]*Channel{}, opens: map[uint32]pendingOpen{},
		ready: make(chan struct{}), done: make(chan struct{}), nextID: 1,
		framer: apf.NewFramer(apf.FramerOptions{})}
	now := c.clk.Now()
	var first []apf.Message
	switch role {
	case RoleDevice:
		if cfg.Device == nil {
			return nil, errors.New("cira: device role needs Config.Device")
		}
		c.dev = newDeviceSession(*cfg.Device)
		if c.cfg.ReadTimeout <= 0 {
			c.cfg.ReadTimeout = 3*c.dev.cfg.KeepaliveInterval + 10*time.Second
		}
		first = c.dev.start(now)
	case RoleServer:
		if cfg.Server == nil || cfg.Verify == nil {
			return nil, errors.New("cira: server role needs Config.Server and Config.Verify")
		}
		c.srv = newServerSession(*cfg.Server, now)
		if c.cfg.ReadTimeout <= 0 {
			c.cfg.ReadTimeout = c.srv.cfg.IdleTimeout + 5*time.Second
		}
	default:
		return nil, fmt.Errorf("cira: unknown role %d", role)
	}
	c.mu.Lock()
	// One timer for the tunnel's life: the handshake bound first, then the
	// session's schedule by Reset — no new timer per keep-alive or idle check.
	c.timer = c.clk.AfterFunc(cfg.HandshakeTimeout, c.timerFired)
	c.mu.Unlock()
	if err := c.send(first...); err != nil {
		c.timer.Stop()
		return nil, err
	}
	c.enter()
	go c.readLoop()
	return c, nil
}

// enter counts a goroutine of the tunnel. It is called only by the reader
// (or New before the reader starts), so the count cannot reach zero early.
func (c *Conn) enter() { c.live.Add(1) }

// leave ends a counted goroutine; the last one closes done.
func (c *Conn) leave() {
	if c.live.Add(-1) == 0 {
		close(c.done)
	}
}

// Ready is closed once the tunnel is usable: every port forwarded (device) or
// the device authenticated (server).
func (c *Conn) Ready() <-chan struct{} { return c.ready }

// Done is closed when the tunnel and all its goroutines have ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the tunnel ended (nil while it runs; io.EOF for a clean close by
// the peer).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Role is this side's role.
func (c *Conn) Role() Role { return c.role }

// RemoteAddr is the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// PeerVersion is the device's PROTOCOL_VERSION (server role).
func (c *Conn) PeerVersion() (apf.ProtocolVersion, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv == nil || !c.srv.gotVersion {
		return apf.ProtocolVersion{}, false
	}
	return c.srv.version, true
}

// BoundPorts is the device's port table (server role).
func (c *Conn) BoundPorts() []uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv == nil {
		return nil
	}
	return append([]uint32(nil), c.srv.ports...)
}

// Stats returns traffic counters.
func (c *Conn) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Close sends DISCONNECT (by application) and ends the tunnel.
func (c *Conn) Close() error {
	c.fail(&DisconnectError{Reason: apf.DisconnectByApplication}, true)
	<-c.done
	return nil
}

// Shutdown sends DISCONNECT (by application) and closes the socket at once,
// without waiting for the channel services to return (Done reports that).
func (c *Conn) Shutdown() {
	c.fail(&DisconnectError{Reason: apf.DisconnectByApplication}, true)
}

// Send writes raw APF messages (for example an oobtb capability
// PROTOCOL_VERSION). The caller keeps to the protocol.
func (c *Conn) Send(msgs ...apf.Message) error { return c.send(msgs...) }

// Request sends a global request that wants a reply and waits for it.
func (c *Conn) Request(ctx context.Context, req apf.GlobalRequest) (bool, error) {
	ch := make(chan bool, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return false, ErrClosed
	}
	if err := c.framer.ExpectReply(req.ReplyKind()); err != nil {
		c.mu.Unlock()
		return false, err
	}
	c.replies = append(c.replies, ch)
	c.mu.Unlock()
	if err := c.send(req); err != nil {
		return false, err
	}
	select {
	case ok := <-ch:
		return ok, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-c.done:
		return false, ErrClosed
	}
}

// Reply answers an EventGlobalRequest.
func (c *Conn) Reply(ok bool) error {
	if ok {
		return c.send(&apf.RequestSuccess{})
	}
	return c.send(&apf.RequestFailure{})
}

// OpenChannel opens a forwarded-tcpip channel to the peer's port, as an MPS
// does towards AMT (reference §1.4 CHANNEL_OPEN).
func (c *Conn) OpenChannel(ctx context.Context, port uint32, origAddr string, origPort uint32) (*Channel, error) {
	res := make(chan openResult, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if len(c.channels)+len(c.opens) >= c.cfg.MaxChannels {
		c.mu.Unlock()
		return nil, fmt.Errorf("cira: %d channels already open", c.cfg.MaxChannels)
	}
	id := c.allocID()
	c.opens[id] = pendingOpen{res: res, port: port}
	c.mu.Unlock()
	err := c.send(&apf.ChannelOpen{ChannelType: apf.ChannelForwardedTCPIP, Sender: id, Window: c.cfg.Window,
		Reserved: apf.ReservedMaxPacket, TargetPort: port, OriginatorAddr: origAddr, OriginatorPort: origPort})
	if err != nil {
		return nil, err
	}
	select {
	case r := <-res:
		return r.ch, r.err
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.opens, id)
		c.mu.Unlock()
		// A late confirmation finds no waiter and is closed by the reader.
		return nil, fmt.Errorf("cira: opening a channel to port %d: %w", port, ctx.Err())
	case <-c.done:
		return nil, ErrClosed
	}
}

// allocID returns a free non-zero channel id (the DMT console skips
// CHANNEL_CLOSE for id 0). Called with mu held.
func (c *Conn) allocID() uint32 {
	for {
		id := c.nextID
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if _, used := c.channels[id]; used {
			continue
		}
		if _, used := c.opens[id]; used {
			continue
		}
		return id
	}
}

func (c *Conn) send(msgs ...apf.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, m := range msgs {
		c.wbuf = m.Append(c.wbuf[:0])
		if err := c.writeRaw(c.wbuf); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.stats.MessagesOut += uint64(len(msgs))
	c.mu.Unlock()
	return nil
}

// writeRaw writes one encoded message. Called with wmu held.
func (c *Conn) writeRaw(b []byte) error {
	select {
	case <-c.closing():
		return ErrClosed
	default:
	}
	c.wdl = c.refreshDeadline(c.wdl, c.cfg.WriteTimeout, c.nc.SetWriteDeadline)
	if _, err := c.nc.Write(b); err != nil {
		werr := fmt.Errorf("cira: write to %s: %w", c.nc.RemoteAddr(), err)
		go c.fail(werr, false)
		return werr
	}
	return nil
}

// closing is closed once the tunnel has failed; used to stop writers early.
func (c *Conn) closing() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return nil
}

// lazyDeadlineSpan is how far ahead the server role sets a socket deadline,
// in timeouts. Every deadline change is a runtime timer modified or left to
// fire: per keep-alive one read and one write deadline, which at 19,000
// tunnels woke the scheduler ~1,300 times a second for nothing (the server's
// keep-alive CPU, docs/server.md). Set 3 timeouts ahead and renewed only
// when less than one timeout is left, a deadline changes about once per
// 2 timeouts instead of on every read and write, and each operation still
// has at least the full timeout.
const lazyDeadlineSpan = 3

// refreshDeadline returns the deadline the socket should have for the next
// operation bounded by timeout, calling set when it changes. Without lazy
// deadlines it is renewed for every operation.
func (c *Conn) refreshDeadline(cur time.Time, timeout time.Duration, set func(time.Time) error) time.Time {
	now := time.Now()
	if !c.lazy {
		d := now.Add(timeout)
		_ = set(d)
		return d
	}
	if cur.Sub(now) >= timeout {
		return cur
	}
	d := now.Add(lazyDeadlineSpan * timeout)
	_ = set(d)
	return d
}

// readBufPool holds the read buffers of busy tunnels. An idle tunnel waits
// in Read with a small buffer and the framer holds nothing, so a server with
// thousands of idle tunnels keeps no 4 KiB buffers per tunnel (the server's
// ≤ 24 KiB-per-idle-tunnel goal, docs/server.md).
var readBufPool = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// smallRead is the idle read size: enough for keep-alives, window adjusts
// and the registration messages; a read that fills it switches to a pooled
// 4 KiB buffer.
const smallRead = 128

func (c *Conn) readLoop() {
	defer c.leave()
	small := make([]byte, smallRead)
	var big *[]byte
	defer func() {
		if big != nil {
			readBufPool.Put(big)
		}
	}()
	for {
		buf := small
		if big != nil {
			buf = *big
		}
		c.rdl = c.refreshDeadline(c.rdl, c.cfg.ReadTimeout, c.nc.SetReadDeadline)
		n, err := c.nc.Read(buf)
		if n > 0 {
			if ferr := c.consume(buf[:n]); ferr != nil {
				c.fail(ferr, true)
				return
			}
		}
		switch {
		case n == len(buf) && big == nil:
			big = readBufPool.Get().(*[]byte) // more is likely pending: read in bulk
		case n < len(buf):
			if big != nil {
				readBufPool.Put(big)
				big = nil
			}
			c.mu.Lock()
			c.framer.Release()
			c.mu.Unlock()
		}
		if err != nil {
			c.mu.Lock()
			partial := c.framer.Buffered()
			c.mu.Unlock()
			switch {
			case errors.Is(err, io.EOF) && partial > 0:
				// A peer that hangs up inside a message is not a clean close.
				c.fail(fmt.Errorf("cira: %s closed the connection %d bytes into an APF message: %w",
					c.nc.RemoteAddr(), partial, io.ErrUnexpectedEOF), false)
			case errors.Is(err, io.EOF):
				c.fail(io.EOF, false)
			default:
				c.fail(fmt.Errorf("cira: read from %s: %w", c.nc.RemoteAddr(), err), false)
			}
			return
		}
	}
}

// consume feeds stream bytes through the framer and handles each message.
func (c *Conn) consume(p []byte) error {
	c.mu.Lock()
	if err := c.framer.Feed(p); err != nil {
		c.mu.Unlock()
		return err
	}
	c.mu.Unlock()
	for {
		c.mu.Lock()
		m, err := c.framer.Next()
		if err != nil || m == nil {
			c.mu.Unlock()
			return err
		}
		c.stats.MessagesIn++
		now := c.clk.Now()
		if c.srv != nil {
			c.srv.received(now)
		}
		if err := c.dispatch(m, now); err != nil {
			return err // dispatch released mu
		}
	}
}

// dispatch handles one message; it is called with mu held and releases it.
func (c *Conn) dispatch(m apf.Message, now time.Time) error {
	switch m.Type() {
	case apf.TypeChannelOpen, apf.TypeChannelOpenConfirmation, apf.TypeChannelOpenFailure,
		apf.TypeChannelWindowAdjust, apf.TypeChannelData, apf.TypeChannelClose:
		if c.srv != nil && !c.srv.channelsAllowed() {
			c.mu.Unlock()
			return fmt.Errorf("%s before authentication", m.Type())
		}
		return c.channelMessage(m)
	}
	var (
		out []apf.Message
		ev  Event
		err error
	)
	if c.dev != nil {
		out, ev, err = c.dev.handle(m, now)
	} else {
		out, ev, err = c.srv.handle(m, now)
	}
	for _, o := range out {
		if g, ok := o.(apf.GlobalRequest); ok && g.WantsReply() {
			if qerr := c.framer.ExpectReply(g.ReplyKind()); qerr != nil && err == nil {
				err = qerr
			}
		}
	}
	var reply chan bool
	if r, ok := ev.(EventGlobalReply); ok {
		if len(c.replies) > 0 {
			reply = c.replies[0]
			c.replies = c.replies[1:]
			reply <- r.OK
		}
		ev = nil
	}
	c.mu.Unlock()
	if serr := c.send(out...); serr != nil {
		return serr
	}
	if err != nil {
		return err
	}
	switch e := ev.(type) {
	case nil:
		return nil
	case EventAuthRequest:
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.HandshakeTimeout)
		ok := c.cfg.Verify(ctx, e)
		cancel()
		c.mu.Lock()
		out, err := c.srv.authDone(ok)
		c.mu.Unlock()
		if serr := c.send(out...); serr != nil {
			return serr
		}
		if err != nil {
			return err
		}
		if ok {
			c.markReady()
		}
		c.emit(e)
		return nil
	case EventReady:
		c.markReady()
	}
	c.emit(ev)
	return nil
}

func (c *Conn) emit(ev Event) {
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(c, ev)
	}
}

// markReady closes Ready and switches the timer from the handshake bound to
// the session's own schedule.
func (c *Conn) markReady() {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.ready:
		return
	default:
	}
	close(c.ready)
	c.armLocked()
}

// armLocked schedules the next session tick. Called with mu held.
func (c *Conn) armLocked() {
	if c.err != nil {
		return
	}
	var at time.Time
	if c.dev != nil {
		at = c.dev.wake()
	} else {
		at = c.srv.wake()
	}
	d := at.Sub(c.clk.Now())
	if d < 0 {
		d = 0
	}
	if c.timer == nil {
		c.timer = c.clk.AfterFunc(d, c.timerFired)
		return
	}
	c.timer.Reset(d)
}

// timerFired is the one timer's callback: the handshake bound until Ready,
// the session's tick after. A firing that raced with markReady's Reset finds
// the tunnel ready and merely ticks early, which re-arms the timer.
func (c *Conn) timerFired() {
	select {
	case <-c.ready:
		c.tick()
	default:
		c.handshakeExpired()
	}
}

func (c *Conn) tick() {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	now := c.clk.Now()
	var out []apf.Message
	var err error
	if c.dev != nil {
		out = c.dev.tick(now)
	} else {
		err = c.srv.tick(now)
	}
	c.armLocked()
	c.mu.Unlock()
	if err != nil {
		c.fail(err, true)
		return
	}
	_ = c.send(out...)
}

func (c *Conn) handshakeExpired() {
	select {
	case <-c.ready:
		return
	default:
	}
	c.fail(fmt.Errorf("cira: handshake did not complete within %s", c.cfg.HandshakeTimeout), true)
}

// fail ends the tunnel once: it records err, optionally sends DISCONNECT,
// closes the socket (which ends the reader) and every channel.
func (c *Conn) fail(err error, sendDisconnect bool) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
		if c.timer != nil {
			c.timer.Stop()
		}
		chans := make([]*Channel, 0, len(c.channels))
		for _, ch := range c.channels {
			chans = append(chans, ch)
		}
		for id, w := range c.opens {
			w.res <- openResult{err: ErrClosed}
			delete(c.opens, id)
		}
		for _, r := range c.replies {
			r <- false
		}
		c.replies = nil
		c.mu.Unlock()
		if sendDisconnect {
			reason := apf.DisconnectProtocolError
			var de *DisconnectError
			if errors.As(err, &de) {
				reason = de.Reason
			}
			var ae *AuthError
			if !errors.As(err, &ae) && !(de != nil && de.ByPeer) {
				// Best effort, bounded by a short deadline.
				c.wmu.Lock()
				_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = c.nc.Write((&apf.Disconnect{Reason: reason}).Append(nil))
				c.wmu.Unlock()
			}
		}
		if err != io.EOF {
			c.log.Debug("cira tunnel ended", "role", c.role, "peer", c.nc.RemoteAddr(), "err", err)
		}
		_ = c.nc.Close()
		for _, ch := range chans {
			ch.abort(ErrClosed)
		}
	})
}
