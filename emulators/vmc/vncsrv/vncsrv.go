// Package vncsrv is the vMC's plain RFB server on port 5900, served as real
// AMT does when Is5900PortEnabled is set: RFC 6143 RFB negotiated down to
// 3.3, 3.7 or 3.8 (3.889 and 4.x banners are treated as 3.8), VNC
// authentication with the RFBPassword of IPS_KVMRedirectionSettingData,
// a 32-bpp default pixel format as stock VNC servers announce, any
// true-colour format a client sets, and the host name as desktop name.
//
// It shares the host's single KVM session with the redirection server: a
// connection while KVM is busy, not allowed (powered off) or while the port
// is disabled is refused after the version exchange with RFB's own refusal
// (zero security types and a reason), then closed. A wrong password gets a
// SecurityResult failure (with a reason under 3.8) and the connection is
// closed.
package vncsrv

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// Config configures a Server.
type Config struct {
	Host *host.Host
	// Rand draws VNC challenges; nil → crypto/rand.
	Rand io.Reader
	// HandshakeTimeout bounds connect to ServerInit; 0 → 30 s.
	HandshakeTimeout time.Duration
	// IdleTimeout and WriteTimeout as in kvmstream.Config.
	IdleTimeout, WriteTimeout time.Duration
	Counters                  *kvmstream.Counters
	Logger                    *slog.Logger
}

// Server serves port 5900 for one host.
type Server struct{ cfg Config }

// New returns a server.
func New(cfg Config) *Server {
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg}
}

// Serve runs one RFB connection on conn and closes it. It returns nil when
// the viewer disconnects, and otherwise why the session ended.
func (s *Server) Serve(ctx context.Context, conn net.Conn) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	log := s.cfg.Logger.With("remote", conn.RemoteAddr().String())
	err := s.serve(ctx, conn, log)
	if err != nil {
		log.Info("RFB session on 5900 ended", "err", err)
	}
	return err
}

func (s *Server) serve(ctx context.Context, conn net.Conn, log *slog.Logger) error {
	hst := s.cfg.Host
	st := hst.Settings()
	var w, h int
	hst.WithScreen(func(sc *screen.Screen) { w, h = sc.Size() })
	hs := kvmstream.Handshake{Banner: rfb.V38, Security: rfb.SecVNCAuth, Password: st.RFBPassword,
		Rand: s.cfg.Rand, Timeout: s.cfg.HandshakeTimeout,
		Init: rfb.ServerInit{Width: uint16(w), Height: uint16(h), Format: rfb.PF888, Name: hst.Identity().Hostname}}
	var release func()
	switch {
	case !st.Is5900PortEnabled:
		hs.Refuse = "port 5900 is disabled (Is5900PortEnabled is false)"
	case st.RFBPassword == "":
		hs.Refuse = "no RFB password is set"
	default:
		rel, err := hst.AcquireKVM(fmt.Sprintf("RFB 5900 from %s", conn.RemoteAddr()))
		if err != nil {
			hs.Refuse = err.Error()
		} else {
			release = rel
			defer release()
		}
	}
	v, err := kvmstream.ServerHandshake(conn, hs)
	if err != nil {
		if errors.Is(err, kvmstream.ErrRefused) {
			log.Info("refusing RFB connection on 5900", "reason", hs.Refuse)
		}
		return err
	}
	log.Info("RFB session on 5900 started", "version", v.String(), "width", w, "height", h)
	return kvmstream.Serve(ctx, conn, w, h, kvmstream.Config{Host: hst, Format: rfb.PF888,
		Dialect: kvmstream.DialectStandard, ReadTimeout: s.cfg.IdleTimeout, WriteTimeout: s.cfg.WriteTimeout,
		Counters: s.cfg.Counters, Logger: log})
}
