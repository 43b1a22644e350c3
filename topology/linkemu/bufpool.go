package linkemu

// Frame buffers are recycled through fixed size classes held in buffered
// channels: unlike sync.Pool, putting a []byte back does not allocate, which
// keeps the per-packet path of a Direction allocation-free.
var bufClasses = [...]struct {
	size int
	ch   chan []byte
}{
	{2 << 10, make(chan []byte, 8192)},  // Ethernet frames up to MTU 1500 (+ headers)
	{16 << 10, make(chan []byte, 1024)}, // jumbo frames up to 9000
	{128 << 10, make(chan []byte, 128)}, // TAP/GSO super-frames up to 64 KiB and more
}

// MaxBuffer is the largest buffer GetBuffer hands out.
const MaxBuffer = 128 << 10

// GetBuffer returns a buffer of length n (0 ≤ n ≤ MaxBuffer) from the pool;
// larger requests are allocated and never pooled. Hand it to Send, which
// takes ownership, or give it back with PutBuffer.
func GetBuffer(n int) []byte {
	for i := range bufClasses {
		c := &bufClasses[i]
		if n <= c.size {
			select {
			case b := <-c.ch:
				return b[:n]
			default:
				return make([]byte, n, c.size)
			}
		}
	}
	return make([]byte, n)
}

// CopyBuffer returns a pooled copy of b, for callers that read frames into
// one large scratch buffer.
func CopyBuffer(b []byte) []byte {
	out := GetBuffer(len(b))
	copy(out, b)
	return out
}

// PutBuffer recycles b. Buffers whose capacity is not exactly one of the
// pool's classes (foreign slices) are left to the garbage collector.
func PutBuffer(b []byte) {
	for i := range bufClasses {
		c := &bufClasses[i]
		if cap(b) == c.size {
			select {
			case c.ch <- b[:0]:
			default:
			}
			return
		}
	}
}
