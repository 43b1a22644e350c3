package server

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/server/registry"
)

// regWriter applies the registry writes of tunnel events in order on one
// goroutine, so a tunnel's handshake never waits for SQLite's single writer:
// during a reconnect storm the registration of every device would otherwise
// be as slow as the write queue. Order is global, so a device's
// "disconnected" is always written before its next "connected".
type regWriter struct {
	s      *Server
	mu     sync.Mutex
	queue  []func(ctx context.Context)
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

func newRegWriter(s *Server) *regWriter {
	w := &regWriter{s: s, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go w.run()
	return w
}

// enqueue schedules op; after close it is dropped (the store is closing).
func (w *regWriter) enqueue(op func(ctx context.Context)) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.queue = append(w.queue, op)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *regWriter) run() {
	defer close(w.done)
	for range w.wake {
		for {
			w.mu.Lock()
			ops, closed := w.queue, w.closed
			w.queue = nil
			w.mu.Unlock()
			for _, op := range ops {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				op(ctx)
				cancel()
			}
			if len(ops) == 0 {
				if closed {
					return
				}
				break
			}
		}
	}
}

// close drains the queue and stops the goroutine.
func (w *regWriter) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done
		return
	}
	w.closed = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.done
}

// Pending is the number of queued registry writes (for tests and metrics).
func (w *regWriter) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// updateAsync queues a connection update of a device.
func (s *Server) updateAsync(uuid string, u registry.ConnectionUpdate, what string) {
	s.writer.enqueue(func(ctx context.Context) {
		if _, err := s.store.UpdateConnection(ctx, uuid, u); err != nil &&
			!errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrClosed) {
			s.log.Warn("registry update failed", "what", what, "uuid", uuid, "err", err)
		}
	})
}

// auditAsync queues an audit record stamped now.
func (s *Server) auditAsync(actor, action, subject, outcome, reason string, details map[string]any) {
	now := s.clk.Now()
	var d []byte
	if details != nil {
		d, _ = json.Marshal(details)
	}
	s.writer.enqueue(func(ctx context.Context) {
		_, err := s.store.AppendAudit(ctx, registry.AuditRecord{Time: now, Actor: actor, Action: action,
			Subject: subject, Outcome: outcome, Reason: reason, Details: d})
		if err != nil && !errors.Is(err, registry.ErrClosed) {
			s.log.Warn("audit append failed", "action", action, "subject", subject, "err", err)
		}
	})
}

// Flush waits until every registry write queued so far has been applied.
func (s *Server) Flush(ctx context.Context) error {
	done := make(chan struct{})
	s.writer.enqueue(func(context.Context) { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
