package linkemu

import "time"

// EventKind says what happened to a frame in a Direction.
type EventKind uint8

const (
	// EventIn: the frame entered the Direction (Send was called).
	EventIn EventKind = iota + 1
	// EventDeliver: the frame (or a duplicate of it) leaves the Direction.
	EventDeliver
	// EventDrop: the frame was discarded; Event.Cause says why.
	EventDrop
)

func (k EventKind) String() string {
	switch k {
	case EventIn:
		return "in"
	case EventDeliver:
		return "deliver"
	case EventDrop:
		return "drop"
	}
	return "unknown"
}

// DropCause is why a frame was dropped.
type DropCause uint8

const (
	CauseNone DropCause = iota
	CauseMTU
	CauseDown // link down, or the Direction was closed
	CausePartition
	CauseLoss
	CauseQueue // tail drop at the rate limiter's queue
)

func (c DropCause) String() string {
	names := [...]string{"none", "mtu", "down", "partition", "loss", "queue"}
	if int(c) < len(names) {
		return names[c]
	}
	return "unknown"
}

// Event describes one step of one frame, for the tap set with SetTap.
type Event struct {
	Kind  EventKind
	Cause DropCause
	// Seq numbers the frames given to Send, from 1; a duplicate carries the
	// Seq of its original.
	Seq uint64
	// Time is the clock time of the event. For EventDeliver, Due is the
	// scheduled departure; under clock.Manual the two are equal, under
	// clock.Real Time-Due is the scheduling error.
	Time time.Time
	Due  time.Time
	// Duplicate marks the extra copy made by duplication; Corrupted marks a
	// copy with a flipped bit.
	Duplicate bool
	Corrupted bool
}

// Stats counts what a Direction did. Every frame given to Send is either
// delivered or dropped once (plus its duplicate, if any), or still queued.
type Stats struct {
	InPackets, InBytes               uint64
	DeliveredPackets, DeliveredBytes uint64
	DroppedMTU                       uint64
	DroppedDown                      uint64
	DroppedPartition                 uint64
	DroppedLoss                      uint64
	DroppedQueue                     uint64
	Duplicated                       uint64
	Corrupted                        uint64
	// Queued and QueuedBytes are the frames scheduled and not yet delivered.
	Queued      int
	QueuedBytes int
}

// Dropped is the total of all drop causes.
func (s Stats) Dropped() uint64 {
	return s.DroppedMTU + s.DroppedDown + s.DroppedPartition + s.DroppedLoss + s.DroppedQueue
}

func (s *Stats) countDrop(c DropCause) {
	switch c {
	case CauseMTU:
		s.DroppedMTU++
	case CauseDown:
		s.DroppedDown++
	case CausePartition:
		s.DroppedPartition++
	case CauseLoss:
		s.DroppedLoss++
	case CauseQueue:
		s.DroppedQueue++
	}
}
