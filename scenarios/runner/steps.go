package runner

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/scenarios/spec"
	"github.com/oobtb/oobtb/topology/linkemu"
)

// summary is a step in a few words, for progress lines and reports.
func summary(st *spec.Step) string {
	parts := []string{st.Do}
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+v)
		}
	}
	add("", st.Party)
	add("", strings.Join(st.Parties, ","))
	add("", st.For)
	add("console=", st.Console)
	add("device=", st.Device)
	add("session=", st.Session)
	add("link=", st.Link)
	add("profile=", st.Profile)
	add("a_to_b=", st.AtoB)
	add("b_to_a=", st.BtoA)
	add("from=", st.From)
	add("to=", st.To)
	add("path=", st.Path)
	add("duration=", st.Duration)
	add("gateway=", st.Gateway)
	add("gateway_id=", st.GatewayID)
	add("fault=", st.Fault)
	if st.Initiated == "user" {
		add("initiated=", st.Initiated)
	}
	if st.Text != "" {
		add("text=", fmt.Sprintf("%q", st.Text))
	}
	return strings.Join(parts, " ")
}

func (c *caseRun) runStep(ctx context.Context, i int, st *spec.Step) error {
	timeout := st.TimeoutOr()
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch st.Do {
	case spec.StepStart, spec.StepStop, spec.StepKill, spec.StepRestart:
		names := st.Parties
		if st.Party != "" {
			names = append([]string{st.Party}, names...)
		}
		for _, n := range names {
			if err := c.lifecycle(sctx, st.Do, n); err != nil {
				return err
			}
		}
		return nil
	case spec.StepSession, spec.StepKVM:
		return c.sessionStep(sctx, i, st)
	case spec.StepType:
		ss := c.session(st.Session)
		if ss != nil && ss.paired != nil {
			return fmt.Errorf("session %q is paired: type its text with the kvm step's text: (session.RunKVM types after the first frame)", st.Session)
		}
		if ss == nil || ss.client() == nil {
			return fmt.Errorf("expected an established KVM session %q to type into; it is not open", st.Session)
		}
		select {
		case <-ss.done:
			return fmt.Errorf("expected the background KVM session %q to be running; it has ended (its duration is over or the stream closed: %v)", st.Session, ss.runError())
		default:
		}
		if err := ss.client().Type(sctx, st.Text); err != nil {
			return fmt.Errorf("typing %q: %w", st.Text, err)
		}
		if err := ss.client().WaitInputs(sctx); err != nil {
			return fmt.Errorf("expected the typed keys on screen within %s: %w", timeout, err)
		}
		return nil
	case spec.StepLink:
		var ab, ba linkemu.Profile
		var err error
		if st.Profile != "" {
			if ab, err = linkemu.ParseProfile(st.Profile); err != nil {
				return err
			}
			ba = ab
		}
		if st.AtoB != "" {
			if ab, err = linkemu.ParseProfile(st.AtoB); err != nil {
				return err
			}
		}
		if st.BtoA != "" {
			if ba, err = linkemu.ParseProfile(st.BtoA); err != nil {
				return err
			}
		}
		return c.net.SetProfiles(st.Link, ab, ba)
	case spec.StepCut:
		return c.net.Cut(st.Link)
	case spec.StepHeal:
		return c.net.Heal(st.Link)
	case spec.StepPartition:
		return c.net.Partition(st.Link)
	case spec.StepSleep:
		d, _ := time.ParseDuration(st.Duration)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-sctx.Done():
			return sctx.Err()
		}
	case spec.StepWait:
		t0 := time.Now()
		if err := c.wait(sctx, st, timeout); err != nil {
			return err
		}
		if st.As != "" {
			c.setMetric(st.As+".seconds", time.Since(t0).Seconds())
		}
		return nil
	case spec.StepCalibrate:
		return c.calibrate(sctx, st)
	case spec.StepPower:
		t0 := time.Now()
		if err := c.power(sctx, st, timeout); err != nil {
			return err
		}
		if st.As != "" {
			c.setMetric(st.As+".seconds", time.Since(t0).Seconds())
		}
		return nil
	case spec.StepPost:
		d, err := c.device(st.Device)
		if err != nil {
			return err
		}
		dev := d.current()
		if dev == nil {
			return fmt.Errorf("device %s is not running", st.Device)
		}
		switch st.For {
		case "user-request":
			dev.Post(policy.UserRequest{})
		case "alert":
			dev.Post(policy.Alert{})
		case "direct-path-lost":
			dev.Post(policy.DirectPathLost{Reason: "scenario step"})
		}
		return nil
	}
	return fmt.Errorf("step kind %q is not implemented by this runner", st.Do)
}

