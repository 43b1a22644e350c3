package screen

// Keyboard and pointer input are drawn as overlays above the workload so
// any workload shows them: typed text in a panel at the bottom-left (shown
// from the first typed key on), click dots, and an arrow pointer (shown
// from the first pointer event on). Hidden until used, so W5 still changes
// every pixel when nobody types.

// X11 keysyms the panel understands besides Latin-1 (RFB sends keysyms).
const (
	KeysymBackSpace = 0xff08
	KeysymTab       = 0xff09
	KeysymReturn    = 0xff0d
	KeysymKPEnter   = 0xff8d
)

const (
	panelRows   = 4
	panelCellW  = 8  // Inconsolata 8×16
	panelCellH  = 16 //
	panelH      = panelRows*panelCellH + 4
	panelMaxW   = 640
	panelFg     = 0x101010
	panelBg     = 0xF4F1E4
	panelBorder = 0x000000
)

type panel struct {
	x0, y0, x1, y1 int
	grid           *textGrid
	shown          bool
}

func newPanel(w, h int) *panel {
	p := &panel{x0: 0, y0: h - panelH, x1: min(w, panelMaxW), y1: h}
	p.grid = newTextGrid((p.x1-p.x0-12)/panelCellW, panelRows, true, latin8x16)
	return p
}

func (p *panel) textOrigin() (int, int) { return p.x0 + 6, p.y0 + 2 }

// key applies a pressed keysym; it reports whether the panel changed.
func (p *panel) key(keysym uint32) bool {
	switch {
	case keysym >= 0x20 && keysym <= 0x7e, keysym >= 0xa0 && keysym <= 0xff:
		p.grid.put(rune(keysym))
	case keysym == KeysymReturn || keysym == KeysymKPEnter:
		p.grid.newline()
	case keysym == KeysymBackSpace:
		p.grid.backspace()
	case keysym == KeysymTab:
		for range 4 - p.grid.col%4 {
			p.grid.put(' ')
		}
	default:
		return false
	}
	if !p.shown {
		p.shown = true
		p.grid.dirty(0, p.grid.rows)
	}
	return true
}

// markDirty turns the panel's changed rows into candidate tiles.
func (p *panel) markDirty(d *Damage) {
	lo, hi := p.grid.takeDirty()
	if !p.shown || lo >= hi {
		return
	}
	if lo == 0 && hi == p.grid.rows {
		d.MarkRect(p.x0, p.y0, p.x1, p.y1)
		return
	}
	tx, ty := p.textOrigin()
	d.MarkRect(tx, ty+lo*panelCellH, tx+p.grid.cols*panelCellW, ty+hi*panelCellH)
}

func (p *panel) draw(c canvas) {
	if !p.shown || !c.overlaps(p.x0, p.y0, p.x1, p.y1) {
		return
	}
	c.fill(p.x0, p.y0, p.x1, p.y1, panelBg)
	c.frame(p.x0, p.y0, p.x1, p.y1, panelBorder)
	tx, ty := p.textOrigin()
	p.grid.drawRows(c, tx, ty, panelCellW, panelCellH, 0, p.grid.rows, panelFg, panelBg)
}

// The pointer: an arrow with its hot spot at the top-left pixel.
var arrow = [...]string{
	"X          ",
	"XX         ",
	"XoX        ",
	"XooX       ",
	"XoooX      ",
	"XooooX     ",
	"XoooooX    ",
	"XooooooX   ",
	"XoooooooX  ",
	"XooooooooX ",
	"XoooooXXXXX",
	"XooXooX    ",
	"XoX XooX   ",
	"XX  XooX   ",
	"X    XooX  ",
	"     XooX  ",
	"      XX   ",
}

const (
	arrowW = 11
	arrowH = len(arrow)
	dotR   = 3 // click dots are (2·dotR+1)² squares with clipped corners
	maxDot = 256
)

type dot struct {
	x, y int
	col  uint32
}

var buttonColours = [3]uint32{0xE02020, 0x20B020, 0x2050E0}

type pointer struct {
	x, y  int
	mask  uint8
	shown bool
	dots  []dot
}

func drawArrow(c canvas, x, y int) {
	if !c.overlaps(x, y, x+arrowW, y+arrowH) {
		return
	}
	for r, row := range arrow {
		for i := 0; i < len(row); i++ {
			switch row[i] {
			case 'X':
				c.set(x+i, y+r, black)
			case 'o':
				c.set(x+i, y+r, white)
			}
		}
	}
}

func drawDot(c canvas, d dot) {
	if !c.overlaps(d.x-dotR, d.y-dotR, d.x+dotR+1, d.y+dotR+1) {
		return
	}
	c.fill(d.x-dotR+1, d.y-dotR, d.x+dotR, d.y+dotR+1, d.col)
	c.fill(d.x-dotR, d.y-dotR+1, d.x+dotR+1, d.y+dotR, d.col)
}

func markDot(dm *Damage, d dot) { dm.MarkRect(d.x-dotR, d.y-dotR, d.x+dotR+1, d.y+dotR+1) }

func markArrow(dm *Damage, x, y int) { dm.MarkRect(x, y, x+arrowW, y+arrowH) }
