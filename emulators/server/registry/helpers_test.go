package registry_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/server/registry"
)

var (
	ctx = context.Background()
	t0  = time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
)

// open opens a store in dir with a cheap password hash (tests only) and
// closes it when the spec ends.
func open(dir string, o ...registry.Options) *registry.SQLite {
	opt := registry.Options{}
	if len(o) > 0 {
		opt = o[0]
	}
	opt.Dir = dir
	if opt.PasswordIterations == 0 {
		opt.PasswordIterations = 1000
	}
	s, err := registry.Open(ctx, opt)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(s.Close)
	return s
}

func devUUID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012x", i) }

func enrol(s registry.Store, i int) registry.Device {
	d, err := s.EnrolDevice(ctx, registry.DeviceEnrolment{UUID: devUUID(i), CIRAUser: fmt.Sprintf("user%d", i),
		CIRAPassword: fmt.Sprintf("cira-pass-%d", i), AMTPassword: fmt.Sprintf("amt-pass-%d", i)}, t0)
	Expect(err).NotTo(HaveOccurred())
	return d
}

func key32(b byte) []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = b
	}
	return k
}

func ptr[T any](v T) *T { return &v }
