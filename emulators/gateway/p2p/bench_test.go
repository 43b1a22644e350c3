package p2p_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/oobtb/oobtb/emulators/gateway/mux"
	"github.com/oobtb/oobtb/emulators/gateway/p2p"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// BenchmarkStream measures one console stream through the Noise channel on
// loopback TCP to a sink: encryption, records, mux framing and windows.
func BenchmarkStream(b *testing.B) {
	gk, _ := p2p.GenerateKey()
	ck, _ := p2p.GenerateKey()
	params := p2p.Params{Session: gwext.SessionID{1}, GatewayID: "gw", DeviceUUID: "12345678-9abc-def0-1122-334455667788", ConsoleID: "c"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan *p2p.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- nil
			return
		}
		c, _ := p2p.Accept(context.Background(), nc, p2p.AcceptConfig{Static: gk,
			Lookup: func(gwext.SessionID) (p2p.Expectation, error) {
				return p2p.Expectation{Params: params, ConsoleKey: [32]byte(ck.Public), Expiry: time.Now().Add(time.Hour)}, nil
			},
			Claim: func(gwext.SessionID) error { return nil },
			Mux: mux.Config{HandleOpen: func(context.Context, string) (net.Conn, error) {
				a, z := net.Pipe()
				go func() { _, _ = io.Copy(io.Discard, z); z.Close() }()
				return a, nil
			}}})
		done <- c
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	c, err := p2p.Dial(context.Background(), nc, p2p.DialConfig{Params: params, Static: ck, GatewayKey: [32]byte(gk.Public)})
	if err != nil {
		b.Fatal(err)
	}
	srv := <-done
	defer func() { c.Close(); srv.Close(); <-c.Done(); <-srv.Done() }()
	st, err := c.Open(context.Background(), "kvm")
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := st.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(buf))/time.Since(start).Seconds()/1e6, "MB/s-goodput")
	st.Close()
}

// BenchmarkHandshake measures preamble + Noise KK on loopback TCP.
func BenchmarkHandshake(b *testing.B) {
	gk, _ := p2p.GenerateKey()
	ck, _ := p2p.GenerateKey()
	params := p2p.Params{Session: gwext.SessionID{1}, GatewayID: "gw", DeviceUUID: "12345678-9abc-def0-1122-334455667788", ConsoleID: "c"}
	for i := 0; i < b.N; i++ {
		a, z := net.Pipe()
		res := make(chan *p2p.Conn, 1)
		go func() {
			c, _ := p2p.Accept(context.Background(), z, p2p.AcceptConfig{Static: gk,
				Lookup: func(gwext.SessionID) (p2p.Expectation, error) {
					return p2p.Expectation{Params: params, ConsoleKey: [32]byte(ck.Public), Expiry: time.Now().Add(time.Hour)}, nil
				},
				Claim: func(gwext.SessionID) error { return nil }})
			res <- c
		}()
		c, err := p2p.Dial(context.Background(), a, p2p.DialConfig{Params: params, Static: ck, GatewayKey: [32]byte(gk.Public)})
		if err != nil {
			b.Fatal(err)
		}
		s := <-res
		c.Close()
		s.Close()
		<-c.Done()
		<-s.Done()
	}
}
