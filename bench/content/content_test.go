package content_test

import (
	"testing"

	"github.com/oobtb/oobtb/bench/content"
)

func TestDeterministic(t *testing.T) {
	for _, k := range content.Kinds {
		a, err := content.Generate(k, 320, 200, 7)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := content.Generate(k, 320, 200, 7)
		c, _ := content.Generate(k, 320, 200, 8)
		same, differs := true, false
		for i := range a.Pix {
			same = same && a.Pix[i] == b.Pix[i]
			differs = differs || a.Pix[i] != c.Pix[i]
		}
		if !same {
			t.Errorf("%s: same seed gave different frames", k)
		}
		if k != content.Solid && !differs {
			t.Errorf("%s: different seeds gave the same frame", k)
		}
	}
	if _, err := content.Generate("bogus", 10, 10, 1); err == nil {
		t.Error("unknown kind accepted")
	}
}

func TestDesktopPhotoShare(t *testing.T) {
	img := content.Frame1080(content.Desktop, 1)
	// count distinct colours: a desktop has few outside the photo
	seen := map[uint32]bool{}
	for _, p := range img.Pix {
		seen[p] = true
	}
	if len(seen) < 1000 {
		t.Errorf("desktop has only %d colours; the photo inset is missing", len(seen))
	}
}
