package linkemu

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oobtb/oobtb/sim/clock"
)

// Direction is one direction of an emulated link: frames given to Send come
// out of deliver, impaired according to the current Profile.
//
// deliver is called from one goroutine at a time — the Direction's own
// scheduler, or the goroutine calling Send when a frame is due at once — and
// must not keep pkt after it returns: the buffer is recycled (see
// GetBuffer).
type Direction struct {
	name    string
	clk     clock.Clock
	deliver func(pkt []byte)
	epoch   time.Time
	real    bool

	tap atomic.Pointer[func(pkt []byte, ev Event)]
	seq atomic.Uint64

	mu          sync.Mutex
	prof        Profile
	ge          GilbertElliott
	useGE       bool
	geBad       bool
	up          bool
	partitioned bool
	closed      bool
	rng         *rand.Rand
	ord         uint64 // heap tie-break: scheduling order
	lastDue     int64  // latest due time handed out, for order preservation
	// Rate stage: the bottleneck is busy until linkFree; fifo holds the
	// frames still in it (not yet fully serialised) for the queue limit.
	linkFree  int64
	txRem     int64 // sub-nanosecond remainder of serialisation times
	fifo      []fifoEntry
	fifoHead  int
	fifoBytes int

	h     pktHeap
	busy  bool // a goroutine is inside drain delivering
	batch []item
	stats Stats

	// Scheduler: a goroutine for the real clock, a clock timer otherwise.
	spin    atomic.Int64 // real-clock spin window, ns
	kick    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
	timer   clock.Timer
	armed   bool
	armedAt int64
	once    sync.Once
}

type fifoEntry struct {
	depart int64
	size   int
}

type item struct {
	due     int64
	ord     uint64
	seq     uint64
	pkt     []byte
	dup     bool
	corrupt bool
}

// NewDirection starts a Direction. seed fixes every random decision; clk is
// the time source (clock.Real runs a precise scheduler goroutine, any other
// clock — clock.Manual, the simulator's — is driven through its AfterFunc).
func NewDirection(name string, p Profile, seed uint64, clk clock.Clock, deliver func(pkt []byte)) *Direction {
	d := &Direction{
		name:    name,
		clk:     clk,
		deliver: deliver,
		epoch:   clk.Now(),
		up:      true,
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		batch:   make([]item, 0, 64),
	}
	d.setProfileLocked(p)
	switch clk.(type) {
	case clock.Real, *clock.Real:
		d.real = true
		d.spin.Store(int64(DefaultSpin))
		d.wg.Add(1)
		go d.run()
	default:
		d.timer = clk.AfterFunc(time.Hour, d.onTimer)
		d.timer.Stop()
	}
	return d
}

// Name is the name given to NewDirection.
func (d *Direction) Name() string { return d.name }

func (d *Direction) now() int64 { return int64(d.clk.Now().Sub(d.epoch)) }

func (d *Direction) at(ns int64) time.Time { return d.epoch.Add(time.Duration(ns)) }

// SetProfile replaces the profile for frames sent from now on; frames already
// scheduled keep their times. Out-of-range values are clamped (use
// Profile.Validate to reject them instead).
func (d *Direction) SetProfile(p Profile) {
	d.mu.Lock()
	d.setProfileLocked(p)
	d.mu.Unlock()
}

// Profile returns the current profile.
func (d *Direction) Profile() Profile {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.prof
	if p.GE != nil {
		ge := *p.GE
		p.GE = &ge
	}
	return p
}

func clampProb(v float64) float64 {
	if !(v > 0) { // also NaN
		return 0
	}
	return math.Min(v, 1)
}

