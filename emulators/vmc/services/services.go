// Package services assembles the vMC's port services (WS-MAN on 16992,
// redirection on 16994, VNC on 5900) for one host; daemons and scenario
// runners use it so every vMC serves the same set.
package services

import (
	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/host"
)

// For returns the services a device offers on its forwarded ports.
func For(h *host.Host) map[uint32]vmc.Service {
	return map[uint32]vmc.Service{}
}
