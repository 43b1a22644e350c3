package screen

// textGrid is a cols×rows character cell area with a cursor, wrapping and
// scrolling: the W2 terminal, the BIOS console and the input panel.
type textGrid struct {
	cols, rows int
	lines      [][]rune // ring of rows lines, lines[(top+r)%rows] is row r
	top        int
	row, col   int
	dirtyLo    int // rows [dirtyLo, dirtyHi) changed since takeDirty
	dirtyHi    int
	cursor     bool // draw a block cursor at (row, col)
	font       *bitmapFont
}

func newTextGrid(cols, rows int, cursor bool, font *bitmapFont) *textGrid {
	g := &textGrid{cols: cols, rows: rows, lines: make([][]rune, rows), cursor: cursor, font: font}
	for i := range g.lines {
		g.lines[i] = make([]rune, 0, cols)
	}
	g.dirtyLo, g.dirtyHi = 0, rows
	return g
}

func (g *textGrid) line(r int) []rune { return g.lines[(g.top+r)%g.rows] }

func (g *textGrid) dirty(lo, hi int) {
	if g.dirtyLo >= g.dirtyHi {
		g.dirtyLo, g.dirtyHi = lo, hi
		return
	}
	g.dirtyLo, g.dirtyHi = min(g.dirtyLo, lo), max(g.dirtyHi, hi)
}

// takeDirty returns the changed rows and forgets them.
func (g *textGrid) takeDirty() (lo, hi int) {
	lo, hi = g.dirtyLo, g.dirtyHi
	g.dirtyLo, g.dirtyHi = 0, 0
	return lo, hi
}

func (g *textGrid) put(r rune) {
	if g.col >= g.cols {
		g.newline()
	}
	i := (g.top + g.row) % g.rows
	g.lines[i] = append(g.lines[i], r)
	g.col++
	g.dirty(g.row, g.row+1)
}

func (g *textGrid) puts(s string) {
	for _, r := range s {
		g.put(r)
	}
}

func (g *textGrid) newline() {
	g.dirty(g.row, g.row+1)
	if g.row == g.rows-1 {
		g.top = (g.top + 1) % g.rows
		g.lines[(g.top+g.row)%g.rows] = g.lines[(g.top+g.row)%g.rows][:0]
		g.dirty(0, g.rows)
	} else {
		g.row++
	}
	g.col = 0
	g.dirty(g.row, g.row+1)
}

func (g *textGrid) backspace() {
	if g.col == 0 {
		return
	}
	i := (g.top + g.row) % g.rows
	g.lines[i] = g.lines[i][:len(g.lines[i])-1]
	g.col--
	g.dirty(g.row, g.row+1)
}

// drawRows paints rows [lo, hi) with cells of cw×ch pixels from (x0, y0).
// Each row is clipped to its cell band, so a tall glyph never leaks into
// a neighbouring row whose damage was not marked.
func (g *textGrid) drawRows(c canvas, x0, y0, cw, ch, lo, hi int, fg, bg uint32) {
	f := g.font
	dy := max((ch-f.h)/2, 0)
	for r := max(lo, 0); r < min(hi, g.rows); r++ {
		y := y0 + r*ch
		rc := c.within(x0, y, x0+g.cols*cw, y+ch)
		if rc.clip.Empty() {
			continue
		}
		rc.fill(x0, y, x0+g.cols*cw, y+ch, bg)
		for i, ru := range g.line(r) {
			rc.glyphIn(f, x0+i*cw, y+dy, ru, fg)
		}
		if g.cursor && r == g.row && g.col < g.cols {
			rc.fill(x0+g.col*cw, y+dy+1, x0+g.col*cw+cw-1, y+min(dy+f.h, ch), fg)
		}
	}
}
