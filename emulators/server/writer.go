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
// "disconnected" is always written before its next "connected". What queued
// up while the previous batch was being written goes to the registry as
// one batch (registry.ApplyWrites): one commit for many devices.
type regWriter struct {
	s      *Server
	mu     sync.Mutex
	queue  []regOp
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

// regOp is one queued write. build runs when the batch is applied and may
// decide there is nothing to write; done, when set, is closed once every
// op queued before it has been applied (Flush).
type regOp struct {
	build func() (registry.Write, bool)
	onErr func(error)
	done  chan struct{}
}

func newRegWriter(s *Server) *regWriter {
	w := &regWriter{s: s, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go w.run()
	return w
}

// enqueue schedules op; after close it is dropped (the store is closing).
func (w *regWriter) enqueue(op regOp) {
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
			w.apply(ops)
			if len(ops) == 0 {
				if closed {
					return
				}
				break
			}
		}
	}
}

func (w *regWriter) apply(ops []regOp) {
	ws := make([]registry.Write, 0, len(ops))
	owners := make([]int, 0, len(ops))
	for i, op := range ops {
		if op.build == nil {
			continue
		}
		if wr, ok := op.build(); ok {
			ws = append(ws, wr)
			owners = append(owners, i)
		}
	}
	if len(ws) > 0 {
		// A batch of MaxBatch commits in well under a second; the bound
		// only stops a wedged store from stalling the queue for good.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		errs := w.s.store.ApplyWrites(ctx, ws)
		cancel()
		for j, err := range errs {
			if err != nil && ops[owners[j]].onErr != nil {
				ops[owners[j]].onErr(err)
			}
		}
	}
	for _, op := range ops {
		if op.done != nil {
			close(op.done)
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
	s.writer.enqueue(regOp{
		build: func() (registry.Write, bool) { return registry.Write{UUID: uuid, Connection: &u}, true },
		onErr: func(err error) {
			if !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrClosed) {
				s.log.Warn("registry update failed", "what", what, "uuid", uuid, "err", err)
			}
		},
	})
}

// auditAsync queues an audit record stamped now.
func (s *Server) auditAsync(actor, action, subject, outcome, reason string, details map[string]any) {
	now := s.clk.Now()
	var d []byte
	if details != nil {
		d, _ = json.Marshal(details)
	}
	rec := registry.AuditRecord{Time: now, Actor: actor, Action: action,
		Subject: subject, Outcome: outcome, Reason: reason, Details: d}
	s.writer.enqueue(regOp{
		build: func() (registry.Write, bool) { return registry.Write{Audit: &rec}, true },
		onErr: func(err error) {
			if !errors.Is(err, registry.ErrClosed) {
				s.log.Warn("audit append failed", "action", action, "subject", subject, "err", err)
			}
		},
	})
}

// Flush waits until every registry write queued so far has been applied.
func (s *Server) Flush(ctx context.Context) error {
	done := make(chan struct{})
	s.writer.enqueue(regOp{done: done})
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
