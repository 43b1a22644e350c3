// Package services assembles the vMC's port services (WS-MAN on 16992,
// redirection on 16994, VNC on 5900) for one host; daemons and scenario
// runners use it so every vMC serves the same set.
package services

import (
	"context"
	"log/slog"
	"net"

	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/redirsrv"
	"github.com/oobtb/oobtb/emulators/vmc/vncsrv"
)

// For returns the services a device offers on its forwarded ports.
func For(h *host.Host) map[uint32]vmc.Service {
	m := map[uint32]vmc.Service{}

	// Redirection (KVM, SOL) on 16994; 16995 (TLS) is not served, so the
	// channel router refuses it.
	redir := redirsrv.New(redirsrv.Config{Host: h, Logger: slog.Default().With("service", "redirection")})
	m[16994] = func(ch net.Conn) { _ = redir.Serve(context.Background(), ch) }
	if h.Settings().Is5900PortEnabled {
		vnc := vncsrv.New(vncsrv.Config{Host: h, Logger: slog.Default().With("service", "rfb5900")})
		m[5900] = func(ch net.Conn) { _ = vnc.Serve(context.Background(), ch) }
	}

	return m
}