func (c *caseRun) lifecycle(ctx context.Context, kind, name string) error {
	p := c.parties[name]
	if p == nil {
		return fmt.Errorf("no party %q", name)
	}
	switch kind {
	case spec.StepStart:
		return p.start(ctx)
	case spec.StepStop:
		return p.stop(ctx)
	case spec.StepKill:
		return p.kill(ctx)
	default:
		if err := p.stop(ctx); err != nil {
			return fmt.Errorf("stopping for the restart: %w", err)
		}
		return p.start(ctx)
	}
}

func (c *caseRun) session(name string) *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[name]
}

// sessionStep requests a session and, for kvm, runs it.
func (c *caseRun) sessionStep(ctx context.Context, i int, st *spec.Step) error {
	if st.Each {
		return c.sessionEach(ctx, i, st)
	}
	k := c.consoles[st.Console]
	if !k.running() {
		return fmt.Errorf("console %s is not started (add a start step or autostart: true)", st.Console)
	}
	d, err := c.device(st.Device)
	if err != nil {
		return err
	}
	ss := &session{name: st.SessionName(i), console: st.Console, device: d, step: i, done: make(chan struct{})}
	c.mu.Lock()
	c.sessions[ss.name] = ss
	c.mu.Unlock()
	if err := k.open(ctx, ss, st); err != nil {
		return err
	}
	ss.mu.Lock()
	refused, refusal, path, reason := ss.refused, ss.refusal, ss.path, ss.reason
	ss.mu.Unlock()
	exp := st.Expect
	if exp != nil && exp.Refused != "" {
		if !refused {
			ss.close()
			return fmt.Errorf("expected the session to be refused (%q); it was established on the %s path", exp.Refused, path)
		}
		if exp.Refused != "any" && !strings.Contains(refusal, exp.Refused) {
			return fmt.Errorf("expected a refusal containing %q; it was refused with %q", exp.Refused, refusal)
		}
		return nil
	}
	if refused {
		return fmt.Errorf("expected an established session; it was refused: %s", refusal)
	}
	if exp != nil && exp.Path != "" && exp.Path != path {
		ss.close()
		return fmt.Errorf("expected the %s path; the session took the %s path (%s)", exp.Path, path, reason)
	}
	if exp != nil && exp.Reason != "" && !strings.Contains(reason, exp.Reason) {
		ss.close()
		return fmt.Errorf("expected the path's reason to contain %q; it is %q", exp.Reason, reason)
	}
	if st.Do == spec.StepSession {
		ss.close()
		return nil
	}
	dur, _ := time.ParseDuration(st.Duration)
	if st.Background {
		c.waits.Add(1)
		go func() {
			defer c.waits.Done()
			rctx, cancel := context.WithTimeout(context.Background(), dur+time.Minute)
			defer cancel()
			if err := ss.runKVM(rctx, st, dur); err != nil {
				ss.mu.Lock()
				ss.err = err.Error()
				ss.mu.Unlock()
			}
			ss.close()
		}()
		return nil
	}
	err = ss.runKVM(ctx, st, dur)
	ss.close()
	return err
}

