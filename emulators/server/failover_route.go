package server

import (
	"context"
	"fmt"
	"net"

	"github.com/oobtb/oobtb/emulators/gateway/control"
	"github.com/oobtb/oobtb/emulators/server/registry"
)

// A device that lost its direct path and failed over to its LAN gateway
// (ARCHITECTURE F3) stays manageable: the gateway holds its CIRA tunnel and
// carries each management channel to the server as a stream on its control
// connection. deviceChannel is where the server's WS-MAN client and relay
// choose between the two routes.

// failoverRoute records, per device, the gateway that carries it.
func (h *gatewayHost) setFailover(uuid string, g *control.Gateway) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failover == nil {
		h.failover = map[string]*control.Gateway{}
	}
	if g == nil {
		delete(h.failover, uuid)
		return
	}
	h.failover[uuid] = g
}

func (h *gatewayHost) failoverGateway(uuid string) *control.Gateway {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failover[uuid]
}

// reachable reports whether the device can be managed now, directly or
// through a gateway.
func (s *Server) reachable(uuid string) bool {
	if _, ok := s.Tunnel(uuid); ok {
		return true
	}
	return s.failoverGateway(uuid) != nil
}

func (s *Server) failoverGateway(uuid string) *control.Gateway {
	if s.pm == nil || s.pm.gws == nil {
		return nil
	}
	if c, err := registry.CanonicalUUID(uuid); err == nil {
		uuid = c
	}
	return s.pm.gws.failoverGateway(uuid)
}

// deviceChannel opens a channel to the device's port: over its own CIRA
// tunnel when it has one, else through the gateway it failed over to.
func (s *Server) deviceChannel(ctx context.Context, uuid string, port uint32) (net.Conn, error) {
	if t, ok := s.Tunnel(uuid); ok {
		if c := t.Conn(); c != nil {
			ch, err := c.OpenChannel(ctx, port, relayOriginatorAddr, s.originatorPort())
			if err != nil {
				return nil, fmt.Errorf("server: channel to %s:%d: %w", uuid, port, err)
			}
			return ch, nil
		}
	}
	if g := s.failoverGateway(uuid); g != nil {
		ch, err := g.OpenDeviceChannel(ctx, uuid, port)
		if err != nil {
			return nil, fmt.Errorf("server: channel to %s:%d through its gateway: %w", uuid, port, err)
		}
		return ch, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrNotConnected, uuid)
}
