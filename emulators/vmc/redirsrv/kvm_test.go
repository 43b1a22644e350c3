package redirsrv_test

import (
	"encoding/hex"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/kvmstream"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream/kvmtest"
	"github.com/oobtb/oobtb/emulators/vmc/power"
	"github.com/oobtb/oobtb/emulators/vmc/redirsrv"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/redir"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	Expect(err).NotTo(HaveOccurred())
	return b
}

// expectFrame checks the client's image against the host's screen as the
// client's pixel format shows it.
func expectFrame(e *env, cl *kvmtest.Client, pf rfb.PixelFormat) {
	want, err := kvmtest.Expected(e.snapshot(), pf)
	Expect(err).NotTo(HaveOccurred())
	x, y, ok := kvmtest.FirstDiff(cl.Dec.Image(), want)
	Expect(ok).To(BeTrue(), "first differing pixel at (%d,%d)", x, y)
}

var _ = Describe("KVM over the redirection protocol", func() {
	var e *env
	BeforeEach(func() { e = newEnv(800, 600, screen.W3Drag, nil) })
	AfterEach(func() { e.close() })

	It("checks the console's digest arithmetic against reference §6", func() {
		Expect(redir.DigestResponse(exUser, exRealm, exPass, "AbCdEfGhIjKlMnOpQrStUvWx", exNC, exCNonce, "auth",
			redir.RedirectionURI)).To(Equal("5d64bf384b66e8e7603bc653ebd6f94e"))
	})

	It("answers the session start, query and probe byte for byte as reference §6 shows", func() {
		c := e.dial()
		c.sendRaw(unhex("10 01 00 00 4b 56 4d 52"))
		Expect(c.readRaw(13)).To(Equal(unhex("11 00 00 00 01 00 02 00 00 00 00 00 00")))
		c.sendRaw(unhex("13 00 00 00 00 00 00 00 00"))
		Expect(c.readRaw(11)).To(Equal(unhex("14 00 00 00 00 02 00 00 00 03 04")))
		// The digest probe: user, empty realm, uri /RedirectionService.
		probe := append(unhex("13 00 00 00 04 20 00 00 00 05"), "admin"...)
		probe = append(append(append(probe, 0, 0, 0x13), "/RedirectionService"...), 0, 0, 0, 0)
		c.sendRaw(probe)
		ch := c.readRaw(9 + 70)
		Expect(ch[:10]).To(Equal(unhex("14 01 00 00 04 46 00 00 00 27")))
		Expect(string(ch[10:49])).To(Equal(exRealm))
		Expect(ch[49]).To(Equal(byte(24)))
		nonce := string(ch[50:74])
		Expect(strings.ContainsAny(nonce, "=,")).To(BeFalse())
		Expect(ch[74:]).To(Equal(append([]byte{4}, "auth"...)))
		// Step 5 with the §6 cnonce and nc.
		resp := redir.DigestResponse(exUser, exRealm, exPass, nonce, exNC, exCNonce, "auth", redir.RedirectionURI)
		c.send(&redir.AuthenticateSession{Type: redir.AuthDigestQop, User: exUser, Realm: exRealm, Nonce: nonce,
			URI: redir.RedirectionURI, CNonce: exCNonce, NC: exNC, Response: resp, Qop: "auth"})
		Expect(c.readRaw(9)).To(Equal(unhex("14 00 00 00 04 00 00 00 00")))
		c.send(&redir.EndRedirectionSession{})
		Expect(e.sessionErr()).To(Succeed())
	})

	It("advertises plain authentication as §6's (1,3,4) when enabled, and accepts it", func() {
		e.close()
		e = newEnv(640, 480, screen.W0Idle, func(c *redirsrv.Config) { c.AllowPlain = true })
		c := e.dial()
		Expect(c.start(redir.SessionSOL).Status).To(BeZero())
		c.sendRaw(unhex("13 00 00 00 00 00 00 00 00"))
		Expect(c.readRaw(12)).To(Equal(unhex("14 00 00 00 00 03 00 00 00 01 03 04")))
		c.send(&redir.AuthenticateSession{Type: redir.AuthPassword, User: exUser, Password: exPass})
		Expect(c.mustRecv().(*redir.AuthenticateSessionReply).Status).To(Equal(redir.AuthStatusSuccess))
		c.conn.Close()
		Expect(e.sessionErr()).To(Succeed())
	})

	It("accepts digest without qop (type 3)", func() {
		c := e.dial()
		Expect(c.start(redir.SessionKVM).Status).To(BeZero())
		c.send(&redir.AuthenticateSession{Type: redir.AuthDigest, User: exUser, URI: redir.RedirectionURI})
		ch := c.mustRecv().(*redir.AuthenticateSessionReply)
		Expect(ch.IsChallenge()).To(BeTrue())
		Expect(ch.Qop).To(BeEmpty())
		resp := redir.DigestResponse(exUser, ch.Realm, exPass, ch.Nonce, "", "", "", redir.RedirectionURI)
		c.send(&redir.AuthenticateSession{Type: redir.AuthDigest, User: exUser, Realm: ch.Realm, Nonce: ch.Nonce,
			URI: redir.RedirectionURI, Response: resp})
		Expect(c.mustRecv().(*redir.AuthenticateSessionReply).Status).To(Equal(redir.AuthStatusSuccess))
		c.conn.Close()
		Expect(e.sessionErr()).To(Succeed())
	})

	It("serves a full frame on the first (incremental) request, then damaged tiles only", func() {
		_, cl, si := e.kvm()
		Expect(si.Name).To(Equal(rfb.AMTDesktopName))
		Expect(si.Format).To(Equal(rfb.PF565))
		Expect([]uint16{si.Width, si.Height}).To(Equal([]uint16{800, 600}))

		Expect(cl.Request(true)).To(Succeed())
		u, _, err := cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		Expect(u.Rects).To(HaveLen(13 * 10))
		for _, r := range u.Rects {
			Expect(r.Encoding).To(Equal(rfb.EncodingAMT16))
			Expect(r.Stored).To(BeTrue())
			Expect(r.Rect.W).To(BeNumerically("<=", 64))
			Expect(r.Rect.H).To(BeNumerically("<=", 64))
		}
		expectFrame(e, cl, rfb.PF565)

		for i := 0; i < 4; i++ {
			before := e.snapshot()
			Expect(cl.Request(true)).To(Succeed())
			e.step()
			u, _, err = cl.ReadUpdate()
			Expect(err).NotTo(HaveOccurred(), "update %d", i)
			after := e.snapshot()
			diff := kvmtest.DiffTiles(before, after)
			Expect(diff).NotTo(BeEmpty())
			Expect(u.Tiles()).To(Equal(diff))
			expectFrame(e, cl, rfb.PF565)
		}
		Expect(e.count.RectsAMT16.Load()).To(BeNumerically(">", 130))
		Expect(e.count.RectsRaw.Load()).To(BeZero())
	})

	It("never sends an empty update: an idle screen's answer waits for the next frame", func() {
		_, cl, _ := e.kvm()
		Expect(cl.Request(true)).To(Succeed())
		_, _, err := cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		Expect(cl.Request(true)).To(Succeed())
		cl.Timeout = 300 * time.Millisecond
		_, err = cl.Next()
		Expect(err).To(MatchError(ContainSubstring("timeout")))
		cl.Timeout = 0
		e.step()
		u, _, err := cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		Expect(u.Rects).NotTo(BeEmpty())
	})

	It("sends the requested region in full on a non-incremental request", func() {
		_, cl, _ := e.kvm()
		Expect(cl.Request(true)).To(Succeed())
		_, _, err := cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		Expect(cl.Send(&rfb.FramebufferUpdateRequest{Rect: rfb.Rect{X: 100, Y: 70, W: 90, H: 10}})).To(Succeed())
		u, _, err := cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		Expect(u.Tiles()).To(Equal(map[[2]int]bool{{64, 64}: true, {128, 64}: true}))
	})

	It("switches encoding 16 to deflate after KvmExtCmd 4 and answers the queries", func() {
		_, cl, _ := e.kvm()
		Expect(cl.Send(&rfb.ClientCutText{Text: rfb.AppendExtCmd(nil, rfb.ExtCmdSetCompression, 1)})).To(Succeed())
		ct, err := cl.ReadCutText()
		Expect(err).NotTo(HaveOccurred())
		Expect([]any{ct.Kind, ct.Cmd, ct.Value}).To(Equal([]any{rfb.CutExtCmd, rfb.ExtCmdSetCompression, uint8(1)}))
		Expect(cl.Send(&rfb.ClientCutText{Text: rfb.AppendExtCmd(nil, rfb.ExtCmdGetCompression, 0)})).To(Succeed())
		ct, err = cl.ReadCutText()
		Expect(err).NotTo(HaveOccurred())
		Expect([]any{ct.Cmd, ct.Value}).To(Equal([]any{rfb.ExtCmdGetCompression, uint8(1)}))
		Expect(cl.Send(&rfb.ClientCutText{Text: rfb.AppendExtCmd(nil, rfb.ExtCmdGetDecimation, 0)})).To(Succeed())
		ct, err = cl.ReadCutText()
		Expect(err).NotTo(HaveOccurred())
		Expect(ct.Cmd).To(Equal(rfb.ExtCmdGetDecimation))
		Expect(cl.Send(&rfb.ClientCutText{Text: rfb.AppendDataChannel(nil, nil)})).To(Succeed())
		ct, err = cl.ReadCutText()
		Expect(err).NotTo(HaveOccurred())
		Expect([]any{ct.Kind, ct.Ack}).To(Equal([]any{rfb.CutDataChannel, true}))

		Expect(cl.Request(true)).To(Succeed())
		u, _, err := cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		for _, r := range u.Rects {
			Expect(r.Stored).To(BeFalse())
		}
		expectFrame(e, cl, rfb.PF565)
		Expect(cl.Request(true)).To(Succeed())
		e.step()
		_, _, err = cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		expectFrame(e, cl, rfb.PF565)
	})

	It("serves 8 bpp RGB332 pixel-exact", func() {
		_, cl, _ := e.kvm()
		Expect(cl.SetPixelFormat(rfb.PF332)).To(Succeed())
		Expect(cl.Request(false)).To(Succeed())
		_, _, err := cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		expectFrame(e, cl, rfb.PF332)
	})

	It("sends Raw tiles to a client that did not list 16", func() {
		_, cl, _ := e.kvm()
		Expect(cl.Send(&rfb.SetEncodings{Encodings: []int32{rfb.EncodingRaw}})).To(Succeed())
		Expect(cl.Request(false)).To(Succeed())
		u, _, err := cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		Expect(u.Rects[0].Encoding).To(Equal(rfb.EncodingRaw))
		expectFrame(e, cl, rfb.PF565)
	})

	It("types keys onto the screen and reports the last input id in the stamp", func() {
		_, cl, _ := e.kvm()
		Expect(cl.Request(true)).To(Succeed())
		_, _, err := cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		before := e.snapshot()
		for _, k := range "hi" {
			Expect(cl.Send(&rfb.KeyEvent{Down: true, Key: uint32(k)})).To(Succeed())
			Expect(cl.Send(&rfb.KeyEvent{Down: false, Key: uint32(k)})).To(Succeed())
		}
		Expect(cl.Send(&rfb.PointerEvent{Mask: rfb.ButtonLeft, X: 300, Y: 300})).To(Succeed())
		Eventually(func() uint32 {
			var id uint32
			e.host.WithScreen(func(s *screen.Screen) { id = s.LastInputID() })
			return id
		}).Should(Equal(uint32(5)))
		Expect(cl.Request(true)).To(Succeed())
		e.step()
		_, _, err = cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		expectFrame(e, cl, rfb.PF565)
		st, err := screen.DecodeStamp(cl.Dec.Image())
		Expect(err).NotTo(HaveOccurred())
		Expect(st.InputID).To(Equal(uint32(5)))
		Expect(kvmtest.DiffTiles(before, cl.Dec.Image())).NotTo(BeEmpty())
		Expect(e.count.Inputs.Load()).To(Equal(uint64(5)))
	})

	It("refuses a second KVM session as busy, and a session while powered off", func() {
		c1, cl, _ := e.kvm()
		Expect(cl.Request(true)).To(Succeed())
		_, _, err := cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())

		c2 := e.dial()
		Expect(c2.start(redir.SessionKVM).Status).To(Equal(redir.StartStatusBusy))
		c2.expectClosed()
		Expect(e.sessionErr()).To(MatchError(ContainSubstring("already active")))

		// Power off: the running session ends without another byte.
		Expect(e.host.RequestPower(power.ReqOffSoft)).To(Equal(power.ReturnOK))
		Expect(e.sessionErr()).To(MatchError(kvmstream.ErrNotAllowed))
		c1.expectClosed()

		c3 := e.dial()
		Expect(c3.start(redir.SessionKVM).Status).To(Equal(redir.StartStatusError))
		c3.expectClosed()
		Expect(e.sessionErr()).To(MatchError(ContainSubstring("powered off")))
	})

	It("refuses IDER as unsupported and unknown session types", func() {
		c := e.dial()
		Expect(c.start(redir.SessionIDER).Status).To(Equal(redir.StartStatusUnsupported))
		c.expectClosed()
		Expect(e.sessionErr()).To(MatchError(redirsrv.ErrRefused))
		c = e.dial()
		Expect(c.start(redir.SessionType{'X', 'Y', 'Z', 'W'}).Status).To(Equal(redir.StartStatusTypeUnknown))
		Expect(e.sessionErr()).To(MatchError(redirsrv.ErrRefused))
	})

	It("answers a wrong digest with a fresh challenge, then fails and closes after three attempts", func() {
		c := e.dial()
		Expect(c.start(redir.SessionKVM).Status).To(BeZero())
		r := c.digestLogin("wrong")
		Expect(r.Status).To(Equal(redir.AuthStatusFailure))
		Expect(r.IsChallenge()).To(BeTrue())
		r = c.answer(r, "wrong", "00000001")
		Expect(r.IsChallenge()).To(BeTrue())
		r = c.answer(r, "wrong", "00000001")
		Expect(r.Status).To(Equal(redir.AuthStatusFailure))
		Expect(r.IsChallenge()).To(BeFalse())
		c.expectClosed()
		Expect(e.sessionErr()).To(MatchError(redirsrv.ErrAuthFailed))
		// The failed session released KVM.
		_, cl, _ := e.kvm()
		Expect(cl.Request(true)).To(Succeed())
		_, _, err := cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
	})

	It("refuses a replayed nonce count", func() {
		c := e.dial()
		Expect(c.start(redir.SessionSOL).Status).To(BeZero())
		c.send(&redir.AuthenticateSession{Type: redir.AuthDigestQop, User: exUser, URI: redir.RedirectionURI})
		ch := c.mustRecv().(*redir.AuthenticateSessionReply)
		Expect(c.answer(ch, exPass, "00000002").Status).To(BeZero())
		c.conn.Close()
		Expect(e.sessionErr()).To(Succeed())
		c = e.dial()
		Expect(c.start(redir.SessionSOL).Status).To(BeZero())
		r := c.answer(ch, exPass, "00000002")
		Expect(r.IsChallenge()).To(BeTrue())
		c.conn.Close()
		Expect(e.sessionErr()).To(Succeed())
	})
})
