package screen

import (
	"fmt"
	"image"
	"slices"
	"time"

	"github.com/oobtb/oobtb/emulators/framebuf"
)

// Screen is the vMC's display. See the package comment.
//
// Pixels live in two layers: base, which the workload (or the boot console)
// draws, and out, the composed frame the KVM server reads (base plus the
// input panel, click dots, pointer and stamp). Each frame, only candidate
// tiles are recomposed, into a 64×64 scratch buffer, and a tile is
// committed and reported as damage only if its pixels differ from out.
type Screen struct {
	cfg                Config
	w, h               int             // current display mode
	base, out, scratch *framebuf.Image // nil after Release
	pending            Damage          // tiles to recompose at the next frame
	damage             Damage          // tiles changed since TakeDamage

	started    bool
	now        time.Time // latest time seen
	phaseStart time.Time // when the current content started
	power      Power
	cont       content // nil while dark
	contN      uint64  // content frame the content was advanced to
	needFull   bool    // base must be redrawn entirely

	frame   uint32
	inputID uint32
	changed bool // something other than the content changed since the last frame
	stamp   Stamp

	panel *panel
	ptr   pointer
}

// New builds a screen showing frame 0. Pixel buffers are allocated on the
// first Image, Snapshot, Checksum or TakeDamage (whose damage is then the
// whole screen), so a vMC nobody watches never holds a framebuffer. The
// screen's time starts at the first Step (or at the zero time for Advance).
func New(cfg Config) (*Screen, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Screen{cfg: cfg}
	s.resize(cfg.Width, cfg.Height)
	s.enter(cfg.Power, s.now)
	s.stamp = Stamp{Workload: cfg.Workload}
	return s, nil
}

// enter switches the power state and the content that goes with it; the
// content's frame 0 is at start.
func (s *Screen) enter(p Power, start time.Time) {
	if p == PowerOff {
		// A host that was switched off comes back with a fresh screen.
		s.panel = newPanel(s.w, s.h)
		s.ptr = pointer{}
	}
	switch p {
	case PowerOn:
		s.resize(s.cfg.Width, s.cfg.Height)
	case PowerBooting:
		s.resize(s.cfg.BootWidth, s.cfg.BootHeight)
	}
	s.power, s.phaseStart, s.contN, s.needFull = p, start, 0, true
	s.cont = s.newContent()
}

func (s *Screen) newContent() content {
	switch s.power {
	case PowerOn:
		return newContent(s.cfg.Workload, s.w, s.h, s.cfg.Seed, s.cfg.FPS)
	case PowerBooting:
		return newBootConsole(s.w, s.h, s.framesIn(s.cfg.BootDuration))
	}
	return nil
}

// resize switches the display mode: new damage sets, new pixel layers, and
// everything counts as damaged. Typed text survives when the input panel
// keeps its width.
func (s *Screen) resize(w, h int) {
	if w == s.w && h == s.h {
		return
	}
	s.w, s.h = w, h
	old := s.panel
	s.panel = newPanel(w, h)
	if old != nil && old.grid.cols == s.panel.grid.cols {
		s.panel.grid, s.panel.shown = old.grid, old.shown
		s.panel.grid.dirty(0, s.panel.grid.rows)
	}
	s.ptr.x, s.ptr.y = min(s.ptr.x, w-1), min(s.ptr.y, h-1)
	s.pending, s.damage = NewDamage(w, h), NewDamage(w, h)
	s.damage.MarkAll()
	s.needFull = true
	if s.out != nil {
		// Sizes are validated, so allocation cannot fail; the next render
		// draws everything.
		s.base, _ = framebuf.New(w, h)
		s.out, _ = framebuf.New(w, h)
	}
}

func (s *Screen) framesIn(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	// A microsecond of slack so a driver stepping at k/FPS, with the period
	// rounded down to whole nanoseconds, still lands on frame k.
	fps := uint64(s.cfg.FPS)
	return uint64(d/time.Second)*fps + (uint64(d%time.Second)*fps+uint64(time.Microsecond))/uint64(time.Second)
}

// Step brings the screen to time now and reports whether a new frame was
// produced (content changed, input arrived or the power state moved). Time
// never goes backwards: an earlier now is treated as the latest seen.
func (s *Screen) Step(now time.Time) bool {
	if !s.started {
		s.started, s.now, s.phaseStart = true, now, now
	}
	if now.After(s.now) {
		s.now = now
	}
	changed := s.changed
	s.changed = false
	if s.power == PowerBooting && s.now.Sub(s.phaseStart) >= s.cfg.BootDuration {
		s.enter(PowerOn, s.phaseStart.Add(s.cfg.BootDuration))
		changed = true
	}
	if s.cont != nil {
		if n := s.framesIn(s.now.Sub(s.phaseStart)); n > s.contN {
			if s.cont.advance(n) {
				changed = true
			}
			s.contN = n
		}
	}
	if !changed {
		return false
	}
	s.frame++
	s.render()
	return true
}

