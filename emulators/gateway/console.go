package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/gateway/control"
	"github.com/oobtb/oobtb/emulators/gateway/mux"
	"github.com/oobtb/oobtb/emulators/gateway/p2p"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// Stream targets a console may open, and the vMC port each reaches.
var streamTargets = map[string]uint32{
	"kvm":   16994, // redirection: KVM (RFB after the redirection handshake)
	"sol":   16994, // redirection: serial over LAN
	"wsman": 16992, // WS-MAN over HTTP
}

// StreamPort is the vMC port a console stream target reaches.
func StreamPort(target string) (uint32, bool) {
	p, ok := streamTargets[target]
	return p, ok
}

func (g *Gateway) serveWAN(ctx context.Context, ln net.Listener) {
	g.acceptLoop(ctx, ln, "console listener", g.cfg.MaxConsoleConns, g.consoleConn)
}

func (g *Gateway) consoleConn(ctx context.Context, nc net.Conn) {
	log := g.log.With("part", "console", "remote", nc.RemoteAddr().String())
	var sid gwext.SessionID
	var known bool
	hctx, cancel := context.WithTimeout(ctx, g.cfg.HandshakeTimeout)
	pc, err := p2p.Accept(hctx, nc, p2p.AcceptConfig{Static: g.static, Clock: g.clk,
		Lookup: func(s gwext.SessionID) (p2p.Expectation, error) {
			sid, known = s, true
			return g.expectation(s)
		},
		Claim: g.claimConsole,
		Mux: mux.Config{Clock: g.clk, Logger: log, HandleOpen: func(octx context.Context, target string) (net.Conn, error) {
			return g.openForConsole(octx, sid, target, nc.RemoteAddr())
		}},
	})
	cancel()
	if err != nil {
		g.metrics.handshakes.WithLabelValues("refused").Inc()
		log.Info("console refused", "reason", err.Error())
		if known {
			g.sessionEvent(control.SessionEvent{Session: sid.String(), Event: control.EventConsoleFailed, Reason: err.Error()})
		}
		return
	}
	g.mu.Lock()
	p := g.pairings[sid]
	if g.closed || p == nil || p.cancelled != "" {
		g.mu.Unlock()
		pc.Close()
		<-pc.Done()
		return
	}
	p.consoles = append(p.consoles, pc)
	g.consoles[pc] = struct{}{}
	consoleID, device := p.consoleID, p.device
	g.mu.Unlock()
	g.metrics.handshakes.WithLabelValues("ok").Inc()
	log.Info("console connected", "session", sid.String(), "console", consoleID)
	g.sessionEvent(control.SessionEvent{Session: sid.String(), Event: control.EventConsoleConnected,
		ConsoleID: consoleID, DeviceUUID: device})
	<-pc.Done()
	in, out := pc.Stats()
	g.metrics.p2pBytes.WithLabelValues("from_console").Add(float64(in))
	g.metrics.p2pBytes.WithLabelValues("to_console").Add(float64(out))
	g.mu.Lock()
	delete(g.consoles, pc)
	for i, c := range p.consoles {
		if c == pc {
			p.consoles = append(p.consoles[:i], p.consoles[i+1:]...)
			break
		}
	}
	g.mu.Unlock()
	log.Info("console gone", "session", sid.String(), "err", pc.Err(), "bytes_from_console", in, "bytes_to_console", out)
}

// openForConsole forwards a console stream into a new APF channel to the
// paired vMC.
func (g *Gateway) openForConsole(ctx context.Context, sid gwext.SessionID, target string, from net.Addr) (net.Conn, error) {
	port, ok := streamTargets[target]
	if !ok {
		g.metrics.streams.WithLabelValues("other", "refused").Inc()
		return nil, fmt.Errorf("unknown target %q (want kvm, sol or wsman)", target)
	}
	g.mu.Lock()
	var dev *cira.Conn
	if p := g.pairings[sid]; p != nil && p.cancelled == "" {
		dev = p.conn
	}
	g.mu.Unlock()
	if dev == nil {
		g.metrics.streams.WithLabelValues(target, "refused").Inc()
		return nil, errors.New("the paired device is not connected to the gateway")
	}
	host, ps, _ := net.SplitHostPort(from.String())
	oport, _ := strconv.ParseUint(ps, 10, 32)
	ch, err := dev.OpenChannel(ctx, port, host, uint32(oport))
	if err != nil {
		g.metrics.streams.WithLabelValues(target, "refused").Inc()
		return nil, fmt.Errorf("device port %d: %v", port, err)
	}
	g.metrics.streams.WithLabelValues(target, "ok").Inc()
	return ch, nil
}
