package kvmstream

import (
	"net"
	"runtime"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
	"github.com/oobtb/oobtb/sim/clock"
)

// discardConn takes every write.
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error)      { return len(b), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
func (discardConn) SetReadDeadline(time.Time) error  { return nil }
func (discardConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (discardConn) Close() error                     { return nil }
func (discardConn) SetDeadline(t time.Time) error    { return nil }
func (discardConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (discardConn) Read(b []byte) (int, error)       { select {} }

var _ = Describe("steady-state updates", func() {
	for _, deflate := range []bool{false, true} {
		It("allocate at most the screen's damage copy per update", func() {
			clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			hst, err := host.New(host.Config{Identity: host.Identity{UUID: "u"}, Settings: host.DefaultSettings(),
				Screen: screen.Config{Width: 1024, Height: 768, Workload: screen.W3Drag, Seed: 1}, Clock: clk})
			Expect(err).NotTo(HaveOccurred())
			defer hst.Close()
			rel, err := hst.AcquireKVM("alloc test")
			Expect(err).NotTo(HaveOccurred())
			defer rel()
			cfg := Config{Host: hst, Format: rfb.PF565}
			cfg.defaults()
			enc, err := rfb.NewEncoder(rfb.PF565, rfb.Settings{Encoding: rfb.EncodingRaw})
			Expect(err).NotTo(HaveOccurred())
			s := &session{cfg: cfg, conn: discardConn{}, enc: enc, first: true}
			s.resize(1024, 768)
			s.listed16, s.compression = true, map[bool]uint8{false: 0, true: 1}[deflate]
			Expect(s.applySettings()).To(Succeed())
			// Other goroutines (the race detector, Ginkgo) allocate too, so
			// judge the median update rather than the sum.
			var mallocs []uint64
			var ms runtime.MemStats
			for i := 0; i < 40; i++ {
				clk.Advance(time.Second / 30)
				s.req, s.pending = request{incremental: true, x1: 1024, y1: 768}, true
				runtime.ReadMemStats(&ms)
				before := ms.Mallocs
				_, err := s.update()
				runtime.ReadMemStats(&ms)
				Expect(err).NotTo(HaveOccurred())
				if i >= 10 {
					mallocs = append(mallocs, ms.Mallocs-before)
				}
			}
			slices.Sort(mallocs)
			Expect(mallocs[len(mallocs)/2]).To(BeNumerically("<=", 1), "allocations per update: %v", mallocs)
		})
	}
})