// Advance is Step at the last time seen plus dt.
func (s *Screen) Advance(dt time.Duration) bool {
	if !s.started {
		s.Step(s.now)
	}
	return s.Step(s.now.Add(max(dt, 0)))
}

// render draws the current state into base and recomposes candidate tiles.
func (s *Screen) render() {
	s.stamp = Stamp{Frame: s.frame, InputID: s.inputID, Workload: s.cfg.Workload}
	s.panel.markDirty(&s.pending)
	if s.out == nil {
		return
	}
	bc := newCanvas(s.base, 0, 0)
	switch {
	case s.needFull && s.cont == nil:
		s.base.Fill(0, 0, s.base.W, s.base.H, black)
		s.pending.MarkAll()
	case s.needFull:
		s.cont.draw(bc, true, &s.pending)
		s.pending.MarkAll()
	case s.cont != nil:
		s.cont.draw(bc, false, &s.pending)
	}
	s.needFull = false
	if !s.power.Dark() {
		s.pending.MarkRect(0, 0, StampWidth, StampHeight)
	}
	s.compose()
}

func (s *Screen) compose() {
	dark := s.power.Dark()
	s.pending.ForEach(func(r image.Rectangle) {
		tw, th := r.Dx(), r.Dy()
		tile := &framebuf.Image{W: tw, H: th, Stride: TileSize, Pix: s.scratch.Pix}
		for y := 0; y < th; y++ {
			o := (r.Min.Y+y)*s.base.Stride + r.Min.X
			copy(tile.Pix[y*TileSize:y*TileSize+tw], s.base.Pix[o:o+tw])
		}
		if !dark {
			c := newCanvas(tile, r.Min.X, r.Min.Y)
			s.panel.draw(c)
			for _, d := range s.ptr.dots {
				drawDot(c, d)
			}
			if s.ptr.shown {
				drawArrow(c, s.ptr.x, s.ptr.y)
			}
			s.stamp.draw(c)
		}
		changed := false
		for y := 0; y < th; y++ {
			o := (r.Min.Y+y)*s.out.Stride + r.Min.X
			src, dst := tile.Pix[y*TileSize:y*TileSize+tw], s.out.Pix[o:o+tw]
			if !slices.Equal(src, dst) {
				copy(dst, src)
				changed = true
			}
		}
		if changed {
			s.damage.Set(r.Min.X/TileSize, r.Min.Y/TileSize)
		}
	})
	s.pending.Clear()
}

// ensurePixels (re)allocates released pixel buffers and redraws everything;
// the whole screen counts as damaged.
func (s *Screen) ensurePixels() error {
	if s.out != nil {
		return nil
	}
	var err error
	if s.base, err = framebuf.New(s.w, s.h); err != nil {
		return fmt.Errorf("screen: %w", err)
	}
	s.out, _ = framebuf.New(s.w, s.h)
	s.scratch, _ = framebuf.New(TileSize, TileSize)
	s.needFull = true
	s.render()
	s.damage.MarkAll()
	return nil
}

// Release frees the pixel buffers (two W×H×4-byte layers) while nobody
// watches; the screen keeps time, input and frame numbering. The next
// Image, Snapshot, Checksum or TakeDamage redraws the current frame and
// reports full damage.
func (s *Screen) Release() {
	s.base, s.out, s.scratch = nil, nil, nil
	s.needFull = true
}

// Image is the current frame. The screen keeps drawing into it: read it
// between Steps, and Snapshot if you need it to stay.
func (s *Screen) Image() *framebuf.Image {
	_ = s.ensurePixels()
	return s.out
}

// Snapshot is a copy of the current frame.
func (s *Screen) Snapshot() *framebuf.Image { return s.Image().Clone() }

// Checksum is ChecksumImage of the current frame.
func (s *Screen) Checksum() uint64 { return ChecksumImage(s.Image()) }

// TakeDamage returns the tiles changed since the last call and forgets
// them. Pixels outside the returned tiles are as they were at the last
// call.
func (s *Screen) TakeDamage() Damage {
	_ = s.ensurePixels()
	d := s.damage.Clone()
	s.damage.Clear()
	return d
}

// MarkAll makes the next TakeDamage report every tile (a full refresh, as
// the KVM server sends on a non-incremental update request).
func (s *Screen) MarkAll() { s.damage.MarkAll() }

