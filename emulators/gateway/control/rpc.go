package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/gateway/mux"
)

// handlerFunc serves one request: it returns the ok body (may be nil) or an
// error (an *Error keeps its code; others become internal).
type handlerFunc func(ctx context.Context, typ string, body json.RawMessage) (any, error)

// peer is one end of a control connection: request/response correlation over
// a mux session.
type peer struct {
	sess   *mux.Session
	remote net.Addr
	// heartbeat is the interval the server asked for (client side).
	heartbeat time.Duration
	log       *slog.Logger

	mu       sync.Mutex
	nextID   uint64
	pending  map[uint64]chan Envelope
	inflight int
	handle   handlerFunc
	ready    chan struct{} // closed once handle may be used

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// MaxInflight bounds the peer's requests being served at once; more are
// answered "denied" at once.
const MaxInflight = 64

// MaxMessage bounds one JSON message.
const MaxMessage = MaxFrame - mux.HeaderLen

func newPeer(nc net.Conn, dialer bool, mc mux.Config, log *slog.Logger) *peer {
	p := &peer{log: log, pending: map[uint64]chan Envelope{}, ready: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	mc.Dialer = dialer
	mc.MaxFrame = MaxFrame
	mc.OnMessage = p.onMessage
	mc.Logger = log
	p.sess = mux.New(newFrameTransport(nc), mc)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		<-p.sess.Done()
		p.cancel()
		p.mu.Lock()
		for id, ch := range p.pending {
			close(ch)
			delete(p.pending, id)
		}
		p.mu.Unlock()
	}()
	return p
}

// serve enables request handling (before it, requests wait in order).
func (p *peer) serve(h handlerFunc) {
	p.mu.Lock()
	p.handle = h
	p.mu.Unlock()
	close(p.ready)
}

func (p *peer) close() { p.sess.Close() }

// wait returns once every goroutine of the peer has ended.
func (p *peer) wait() {
	<-p.sess.Done()
	p.wg.Wait()
}

func (p *peer) onMessage(b []byte) {
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil || env.Type == "" {
		p.log.Warn("control: undecodable message; closing", "err", err)
		go p.sess.Close()
		return
	}
	switch env.Type {
	case TypeOK, TypeError:
		p.mu.Lock()
		ch := p.pending[env.Re]
		delete(p.pending, env.Re)
		p.mu.Unlock()
		if ch != nil {
			ch <- env
		}
		return
	}
	if env.ID == 0 {
		p.log.Warn("control: request without id; closing", "type", env.Type)
		go p.sess.Close()
		return
	}
	p.mu.Lock()
	busy := p.inflight >= MaxInflight
	if !busy {
		p.inflight++
	}
	p.mu.Unlock()
	if busy {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.reply(env.ID, nil, Errf(CodeDenied, "more than %d requests in flight", MaxInflight))
		}()
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case <-p.ready:
		case <-p.ctx.Done():
			p.mu.Lock()
			p.inflight--
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		h := p.handle
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
		defer cancel()
		out, err := h(ctx, env.Type, env.Body)
		p.reply(env.ID, out, err)
		p.mu.Lock()
		p.inflight--
		p.mu.Unlock()
	}()
}

func (p *peer) reply(id uint64, out any, err error) {
	env := Envelope{Type: TypeOK, Re: id}
	if err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			ce = &Error{Code: CodeInternal, Reason: err.Error()}
		}
		env.Type = TypeError
		env.Body, _ = json.Marshal(ce)
	} else if out != nil {
		env.Body, _ = json.Marshal(out)
	}
	b, _ := json.Marshal(env)
	_ = p.sess.SendMessage(b)
}

// call sends a request and decodes the ok body into out (may be nil); an
// error response comes back as *Error.
func (p *peer) call(ctx context.Context, typ string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ch := make(chan Envelope, 1)
	p.mu.Lock()
	p.nextID++
	id := p.nextID
	p.pending[id] = ch
	p.mu.Unlock()
	b, _ := json.Marshal(Envelope{Type: typ, ID: id, Body: raw})
	if len(b) > MaxMessage {
		p.forget(id)
		return fmt.Errorf("control: %s message of %d bytes exceeds %d", typ, len(b), MaxMessage)
	}
	if err := p.sess.SendMessage(b); err != nil {
		p.forget(id)
		return err
	}
	select {
	case env, ok := <-ch:
		if !ok {
			return fmt.Errorf("control: %s: connection closed: %v", typ, p.sess.Err())
		}
		if env.Type == TypeError {
			var ce Error
			if err := json.Unmarshal(env.Body, &ce); err != nil {
				return fmt.Errorf("control: %s: undecodable error body: %v", typ, err)
			}
			return &ce
		}
		if out != nil && len(env.Body) > 0 {
			if err := json.Unmarshal(env.Body, out); err != nil {
				return fmt.Errorf("control: %s: undecodable answer: %v", typ, err)
			}
		}
		return nil
	case <-ctx.Done():
		p.forget(id)
		return fmt.Errorf("control: %s: %w", typ, ctx.Err())
	}
}

func (p *peer) forget(id uint64) {
	p.mu.Lock()
	delete(p.pending, id)
	p.mu.Unlock()
}

// decode unmarshals a request body strictly.
func decode(body json.RawMessage, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return Errf(CodeBadRequest, "body: %v", err)
	}
	return nil
}
