package screen

// drag (W3) moves a browser-like window across the desktop, bouncing off
// the edges at a few pixels per content frame, while its page scrolls by
// 3 pixels per frame. Every frame repaints the desktop under the old
// position and the whole window at the new one.
type drag struct {
	desk           *desktop
	seed           uint64
	ww, wh         int
	x0, y0, vx, vy int
	n              uint64
	dx, dy         int // where the window was last drawn
}

const (
	pageLineH  = 16
	pageScroll = 3 // pixels per content frame
)

func newDrag(w, h int, seed uint64) *drag {
	s := &drag{desk: newDesktop(w, h, seed), seed: seed}
	s.ww, s.wh = min(800, w*5/12), min(560, h/2)
	hs := mix(seed ^ 0xD7A9)
	s.x0, s.y0 = pick(hs, w), pick(hs>>16, h)
	s.vx, s.vy = 4+pick(hs>>32, 5), 2+pick(hs>>40, 4)
	s.dx, s.dy = s.pos(0)
	return s
}

func (s *drag) pos(n uint64) (int, int) {
	return triangle(s.x0+s.vx*int(n), s.desk.w-s.ww), triangle(s.y0+s.vy*int(n), s.desk.h-s.desk.taskbar-s.wh)
}

func (s *drag) advance(n uint64) bool {
	changed := n != s.n
	s.n = n
	return changed
}

func (s *drag) draw(c canvas, full bool, d *Damage) {
	if full {
		s.desk.draw(c, 0, 0, s.desk.w, s.desk.h, d)
	} else {
		s.desk.draw(c, s.dx, s.dy, s.dx+s.ww, s.dy+s.wh, d)
	}
	x, y := s.pos(s.n)
	s.dx, s.dy = x, y
	window(c, x, y, s.ww, s.wh, "Page - oobtb docs", 0xFFFFFF)
	d.MarkRect(x, y, x+s.ww, y+s.wh)
	s.page(c.within(x+2, y+titleH, x+s.ww-2, y+s.wh-2), x+2, y+titleH)
}

// page draws the scrolled document: a heading every 12 lines, a coloured
// figure now and then, and lines of words.
func (s *drag) page(c canvas, cx, cy int) {
	scroll := int(s.n) * pageScroll
	first := scroll / pageLineH
	var b [160]byte
	cols := (s.ww - 40) / glyphW
	figure := func(i int) bool { return i%12 != 0 && hash2(s.seed, 0x9A6E, uint64(i))%23 == 0 }
	for i := max(first-2, 0); ; i++ {
		y := cy + i*pageLineH - scroll
		if y >= c.clip.Max.Y {
			return
		}
		h := hash2(s.seed, 0x9A6E, uint64(i))
		switch {
		case i%12 == 0:
			c.fill(cx+12, y+pageLineH-2, cx+12+cols*glyphW/2, y+pageLineH-1, 0x2B5797)
			c.text(cx+12, y+1, string(sentence(b[:0], h, cols/2)), 0x2B5797)
		case figure(i):
			col := uint32(h>>8)&0x7F7F7F | 0x404040
			c.fill(cx+40, y+2, cx+40+cols*glyphW/3, y+pageLineH*3-2, col)
		case i > 0 && figure(i-1), i > 1 && figure(i-2):
			// covered by the figure above
		default:
			c.text(cx+20, y+1, string(sentence(b[:0], h, cols-int(h>>40)%16)), 0x303030)
		}
	}
}