// sessionEach runs the step once per device of a fleet, concurrently, and
// records how many sessions were established and how long all took.
func (c *caseRun) sessionEach(ctx context.Context, i int, st *spec.Step) error {
	name, _, _ := spec.DeviceRef(st.Device)
	f := c.fleets[name]
	if f == nil {
		return fmt.Errorf("each: %q is not a vMC party", st.Device)
	}
	base := st.SessionName(i)
	start := time.Now()
	errs := make([]error, len(f.devices))
	var wg sync.WaitGroup
	for j := range f.devices {
		one := *st
		one.Each = false
		one.Device = fmt.Sprintf("%s[%d]", name, j)
		one.Session = fmt.Sprintf("%s[%d]", base, j)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[j] = c.sessionStep(ctx, i, &one)
		}()
	}
	wg.Wait()
	c.setMetric(base+".seconds", time.Since(start).Seconds())
	var failed []string
	for j, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s[%d]: %v", name, j, err))
		}
	}
	c.setMetric(base+".established", float64(len(errs)-len(failed)))
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d concurrent sessions failed; first: %s", len(failed), len(errs), failed[0])
	}
	return nil
}

// runKVM runs the session's KVM for d: over the paired session's path, or
// the classic relay's stream.
func (ss *session) runKVM(ctx context.Context, st *spec.Step, d time.Duration) error {
	ss.mu.Lock()
	paired := ss.paired != nil
	ss.mu.Unlock()
	if paired {
		return ss.runPaired(ctx, st, d)
	}
	return ss.run(ctx, d, st.Text)
}

// calibrate measures a path's ceiling: one TCP bulk transfer from node From
// to node To for the duration, goodput at the receiver.
func (c *caseRun) calibrate(ctx context.Context, st *spec.Step) error {
	dur, _ := time.ParseDuration(st.Duration)
	ln, err := c.net.Network(st.To).Listen(ctx, "tcp", c.net.Host(st.To)+":0")
	if err != nil {
		return fmt.Errorf("calibration listener on %s: %w", st.To, err)
	}
	defer ln.Close()
	addr, err := c.net.Route(st.From, st.To, ln.Addr().String())
	if err != nil {
		return err
	}
	type result struct {
		n    int64
		secs float64
		err  error
	}
	got := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer conn.Close()
		// Count what arrives during the duration from the first byte: the
		// path's steady goodput, without waiting for queues to drain.
		_ = conn.SetReadDeadline(time.Now().Add(dur + 10*time.Second))
		buf := make([]byte, 64<<10)
		m, err := conn.Read(buf)
		if err != nil {
			got <- result{err: fmt.Errorf("nothing arrived: %w", err)}
			return
		}
		first := time.Now()
		n := int64(m)
		_ = conn.SetReadDeadline(first.Add(dur))
		for {
			m, err := conn.Read(buf)
			n += int64(m)
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() || err == io.EOF {
					err = nil
				}
				got <- result{n: n, secs: time.Since(first).Seconds(), err: err}
				return
			}
		}
	}()
	conn, err := c.net.Network(st.From).Dial(ctx, "tcp", addr)
	if err != nil {
		ln.Close()
		<-got
		return fmt.Errorf("calibration dial %s → %s: %w", st.From, st.To, err)
	}
	defer conn.Close()
	// The sender keeps the path full until the receiver is done.
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		buf := make([]byte, 64<<10)
		_ = conn.SetWriteDeadline(time.Now().Add(2*dur + 10*time.Second))
		for {
			if _, err := conn.Write(buf); err != nil {
				return
			}
		}
	}()
	var r result
	select {
	case r = <-got:
	case <-ctx.Done():
		ln.Close()
		conn.Close()
		r = <-got
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
	<-sendDone
	if r.err != nil {
		return fmt.Errorf("calibration %s → %s: %w", st.From, st.To, r.err)
	}
	if r.secs <= 0 {
		return fmt.Errorf("calibration: nothing arrived at %s within %s", st.To, dur)
	}
	c.setMetric(st.As+".mbit_s", float64(r.n)*8/r.secs/1e6)
	c.setMetric(st.As+".bytes", float64(r.n))
	return nil
}
