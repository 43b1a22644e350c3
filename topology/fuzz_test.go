package topology_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/oobtb/oobtb/topology"
)

// FuzzLoad: topology files come from users. Whatever the bytes, Load
// returns a resolved topology or an error naming the file — never a panic
// or a hang.
func FuzzLoad(f *testing.F) {
	// One small example: Go's mutator slows to a crawl on the larger ones.
	if b, err := os.ReadFile(filepath.Join("examples", "one-site.yaml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("name: x\nnodes:\n  a: {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		top, err := topology.Load("fuzz.yaml", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error text")
			}
			return
		}
		if top == nil {
			t.Fatal("nil topology without an error")
		}
	})
}
