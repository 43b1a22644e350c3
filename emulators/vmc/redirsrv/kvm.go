package redirsrv

import (
	"context"
	"fmt"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/kvmstream"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/redir"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// kvm waits for the console's KVM start (0x40), answers 41 00…00 and runs
// AMT's RFB: banner 4.0, security None, RGB565 LE, "Intel(r) AMT KVM".
func (ss *session) kvm(ctx context.Context) error {
	cfg := &ss.s.cfg
	m, err := ss.f.next(time.Now().Add(cfg.AuthTimeout))
	if err != nil {
		return err
	}
	switch m.(type) {
	case *redir.KVMStart:
	case *redir.EndRedirectionSession:
		return nil
	default:
		return fmt.Errorf("redirection: expected KVM start (0x40) after authentication, got %s", m.Opcode())
	}
	if err := ss.write(&redir.KVMStartReply{}); err != nil {
		return err
	}
	var w, h int
	cfg.Host.WithScreen(func(s *screen.Screen) { w, h = s.Size() })
	conn := &prefixConn{Conn: ss.conn, pre: ss.f.buf}
	ss.f.buf = nil
	_, err = kvmstream.ServerHandshake(conn, kvmstream.Handshake{
		Banner: rfb.V40, Security: rfb.SecNone,
		Init: rfb.AMTServerInit(uint16(w), uint16(h)), Timeout: cfg.AuthTimeout})
	if err != nil {
		return err
	}
	ss.log.Info("KVM session started", "width", w, "height", h)
	return kvmstream.Serve(ctx, conn, w, h, kvmstream.Config{Host: cfg.Host, Format: rfb.PF565,
		Dialect: kvmstream.DialectAMT, ReadTimeout: cfg.IdleTimeout, WriteTimeout: cfg.WriteTimeout,
		Counters: cfg.Counters, Logger: ss.log})
}
