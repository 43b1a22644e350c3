package redirsrv_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/redir"
)

var _ = Describe("SOL over the redirection protocol", func() {
	var e *env
	BeforeEach(func() { e = newEnv(640, 480, screen.W0Idle, nil) })
	AfterEach(func() { e.close() })

	sol := func() *console {
		c := e.dial()
		Expect(c.start(redir.SessionSOL).Status).To(BeZero())
		Expect(c.digestLogin(exPass).Status).To(BeZero())
		c.send(&redir.StartSOL{Seq: 1, MaxTxBuffer: 10000, TxTimeout: 100, RxTimeout: 10000, RxFlushTimeout: 100})
		r, ok := c.mustRecv().(*redir.StartSOLReply)
		Expect(ok).To(BeTrue())
		Expect(r.Status).To(BeZero())
		return c
	}

	It("carries typed text to the host and its answer back", func() {
		c := sol()
		c.send(&redir.SOLControlSettings{Seq: 2, Settings: redir.MeshCentralControlSettings})
		c.send(&redir.SOLData{Op: redir.OpSOLDataToHost, Seq: 3, Data: []byte("ls\r")})
		var got strings.Builder
		for !strings.Contains(got.String(), "pc: ls") {
			m := c.mustRecv()
			d, ok := m.(*redir.SOLData)
			Expect(ok).To(BeTrue(), "got %T", m)
			Expect(d.Op).To(Equal(redir.OpSOLDataFromHost))
			got.Write(d.Data)
		}
		Expect(got.String()).To(HavePrefix("ls\r\npc: ls\r\n"))

		c.send(&redir.SOLSeqMsg{Op: redir.OpSOLPing, Seq: 9})
		Expect(c.mustRecv()).To(Equal(&redir.SOLSeqMsg{Op: redir.OpSOLPong, Seq: 9}))
		c.send(&redir.SOLSeqMsg{Op: redir.OpSOLHeartbeat, Seq: 10})
		Expect(c.mustRecv().Opcode()).To(Equal(redir.OpSOLHeartbeat))
		c.send(&redir.SOLSeqMsg{Op: redir.OpEndSOL, Seq: 11})
		Expect(c.mustRecv()).To(Equal(&redir.SOLSeqMsg{Op: redir.OpEndSOLReply, Seq: 11}))
		c.expectClosed()
		Expect(e.sessionErr()).To(Succeed())
	})

	It("allows one SOL session at a time and ends it on EndRedirectionSession", func() {
		c := sol()
		c2 := e.dial()
		Expect(c2.start(redir.SessionSOL).Status).To(Equal(redir.StartStatusBusy))
		Expect(e.sessionErr()).To(MatchError(ContainSubstring("SOL session is already active")))
		c.send(&redir.EndRedirectionSession{})
		c.expectClosed()
		Expect(e.sessionErr()).To(Succeed())
	})

	It("refuses SOL as unsupported when redirection has SOL off", func() {
		e.host.UpdateSettings(func(s *host.Settings) { s.RedirectionState = 32769 })
		c := e.dial()
		Expect(c.start(redir.SessionSOL).Status).To(Equal(redir.StartStatusUnsupported))
		Expect(e.sessionErr()).To(MatchError(ContainSubstring("SOL is disabled")))
	})
})
