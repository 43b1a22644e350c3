package kvmstream_test

import (
	"context"
	"net"
	"time"

	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream/kvmtest"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
	"github.com/oobtb/oobtb/sim/clock"
)

// rig is a host holding the KVM session and a kvmstream server on one end
// of a loopback TCP connection.
type rig struct {
	clk     *clock.Manual
	host    *host.Host
	release func()
	client  net.Conn
	cl      *kvmtest.Client
	count   *kvmstream.Counters
	done    chan error
	cancel  context.CancelFunc
}

func newHost(w, h int, wl screen.Workload) (*clock.Manual, *host.Host, error) {
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	hst, err := host.New(host.Config{
		Identity: host.Identity{UUID: "12345678-9abc-def0-1122-334455667788", Hostname: "pc"},
		Settings: host.DefaultSettings(),
		Screen:   screen.Config{Width: w, Height: h, Workload: wl, Seed: 11},
		Clock:    clk,
	})
	return clk, hst, err
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair() (srv, cli net.Conn, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	cli, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	r := <-ch
	if r.err != nil {
		cli.Close()
		return nil, nil, r.err
	}
	return r.c, cli, nil
}

func newRig(w, h int, wl screen.Workload, pf rfb.PixelFormat, mod func(*kvmstream.Config)) *rig {
	clk, hst, err := newHost(w, h, wl)
	Expect(err).NotTo(HaveOccurred())
	rel, err := hst.AcquireKVM("test")
	Expect(err).NotTo(HaveOccurred())
	sc, cc, err := tcpPair()
	Expect(err).NotTo(HaveOccurred())
	r := &rig{clk: clk, host: hst, release: rel, client: cc, count: &kvmstream.Counters{}, done: make(chan error, 1)}
	cfg := kvmstream.Config{Host: hst, Format: pf, Counters: r.count}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		err := kvmstream.Serve(ctx, sc, w, h, cfg)
		sc.Close()
		r.done <- err
	}()
	r.cl, err = kvmtest.NewClient(cc, pf, w, h)
	Expect(err).NotTo(HaveOccurred())
	return r
}

func (r *rig) close() {
	r.cancel()
	r.client.Close()
	<-r.done
	r.release()
	r.host.Close()
}

func (r *rig) step() {
	var f0 uint32
	r.host.WithScreen(func(s *screen.Screen) { f0 = s.Frame() })
	f := f0
	for i := 0; i < 1000 && f == f0; i++ {
		r.clk.Advance(time.Second / 30)
		r.host.WithScreen(func(s *screen.Screen) { f = s.Frame() })
	}
	Expect(f).NotTo(Equal(f0), "the screen produced no frame")
}

func snapshot(r *rig) (img *framebuf.Image) {
	r.host.WithScreen(func(s *screen.Screen) { img = s.Snapshot() })
	return img
}
