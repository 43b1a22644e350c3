package spec_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/oobtb/oobtb/scenarios/spec"
)

// FuzzLoad: scenario files come from users and CI repositories. Whatever
// the bytes, Load returns cases or errors that name the file — never a
// panic, a hang or an unbounded expansion.
func FuzzLoad(f *testing.F) {
	// One small catalogue file: Go's mutator slows to a crawl on the larger ones.
	if b, err := os.ReadFile(filepath.Join("..", "quickstart.yaml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("name: t\nmatrix:\n  a: [1, 2]\n  b: [x]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cases, err := spec.Load("fuzz.yaml", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error text")
			}
			return
		}
		if len(cases) == 0 || len(cases) > 10000 {
			t.Fatalf("%d cases", len(cases))
		}
	})
}
