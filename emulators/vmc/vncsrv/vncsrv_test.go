package vncsrv_test

import (
	"context"
	"net"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream/kvmtest"
	"github.com/oobtb/oobtb/emulators/vmc/power"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/vmc/vncsrv"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
	"github.com/oobtb/oobtb/sim/clock"
)

const password = "Vnc!pass"

var _ = Describe("plain RFB on 5900", func() {
	var (
		hst   *host.Host
		srv   *vncsrv.Server
		wg    sync.WaitGroup
		done  chan error
		conns []net.Conn
	)
	BeforeEach(func() {
		var err error
		st := host.DefaultSettings()
		st.Is5900PortEnabled, st.RFBPassword = true, password
		hst, err = host.New(host.Config{
			Identity: host.Identity{UUID: "12345678-9abc-def0-1122-334455667788", Hostname: "pc"},
			Settings: st,
			Screen:   screen.Config{Width: 640, Height: 480, Workload: screen.W4Photo, Seed: 3},
			Clock:    clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		})
		Expect(err).NotTo(HaveOccurred())
		srv = vncsrv.New(vncsrv.Config{Host: hst})
		done = make(chan error, 16)
		conns = nil
	})
	AfterEach(func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
		hst.Close()
	})
	dial := func() net.Conn {
		a, b := net.Pipe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			done <- srv.Serve(context.Background(), a)
		}()
		conns = append(conns, b)
		return b
	}
	sessionErr := func() error {
		var err error
		Eventually(done, 5*time.Second).Should(Receive(&err))
		return err
	}

	for _, v := range []rfb.Version{rfb.V33, rfb.V37, rfb.V38, {Major: 3, Minor: 889}, rfb.V40} {
		It("serves a "+v.String()+" viewer with the right password, 32 bpp pixel-exact", func() {
			c := dial()
			si, err := kvmtest.VNCHandshake(c, v, password)
			Expect(err).NotTo(HaveOccurred())
			Expect(si.Name).To(Equal("pc"))
			Expect(si.Format).To(Equal(rfb.PF888))
			cl, err := kvmtest.NewClient(c, si.Format, int(si.Width), int(si.Height))
			Expect(err).NotTo(HaveOccurred())
			// A stock viewer's list: ZRLE (16) first, then Raw.
			Expect(cl.Send(&rfb.SetEncodings{Encodings: []int32{16, 5, 1, 0, -223}})).To(Succeed())
			Expect(cl.Request(false)).To(Succeed())
			u, _, err := cl.ReadUpdate()
			Expect(err).NotTo(HaveOccurred())
			Expect(u.Rects[0].Encoding).To(Equal(rfb.EncodingAMT16))
			Expect(u.Rects[0].Stored).To(BeFalse(), "ZRLE is one zlib stream")
			want, err := kvmtest.Expected(snapshot(hst), rfb.PF888)
			Expect(err).NotTo(HaveOccurred())
			x, y, ok := kvmtest.FirstDiff(cl.Dec.Image(), want)
			Expect(ok).To(BeTrue(), "first difference at (%d,%d)", x, y)
		})

		It("refuses a "+v.String()+" viewer with a wrong password and closes", func() {
			c := dial()
			_, err := kvmtest.VNCHandshake(c, v, "wrong")
			Expect(err).To(MatchError(ContainSubstring("authentication failed")))
			if v.AtLeast(rfb.V38) {
				Expect(err).To(MatchError(ContainSubstring("wrong password")))
			}
			Expect(sessionErr()).To(MatchError(kvmstream.ErrAuthFailed))
		})
	}

	It("serves any true-colour format: 16 bpp big-endian Raw and 8 bpp grey", func() {
		c := dial()
		si, err := kvmtest.VNCHandshake(c, rfb.V38, password)
		Expect(err).NotTo(HaveOccurred())
		cl, err := kvmtest.NewClient(c, si.Format, int(si.Width), int(si.Height))
		Expect(err).NotTo(HaveOccurred())
		for _, pf := range []rfb.PixelFormat{
			{BPP: 16, Depth: 16, BigEndian: true, TrueColour: true, RedMax: 31, GreenMax: 63, BlueMax: 31, RedShift: 11, GreenShift: 5},
			rfb.PFGrey8,
			{BPP: 32, Depth: 24, BigEndian: true, TrueColour: true, RedMax: 255, GreenMax: 255, BlueMax: 255, BlueShift: 16, GreenShift: 8},
		} {
			Expect(cl.SetPixelFormat(pf)).To(Succeed())
			Expect(cl.Request(false)).To(Succeed())
			u, _, err := cl.ReadUpdate()
			Expect(err).NotTo(HaveOccurred())
			Expect(u.Rects[0].Encoding).To(Equal(rfb.EncodingRaw))
			want, err := kvmtest.Expected(snapshot(hst), pf)
			Expect(err).NotTo(HaveOccurred())
			x, y, ok := kvmtest.FirstDiff(cl.Dec.Image(), want)
			Expect(ok).To(BeTrue(), "%s: first difference at (%d,%d)", pf, x, y)
		}
	})

	It("shares the single KVM session and refuses while powered off or disabled, with a reason", func() {
		c1 := dial()
		_, err := kvmtest.VNCHandshake(c1, rfb.V38, password)
		Expect(err).NotTo(HaveOccurred())
		c2 := dial()
		_, err = kvmtest.VNCHandshake(c2, rfb.V38, password)
		Expect(err).To(MatchError(ContainSubstring("already active")))
		Expect(sessionErr()).To(MatchError(kvmstream.ErrRefused))

		Expect(hst.RequestPower(power.ReqOffSoft)).To(Equal(power.ReturnOK))
		Expect(sessionErr()).To(MatchError(kvmstream.ErrNotAllowed))
		c3 := dial()
		_, err = kvmtest.VNCHandshake(c3, rfb.V37, password)
		Expect(err).To(MatchError(ContainSubstring("powered off")))
		Expect(sessionErr()).To(MatchError(kvmstream.ErrRefused))

		hst.UpdateSettings(func(s *host.Settings) { s.Is5900PortEnabled = false })
		c4 := dial()
		_, err = kvmtest.VNCHandshake(c4, rfb.V33, password)
		Expect(err).To(MatchError(ContainSubstring("port 5900 is disabled")))
		Expect(sessionErr()).To(MatchError(kvmstream.ErrRefused))
	})

	It("rejects a viewer older than 3.3", func() {
		c := dial()
		_, err := kvmtest.VNCHandshake(c, rfb.Version{Major: 3, Minor: 2}, password)
		Expect(err).To(HaveOccurred())
		Expect(sessionErr()).To(MatchError(ContainSubstring("at least 3.3")))
	})
})
