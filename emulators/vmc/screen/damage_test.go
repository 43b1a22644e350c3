package screen_test

import (
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/screen"
)

var _ = Describe("Damage", func() {
	It("marks the tiles a rectangle touches, clipped to the screen", func() {
		d := screen.NewDamage(1920, 1080)
		Expect(d.TilesX).To(Equal(30))
		Expect(d.TilesY).To(Equal(17))
		d.MarkRect(63, 63, 65, 65)
		Expect(d.Count()).To(Equal(4))
		Expect(d.Has(0, 0) && d.Has(1, 0) && d.Has(0, 1) && d.Has(1, 1)).To(BeTrue())
		d.MarkRect(-100, 1070, 10, 2000)
		Expect(d.Has(0, 16)).To(BeTrue())
		Expect(d.Count()).To(Equal(5))
		d.MarkRect(10, 10, 10, 20) // empty
		Expect(d.Count()).To(Equal(5))
	})

	It("clips edge tiles and lists at most 64×64 rectangles", func() {
		d := screen.NewDamage(1920, 1080)
		d.MarkAll()
		Expect(d.Count()).To(Equal(30 * 17))
		area := 0
		for _, r := range d.Rects() {
			Expect(r.Dx()).To(BeNumerically("<=", 64))
			Expect(r.Dy()).To(BeNumerically("<=", 64))
			area += r.Dx() * r.Dy()
		}
		Expect(area).To(Equal(1920 * 1080))
		Expect(d.TileRect(29, 16).Dy()).To(Equal(1080 - 16*64))
		c := d.Clone()
		d.Clear()
		Expect(d.Empty()).To(BeTrue())
		Expect(c.Count()).To(Equal(30 * 17))
		d.Or(c)
		Expect(d.Count()).To(Equal(30 * 17))
	})
})

// exercise steps s for n frames with input mixed in, checking after every
// step that the damage is exact; it returns damaged tiles per frame.
func exercise(s *screen.Screen, n int, input bool) []int {
	GinkgoHelper()
	s.Step(t0)
	prev := s.Snapshot()
	s.TakeDamage()
	var counts []int
	for i := 1; i <= n; i++ {
		if input {
			switch i % 7 {
			case 1:
				s.KeyEvent(true, uint32('A'+i%26), uint32(i))
			case 2:
				s.PointerEvent(0, 60+i*11, 40+i*9, uint32(i))
			case 3:
				s.PointerEvent(1, 60+i*11, 40+i*9, uint32(i)) // click: a dot
			case 4:
				s.KeyEvent(true, screen.KeysymBackSpace, uint32(i))
			case 5:
				s.KeyEvent(true, screen.KeysymReturn, uint32(i))
			}
		}
		s.Advance(frame)
		cur := s.Snapshot()
		d := s.TakeDamage()
		missed, spurious := damageMismatch(prev, cur, d)
		Expect(missed).To(BeZero(), "frame %d: changed pixels outside the damage", i)
		Expect(spurious).To(BeZero(), "frame %d: damaged tiles that did not change", i)
		counts = append(counts, d.Count())
		prev = cur
	}
	return counts
}

var _ = Describe("damage exactness", func() {
	for _, w := range screen.Workloads() {
		It("reports exactly the changed tiles: "+w.String(), func() {
			exercise(mustNew(screen.Config{Width: 800, Height: 600, Workload: w, Seed: 5}), 30, true)
		})
	}

	It("is exact while the BIOS console and the terminal scroll", func() {
		for _, w := range []screen.Workload{screen.W1BIOS, screen.W2Terminal} {
			counts := exercise(mustNew(screen.Config{Width: 640, Height: 480, Workload: w, Seed: 8}), 300, false)
			Expect(slices.Max(counts)).To(BeNumerically(">=", 30), "%v: a scroll repaints the text area", w)
		}
	})

	It("is exact at 1080p for the window drag", func() {
		exercise(mustNew(screen.Config{Workload: screen.W3Drag, Seed: 3}), 5, true)
	})

	It("is exact across power changes and a workload switch", func() {
		s := mustNew(screen.Config{Width: 640, Height: 480, Workload: screen.W2Terminal, BootDuration: 500 * time.Millisecond})
		s.Step(t0)
		prev := s.Snapshot()
		s.TakeDamage()
		for i, p := range []screen.Power{screen.PowerSleep, screen.PowerOn, screen.PowerOff, screen.PowerBooting} {
			Expect(s.SetPower(p)).To(Succeed())
			for j := range 20 {
				if j == 10 && i == 1 {
					Expect(s.SetWorkload(screen.W4Photo)).To(Succeed())
				}
				s.Advance(frame)
				cur := s.Snapshot()
				missed, spurious := damageMismatch(prev, cur, s.TakeDamage())
				Expect(missed).To(BeZero())
				Expect(spurious).To(BeZero())
				prev = cur
			}
		}
	})

	It("keeps W0 damage to a few tiles a frame and most frames empty", func() {
		s := mustNew(screen.Config{Width: 1024, Height: 768, Workload: screen.W0Idle})
		counts := exercise(s, 60, false)
		total, frames := 0, 0
		for _, c := range counts {
			Expect(c).To(BeNumerically("<=", 6))
			total += c
			if c > 0 {
				frames++
			}
		}
		Expect(frames).To(Equal(4), "two blinks a second for two seconds")
		Expect(s.Frame()).To(Equal(uint32(4)))
	})

	It("damages every tile every frame in W5", func() {
		s := mustNew(screen.Config{Width: 640, Height: 480, Workload: screen.W5Noise, Seed: 11})
		for _, c := range exercise(s, 8, false) {
			Expect(c).To(Equal(10 * 8))
		}
	})

	It("reports full damage after MarkAll", func() {
		s := mustNew(screen.Config{Width: 640, Height: 480})
		s.TakeDamage()
		Expect(s.TakeDamage().Empty()).To(BeTrue())
		s.MarkAll()
		Expect(s.TakeDamage().Count()).To(Equal(10 * 8))
	})

	It("reports the first frame as full damage", func() {
		s := mustNew(screen.Config{Width: 640, Height: 480})
		Expect(s.TakeDamage().Count()).To(Equal(10 * 8))
	})
})
