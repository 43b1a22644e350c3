package screen_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
)

func allBlack(img *framebuf.Image) bool {
	for y := 0; y < img.H; y++ {
		for x := 0; x < img.W; x++ {
			if img.At(x, y) != 0 {
				return false
			}
		}
	}
	return true
}

var _ = Describe("power", func() {
	for _, p := range []screen.Power{screen.PowerOff, screen.PowerSleep} {
		It("shows a black screen without a stamp: "+p.String(), func() {
			s := mustNew(screen.Config{Width: 640, Height: 480, Workload: screen.W3Drag})
			s.Step(t0)
			s.PointerEvent(1, 100, 100, 1)
			typeText(s, "abc", 2)
			runFrames(s, 3)
			Expect(s.SetPower(p)).To(Succeed())
			Expect(s.Advance(frame)).To(BeTrue())
			Expect(s.Power()).To(Equal(p))
			Expect(s.Power().Dark()).To(BeTrue())
			Expect(allBlack(s.Image())).To(BeTrue())
			_, err := screen.DecodeStamp(s.Image())
			Expect(err).To(HaveOccurred())
			runFrames(s, 30)
			Expect(allBlack(s.Image())).To(BeTrue(), "the workload does not draw while dark")
		})
	}

	It("starts off when configured so", func() {
		s := mustNew(screen.Config{Width: 640, Height: 480, Power: screen.PowerOff})
		Expect(allBlack(s.Image())).To(BeTrue())
	})

	It("boots through BIOS text into the workload", func() {
		cfg := screen.Config{Width: 640, Height: 480, Workload: screen.W0Idle, BootDuration: 2 * time.Second, Seed: 4}
		s := mustNew(cfg)
		s.Step(t0)
		Expect(s.SetPower(screen.PowerOff)).To(Succeed())
		s.Advance(frame)
		Expect(s.SetPower(screen.PowerBooting)).To(Succeed())
		bootAt := s.Now()
		s.Advance(time.Second)
		Expect(s.Power()).To(Equal(screen.PowerBooting))
		st, err := screen.DecodeStamp(s.Image())
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Frame).To(Equal(s.Frame()))
		// Some POST lines are on the console, below the stamp.
		ink := 0
		for y := screen.StampHeight; y < 200; y++ {
			for x := 0; x < 640; x++ {
				if s.Image().At(x, y) == 0xAAAAAA {
					ink++
				}
			}
		}
		Expect(ink).To(BeNumerically(">", 500))

		s.Step(bootAt.Add(2 * time.Second))
		Expect(s.Power()).To(Equal(screen.PowerOn))
		// Now the desktop: the same picture as a screen freshly switched on
		// at the end of the boot (stamps aside).
		ref := mustNew(cfg)
		ref.Step(bootAt.Add(2 * time.Second))
		a, b := s.Snapshot(), ref.Snapshot()
		a.Fill(0, 0, screen.StampWidth, screen.StampHeight, 0)
		b.Fill(0, 0, screen.StampWidth, screen.StampHeight, 0)
		Expect(screen.ChecksumImage(a)).To(Equal(screen.ChecksumImage(b)))
	})

	It("restarts POST when reset during the boot", func() {
		s := mustNew(screen.Config{Width: 640, Height: 480, BootDuration: time.Second})
		s.Step(t0)
		Expect(s.SetPower(screen.PowerBooting)).To(Succeed())
		s.Advance(800 * time.Millisecond)
		Expect(s.SetPower(screen.PowerBooting)).To(Succeed())
		s.Advance(800 * time.Millisecond)
		Expect(s.Power()).To(Equal(screen.PowerBooting))
		s.Advance(200 * time.Millisecond)
		Expect(s.Power()).To(Equal(screen.PowerOn))
	})

	It("clears typed text and the pointer when switched off, not when put to sleep", func() {
		s := mustNew(screen.Config{Width: 640, Height: 480})
		typeText(s, "keep", 1)
		Expect(s.SetPower(screen.PowerSleep)).To(Succeed())
		Expect(s.SetPower(screen.PowerOn)).To(Succeed())
		Expect(screen.PanelLines(s)[0]).To(Equal("keep"))
		Expect(s.SetPower(screen.PowerOff)).To(Succeed())
		Expect(s.SetPower(screen.PowerOn)).To(Succeed())
		Expect(screen.PanelLines(s)[0]).To(BeEmpty())
	})

	It("rejects unknown states and workloads", func() {
		s := mustNew(screen.Config{Width: 640, Height: 480})
		Expect(s.SetPower(screen.Power(9))).NotTo(Succeed())
		Expect(s.SetWorkload(screen.Workload(9))).NotTo(Succeed())
	})
})

