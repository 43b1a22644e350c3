package screen

import (
	"math"

	"github.com/oobtb/oobtb/emulators/framebuf"
)

// photo (W4) is a ~480×270 region of smooth, grainy, photo-like colour
// that changes every content frame (video) and drifts across the desktop
// at one or two pixels per frame, bouncing off the edges.
type photo struct {
	desk           *desktop
	seed           uint64
	tw, th         int
	x0, y0, vx, vy int
	n              uint64
	dx, dy         int
	grainKey       uint32 // seeds the fixed film grain, which moves with the picture
}

var sine [256]uint8

func init() {
	for i := range sine {
		sine[i] = uint8(math.Round(127.5 + 127.5*math.Sin(2*math.Pi*float64(i)/256)))
	}
}

func newPhoto(w, h int, seed uint64) *photo {
	s := &photo{desk: newDesktop(w, h, seed), seed: seed}
	s.tw, s.th = min(480, w/3), min(270, h/3)
	hs := mix(seed ^ 0xF070)
	s.x0, s.y0 = pick(hs, w), pick(hs>>16, h)
	s.vx, s.vy = 1+pick(hs>>32, 2), 1
	s.dx, s.dy = s.pos(0)
	s.grainKey = uint32(mix(seed ^ 0x6A))
	return s
}

func (s *photo) pos(n uint64) (int, int) {
	return triangle(s.x0+s.vx*int(n), s.desk.w-s.tw), triangle(s.y0+s.vy*int(n), s.desk.h-s.desk.taskbar-s.th)
}

func (s *photo) advance(n uint64) bool {
	changed := n != s.n
	s.n = n
	return changed
}

func (s *photo) draw(c canvas, full bool, d *Damage) {
	if full {
		s.desk.draw(c, 0, 0, s.desk.w, s.desk.h, d)
	} else {
		s.desk.draw(c, s.dx, s.dy, s.dx+s.tw, s.dy+s.th, d)
	}
	x, y := s.pos(s.n)
	s.dx, s.dy = x, y
	d.MarkRect(x, y, x+s.tw, y+s.th)
	t := int(s.n)
	for ly := 0; ly < s.th; ly++ {
		sy := y + ly
		if sy < c.clip.Min.Y || sy >= c.clip.Max.Y {
			continue
		}
		gy := sine[(ly*3-t*2)&255]
		by := sine[(ly*2+t)&255]
		for lx := 0; lx < s.tw; lx++ {
			sx := x + lx
			if sx < c.clip.Min.X || sx >= c.clip.Max.X {
				continue
			}
			g := s.grainAt(lx, ly)
			r := (int(sine[(lx*2+t*3)&255])+int(gy))/2 + g
			gg := (int(sine[(lx+ly+t*5)&255])+int(sine[(lx-ly*2+t)&255]))/2 + g
			b := (int(by)+int(sine[(lx*3/2+64+t*4)&255]))/2 + g
			c.img.Pix[(sy-c.oy)*c.img.Stride+sx-c.ox] = framebuf.RGB(clamp8(r), clamp8(gg), clamp8(b))
		}
	}
}

func clamp8(v int) uint8 { return uint8(min(max(v, 0), 255)) }

// grainAt is film grain in -16..15, a cheap integer hash of the position
// so the picture needs no per-pixel state.
func (s *photo) grainAt(x, y int) int {
	h := uint32(x)*0x9E3779B1 ^ uint32(y)*0x85EBCA77 ^ s.grainKey
	h ^= h >> 15
	h *= 0xC2B2AE3D
	h ^= h >> 13
	return int(h>>27) - 16
}
