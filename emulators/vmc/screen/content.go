package screen

// content is what the base layer shows: a workload or the boot console.
// It is advanced in whole content frames (frame n is at n/FPS seconds after
// the content started) and drawn separately, so a screen whose pixels are
// released can still keep time.
type content interface {
	// advance moves to content frame n (never less than the last n) and
	// reports whether the picture changed.
	advance(n uint64) bool
	// draw paints onto the base layer everything that changed since the
	// last draw, or the whole screen if full, and marks every tile it
	// touched.
	draw(c canvas, full bool, d *Damage)
}

func newContent(w Workload, width, height int, seed uint64, fps int) content {
	switch w {
	case W1BIOS:
		return newBIOSLog(width, height, seed)
	case W2Terminal:
		return newTerminal(width, height, seed)
	case W3Drag:
		return newDrag(width, height, seed)
	case W4Photo:
		return newPhoto(width, height, seed)
	case W5Noise:
		return &noise{w: width, h: height, seed: seed}
	default:
		return newIdle(width, height, seed, fps)
	}
}
