package session

import (
	"context"
	"fmt"
	"time"

	"github.com/oobtb/oobtb/emulators/console"
	"github.com/oobtb/oobtb/emulators/console/kvmclient"
	"github.com/oobtb/oobtb/emulators/console/redirclient"
)

// RecoveryWait bounds how long a failed KVM run waits to see the channel
// end before it is judged a KVM error rather than a lost gateway.
const RecoveryWait = 2 * time.Second

// KVMReport is a KVM session's figures, with the path and why.
type KVMReport struct {
	Device    string `json:"device"`
	Path      string `json:"path"`
	Why       string `json:"why,omitempty"`
	SessionID string `json:"sessionId,omitempty"`
	GatewayID string `json:"gatewayId,omitempty"`
	// PairMs is the session request; ConnectMs the channel setup;
	// FirstFrameMs the time from the session request to the first
	// complete frame at the console.
	PairMs       float64 `json:"pairMs"`
	ConnectMs    float64 `json:"connectMs"`
	FirstFrameMs float64 `json:"firstFrameMs"`
	// Recovered: the channel was lost mid-session and the session went on
	// over the classic path; RecoveryMs from the loss to the first classic
	// frame.
	Recovered  bool            `json:"recovered,omitempty"`
	LostReason string          `json:"lostReason,omitempty"`
	RecoveryMs float64         `json:"recoveryMs,omitempty"`
	Stats      kvmclient.Stats `json:"stats"`
	// Before are the figures of the part before a recovery.
	Before *kvmclient.Stats `json:"before,omitempty"`
}

// RunKVM runs a KVM session (console.RunKVM's options: typing, duration,
// screenshot, VNC bridge) over the session's path. started is when the
// session was requested (for FirstFrameMs; zero → now). If the channel is
// lost mid-session the session goes on over the classic path for what is
// left of o.Duration, and the report says so.
func (s *Session) RunKVM(ctx context.Context, o console.KVMOptions, started time.Time) (KVMReport, error) {
	clk := s.c.cfg.Clock
	if started.IsZero() {
		started = clk.Now()
	}
	r := KVMReport{Device: s.Answer.Device, Path: s.Path, Why: s.Why, SessionID: s.Answer.SessionID, GatewayID: s.Answer.GatewayID,
		PairMs: ms(s.PairTime), ConnectMs: ms(s.ConnectTime)}
	cfg := o.Config
	if s.Conn == nil {
		cfg.Credentials = redirclient.Credentials{} // the web relay injects them
	}
	kc, err := s.OpenKVM(ctx, cfg)
	if err != nil {
		return r, err
	}
	_, stop := watchFirstFrame(ctx, kc, func() { r.FirstFrameMs = ms(clk.Now().Sub(started)) })
	runStart := clk.Now()
	st, err := console.RunKVM(ctx, kc, o)
	stop(err)
	r.Stats = st
	if err == nil || s.Conn == nil || ctx.Err() != nil {
		return r, err
	}
	select {
	case <-s.Conn.Done():
	case <-time.After(RecoveryWait):
		return r, err
	}
	lost := clk.Now()
	r.Recovered, r.LostReason = true, fmt.Sprintf("channel to the gateway lost: %v (kvm: %v)", s.Conn.Err(), err)
	s.c.cfg.Logger.Warn("gateway path lost mid-session; recovering over the classic path", "session", s.Answer.SessionID, "err", err)
	before := st
	r.Before = &before
	rest := o
	rest.Type = ""
	if o.Duration > 0 {
		rest.Duration = o.Duration - lost.Sub(runStart)
		if rest.Duration < time.Second {
			rest.Duration = time.Second
		}
	}
	rest.Config.Credentials = redirclient.Credentials{}
	con := &console.Console{API: s.c.cfg.API, Logger: s.c.cfg.Logger}
	kc, err = con.OpenKVM(ctx, s.Answer.Device, rest.Config)
	if err != nil {
		return r, fmt.Errorf("session: recovering over the classic path after %s: %w", r.LostReason, err)
	}
	_, stop = watchFirstFrame(ctx, kc, func() { r.RecoveryMs = ms(clk.Now().Sub(lost)) })
	r.Path, r.Why = PathClassic, "recovered over the classic path: "+r.LostReason
	st, err = console.RunKVM(ctx, kc, rest)
	stop(err)
	r.Stats = st
	return r, err
}

// watchFirstFrame calls f when the client has its first complete frame.
// stop(runErr) ends the watch: after a successful run the first frame
// arrived (console.RunKVM waits for it), so the watch is left to see it;
// after a failed one it is cancelled.
func watchFirstFrame(ctx context.Context, kc *kvmclient.Client, f func()) (<-chan struct{}, func(error)) {
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if kc.WaitFirstFrame(wctx) == nil {
			f()
		}
	}()
	return done, func(runErr error) {
		if runErr != nil {
			cancel()
		}
		<-done
		cancel()
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
