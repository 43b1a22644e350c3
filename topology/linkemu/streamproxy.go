package linkemu

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/sim/clock"
)

// StreamProxy is the in-process stand-in for an emulated link: a TCP relay
// on a loopback address that applies one Profile to the bytes flowing from
// the client to the target (ab) and another to the reply (ba).
//
// A byte stream cannot lose, duplicate or reorder, so the profile is
// translated into what TCP would show the application:
//   - delay and jitter apply per chunk read from the socket, and a chunk
//     never overtakes the previous one (bytes stay in order);
//   - the rate is a serialisation model shared by all connections of a
//     direction, with the queue limit turned into backpressure (the proxy
//     stops reading, like a full TCP window), 4 MiB per connection and
//     direction when the rate is unlimited;
//   - loss is retransmission delay: each 1448-byte segment of a chunk is
//     lost with the profile's probability (Bernoulli or Gilbert–Elliott,
//     from the seeded generator), and a chunk with a lost segment is held
//     for one RTO = max(200 ms, RTT + 4·(jitter_ab + jitter_ba)), RTT being
//     the sum of both delays;
//   - a partition or a down link is a blackhole: nothing is forwarded (and
//     new connections are held before reaching the target) until it heals;
//     with SetResetOnPartition, or with ResetConns, connections are reset;
//   - MTU, duplication and corruption do not apply to streams.
//
// Decisions are seeded, but which bytes form a chunk depends on socket
// timing, so stream runs are not bit-for-bit reproducible.
type StreamProxy struct {
	clk    clock.Clock
	nw     netx.Network
	target string
	ln     net.Listener

	mu          sync.Mutex
	dirs        [2]streamDir // 0: client→target (ab), 1: target→client (ba)
	rng         *rand.Rand
	up          bool
	partitioned bool
	resetOnCut  bool
	stateCh     chan struct{} // closed and replaced on every state change
	conns       map[*proxyConn]struct{}
	accepted    uint64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

type streamDir struct {
	prof     Profile
	geBad    bool
	linkFree time.Time
	txRem    int64
	bytes    atomic.Uint64
	lost     atomic.Uint64 // chunks that paid an RTO
}

// StreamStats counts a StreamProxy's traffic.
type StreamStats struct {
	BytesAB, BytesBA uint64 // bytes delivered client→target and back
	LostAB, LostBA   uint64 // chunks delayed by a simulated retransmission
	// QueuedAB and QueuedBA are bytes read from one side and not yet
	// written to the other, over the open connections.
	QueuedAB, QueuedBA int64
	Conns              uint64 // connections accepted
	Active             int    // connections open now
}

const (
	segmentSize        = 1448
	minRTO             = 200 * time.Millisecond
	unlimitedInflight  = 4 << 20
	maxChunk           = 16 << 10
	chunkQueueCapacity = 256
)

// NewStreamProxy listens on listen (through nw) and relays each accepted
// connection to target, applying ab to client→target bytes and ba to the
// reply.
func NewStreamProxy(listen, target string, ab, ba Profile, seed uint64, clk clock.Clock, nw netx.Network) (*StreamProxy, error) {
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := nw.Listen(ctx, "tcp", listen)
	if err != nil {
		cancel()
		return nil, err
	}
	p := &StreamProxy{
		clk: clk, nw: nw, target: target, ln: ln,
		rng:     rand.New(rand.NewPCG(seed, seed^0x6a09e667f3bcc909)),
		up:      true,
		stateCh: make(chan struct{}),
		conns:   map[*proxyConn]struct{}{},
		ctx:     ctx, cancel: cancel,
	}
	p.dirs[0].prof, p.dirs[1].prof = ab, ba
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the listening address.
func (p *StreamProxy) Addr() net.Addr { return p.ln.Addr() }

// SetProfile changes both directions' profiles for chunks read from now on.
func (p *StreamProxy) SetProfile(ab, ba Profile) {
	p.mu.Lock()
	p.dirs[0].prof, p.dirs[1].prof = ab, ba
	if ab.GE == nil {
		p.dirs[0].geBad = false
	}
	if ba.GE == nil {
		p.dirs[1].geBad = false
	}
	p.mu.Unlock()
}

// SetUp brings the link up or down (down is a blackhole, like a partition).
func (p *StreamProxy) SetUp(up bool) {
	p.mu.Lock()
	p.up = up
	p.changedLocked()
	reset := !up && p.resetOnCut
	p.mu.Unlock()
	if reset {
		p.ResetConns()
	}
}

// SetPartitioned starts or heals a partition.
func (p *StreamProxy) SetPartitioned(on bool) {
	p.mu.Lock()
	p.partitioned = on
	p.changedLocked()
	reset := on && p.resetOnCut
	p.mu.Unlock()
	if reset {
		p.ResetConns()
	}
}

// SetResetOnPartition makes a partition or link-down reset the connections
// open at that moment (and those accepted while it lasts) instead of
// silently holding their bytes.
func (p *StreamProxy) SetResetOnPartition(on bool) {
	p.mu.Lock()
	p.resetOnCut = on
	p.mu.Unlock()
}

func (p *StreamProxy) changedLocked() {
	close(p.stateCh)
	p.stateCh = make(chan struct{})
}

// state says whether forwarding is blocked, with the channel that is closed
// on the next change.
func (p *StreamProxy) state() (blocked bool, changed <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.up || p.partitioned, p.stateCh
}

// ResetConns aborts every open connection with a TCP reset.
func (p *StreamProxy) ResetConns() {
	p.mu.Lock()
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.reset()
	}
}

// Stats returns the counters.
func (p *StreamProxy) Stats() StreamStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := StreamStats{
		BytesAB: p.dirs[0].bytes.Load(), BytesBA: p.dirs[1].bytes.Load(),
		LostAB: p.dirs[0].lost.Load(), LostBA: p.dirs[1].lost.Load(),
		Conns: p.accepted, Active: len(p.conns),
	}
	for c := range p.conns {
		st.QueuedAB += c.pumps[0].queued.Load()
		st.QueuedBA += c.pumps[1].queued.Load()
	}
	return st
}

