package screen

import "github.com/oobtb/oobtb/emulators/framebuf"

// desktop is the static background W0, W2, W3 and W4 draw on: a vertical
// gradient, a column of icons and a taskbar, laid out from the seed.
type desktop struct {
	w, h     int
	top, bot [3]int // gradient end colours
	icons    []icon
	taskbar  int // taskbar height
}

type icon struct {
	x, y  int
	col   uint32
	label string
}

const iconSize = 48

func newDesktop(w, h int, seed uint64) *desktop {
	d := &desktop{w: w, h: h, taskbar: 32}
	hs := mix(seed ^ 0xDE5C)
	d.top = [3]int{20 + pick(hs, 60), 40 + pick(hs>>8, 80), 90 + pick(hs>>16, 100)}
	d.bot = [3]int{pick(hs>>24, 40), 10 + pick(hs>>32, 50), 40 + pick(hs>>40, 60)}
	n := 0
	for y := StampHeight + 32; y+iconSize+glyphH+24 < h-d.taskbar; y += iconSize + glyphH + 24 {
		hi := hash2(seed, 0x1C0, uint64(n))
		d.icons = append(d.icons, icon{
			x: 24, y: y,
			col:   framebuf.RGB(uint8(64+pick(hi, 192)), uint8(64+pick(hi>>8, 192)), uint8(64+pick(hi>>16, 192))),
			label: words[pick(hi>>24, len(words))],
		})
		n++
		if n == 8 {
			break
		}
	}
	return d
}

func (d *desktop) rowColour(y int) uint32 {
	var c [3]uint8
	for i := range c {
		c[i] = uint8(d.top[i] + (d.bot[i]-d.top[i])*y/d.h)
	}
	return framebuf.RGB(c[0], c[1], c[2])
}

// draw paints the desktop within [x0,x1)×[y0,y1) and marks those tiles.
func (d *desktop) draw(c canvas, x0, y0, x1, y1 int, dmg *Damage) {
	c = c.within(x0, y0, x1, y1)
	if c.clip.Empty() {
		return
	}
	dmg.MarkRect(c.clip.Min.X, c.clip.Min.Y, c.clip.Max.X, c.clip.Max.Y)
	for y := c.clip.Min.Y; y < min(c.clip.Max.Y, d.h-d.taskbar); y++ {
		c.fill(c.clip.Min.X, y, c.clip.Max.X, y+1, d.rowColour(y))
	}
	for _, ic := range d.icons {
		if !c.overlaps(ic.x-8, ic.y, ic.x+iconSize+8, ic.y+iconSize+4+glyphH) {
			continue
		}
		c.fill(ic.x, ic.y, ic.x+iconSize, ic.y+iconSize, ic.col)
		c.frame(ic.x, ic.y, ic.x+iconSize, ic.y+iconSize, 0x202020)
		c.fill(ic.x+8, ic.y+10, ic.x+iconSize-8, ic.y+14, 0xFFFFFF)
		c.text(ic.x+(iconSize-len(ic.label)*glyphW)/2, ic.y+iconSize+4, ic.label, 0xFFFFFF)
	}
	c.fill(0, d.h-d.taskbar, d.w, d.h, 0x202428)
	c.fill(4, d.h-d.taskbar+4, 84, d.h-4, 0x3A6EA5)
	c.text(16, d.h-d.taskbar+9, "Start", 0xFFFFFF)
	c.text(d.w-7*8-8, d.h-d.taskbar+9, "vMC", 0xC0C0C0)
}

// window draws a window's frame and title bar at [x,x+w)×[y,y+h); the
// client area is [x+2, x+w-2)×[y+titleH, y+h-2).
func window(c canvas, x, y, w, h int, title string, client uint32) {
	if !c.overlaps(x, y, x+w, y+h) {
		return
	}
	c.fill(x, y, x+w, y+titleH, 0x2B5797)
	c.text(x+8, y+4, title, 0xFFFFFF)
	c.fill(x+w-20, y+4, x+w-6, y+titleH-4, 0xC04040)
	c.fill(x, y+titleH, x+w, y+h, client)
	c.frame(x, y, x+w, y+h, 0x101820)
}

const titleH = 21
