// Package vmcenv runs the vMC's redirection service for one host on a
// loopback listener, for the console's tests: a manual clock the test can
// tick or pause, so decoded frames can be compared pixel for pixel with the
// host's framebuffer.
package vmcenv

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream"
	"github.com/oobtb/oobtb/emulators/vmc/redirsrv"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/sim/clock"
)

// Credentials of the test host.
const (
	User     = "admin"
	Password = "P@ssw0rd"
	Realm    = "Digest:0123456789ABCDEF0123456789ABCDEF"
	UUID     = "12345678-9abc-def0-1122-334455667788"
)

// Env is one host with its redirection server.
type Env struct {
	Clock    *clock.Manual
	Host     *host.Host
	Counters *kvmstream.Counters
	Addr     string

	ln   net.Listener
	srv  *redirsrv.Server
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error

	tickMu   sync.Mutex
	tickStop chan struct{}
	tickDone chan struct{}
}

// New starts a w×h host showing workload wl.
func New(w, h int, wl screen.Workload) (*Env, error) {
	clk := clock.NewManual(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	hst, err := host.New(host.Config{
		Identity: host.Identity{UUID: UUID, Hostname: "pc", Realm: Realm, AMTUser: User, AMTPass: Password},
		Settings: host.DefaultSettings(),
		Screen:   screen.Config{Width: w, Height: h, Workload: wl, Seed: 7},
		Clock:    clk,
	})
	if err != nil {
		return nil, err
	}
	e := &Env{Clock: clk, Host: hst, Counters: &kvmstream.Counters{}}
	e.srv = redirsrv.New(redirsrv.Config{Host: hst, Clock: clk, Counters: e.Counters})
	e.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		hst.Close()
		return nil, err
	}
	e.Addr = e.ln.Addr().String()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := e.ln.Accept()
			if err != nil {
				return
			}
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				if err := e.srv.Serve(context.Background(), c); err != nil {
					e.mu.Lock()
					e.errs = append(e.errs, err)
					e.mu.Unlock()
				}
			}()
		}
	}()
	return e, nil
}

// Dial opens a TCP connection to the redirection service.
func (e *Env) Dial() (net.Conn, error) { return net.Dial("tcp", e.Addr) }

// Errors returns the session errors so far.
func (e *Env) Errors() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.errs...)
}

// StartTicking advances the manual clock one 30 Hz frame every period of
// real time until StopTicking.
func (e *Env) StartTicking(period time.Duration) {
	e.tickMu.Lock()
	defer e.tickMu.Unlock()
	if e.tickStop != nil {
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	e.tickStop, e.tickDone = stop, done
	go func() {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				e.Clock.Advance(time.Second / 30)
			}
		}
	}()
}

// StopTicking stops the clock; the screen then stays on its current frame.
func (e *Env) StopTicking() {
	e.tickMu.Lock()
	defer e.tickMu.Unlock()
	if e.tickStop == nil {
		return
	}
	close(e.tickStop)
	<-e.tickDone
	e.tickStop, e.tickDone = nil, nil
}

// Frame is the screen's frame counter.
func (e *Env) Frame() (f uint32) {
	e.Host.WithScreen(func(s *screen.Screen) { f = s.Frame() })
	return f
}

// Snapshot copies the host's current frame.
func (e *Env) Snapshot() (img *framebuf.Image) {
	e.Host.WithScreen(func(s *screen.Screen) { img = s.Snapshot() })
	return img
}

// Close stops everything and waits for every session to end.
func (e *Env) Close() error {
	e.StopTicking()
	err := e.ln.Close()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		err = errors.New("vmcenv: sessions did not end within 20 s")
	}
	e.Host.Close()
	<-done
	return err
}