// Close stops listening, closes every connection and waits for all of the
// proxy's goroutines.
func (p *StreamProxy) Close() error {
	var err error
	p.once.Do(func() {
		p.cancel()
		err = p.ln.Close()
		p.mu.Lock()
		conns := make([]*proxyConn, 0, len(p.conns))
		for c := range p.conns {
			conns = append(conns, c)
		}
		p.mu.Unlock()
		for _, c := range conns {
			c.abort()
		}
		p.wg.Wait()
	})
	return err
}

func (p *StreamProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			// Out of descriptors or a similar passing condition: back off
			// briefly (on the wall clock, as the condition is the OS's) and
			// keep serving.
			select {
			case <-time.After(5 * time.Millisecond):
				continue
			case <-p.ctx.Done():
				return
			}
		}
		p.mu.Lock()
		p.accepted++
		p.mu.Unlock()
		p.wg.Add(1)
		go p.handle(c)
	}
}

// handle holds a new connection while the link is blocked (a SYN into a
// blackhole), then dials the target and starts the two pumps.
func (p *StreamProxy) handle(c net.Conn) {
	defer p.wg.Done()
	for {
		blocked, changed := p.state()
		if !blocked {
			break
		}
		p.mu.Lock()
		reset := p.resetOnCut
		p.mu.Unlock()
		if reset {
			resetConn(c)
			return
		}
		select {
		case <-changed:
		case <-p.ctx.Done():
			c.Close()
			return
		}
	}
	u, err := p.nw.Dial(p.ctx, "tcp", p.target)
	if err != nil {
		// The target refused: the client sees a reset, as it would have
		// without the proxy.
		resetConn(c)
		return
	}
	pc := &proxyConn{p: p, c: c, u: u, done: make(chan struct{})}
	for i, pair := range [2][2]net.Conn{{c, u}, {u, c}} {
		pc.pumps[i] = &pump{p: p, pc: pc, dir: i, src: pair[0], dst: pair[1], q: make(chan chunk, chunkQueueCapacity), space: make(chan struct{}, 1)}
	}
	p.mu.Lock()
	if p.ctx.Err() != nil {
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conns[pc] = struct{}{}
	p.mu.Unlock()
	for _, pm := range pc.pumps {
		p.wg.Add(2)
		go pm.read()
		go pm.write()
	}
}

func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

type proxyConn struct {
	p        *StreamProxy
	c, u     net.Conn
	done     chan struct{}
	once     sync.Once
	finished atomic.Int32 // writers that completed a clean half-close
	pumps    [2]*pump     // client→target, target→client
}

func (pc *proxyConn) abort() {
	pc.once.Do(func() {
		close(pc.done)
		pc.c.Close()
		pc.u.Close()
		pc.p.mu.Lock()
		delete(pc.p.conns, pc)
		pc.p.mu.Unlock()
	})
}

func (pc *proxyConn) reset() {
	for _, c := range []net.Conn{pc.c, pc.u} {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
	}
	pc.abort()
}

type chunk struct {
	buf   []byte
	due   time.Time
	eof   bool // clean end of stream: half-close the destination
	abort bool // read error: tear the connection down
}

type pump struct {
	p        *StreamProxy
	pc       *proxyConn
	dir      int
	src, dst net.Conn
	q        chan chunk
	queued   atomic.Int64
	space    chan struct{}
	lastDue  time.Time
}

// schedule computes when a chunk of n bytes read now is delivered.
func (pm *pump) schedule(n int) time.Time {
	p := pm.p
	p.mu.Lock()
	defer p.mu.Unlock()
	d := &p.dirs[pm.dir]
	prof := &d.prof
	now := p.clk.Now()
	depart := now
	if prof.RateBps > 0 {
		start := now
		if d.linkFree.After(start) {
			start = d.linkFree
		}
		num := int64(n)*8*1e9 + d.txRem
		d.txRem = num % prof.RateBps
		depart = start.Add(time.Duration(num / prof.RateBps))
		d.linkFree = depart
	}
	due := depart.Add(prof.Delay)
	if prof.Jitter > 0 {
		j := float64(prof.Jitter)
		var off float64
		if prof.JitterDist == "normal" {
			off = math.Max(-3*j, math.Min(3*j, p.rng.NormFloat64()*j))
		} else {
			off = (p.rng.Float64()*2 - 1) * j
		}
		due = due.Add(time.Duration(off))
		if due.Before(depart) {
			due = depart
		}
	}
	if pm.segmentLost(d, (n+segmentSize-1)/segmentSize) {
		d.lost.Add(1)
		rtt := p.dirs[0].prof.Delay + p.dirs[1].prof.Delay
		rto := max(minRTO, rtt+4*(p.dirs[0].prof.Jitter+p.dirs[1].prof.Jitter))
		due = due.Add(rto)
	}
	if due.Before(pm.lastDue) {
		due = pm.lastDue
	}
	pm.lastDue = due
	return due
}

// segmentLost draws the loss of each segment of a chunk; true if any is lost.
func (pm *pump) segmentLost(d *streamDir, segs int) bool {
	prof := &d.prof
	rng := pm.p.rng
	lost := false
	for range segs {
		if ge := prof.GE; ge != nil {
			pl := ge.LossGood
			if d.geBad {
				pl = ge.LossBad
			}
			if pl > 0 && rng.Float64() < pl {
				lost = true
			}
			if d.geBad {
				d.geBad = !(ge.R > 0 && rng.Float64() < ge.R)
			} else {
				d.geBad = ge.P > 0 && rng.Float64() < ge.P
			}
		} else if prof.Loss > 0 && rng.Float64() < prof.Loss {
			lost = true
		}
	}
	return lost
}

// limits returns the chunk size and the in-flight byte limit.
func (pm *pump) limits() (chunkSize int, inflight int64) {
	p := pm.p
	p.mu.Lock()
	defer p.mu.Unlock()
	prof := &p.dirs[pm.dir].prof
	if prof.RateBps <= 0 {
		return maxChunk, unlimitedInflight
	}
	// About 1 ms of line time per chunk, so a slow link delivers a steady
	// trickle rather than one burst per large read.
	c := int(min(max(prof.RateBps/8/1000, segmentSize), maxChunk))
	return c, int64(prof.queueBytes())
}

func (pm *pump) read() {
	defer pm.p.wg.Done()
	for {
		size, inflight := pm.limits()
		for pm.queued.Load() >= inflight {
			select {
			case <-pm.space:
			case <-pm.pc.done:
				return
			}
		}
		buf := GetBuffer(size)
		n, err := pm.src.Read(buf)
		if n > 0 {
			due := pm.schedule(n)
			pm.queued.Add(int64(n))
			select {
			case pm.q <- chunk{buf: buf[:n], due: due}:
			case <-pm.pc.done:
				PutBuffer(buf)
				return
			}
		} else {
			PutBuffer(buf)
		}
		if err != nil {
			select {
			case pm.q <- chunk{eof: errors.Is(err, io.EOF), abort: !errors.Is(err, io.EOF)}:
			case <-pm.pc.done:
			}
			return
		}
	}
}

func (pm *pump) write() {
	defer pm.p.wg.Done()
	t := pm.p.clk.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	d := &pm.p.dirs[pm.dir]
	for {
		var ch chunk
		select {
		case ch = <-pm.q:
		case <-pm.pc.done:
			return
		}
		if ch.abort {
			pm.pc.abort()
			return
		}
		if !ch.eof && !pm.wait(ch.due, t) {
			PutBuffer(ch.buf)
			return
		}
		if ch.eof {
			// Bytes queued before the FIN have been written; pass the
			// half-close on once the link lets traffic through.
			if !pm.wait(time.Time{}, t) {
				return
			}
			if cw, ok := pm.dst.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			} else {
				pm.pc.abort()
				return
			}
			if pm.pc.finished.Add(1) == 2 {
				pm.pc.abort()
			}
			return
		}
		_, err := pm.dst.Write(ch.buf)
		n := len(ch.buf)
		PutBuffer(ch.buf)
		pm.queued.Add(-int64(n))
		select {
		case pm.space <- struct{}{}:
		default:
		}
		if err != nil {
			pm.pc.abort()
			return
		}
		d.bytes.Add(uint64(n))
	}
}

// wait blocks until due has passed and the link is not blocked; false if
// the connection ends meanwhile.
func (pm *pump) wait(due time.Time, t clock.Timer) bool {
	for {
		blocked, changed := pm.p.state()
		if blocked {
			select {
			case <-changed:
				continue
			case <-pm.pc.done:
				return false
			}
		}
		rem := due.Sub(pm.p.clk.Now())
		if rem <= 0 {
			return true
		}
		t.Reset(rem)
		select {
		case <-t.C():
		case <-changed:
			t.Stop()
		case <-pm.pc.done:
			t.Stop()
			return false
		}
	}
}
