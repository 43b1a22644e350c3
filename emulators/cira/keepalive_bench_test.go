package cira_test

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/wire/apf"
)

// BenchmarkServerKeepalive is an idle tunnel's only steady traffic, as the
// server sees it: a device's KEEPALIVE_REQUEST in, the KEEPALIVE_REPLY out,
// over loopback TCP. allocs/op is the server's (the device side is raw bytes
// written and read with fixed buffers); at 19,000 tunnels every allocation
// here is paid 633 times a second and drives the collector.
func BenchmarkServerKeepalive(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	dev, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	snc, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	srv, err := cira.New(snc, cira.RoleServer, cira.Config{Server: &cira.ServerConfig{},
		Verify: func(context.Context, cira.EventAuthRequest) bool { return true }})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	var hello []byte
	for _, m := range []apf.Message{
		&apf.ProtocolVersion{Major: 1, UUID: apf.MustParseGUID(testUUID), Trigger: apf.TriggerPeriodic},
		&apf.ServiceRequest{Service: apf.ServiceAuth},
		&apf.UserauthRequest{Username: "u", Service: apf.ServicePfwd, Method: apf.MethodPassword, Password: "p"},
	} {
		hello = m.Append(hello)
	}
	if _, err := dev.Write(hello); err != nil {
		b.Fatal(err)
	}
	<-srv.Ready()
	// SERVICE_ACCEPT (5 + len "auth@amt.com") and USERAUTH_SUCCESS (1).
	skip := len((&apf.ServiceAccept{Service: apf.ServiceAuth}).Append(nil)) + len((&apf.UserauthSuccess{}).Append(nil))
	if _, err := io.ReadFull(dev, make([]byte, skip)); err != nil {
		b.Fatal(err)
	}
	req := (&apf.KeepaliveRequest{Cookie: 7}).Append(nil)
	reply := make([]byte, len((&apf.KeepaliveReply{Cookie: 7}).Append(nil)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := dev.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(dev, reply); err != nil {
			b.Fatal(err)
		}
	}
}
