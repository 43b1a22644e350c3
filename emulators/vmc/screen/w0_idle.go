package screen

// idle (W0) is a static desktop with an editor window whose text cursor
// blinks: 0.5 s on, 0.5 s off, so the picture changes twice a second and
// only in the one or two tiles under the cursor.
type idle struct {
	desk           *desktop
	fps            uint64
	wx, wy, ww, wh int
	lines          [][]byte
	curX, curY     int
	on, drawnOn    bool
}

const prompt = "user@vmc:~$ "

func newIdle(w, h int, seed uint64, fps int) *idle {
	s := &idle{desk: newDesktop(w, h, seed), fps: uint64(fps), on: true}
	s.ww, s.wh = min(640, w*2/3), min(360, h/2)
	s.wx = (w-s.ww)/2 + pick(mix(seed^0x1D1E), 64) - 32
	s.wy = (h-s.wh)/2 - 16
	rows := (s.wh - titleH - 12) / glyphH
	cols := (s.ww - 16) / glyphW
	for i := 0; i < rows-1; i++ {
		s.lines = append(s.lines, sentence(nil, hash2(seed, 0x1D, uint64(i)), cols))
	}
	s.lines = append(s.lines, []byte(prompt))
	s.curX = s.wx + 8 + len(prompt)*glyphW
	s.curY = s.wy + titleH + 6 + (rows-1)*glyphH
	return s
}

func (s *idle) advance(n uint64) bool {
	on := (n*2/s.fps)%2 == 0
	changed := on != s.on
	s.on = on
	return changed
}

func (s *idle) draw(c canvas, full bool, d *Damage) {
	if full {
		s.desk.draw(c, 0, 0, s.desk.w, s.desk.h, d)
		window(c, s.wx, s.wy, s.ww, s.wh, "notes.txt - editor", 0xFAFAF5)
		for i, l := range s.lines {
			c.text(s.wx+8, s.wy+titleH+6+i*glyphH, string(l), 0x202020)
		}
	} else if s.on == s.drawnOn {
		return
	}
	p := uint32(0xFAFAF5)
	if s.on {
		p = 0x202020
	}
	c.fill(s.curX, s.curY, s.curX+glyphW, s.curY+glyphH, p)
	d.MarkRect(s.curX, s.curY, s.curX+glyphW, s.curY+glyphH)
	s.drawnOn = s.on
}
