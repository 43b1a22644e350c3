package gateway

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// acceptLoop serves ln until it is closed: at most limit connections at once
// (newer ones are closed with a log line), each handled in its own goroutine.
// An accept error other than a closed listener (EMFILE, ENFILE, …) is logged
// and retried after a bounded back-off rather than ending the listener, so a
// burst that exhausts descriptors does not leave the gateway deaf.
func (g *Gateway) acceptLoop(ctx context.Context, ln net.Listener, what string, limit int, handle func(context.Context, net.Conn)) {
	var active atomic.Int64
	backoff := 5 * time.Millisecond
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			g.log.Warn(what+" accept failed; retrying", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if n := active.Add(1); n > int64(limit) {
			active.Add(-1)
			g.log.Warn(what+" at its connection limit; closing a new connection", "limit", limit, "remote", nc.RemoteAddr())
			nc.Close()
			continue
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer active.Add(-1)
			handle(ctx, nc)
		}()
	}
}
