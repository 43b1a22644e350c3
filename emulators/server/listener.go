package server

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/oobtb/oobtb/emulators/netx"
)

// acceptLoop accepts CIRA sockets. It never exits on a transient error:
// running out of file descriptors (EMFILE/ENFILE) or kernel buffers must not
// take down the tunnels already held nor the API — the failure mode of stock
// MeshCentral at its limit. It backs off briefly and logs once per interval.
func (s *Server) acceptLoop() {
	defer s.wg.Done()
	backoff := acceptBackoffMin
	for {
		nc, err := s.ciraLn.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			reason := acceptErrorReason(err)
			s.met.refused.WithLabelValues(reason).Inc()
			if s.refusalLog.allow(reason, time.Now()) {
				s.log.Warn("CIRA accept failing; refusing new connections, existing ones keep working",
					"reason", reason, "err", err, "open", s.conns.Load(), "backoff", backoff)
			}
			t := s.clk.NewTimer(backoff)
			select {
			case <-t.C():
			case <-s.ctx.Done():
				t.Stop()
				return
			}
			backoff = min(backoff*2, acceptBackoffMax)
			continue
		}
		backoff = acceptBackoffMin
		s.acceptCount.Add(1)
		if n := s.conns.Add(1); int(n) > s.maxConns {
			s.conns.Add(-1)
			s.met.refused.WithLabelValues("max_conns").Inc()
			if s.refusalLog.allow("max_conns", time.Now()) {
				s.log.Warn("CIRA connection cap reached; closing new connections", "maxConns", s.maxConns,
					"peer", nc.RemoteAddr().String())
			}
			if tc, ok := nc.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST: no TIME_WAIT, no fd held
			}
			_ = nc.Close()
			continue
		}
		// APF keep-alives are CIRA's liveness check and the idle timeout
		// closes a silent tunnel, so the kernel's TCP keep-alive probes
		// would only add two packets per idle tunnel and interval. Turned
		// off here, whatever network the listener came from.
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetKeepAlive(false)
		}
		s.met.accepted.Inc()
		s.met.sockets.Inc()
		s.wg.Add(1)
		go s.handshake(netx.RawIO(nc))
	}
}

// handshake runs TLS under a deadline, then hands the socket to a tunnel.
// The goroutine ends once the tunnel runs: an idle tunnel costs only the
// cira reader.
func (s *Server) handshake(nc net.Conn) {
	defer s.wg.Done()
	tc := tls.Server(nc, s.tlsCfg)
	_ = nc.SetDeadline(time.Now().Add(s.cfg.TLSHandshakeTimeout))
	if err := tc.HandshakeContext(s.ctx); err != nil {
		s.met.refused.WithLabelValues("tls").Inc()
		s.log.Debug("CIRA TLS handshake failed", "peer", nc.RemoteAddr().String(), "err", err)
		_ = nc.Close()
		s.socketClosed()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	s.startTunnel(tc)
}

func (s *Server) socketClosed() {
	s.conns.Add(-1)
	s.met.sockets.Dec()
}

// acceptErrorReason names an Accept failure for the refused metric.
func acceptErrorReason(err error) string {
	switch {
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "fd_limit"
	case errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.ENOMEM):
		return "no_memory"
	case errors.Is(err, syscall.ECONNABORTED):
		return "aborted"
	}
	return "accept_error"
}

// defaultMaxConns is RLIMIT_NOFILE minus the reserve (at least 16).
func defaultMaxConns(reserve int) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1024 - reserve
	}
	n := int(min(rl.Cur, 1<<30)) - reserve
	return max(n, 16)
}

// refusalLimiter lets one log line per reason through per interval, so a
// refusal storm does not flood the log (the metric counts every one).
type refusalLimiter struct {
	mu    sync.Mutex
	every time.Duration
	last  map[string]time.Time
}

func (l *refusalLimiter) allow(reason string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	if t, ok := l.last[reason]; ok && now.Sub(t) < l.every {
		return false
	}
	l.last[reason] = now
	return true
}
