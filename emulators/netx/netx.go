// Package netx is the network every party takes from outside.
//
// No protocol code calls net.Dial or net.Listen directly: a party is handed a
// Network, so the same party runs on the host's loopback, inside a topology
// node's network namespace, or on an in-memory network in a unit test.
package netx

import (
	"context"
	"net"
	"time"
)

// Network dials and listens on one network stack.
type Network interface {
	Dial(ctx context.Context, network, address string) (net.Conn, error)
	Listen(ctx context.Context, network, address string) (net.Listener, error)
	ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error)
}

// Host is the network stack of the calling process's current namespace.
// LocalAddr, when set, binds outgoing connections to that source address
// (load generators use distinct 127.x addresses to spread ephemeral ports).
// KeepAlive is the TCP keep-alive period of the connections it dials and
// accepts, as net.Dialer.KeepAlive: 0 is Go's default (15 s), negative
// turns TCP keep-alive off — for protocols with their own keep-alive, where
// the kernel's probes on every idle socket are only extra work.
type Host struct {
	LocalAddr net.Addr
	KeepAlive time.Duration
}

func (h Host) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: h.LocalAddr, KeepAlive: h.KeepAlive}
	return d.DialContext(ctx, network, address)
}

func (h Host) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: h.KeepAlive}
	return lc.Listen(ctx, network, address)
}

func (Host) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	var lc net.ListenConfig
	return lc.ListenPacket(ctx, network, address)
}
