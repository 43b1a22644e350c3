package screen

// terminal (W2) is a terminal window where a command is typed one
// character per content frame, then its output appears a line per frame,
// scrolling the window once it is full. Typing damages the one or two
// tiles under the cursor; each scroll repaints the whole text area.
type terminal struct {
	desk           *desktop
	grid           *textGrid
	seed           uint64
	wx, wy, ww, wh int
	tx, ty         int // text origin
	cur            uint64
	cmd            int    // commands run so far
	line           []byte // the command being typed
	pos            int    // characters of line typed
	out, nOut      int    // output lines printed / to print
	phase          int
}

const (
	termPrompt = iota
	termTyping
	termOutput
)

var commands = []string{
	"ls -l /var/log", "cat /proc/meminfo", "dmesg | tail", "ping -c 3 gateway", "uptime",
	"ps aux | grep amt", "journalctl -u oobtb-vmc", "ip addr show eth0", "df -h", "echo",
}

func newTerminal(w, h int, seed uint64) *terminal {
	t := &terminal{desk: newDesktop(w, h, seed), seed: seed}
	cols := min(100, (w-160)/glyphW)
	rows := min(40, (h-StampHeight-32-titleH-24)/glyphH)
	t.grid = newTextGrid(cols, rows, true, fixed7x13)
	t.ww, t.wh = cols*glyphW+12, rows*glyphH+titleH+10
	t.wx = max(w-t.ww-40, 0) - pick(mix(seed^0x7E), 40)
	t.wy = StampHeight + 8
	t.tx, t.ty = t.wx+6, t.wy+titleH+4
	return t
}

func (t *terminal) advance(n uint64) bool {
	changed := false
	for ; t.cur < n; t.cur++ {
		t.step()
		changed = true
	}
	return changed
}

// step performs the one visible action of a content frame.
func (t *terminal) step() {
	switch t.phase {
	case termPrompt:
		t.grid.puts(prompt)
		h := hash2(t.seed, 0xC3D, uint64(t.cmd))
		t.line = append(t.line[:0], commands[pick(h, len(commands))]...)
		if string(t.line) == "echo" {
			t.line = append(t.line, ' ')
			t.line = sentence(t.line, h>>8, t.grid.cols-len(prompt)-6)
		}
		t.pos, t.phase = 0, termTyping
	case termTyping:
		if t.pos < len(t.line) {
			t.grid.put(rune(t.line[t.pos]))
			t.pos++
			return
		}
		t.grid.newline()
		t.out, t.nOut, t.phase = 0, 2+pick(hash2(t.seed, 0x0107, uint64(t.cmd)), 10), termOutput
	case termOutput:
		var b [128]byte
		l := sentence(b[:0], hash2(t.seed, uint64(t.cmd)<<8|0x55, uint64(t.out)), t.grid.cols-1)
		for _, c := range l {
			t.grid.put(rune(c))
		}
		t.grid.newline()
		t.out++
		if t.out == t.nOut {
			t.cmd++
			t.phase = termPrompt
		}
	}
}

func (t *terminal) draw(c canvas, full bool, d *Damage) {
	lo, hi := t.grid.takeDirty()
	if full {
		t.desk.draw(c, 0, 0, t.desk.w, t.desk.h, d)
		window(c, t.wx, t.wy, t.ww, t.wh, "Terminal - user@vmc", 0x141414)
		d.MarkRect(t.wx, t.wy, t.wx+t.ww, t.wy+t.wh)
		lo, hi = 0, t.grid.rows
	}
	if lo >= hi {
		return
	}
	t.grid.drawRows(c, t.tx, t.ty, glyphW, glyphH, lo, hi, 0xD8D8D8, 0x141414)
	d.MarkRect(t.tx, t.ty+lo*glyphH, t.tx+t.grid.cols*glyphW, t.ty+hi*glyphH)
}
