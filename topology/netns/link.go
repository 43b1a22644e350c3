package netns

import (
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oobtb/oobtb/topology/linkemu"
)

// frameSlack covers the Ethernet header and a VLAN tag on top of the MTU.
const frameSlack = 14 + 4

// Link is a running link: two TAP devices, one in each end's namespace,
// joined by two emulator directions. Every method is safe for concurrent
// use and takes effect immediately, so scenarios can script faults.
type Link struct {
	Name string
	// A and B are the ends as resolved ("node" or "segment", interface).
	A, B End
	// AtoB carries frames read from A's TAP to B's TAP; BtoA the reverse.
	AtoB, BtoA *linkemu.Direction

	mtu     int
	offload bool // TAPs carry virtio headers and GSO super-frames
	taps    [2]*os.File
	wg      sync.WaitGroup
	closed  sync.Once

	tapMu    sync.Mutex
	subID    uint64
	subs     map[uint64]func(atob bool, pkt []byte, ev linkemu.Event)
	snapshot atomic.Pointer[[]func(bool, []byte, linkemu.Event)]
}

// End is one end of a running link.
type End struct {
	Node    string // node or segment name
	Segment bool
	NS      string // namespace name
	Iface   string
}

// SetProfile applies p to both directions.
func (l *Link) SetProfile(p linkemu.Profile) { l.AtoB.SetProfile(p); l.BtoA.SetProfile(p) }

// SetProfiles applies one profile per direction.
func (l *Link) SetProfiles(atob, btoa linkemu.Profile) {
	l.AtoB.SetProfile(atob)
	l.BtoA.SetProfile(btoa)
}

// Cut takes the link down in both directions, dropping what is in flight.
func (l *Link) Cut() { l.AtoB.SetUp(false); l.BtoA.SetUp(false) }

// Partition drops every frame in both directions until Heal.
func (l *Link) Partition() { l.AtoB.SetPartitioned(true); l.BtoA.SetPartitioned(true) }

// PartitionOneWay drops every frame from A to B (atob) or B to A until Heal.
func (l *Link) PartitionOneWay(atob bool) {
	if atob {
		l.AtoB.SetPartitioned(true)
	} else {
		l.BtoA.SetPartitioned(true)
	}
}

// Heal undoes Cut and Partition.
func (l *Link) Heal() {
	for _, d := range []*linkemu.Direction{l.AtoB, l.BtoA} {
		d.SetPartitioned(false)
		d.SetUp(true)
	}
}

// Stats returns both directions' counters.
func (l *Link) Stats() (atob, btoa linkemu.Stats) { return l.AtoB.Stats(), l.BtoA.Stats() }

// start runs one reader per TAP; each frame read goes into the direction
// towards the other TAP.
func (l *Link) start() {
	for side := range 2 {
		dir := l.AtoB
		if side == 1 {
			dir = l.BtoA
		}
		l.wg.Add(1)
		go l.pump(l.taps[side], dir)
	}
}

func (l *Link) pump(tap *os.File, dir *linkemu.Direction) {
	defer l.wg.Done()
	size := l.mtu + frameSlack
	if l.offload {
		size = maxGSOFrame
	}
	for {
		buf := linkemu.GetBuffer(size)
		n, err := tap.Read(buf[:size])
		if err != nil {
			// A TAP read only fails once the device is closed or gone.
			return
		}
		dir.Send(buf[:n])
	}
}

// deliverTo returns the emulator's output for a TAP: write the frame. A
// failed write (device gone during teardown, or a frame the kernel
// refuses) is a drop, as on a real wire.
func deliverTo(f *os.File) func(pkt []byte) {
	return func(pkt []byte) { _, _ = f.Write(pkt) }
}

// close stops both directions and closes both TAPs, which removes the TAP
// devices from their namespaces.
func (l *Link) close() {
	l.closed.Do(func() {
		_ = l.AtoB.Close()
		_ = l.BtoA.Close()
		for _, f := range l.taps {
			if f != nil {
				_ = f.Close()
			}
		}
		l.wg.Wait()
	})
}

// Frame is one captured frame: which direction carried it, when it left
// the emulator, and a copy of its bytes.
type Frame struct {
	AtoB  bool
	Time  time.Time
	Bytes []byte
}

// Tap calls fn for every emulator event of the link (frames entering a
// direction, delivered, dropped), from the emulator's goroutines, until
// stop is called; fn must not keep pkt. Several taps may run at once;
// capture.Writer.Tap fits directly.
func (l *Link) Tap(fn func(atob bool, pkt []byte, ev linkemu.Event)) (stop func()) {
	l.tapMu.Lock()
	defer l.tapMu.Unlock()
	l.subID++
	id := l.subID
	if l.subs == nil {
		l.subs = map[uint64]func(bool, []byte, linkemu.Event){}
	}
	l.subs[id] = fn
	l.publishLocked()
	if len(l.subs) == 1 {
		l.AtoB.SetTap(func(pkt []byte, ev linkemu.Event) { l.emit(true, pkt, ev) })
		l.BtoA.SetTap(func(pkt []byte, ev linkemu.Event) { l.emit(false, pkt, ev) })
	}
	return func() {
		l.tapMu.Lock()
		defer l.tapMu.Unlock()
		if _, ok := l.subs[id]; !ok {
			return
		}
		delete(l.subs, id)
		l.publishLocked()
		if len(l.subs) == 0 {
			l.AtoB.SetTap(nil)
			l.BtoA.SetTap(nil)
		}
	}
}

// publishLocked snapshots the subscribers for the per-frame path.
func (l *Link) publishLocked() {
	fs := make([]func(bool, []byte, linkemu.Event), 0, len(l.subs))
	for _, f := range l.subs {
		fs = append(fs, f)
	}
	l.snapshot.Store(&fs)
}

func (l *Link) emit(atob bool, pkt []byte, ev linkemu.Event) {
	if l.offload {
		// Taps see Ethernet frames, not the virtio header.
		if len(pkt) < vnetHdrLen {
			return
		}
		pkt = pkt[vnetHdrLen:]
	}
	if fs := l.snapshot.Load(); fs != nil {
		for _, f := range *fs {
			f(atob, pkt, ev)
		}
	}
}

// Capture calls fn with a copy of every frame the link delivers (what the
// receiving TAP sees) until stop is called.
func (l *Link) Capture(fn func(Frame)) (stop func()) {
	return l.Tap(func(atob bool, pkt []byte, ev linkemu.Event) {
		if ev.Kind == linkemu.EventDeliver {
			fn(Frame{AtoB: atob, Time: ev.Time, Bytes: append([]byte(nil), pkt...)})
		}
	})
}
