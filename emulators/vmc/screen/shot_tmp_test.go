package screen

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestShots(t *testing.T) {
	dir := os.Getenv("SHOT_DIR")
	if dir == "" {
		t.Skip()
	}
	for _, w := range Workloads() {
		res := Res1080p
		if w == W1BIOS {
			res = ResVGA
		}
		s, err := New(Config{Width: res.W, Height: res.H, Workload: w, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Unix(1000, 0)
		s.Step(t0)
		for i := 1; i <= 90; i++ {
			s.Step(t0.Add(time.Duration(i) * time.Second / 30))
		}
		for _, k := range "Hello, world!" {
			s.KeyEvent(true, uint32(k), 1)
		}
		s.PointerEvent(1, 300, 300, 2)
		s.PointerEvent(0, 320, 310, 3)
		s.Advance(time.Second / 30)
		f, _ := os.Create(filepath.Join(dir, w.String()+".png"))
		png.Encode(f, s.Image().ToRGBA())
		f.Close()
		st, err := DecodeStamp(s.Image())
		t.Log(w, st, err, s.Frame())
	}
}
