package screen_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/screen"
)

// script drives a screen through 2 s of content with input mixed in and
// irregular step times, and returns the checksum after every fifth step.
func script(s *screen.Screen) []uint64 {
	var sums []uint64
	s.Step(t0)
	now := t0
	for i := 1; i <= 60; i++ {
		now = now.Add(frame + time.Duration(i%3)*time.Millisecond)
		switch i % 10 {
		case 3:
			s.KeyEvent(true, uint32('a'+i%26), uint32(i))
			s.KeyEvent(false, uint32('a'+i%26), uint32(i+1000))
		case 6:
			s.PointerEvent(uint8(i%2), 100+i*7, 80+i*5, uint32(i))
		case 9:
			s.KeyEvent(true, screen.KeysymReturn, uint32(i))
		}
		s.Step(now)
		if i%5 == 0 {
			sums = append(sums, s.Checksum())
		}
	}
	return sums
}

var _ = Describe("determinism", func() {
	for _, w := range screen.Workloads() {
		It("gives identical frames for the same seed and inputs: "+w.String(), func() {
			cfg := screen.Config{Width: 640, Height: 480, Workload: w, Seed: 42}
			a, b := mustNew(cfg), mustNew(cfg)
			sa, sb := script(a), script(b)
			Expect(sa).To(Equal(sb))
			Expect(a.Frame()).To(Equal(b.Frame()))

			cfg.Seed = 43
			c := mustNew(cfg)
			sc := script(c)
			Expect(sc[len(sc)-1]).NotTo(Equal(sa[len(sa)-1]), "the seed must matter")
		})

		It("redraws the same frame after its pixels were released: "+w.String(), func() {
			cfg := screen.Config{Width: 640, Height: 480, Workload: w, Seed: 9}
			a, b := mustNew(cfg), mustNew(cfg)
			a.Step(t0)
			b.Step(t0)
			runFrames(a, 20)
			runFrames(b, 5)
			b.Release()
			runFrames(b, 15)
			Expect(b.Frame()).To(Equal(a.Frame()))
			Expect(b.Checksum()).To(Equal(a.Checksum()))
			d := b.TakeDamage()
			Expect(d.Count()).To(Equal(d.TilesX*d.TilesY), "a re-acquired screen reports full damage")
		})
	}

	It("moves content by time, not by the number of Step calls", func() {
		cfg := screen.Config{Width: 640, Height: 480, Workload: screen.W3Drag, Seed: 1}
		a, b := mustNew(cfg), mustNew(cfg)
		a.Step(t0)
		b.Step(t0)
		runFrames(a, 30)
		b.Step(t0.Add(time.Second))
		// Only the stamp differs: a counts 30 frames, b one.
		Expect(b.Frame()).To(Equal(uint32(1)))
		Expect(a.Frame()).To(Equal(uint32(30)))
		ia, ib := a.Snapshot(), b.Snapshot()
		ia.Fill(0, 0, screen.StampWidth, screen.StampHeight, 0)
		ib.Fill(0, 0, screen.StampWidth, screen.StampHeight, 0)
		Expect(screen.ChecksumImage(ib)).To(Equal(screen.ChecksumImage(ia)))
	})

	It("ignores time going backwards", func() {
		s := mustNew(screen.Config{Width: 640, Height: 480, Workload: screen.W5Noise})
		s.Step(t0)
		runFrames(s, 3)
		sum := s.Checksum()
		Expect(s.Step(t0)).To(BeFalse())
		Expect(s.Checksum()).To(Equal(sum))
	})
})
