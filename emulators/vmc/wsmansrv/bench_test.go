package wsmansrv_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/vmc/wsmansrv"
	"github.com/oobtb/oobtb/emulators/wire/digest"
	"github.com/oobtb/oobtb/emulators/wire/httpwire"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchConn reads whole responses from the client end of a channel.
type benchConn struct {
	net.Conn
	buf []byte
	tmp []byte
}

func (c *benchConn) response(b *testing.B) *httpwire.Response {
	for {
		r, n, err := httpwire.ParseResponse(c.buf, httpwire.Limits{})
		if err == nil {
			c.buf = c.buf[:copy(c.buf, c.buf[n:])]
			return r
		}
		if !errors.Is(err, wireerr.ErrShort) {
			b.Fatal(err)
		}
		k, err := c.Read(c.tmp)
		if err != nil {
			b.Fatal(err)
		}
		c.buf = append(c.buf, c.tmp[:k]...)
	}
}

// BenchmarkAuthenticatedGet measures authenticated Get AMT_GeneralSettings
// round trips on one channel (DMT MPS's shape: quoted digest, 8-hex nc, one
// nonce), sequential as on a real channel. cpu-µs/req is the process's CPU
// time per request, client and server together.
func BenchmarkAuthenticatedGet(b *testing.B) {
	h, err := host.New(host.Config{
		Identity: host.Identity{UUID: tUUID, Hostname: "vmc1", Domain: "lan.example", AMTVersion: "16.1.27",
			Realm: tRealm, AMTUser: tUser, AMTPass: tPass, ControlMode: 2},
		Settings: host.DefaultSettings(),
		Screen:   screen.Config{Width: 320, Height: 200, Workload: screen.W0Idle, Seed: 1},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	srv := wsmansrv.New(h, wsmansrv.Options{})
	body := dmt.Get("1", wsman.ResourceURI("AMT_GeneralSettings"))

	// Challenge on a first channel.
	a, z := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(z) }()
	c := &benchConn{Conn: a, tmp: make([]byte, 8192)}
	go func() { _, _ = a.Write(httpReq("", body)) }()
	r := c.response(b)
	ch, err := digest.ParseChallenge(r.Header.Get("WWW-Authenticate"))
	if err != nil {
		b.Fatal(err)
	}
	<-done
	a.Close()

	a, z = net.Pipe()
	go func() { done <- srv.Serve(z) }()
	c = &benchConn{Conn: a, tmp: make([]byte, 8192)}
	writeErr := make(chan error, 1)
	reqs := make(chan []byte, 1)
	go func() {
		for q := range reqs {
			if _, err := a.Write(q); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}()
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		reqs <- httpReq(authz(ch, tPass, digest.NCHex(uint32(i+1)), "k3v9q2", digest.StyleQuoted), body)
		if r := c.response(b); r.StatusCode != 200 {
			b.Fatalf("status %d: %s", r.StatusCode, r.Body)
		}
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	close(reqs)
	if err := <-writeErr; err != nil {
		b.Fatal(err)
	}
	a.Close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/req")
}