// KeyEvent applies a key press or release. Pressed Latin-1 printable
// keysyms are typed into the input panel (characters the 7×13 face lacks
// show as a replacement box), Return and KP_Enter start a new line,
// BackSpace deletes, Tab moves to the next multiple of 4 columns. While the
// display is dark, keys draw nothing but id is still applied.
func (s *Screen) KeyEvent(down bool, keysym uint32, id uint32) {
	s.inputID, s.changed = id, true
	if down && !s.power.Dark() {
		s.panel.key(keysym)
	}
}

// PointerEvent moves the pointer to (x, y), clamped to the screen; each
// newly pressed button of mask (bit 0 left, 1 middle, 2 right) leaves a
// red, green or blue dot there. The last 256 dots stay on screen.
func (s *Screen) PointerEvent(mask uint8, x, y int, id uint32) {
	s.inputID, s.changed = id, true
	x, y = min(max(x, 0), s.w-1), min(max(y, 0), s.h-1)
	p := &s.ptr
	if !s.power.Dark() {
		if p.shown {
			markArrow(&s.pending, p.x, p.y)
		}
		markArrow(&s.pending, x, y)
		p.shown = true
		pressed := mask &^ p.mask
		for b := range 3 {
			if pressed&(1<<b) == 0 {
				continue
			}
			d := dot{x: x, y: y, col: buttonColours[b]}
			p.dots = append(p.dots, d)
			markDot(&s.pending, d)
			if len(p.dots) > maxDot {
				markDot(&s.pending, p.dots[0])
				p.dots = slices.Delete(p.dots, 0, 1)
			}
		}
	}
	p.x, p.y, p.mask = x, y, mask
}

// SetPower changes what the display shows: PowerOn shows the workload
// from its beginning, PowerBooting shows the BIOS POST text for
// Config.BootDuration and then the workload, PowerOff and PowerSleep are
// black with no stamp. Switching off also clears typed text, dots and the
// pointer. PowerBooting always restarts the boot sequence (a reset during
// POST starts POST again). The change shows at the next Step.
func (s *Screen) SetPower(p Power) error {
	if p >= numPowers {
		return fmt.Errorf("screen: unknown power state %d", p)
	}
	if p != s.power || p == PowerBooting {
		s.enter(p, s.now)
		s.changed = true
	}
	return nil
}

// SetWorkload switches workload; if the display is on, the new one starts
// from its beginning at the next Step.
func (s *Screen) SetWorkload(w Workload) error {
	if w >= numWorkloads {
		return fmt.Errorf("screen: unknown workload %d", w)
	}
	if w != s.cfg.Workload {
		s.cfg.Workload = w
		if s.power == PowerOn {
			s.enter(PowerOn, s.now)
		}
		s.changed = true
	}
	return nil
}

// Power is the display's power state; the KVM server refuses sessions
// while it is PowerOff.
func (s *Screen) Power() Power { return s.power }

// Workload is the configured workload.
func (s *Screen) Workload() Workload { return s.cfg.Workload }

// Size is the current display mode. It changes when a boot with a
// Config.BootWidth×BootHeight POST mode ends, and on SetResolution; the KVM
// server compares it after each Step and sends DesktopSize when it moved.
func (s *Screen) Size() (w, h int) { return s.w, s.h }

// SetResolution changes the mode the workload runs in. It applies now if
// the display is on or dark, after POST if booting. The workload carries on
// at its current frame, drawn afresh at the new size; the whole screen is
// damaged.
func (s *Screen) SetResolution(w, h int) error {
	if err := (Resolution{w, h}).validate(); err != nil {
		return err
	}
	s.cfg.Width, s.cfg.Height = w, h
	if s.power == PowerBooting || (w == s.w && h == s.h) {
		return nil
	}
	s.resize(w, h)
	if s.cont != nil {
		s.cont = s.newContent()
		if s.contN > 0 {
			s.cont.advance(s.contN)
		}
	}
	s.changed = true
	return nil
}

// FPS is the content frame rate.
func (s *Screen) FPS() int { return s.cfg.FPS }

// Period is one content frame, the interval at which a driver should Step.
func (s *Screen) Period() time.Duration { return time.Second / time.Duration(s.cfg.FPS) }

// Frame is the number of frames produced so far (the stamp's counter).
func (s *Screen) Frame() uint32 { return s.frame }

// LastInputID is the id of the last input event applied.
func (s *Screen) LastInputID() uint32 { return s.inputID }

// Stamp is what the current frame's stamp says (drawn unless dark).
func (s *Screen) Stamp() Stamp { return s.stamp }

// Now is the latest time the screen has seen.
func (s *Screen) Now() time.Time { return s.now }
