package cira

import "fmt"

// sendWindow is the credit the peer granted us (reference §1.6): never send
// more than it, wait at zero.
type sendWindow struct{ credit uint64 }

// maxCredit bounds what a peer may grant so that a window-adjust flood cannot
// overflow the counter; SSH caps windows at 2^32-1 as well.
const maxCredit = 1<<32 - 1

// take returns how many of want bytes may go now, at most chunk.
func (w *sendWindow) take(want, chunk int) int {
	n := min(want, chunk)
	if uint64(n) > w.credit {
		n = int(w.credit)
	}
	w.credit -= uint64(n)
	return n
}

func (w *sendWindow) add(n uint32) error {
	if w.credit+uint64(n) > maxCredit {
		return fmt.Errorf("WINDOW_ADJUST of %d would raise the send window to %d, beyond %d", n, w.credit+uint64(n), uint64(maxCredit))
	}
	w.credit += uint64(n)
	return nil
}

// recvWindow tracks what we advertised. The window is reopened as the
// application consumes bytes, not as they arrive, so a reader that stalls
// holds at most one window of buffered data; the adjust is sent once more than
// half the window has been consumed, as every MPS does.
type recvWindow struct {
	size     uint32 // advertised window
	inFlight uint64 // bytes the peer may still send before we adjust
	consumed uint32 // bytes consumed since the last adjust
}

func newRecvWindow(size uint32) recvWindow { return recvWindow{size: size, inFlight: uint64(size)} }

// received accounts n arriving bytes; more than the peer's credit is window
// abuse.
func (w *recvWindow) received(n int) error {
	if uint64(n) > w.inFlight {
		return fmt.Errorf("CHANNEL_DATA of %d bytes exceeds the %d bytes of window left (advertised %d)", n, w.inFlight, w.size)
	}
	w.inFlight -= uint64(n)
	return nil
}

// consume accounts n bytes handed to the application and returns the
// WINDOW_ADJUST to send, or 0.
func (w *recvWindow) consume(n int) uint32 {
	w.consumed += uint32(n)
	if w.consumed <= w.size/2 {
		return 0
	}
	adj := w.consumed
	w.consumed = 0
	w.inFlight += uint64(adj)
	return adj
}
