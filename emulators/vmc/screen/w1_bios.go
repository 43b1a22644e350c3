package screen

import "fmt"

// console is an 80×25 text screen in 8×14 cells (the EGA text mode's
// 640×350) on black, below the stamp, where lines appear one after another
// and scroll. W1 feeds it an endless seeded boot log; the boot sequence
// feeds it the POST messages.
type console struct {
	w, h     int
	grid     *textGrid
	x0, y0   int
	text     func(i int) string
	interval func(i int) uint64 // frames between line i-1 and line i
	limit    int                // lines to show; <0 for endless
	count    int
	next     uint64 // content frame of the next line
}

const (
	cellW = 8
	cellH = 14
)

func newConsole(w, h int, text func(int) string, interval func(int) uint64, limit int) *console {
	cols, rows := min(80, w/cellW), min(25, (h-StampHeight)/cellH)
	c := &console{w: w, h: h, grid: newTextGrid(cols, rows, false, fixed7x13), y0: StampHeight,
		text: text, interval: interval, limit: limit}
	c.next = interval(0)
	return c
}

func (c *console) advance(n uint64) bool {
	changed := false
	for c.next <= n && (c.limit < 0 || c.count < c.limit) {
		if c.count > 0 {
			c.grid.newline()
		}
		t := c.text(c.count)
		if len(t) > c.grid.cols {
			t = t[:c.grid.cols]
		}
		c.grid.puts(t)
		c.count++
		c.next += c.interval(c.count)
		changed = true
	}
	return changed
}

func (c *console) draw(cv canvas, full bool, d *Damage) {
	lo, hi := c.grid.takeDirty()
	if full {
		cv.fill(0, 0, c.w, c.h, black)
		d.MarkRect(0, 0, c.w, c.h)
		lo, hi = 0, c.grid.rows
	}
	if lo >= hi {
		return
	}
	c.grid.drawRows(cv, c.x0, c.y0, cellW, cellH, lo, hi, 0xAAAAAA, black)
	d.MarkRect(c.x0, c.y0+lo*cellH, c.x0+c.grid.cols*cellW, c.y0+hi*cellH)
}

// bootMessages take a number (n), a word (w) or both (nw).
var bootMessages = []struct{ args, format string }{
	{"n", "usb 1-1: new high-speed USB device number %d using xhci_hcd"},
	{"n", "e1000e 0000:00:1f.6 eth0: link is up %d Mbps full duplex"},
	{"n", "EXT4-fs (sda%d): mounted filesystem with ordered data mode"},
	{"w", "systemd[1]: Started %s service."},
	{"n", "mei_me 0000:00:16.0: enabling device (%04x)"},
	{"nw", "audit: type=1400 audit(%d): apparmor=\"STATUS\" profile=\"%s\""},
	{"n", "random: crng init done, %d bits"},
	{"w", "ACPI: \\_SB_.PCI0: %s power resource on"},
	{"nw", "Bluetooth: hci%d: firmware %s loaded"},
	{"w", "[  OK  ] Reached target %s."},
}

func bootLogLine(seed uint64, i int) string {
	h := hash2(seed, 0xB105, uint64(i))
	ms := uint64(i)*137 + h%97
	m := bootMessages[pick(h>>8, len(bootMessages))]
	num, word := int(h>>16)%1000, words[pick(h>>32, len(words))]
	var body string
	switch m.args {
	case "w":
		body = fmt.Sprintf(m.format, word)
	case "nw":
		body = fmt.Sprintf(m.format, num, word)
	default:
		body = fmt.Sprintf(m.format, num)
	}
	return fmt.Sprintf("[%5d.%06d] %s", ms/1000, (ms%1000)*1000+h%1000, body)
}

// newBIOSLog (W1): a boot log line every 1–8 content frames, forever.
func newBIOSLog(w, h int, seed uint64) *console {
	return newConsole(w, h,
		func(i int) string { return bootLogLine(seed, i) },
		func(i int) uint64 { return 1 + uint64(pick(hash2(seed, 0xB1, uint64(i)), 8)) },
		-1)
}

var postLines = []string{
	"oobtb vMC BIOS v1.00 (emulated platform firmware)",
	"Copyright (C) the oobtb testbed",
	"",
	"CPU: Emulated Core(TM) i7 CPU @ 3.00GHz",
	"Memory Test: 16384M OK",
	"",
	"Intel(R) Management Engine BIOS Extension",
	"Intel(R) AMT: enabled, remote access (CIRA) configured",
	"Press <CTRL-P> to enter MEBx setup menu",
	"",
	"SATA Port 0: vDISK0 256 GB",
	"USB Device(s): 1 Keyboard, 1 Mouse",
	"",
	"Booting from Hard Disk...",
}

// newBootConsole shows the POST messages evenly over frames content frames.
func newBootConsole(w, h int, frames uint64) *console {
	step := max(frames/uint64(len(postLines)+1), 1)
	return newConsole(w, h,
		func(i int) string { return postLines[i] },
		func(int) uint64 { return step },
		len(postLines))
}
