package screen_test

import (
	"runtime"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/screen"
)

var _ = Describe("memory", func() {
	It("keeps an unwatched 1080p screen under 256 KiB", func() {
		const n = 12
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		ss := make([]*screen.Screen, 0, n)
		for i := range n {
			s := mustNew(screen.Config{Workload: screen.Workloads()[i%6], Seed: uint64(i)})
			s.Step(t0)
			s.KeyEvent(true, 'k', 1)
			s.PointerEvent(1, 50, 50, 2)
			s.Advance(5 * time.Second)
			ss = append(ss, s)
		}
		// One watched and then released: the layers go again.
		ss[0].Image()
		ss[0].Release()
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
		Expect(per).To(BeNumerically("<", 256<<10))
		runtime.KeepAlive(ss)
	})
})