func (d *Direction) setProfileLocked(p Profile) {
	p.Delay = max(p.Delay, 0)
	p.Jitter = max(p.Jitter, 0)
	p.Loss = clampProb(p.Loss)
	p.Duplicate = clampProb(p.Duplicate)
	p.Corrupt = clampProb(p.Corrupt)
	p.RateBps = max(p.RateBps, 0)
	p.QueueBytes = max(p.QueueBytes, 0)
	p.QueuePackets = max(p.QueuePackets, 0)
	p.MTU = max(p.MTU, 0)
	if p.GE != nil {
		ge := GilbertElliott{P: clampProb(p.GE.P), R: clampProb(p.GE.R), LossGood: clampProb(p.GE.LossGood), LossBad: clampProb(p.GE.LossBad)}
		if !d.useGE {
			d.geBad = false
		}
		d.ge, d.useGE = ge, true
		p.GE = &ge
	} else {
		d.useGE, d.geBad = false, false
	}
	d.prof = p
}

// SetUp brings the link up or down. Going down drops every frame still
// scheduled (counted as down), like pulling a cable.
func (d *Direction) SetUp(up bool) {
	d.mu.Lock()
	d.up = up
	var flushed []item
	if !up {
		flushed = d.flushLocked(CauseDown)
	}
	d.mu.Unlock()
	d.dropAll(flushed, CauseDown)
}

// SetPartitioned starts or heals a partition. While partitioned every frame
// is dropped, including those already scheduled at the moment it starts.
func (d *Direction) SetPartitioned(on bool) {
	d.mu.Lock()
	d.partitioned = on
	var flushed []item
	if on {
		flushed = d.flushLocked(CausePartition)
	}
	d.mu.Unlock()
	d.dropAll(flushed, CausePartition)
}

// flushLocked empties the schedule and the rate stage and returns what was in
// the schedule, counted as dropped for cause.
func (d *Direction) flushLocked(cause DropCause) []item {
	out := make([]item, len(d.h))
	copy(out, d.h)
	clear(d.h)
	d.h = d.h[:0]
	for i := range out {
		d.stats.countDrop(cause)
		d.stats.Queued--
		d.stats.QueuedBytes -= len(out[i].pkt)
	}
	d.fifo, d.fifoHead, d.fifoBytes = d.fifo[:0], 0, 0
	now := d.now()
	d.linkFree = now
	d.lastDue = now
	d.rearmLocked(now)
	return out
}

func (d *Direction) dropAll(items []item, cause DropCause) {
	if len(items) == 0 {
		return
	}
	tap := d.tap.Load()
	t := d.clk.Now()
	for _, it := range items {
		if tap != nil {
			(*tap)(it.pkt, Event{Kind: EventDrop, Cause: cause, Seq: it.seq, Time: t, Duplicate: it.dup, Corrupted: it.corrupt})
		}
		PutBuffer(it.pkt)
	}
}

// SetTap installs (or, with nil, removes) a hook called for every event.
// It runs on the goroutine that caused the event, possibly concurrently with
// itself, and must not keep pkt after it returns.
func (d *Direction) SetTap(f func(pkt []byte, ev Event)) {
	if f == nil {
		d.tap.Store(nil)
		return
	}
	d.tap.Store(&f)
}