var _ = Describe("configuration", func() {
	It("defaults to 1920×1080 W0 at 30 Hz, powered on", func() {
		s := mustNew(screen.Config{})
		w, h := s.Size()
		Expect([]int{w, h}).To(Equal([]int{1920, 1080}))
		Expect(s.FPS()).To(Equal(30))
		Expect(s.Period()).To(Equal(time.Second / 30))
		Expect(s.Power()).To(Equal(screen.PowerOn))
		Expect(s.Workload()).To(Equal(screen.W0Idle))
	})

	It("accepts the standard resolutions and refuses silly ones", func() {
		for _, r := range []screen.Resolution{screen.Res1080p, screen.ResXGA, screen.ResSXGA, screen.ResVGA} {
			mustNew(screen.Config{Width: r.W, Height: r.H})
		}
		for _, c := range []screen.Config{
			{Width: 100, Height: 100}, {Width: 9000, Height: 1080}, {FPS: 1000}, {FPS: -1},
			{Workload: 17}, {Power: 12}, {BootDuration: -time.Second},
		} {
			_, err := screen.New(c)
			Expect(err).To(HaveOccurred())
		}
	})

	It("parses resolutions and workloads as flags give them", func() {
		r, err := screen.ParseResolution("1280x1024")
		Expect(err).NotTo(HaveOccurred())
		Expect(r).To(Equal(screen.ResSXGA))
		r, err = screen.ParseResolution("vga")
		Expect(err).NotTo(HaveOccurred())
		Expect(r).To(Equal(screen.ResVGA))
		for _, bad := range []string{"", "1920", "axb", "10x10", "1920x1080x3"} {
			_, err := screen.ParseResolution(bad)
			Expect(err).To(HaveOccurred(), bad)
		}
		for in, want := range map[string]screen.Workload{"W3": screen.W3Drag, "w5": screen.W5Noise, "2": screen.W2Terminal, "bios": screen.W1BIOS, "W4-photo": screen.W4Photo} {
			w, err := screen.ParseWorkload(in)
			Expect(err).NotTo(HaveOccurred())
			Expect(w).To(Equal(want))
		}
		_, err = screen.ParseWorkload("W9")
		Expect(err).To(HaveOccurred())
	})
})

var _ = Describe("display modes", func() {
	It("boots in the POST mode and switches to the workload's mode", func() {
		s := mustNew(screen.Config{Width: 1024, Height: 768, BootWidth: 640, BootHeight: 480,
			BootDuration: time.Second, Power: screen.PowerOff})
		Expect(sizeOf(s)).To(Equal([2]int{1024, 768}))
		s.Step(t0)
		Expect(s.SetPower(screen.PowerBooting)).To(Succeed())
		s.Advance(frame)
		Expect(sizeOf(s)).To(Equal([2]int{640, 480}))
		Expect(s.Image().W).To(Equal(640))
		d := s.TakeDamage()
		Expect(d.Count()).To(Equal(10 * 8))
		_, err := screen.DecodeStamp(s.Image())
		Expect(err).NotTo(HaveOccurred())

		s.Advance(time.Second)
		Expect(s.Power()).To(Equal(screen.PowerOn))
		Expect(sizeOf(s)).To(Equal([2]int{1024, 768}))
		Expect(s.TakeDamage().Count()).To(Equal(16 * 12))
		Expect(s.Image().H).To(Equal(768))
		// Incremental damage stays exact after the switch.
		exercise(s, 5, true)
	})

	It("changes resolution at run time, keeping the workload's frame and typed text", func() {
		s := mustNew(screen.Config{Width: 800, Height: 600, Workload: screen.W2Terminal, Seed: 2})
		s.Step(t0)
		typeText(s, "kept", 1)
		runFrames(s, 10)
		Expect(s.SetResolution(1280, 1024)).To(Succeed())
		Expect(s.Advance(0)).To(BeTrue())
		Expect(sizeOf(s)).To(Equal([2]int{1280, 1024}))
		Expect(s.TakeDamage().Count()).To(Equal(20 * 16))
		Expect(screen.PanelLines(s)[0]).To(Equal("kept"))

		ref := mustNew(screen.Config{Width: 1280, Height: 1024, Workload: screen.W2Terminal, Seed: 2})
		ref.Step(t0)
		typeText(ref, "kept", 1)
		runFrames(ref, 10)
		a, b := s.Snapshot(), ref.Snapshot()
		a.Fill(0, 0, screen.StampWidth, screen.StampHeight, 0)
		b.Fill(0, 0, screen.StampWidth, screen.StampHeight, 0)
		Expect(screen.ChecksumImage(a)).To(Equal(screen.ChecksumImage(b)))

		Expect(s.SetResolution(10, 10)).NotTo(Succeed())
	})
})

func sizeOf(s *screen.Screen) [2]int {
	w, h := s.Size()
	return [2]int{w, h}
}
