package screen_test

import (
	"slices"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
)

func TestScreen(t *testing.T) { RegisterFailHandler(Fail); RunSpecs(t, "Screen") }

var t0 = time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)

const frame = time.Second / 30

func mustNew(cfg screen.Config) *screen.Screen {
	GinkgoHelper()
	s, err := screen.New(cfg)
	Expect(err).NotTo(HaveOccurred())
	return s
}

// runFrames steps the screen through n content frames at 30 Hz from the
// time it last saw.
func runFrames(s *screen.Screen, n int) {
	for range n {
		s.Advance(frame)
	}
}

// changedTiles checks every pixel that differs between prev and cur lies in
// a damaged tile and every damaged tile holds a changed pixel; it returns
// the number of changed pixels outside the damage and of damaged tiles
// with no change.
func damageMismatch(prev, cur *framebuf.Image, d screen.Damage) (missed, spurious int) {
	changed := screen.NewDamage(cur.W, cur.H)
	for y := 0; y < cur.H; y++ {
		pr, cr := prev.Pix[y*prev.Stride:y*prev.Stride+cur.W], cur.Pix[y*cur.Stride:y*cur.Stride+cur.W]
		if slices.Equal(pr, cr) {
			continue
		}
		for x := range cr {
			if pr[x] != cr[x] {
				changed.Set(x/screen.TileSize, y/screen.TileSize)
				if !d.Contains(x, y) {
					missed++
				}
			}
		}
	}
	for ty := 0; ty < d.TilesY; ty++ {
		for tx := 0; tx < d.TilesX; tx++ {
			if d.Has(tx, ty) && !changed.Has(tx, ty) {
				spurious++
			}
		}
	}
	return missed, spurious
}
