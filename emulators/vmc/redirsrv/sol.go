package redirsrv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/redir"
)

// solChunk is the largest host→console data message; MeshCentral offers a
// MaxTxBuffer of 10000, amtterm 1000.
const solChunk = 1000

// solSession runs serial over LAN after authentication: StartSOL → reply,
// then host output as 0x2A messages and console 0x28 data into the host's
// serial input until EndSOL, EndRedirectionSession or the console leaves.
func (ss *session) solSession(ctx context.Context) error {
	cfg := &ss.s.cfg
	m, err := ss.f.next(time.Now().Add(cfg.AuthTimeout))
	if err != nil {
		return err
	}
	switch m.(type) {
	case *redir.StartSOL:
	case *redir.EndRedirectionSession:
		return nil
	default:
		return fmt.Errorf("redirection: expected StartSOLRedirection (0x20) after authentication, got %s", m.Opcode())
	}
	var wmu sync.Mutex
	write := func(m redir.Msg) error {
		wmu.Lock()
		defer wmu.Unlock()
		return ss.write(m)
	}
	if err := write(&redir.StartSOLReply{Status: 0}); err != nil {
		return err
	}
	ss.log.Info("SOL session started")

	ctx, cancel := context.WithCancel(ctx)
	pumpDone := make(chan error, 1)
	go func() { pumpDone <- ss.solPump(ctx, write) }()
	defer func() {
		cancel()
		<-pumpDone
	}()

	serial := cfg.Host.Serial()
	var seq uint32
	for {
		m, err := ss.f.next(time.Now().Add(cfg.IdleTimeout))
		if err != nil {
			select {
			case perr := <-pumpDone:
				pumpDone <- perr // for the deferred wait
				if perr != nil {
					return perr
				}
			default:
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch m := m.(type) {
		case *redir.SOLData:
			if m.Op != redir.OpSOLDataToHost {
				return fmt.Errorf("redirection: SOL data with opcode %s from the console", m.Op)
			}
			serial.Input(m.Data)
		case *redir.SOLSeqMsg:
			switch m.Op {
			case redir.OpSOLHeartbeat:
				seq++
				err = write(&redir.SOLSeqMsg{Op: redir.OpSOLHeartbeat, Seq: seq})
			case redir.OpSOLPing:
				err = write(&redir.SOLSeqMsg{Op: redir.OpSOLPong, Seq: m.Seq})
			case redir.OpSOLPong:
			case redir.OpEndSOL:
				_ = write(&redir.SOLSeqMsg{Op: redir.OpEndSOLReply, Seq: m.Seq})
				ss.log.Info("SOL session ended by the console")
				return nil
			default:
				return fmt.Errorf("redirection: unexpected %s in a SOL session", m.Op)
			}
			if err != nil {
				return err
			}
		case *redir.SOLControlSettings:
			ss.log.Debug("SOL control settings", "settings", m.Settings)
		case *redir.EndRedirectionSession:
			return nil
		default:
			return fmt.Errorf("redirection: unexpected %s in a SOL session", m.Opcode())
		}
	}
}

// solPump copies the host's serial output to the console.
func (ss *session) solPump(ctx context.Context, write func(redir.Msg) error) error {
	serial := ss.s.cfg.Host.Serial()
	var seq uint32
	for {
		b, more, closed := serial.Output(solChunk)
		if len(b) > 0 {
			seq++
			if err := write(&redir.SOLData{Op: redir.OpSOLDataFromHost, Seq: seq, Data: b}); err != nil {
				// Unblock the reader: the session is over.
				_ = ss.conn.SetReadDeadline(time.Unix(1, 0))
				return err
			}
			continue
		}
		if closed {
			_ = ss.conn.SetReadDeadline(time.Unix(1, 0))
			return errors.New("redirection: the host's serial console closed")
		}
		select {
		case <-more:
		case <-ctx.Done():
			return nil
		}
	}
}
