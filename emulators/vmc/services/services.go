// Package services assembles the vMC's port services (WS-MAN on 16992,
// redirection on 16994, VNC on 5900) for one host; daemons and scenario
// runners use it so every vMC serves the same set.
package services

import (
	"context"
	"net"

	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/redirsrv"
	"github.com/oobtb/oobtb/emulators/vmc/vncsrv"
	"github.com/oobtb/oobtb/emulators/vmc/wsmansrv"
)

// For returns the services a device offers on its forwarded ports.
func For(h *host.Host) map[uint32]vmc.Service {
	m := map[uint32]vmc.Service{}

	// WS-MAN on 16992; the remote-access classes read and change the
	// device's own configuration through the host.
	ws := wsmansrv.New(h, wsmansrv.Options{Logger: h.Logger().With("service", "wsman"),
		Policy: h.RemoteAccess, SetPolicy: h.SetRemoteAccess})
	m[16992] = func(ch net.Conn) { _ = ws.Serve(ch) }
	// 16993 is the same service with TLS inside the channel, as MeshCentral
	// uses when 16992 is not bound.
	m[16993] = func(ch net.Conn) { _ = ws.ServeTLS(ch) }

	// Redirection (KVM, SOL) on 16994, and on 16995 inside TLS with the
	// device's certificate (MeshCentral uses 16995 when 16992 is not bound).
	redir := redirsrv.New(redirsrv.Config{Host: h, Logger: h.Logger().With("service", "redirection")})
	m[16994] = func(ch net.Conn) { _ = redir.Serve(context.Background(), ch) }
	m[16995] = func(ch net.Conn) {
		if tc, err := ws.WrapTLS(ch, "16995"); err == nil {
			_ = redir.Serve(context.Background(), tc)
		}
	}
	if h.Settings().Is5900PortEnabled {
		vnc := vncsrv.New(vncsrv.Config{Host: h, Logger: h.Logger().With("service", "rfb5900")})
		m[5900] = func(ch net.Conn) { _ = vnc.Serve(context.Background(), ch) }
	}

	return m
}
