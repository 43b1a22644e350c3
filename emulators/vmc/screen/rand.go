package screen

// Content is a pure function of the seed and the frame number, so the
// generators here are stateless hashes rather than math/rand streams: any
// line, pixel or path can be recomputed without replaying the past.

// mix is SplitMix64's finaliser.
func mix(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ x>>30) * 0xBF58476D1CE4E5B9
	x = (x ^ x>>27) * 0x94D049BB133111EB
	return x ^ x>>31
}

// hash2 hashes a seed with two coordinates.
func hash2(seed, a, b uint64) uint64 { return mix(mix(seed^a*0xD6E8FEB86659FD93) ^ b) }

// pick returns a value in [0, n).
func pick(h uint64, n int) int { return int(h % uint64(n)) }

// triangle folds p into [0, span] back and forth, for bouncing motion.
func triangle(p, span int) int {
	if span <= 0 {
		return 0
	}
	p %= 2 * span
	if p < 0 {
		p += 2 * span
	}
	if p > span {
		return 2*span - p
	}
	return p
}

var words = []string{
	"amt", "cira", "gateway", "tunnel", "channel", "window", "kernel", "module", "device",
	"network", "policy", "server", "client", "session", "power", "reset", "console", "frame",
	"buffer", "packet", "stream", "socket", "timer", "daemon", "config", "update", "service",
	"status", "error", "ready", "boot", "disk", "memory", "cpu", "thread", "link", "route",
	"table", "entry", "value", "index", "block", "tile", "pixel", "screen", "input", "output",
}

// sentence appends a pseudo-random line of words of at most n bytes to b.
func sentence(b []byte, h uint64, n int) []byte {
	start := len(b)
	for i := uint64(0); ; i++ {
		w := words[pick(mix(h+i), len(words))]
		if len(b)-start+len(w)+1 > n {
			return b
		}
		if len(b) > start {
			b = append(b, ' ')
		}
		b = append(b, w...)
	}
}
