package screen_test

import (
	"testing"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/screen"
)

// BenchmarkStep is the cost of one 30 Hz content frame at 1920×1080 per
// workload, with the damage taken as the KVM server would take it.
func BenchmarkStep(b *testing.B) {
	for _, w := range screen.Workloads() {
		b.Run(w.String(), func(b *testing.B) {
			s, err := screen.New(screen.Config{Workload: w, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			s.Step(t0)
			s.TakeDamage()
			tiles, frames := 0, 0
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				if s.Advance(time.Second / 30) {
					frames++
				}
				d := s.TakeDamage()
				tiles += d.Count()
			}
			el := time.Since(start)
			b.ReportMetric(float64(el.Microseconds())/1000/float64(b.N), "ms/step")
			b.ReportMetric(float64(tiles)/float64(b.N), "tiles/step")
			b.ReportMetric(float64(frames)/float64(b.N), "frames/step")
		})
	}
}

// BenchmarkKeyToFrame is the cost of one keystroke reaching the pixels.
func BenchmarkKeyToFrame(b *testing.B) {
	s, err := screen.New(screen.Config{Workload: screen.W0Idle})
	if err != nil {
		b.Fatal(err)
	}
	s.Step(t0)
	id := uint32(0)
	for b.Loop() {
		id++
		s.KeyEvent(true, uint32('a'+id%26), id)
		s.Step(s.Now())
		s.TakeDamage()
	}
}

func BenchmarkChecksum1080p(b *testing.B) {
	s, err := screen.New(screen.Config{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s.Checksum()
	}
}

func BenchmarkDecodeStamp(b *testing.B) {
	s, err := screen.New(screen.Config{Width: 640, Height: 480})
	if err != nil {
		b.Fatal(err)
	}
	img := s.Image()
	for b.Loop() {
		if _, err := screen.DecodeStamp(img); err != nil {
			b.Fatal(err)
		}
	}
}