// Stats returns a snapshot of the counters.
func (d *Direction) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Send passes one frame into the Direction, which owns pkt from now on.
func (d *Direction) Send(pkt []byte) {
	seq := d.seq.Add(1)
	tap := d.tap.Load()
	if tap != nil {
		(*tap)(pkt, Event{Kind: EventIn, Seq: seq, Time: d.clk.Now()})
	}

	var drops [2]struct {
		pkt   []byte
		cause DropCause
		dup   bool
		cor   bool
	}
	nDrops := 0
	var dueNow, newMin bool

	d.mu.Lock()
	now := d.now()
	d.stats.InPackets++
	d.stats.InBytes += uint64(len(pkt))
	p := &d.prof
	cause := CauseNone
	switch {
	case d.closed || !d.up:
		cause = CauseDown
	case d.partitioned:
		cause = CausePartition
	case p.MTU > 0 && len(pkt) > p.MTU:
		cause = CauseMTU
	case d.lost():
		cause = CauseLoss
	}
	if cause != CauseNone {
		d.stats.countDrop(cause)
		drops[0].pkt, drops[0].cause = pkt, cause
		nDrops = 1
	} else {
		var dupPkt []byte
		if p.Duplicate > 0 && d.rng.Float64() < p.Duplicate {
			dupPkt = CopyBuffer(pkt)
			d.stats.Duplicated++
		}
		for c, b := range [2][]byte{pkt, dupPkt} {
			if b == nil {
				continue
			}
			corrupt := false
			if p.Corrupt > 0 && d.rng.Float64() < p.Corrupt && len(b) > 0 {
				b[d.rng.IntN(len(b))] ^= 1 << d.rng.IntN(8)
				corrupt = true
				d.stats.Corrupted++
			}
			depart, ok := d.rateStage(now, len(b))
			if !ok {
				d.stats.countDrop(CauseQueue)
				drops[nDrops].pkt, drops[nDrops].cause = b, CauseQueue
				drops[nDrops].dup, drops[nDrops].cor = c == 1, corrupt
				nDrops++
				continue
			}
			due := depart + d.delay()
			if !p.Reorder && due < d.lastDue {
				due = d.lastDue
			}
			d.lastDue = max(d.lastDue, due)
			d.ord++
			if len(d.h) == 0 || due < d.h[0].due {
				newMin = true
			}
			d.h = append(d.h, item{due: due, ord: d.ord, seq: seq, pkt: b, dup: c == 1, corrupt: corrupt})
			heap.Fix(&d.h, len(d.h)-1)
			d.stats.Queued++
			d.stats.QueuedBytes += len(b)
			if due <= now {
				dueNow = true
			}
		}
	}
	if newMin {
		if d.real {
			select {
			case d.kick <- struct{}{}:
			default:
			}
		} else {
			d.rearmLocked(now)
		}
	}
	d.mu.Unlock()

	for i := range nDrops {
		dr := &drops[i]
		if tap != nil {
			(*tap)(dr.pkt, Event{Kind: EventDrop, Cause: dr.cause, Seq: seq, Time: d.at(now), Duplicate: dr.dup, Corrupted: dr.cor})
		}
		PutBuffer(dr.pkt)
	}
	if dueNow {
		d.drain()
	}
}

// lost draws the loss decision for one frame.
func (d *Direction) lost() bool {
	if d.useGE {
		ge := &d.ge
		pl := ge.LossGood
		if d.geBad {
			pl = ge.LossBad
		}
		lost := pl > 0 && d.rng.Float64() < pl
		if d.geBad {
			if ge.R > 0 && d.rng.Float64() < ge.R {
				d.geBad = false
			}
		} else if ge.P > 0 && d.rng.Float64() < ge.P {
			d.geBad = true
		}
		return lost
	}
	return d.prof.Loss > 0 && d.rng.Float64() < d.prof.Loss
}

// rateStage returns when a frame of size bytes arriving at now has been
// serialised onto the bottleneck, or false if the queue is full.
func (d *Direction) rateStage(now int64, size int) (int64, bool) {
	p := &d.prof
	if p.RateBps <= 0 {
		return now, true
	}
	for d.fifoHead < len(d.fifo) && d.fifo[d.fifoHead].depart <= now {
		d.fifoBytes -= d.fifo[d.fifoHead].size
		d.fifoHead++
	}
	if d.fifoHead == len(d.fifo) {
		d.fifo, d.fifoHead = d.fifo[:0], 0
	} else if d.fifoHead > 1024 && d.fifoHead > len(d.fifo)/2 {
		n := copy(d.fifo, d.fifo[d.fifoHead:])
		d.fifo, d.fifoHead = d.fifo[:n], 0
	}
	inQueue := len(d.fifo) - d.fifoHead
	if d.fifoBytes+size > p.queueBytes() || (p.QueuePackets > 0 && inQueue+1 > p.QueuePackets) {
		return 0, false
	}
	start := max(now, d.linkFree)
	// Serialisation time in ns, carrying the remainder so that a long run of
	// frames departs exactly at bytes·8/rate.
	num := int64(size)*8*1e9 + d.txRem
	tx := num / p.RateBps
	d.txRem = num % p.RateBps
	depart := start + tx
	d.linkFree = depart
	d.fifo = append(d.fifo, fifoEntry{depart: depart, size: size})
	d.fifoBytes += size
	return depart, true
}

