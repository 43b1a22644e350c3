package vmctest

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc"
)

// Fleet is a set of devices built from Specs and run in one process.
type Fleet struct {
	Devices []*vmc.Device
	UUIDs   []string
	Started []time.Time
}

// NewFleet builds n devices; spec(i) describes device i.
func NewFleet(n int, spec func(i int) vmc.Spec, deps vmc.Deps) (*Fleet, error) {
	f := &Fleet{}
	for i := range n {
		s := spec(i)
		d, err := vmc.Build(s, deps)
		if err != nil {
			f.Stop()
			return nil, fmt.Errorf("vmctest: device %d: %w", i, err)
		}
		f.Devices = append(f.Devices, d)
		f.UUIDs = append(f.UUIDs, d.Host().Identity().UUID)
	}
	f.Started = make([]time.Time, n)
	return f, nil
}

// Start starts every device and records when.
func (f *Fleet) Start() { f.StartRange(0, len(f.Devices)) }

// StartRange starts devices lo..hi-1 and records when.
func (f *Fleet) StartRange(lo, hi int) {
	for i := lo; i < min(hi, len(f.Devices)); i++ {
		f.Started[i] = time.Now()
		f.Devices[i].Start()
	}
}

// Stop stops every device, 64 at a time, and waits for all of them.
func (f *Fleet) Stop() {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, d := range f.Devices {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d.Stop()
		}()
	}
	wg.Wait()
}

// ConnectTimes returns, per device that became ready, the time from its
// Start to the MPS seeing its last tcpip-forward.
func (f *Fleet) ConnectTimes(m *MPS) []time.Duration {
	var out []time.Duration
	for i, id := range f.UUIDs {
		if at, ok := m.ReadyAt(id); ok {
			out = append(out, at.Sub(f.Started[i]))
		}
	}
	return out
}

// InUse returns HeapInuse+StackInuse after two collections: the memory the
// process holds for live objects and goroutine stacks.
func InUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// Percentile returns the p-th percentile (0–100) of ds by nearest rank.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
