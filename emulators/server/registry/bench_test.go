package registry_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oobtb/oobtb/emulators/server/registry"
)

const benchDevices = 1000

func benchStore(b *testing.B, scheme ...registry.PasswordScheme) *registry.SQLite {
	b.Helper()
	o := registry.Options{Dir: b.TempDir()}
	if len(scheme) > 0 {
		o.PasswordScheme = scheme[0]
	}
	s, err := registry.Open(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	for i := 0; i < benchDevices; i++ {
		if _, err := s.EnrolDevice(context.Background(), registry.DeviceEnrolment{UUID: devUUID(i), CIRAUser: "u",
			CIRAPassword: fmt.Sprint("p", i), AMTPassword: "a"}, t0); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkVerifyCIRA measures CIRA logins per second for each password
// scheme (PBKDF2 at its default cost): "repeat" is a reconnecting device
// (verifier cache hit), "first" a device's first login since the process
// started (full hash), "wrong" a bad password (always the full hash).
func BenchmarkVerifyCIRA(b *testing.B) {
	for _, scheme := range []registry.PasswordScheme{registry.SchemeHMAC, registry.SchemePBKDF2} {
		b.Run(string(scheme), func(b *testing.B) { benchVerifyCIRA(b, benchStore(b, scheme)) })
	}
}

func benchVerifyCIRA(b *testing.B, s *registry.SQLite) {
	ctx := context.Background()
	for i := 0; i < benchDevices; i++ {
		if err := s.VerifyCIRA(ctx, devUUID(i), "u", fmt.Sprint("p", i)); err != nil {
			b.Fatal(err)
		}
	}
	run := func(b *testing.B, f func(i int) error) {
		var n atomic.Int64
		start := time.Now()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(n.Add(1))
				_ = f(i)
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "logins/s")
	}
	b.Run("repeat", func(b *testing.B) {
		run(b, func(i int) error {
			return s.VerifyCIRA(ctx, devUUID(i%benchDevices), "u", fmt.Sprint("p", i%benchDevices))
		})
	})
	b.Run("first", func(b *testing.B) {
		fresh, err := registry.Open(ctx, registry.Options{Dir: filepath.Dir(s.Path()), NoVerifierCache: true})
		// The scheme of the records decides the cost, not the option.
		if err != nil {
			b.Fatal(err)
		}
		defer fresh.Close()
		// Without the verifier cache every login pays the full hash, as a
		// device's first login after a server restart does.
		var n atomic.Int64
		start := time.Now()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(n.Add(1))
				if err := fresh.VerifyCIRA(ctx, devUUID(i%benchDevices), "u", fmt.Sprint("p", i%benchDevices)); err != nil {
					b.Error(err)
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "logins/s")
	})
	b.Run("wrong", func(b *testing.B) {
		run(b, func(i int) error { return s.VerifyCIRA(ctx, devUUID(i%benchDevices), "u", "wrong") })
	})
}

// BenchmarkUpdateConnection measures connection-event writes per second
// (keepalive touches and state changes) from many goroutines through the
// single writer connection.
func BenchmarkUpdateConnection(b *testing.B) {
	s := benchStore(b) // once: the parent of sub-benchmarks runs a single time
	ctx := context.Background()
	b.Run("parallel", func(b *testing.B) {
		var n atomic.Int64
		start := time.Now()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(n.Add(1))
				u := registry.ConnectionUpdate{Now: t0.Add(time.Duration(i) * time.Millisecond)}
				if i%4 == 0 {
					u.State = registry.StateConnected
					u.BoundPorts = &[]registry.BoundPort{{Port: 16992}, {Port: 16994}}
				}
				if _, err := s.UpdateConnection(ctx, devUUID(i%benchDevices), u); err != nil {
					b.Error(err)
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "updates/s")
	})
}