// delay draws the propagation delay of one frame.
func (d *Direction) delay() int64 {
	p := &d.prof
	base := int64(p.Delay)
	if p.Jitter <= 0 {
		return base
	}
	j := float64(p.Jitter)
	var off float64
	if p.JitterDist == "normal" {
		off = d.rng.NormFloat64() * j
		off = math.Max(-3*j, math.Min(3*j, off))
	} else {
		off = (d.rng.Float64()*2 - 1) * j
	}
	return max(base+int64(off), 0)
}

// drain delivers every frame that is due. Only one goroutine delivers at a
// time; a caller that finds another one busy leaves, and the busy one
// re-checks the schedule before it stops.
func (d *Direction) drain() {
	d.mu.Lock()
	if d.busy {
		d.mu.Unlock()
		return
	}
	d.busy = true
	tap := d.tap.Load()
	for {
		now := d.now()
		batch := d.batch[:0]
		for len(d.h) > 0 && d.h[0].due <= now {
			batch = append(batch, d.popLocked())
		}
		d.batch = batch
		if len(batch) == 0 {
			break
		}
		for i := range batch {
			d.stats.DeliveredPackets++
			d.stats.DeliveredBytes += uint64(len(batch[i].pkt))
			d.stats.Queued--
			d.stats.QueuedBytes -= len(batch[i].pkt)
		}
		d.mu.Unlock()
		var t time.Time
		if tap != nil {
			t = d.clk.Now()
		}
		for i := range batch {
			it := &batch[i]
			if tap != nil {
				(*tap)(it.pkt, Event{Kind: EventDeliver, Seq: it.seq, Time: t, Due: d.at(it.due), Duplicate: it.dup, Corrupted: it.corrupt})
			}
			d.deliver(it.pkt)
			PutBuffer(it.pkt)
			it.pkt = nil
		}
		d.mu.Lock()
	}
	d.busy = false
	if !d.real {
		d.rearmLocked(d.now())
	}
	d.mu.Unlock()
}

func (d *Direction) popLocked() item {
	it := d.h[0]
	n := len(d.h) - 1
	d.h[0] = d.h[n]
	d.h[n] = item{}
	d.h = d.h[:n]
	if n > 0 {
		heap.Fix(&d.h, 0)
	}
	return it
}

// Close stops the scheduler and drops what is still scheduled (counted as
// down). Frames sent afterwards are dropped as down.
func (d *Direction) Close() error {
	d.once.Do(func() {
		d.mu.Lock()
		d.closed = true
		flushed := d.flushLocked(CauseDown)
		if d.timer != nil {
			d.timer.Stop()
			d.armed = false
		}
		d.mu.Unlock()
		close(d.done)
		d.wg.Wait()
		d.dropAll(flushed, CauseDown)
	})
	return nil
}

// pktHeap orders scheduled frames by due time, then scheduling order. Items
// are added with append+heap.Fix and removed by popLocked so no value is
// boxed into an interface on the per-packet path.
type pktHeap []item

func (h pktHeap) Len() int { return len(h) }
func (h pktHeap) Less(i, j int) bool {
	return h[i].due < h[j].due || (h[i].due == h[j].due && h[i].ord < h[j].ord)
}
func (h pktHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pktHeap) Push(x any)   { *h = append(*h, x.(item)) }
func (h *pktHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
