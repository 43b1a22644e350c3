package vncbridge_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/console/internal/vmcenv"
	"github.com/oobtb/oobtb/emulators/console/kvmclient"
	"github.com/oobtb/oobtb/emulators/console/redirclient"
	"github.com/oobtb/oobtb/emulators/console/vncbridge"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream/kvmtest"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// noneHandshake is a stock viewer's opening with security None.
func noneHandshake(conn net.Conn, v rfb.Version) (rfb.ServerInit, error) {
	var si rfb.ServerInit
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetDeadline(time.Time{})
	b := make([]byte, rfb.VersionLen)
	if _, err := io.ReadFull(conn, b); err != nil {
		return si, err
	}
	if string(b) != "RFB 003.008\n" {
		return si, fmt.Errorf("banner %q", b)
	}
	if _, err := conn.Write(v.Append(nil)); err != nil {
		return si, err
	}
	if v == rfb.V33 {
		var t [4]byte
		if _, err := io.ReadFull(conn, t[:]); err != nil {
			return si, err
		}
		if binary.BigEndian.Uint32(t[:]) != uint32(rfb.SecNone) {
			return si, fmt.Errorf("3.3 security type % x", t)
		}
	} else {
		var t [2]byte
		if _, err := io.ReadFull(conn, t[:]); err != nil {
			return si, err
		}
		if t != [2]byte{1, rfb.SecNone} {
			return si, fmt.Errorf("security types % x", t)
		}
		if _, err := conn.Write([]byte{rfb.SecNone}); err != nil {
			return si, err
		}
		if v == rfb.V38 {
			var r [4]byte
			if _, err := io.ReadFull(conn, r[:]); err != nil {
				return si, err
			}
			if r != [4]byte{} {
				return si, fmt.Errorf("SecurityResult % x", r)
			}
		}
	}
	if _, err := conn.Write([]byte{1}); err != nil {
		return si, err
	}
	var ib []byte
	for {
		s, _, err := rfb.DecodeServerInit(ib)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, rfb.ErrShort) {
			return si, err
		}
		var one [1]byte
		if _, err := io.ReadFull(conn, one[:]); err != nil {
			return si, err
		}
		ib = append(ib, one[0])
	}
}

var (
	pfBGR32 = rfb.PixelFormat{BPP: 32, Depth: 24, TrueColour: true, RedMax: 255, GreenMax: 255, BlueMax: 255, RedShift: 0, GreenShift: 8, BlueShift: 16}
	pf565BE = rfb.PixelFormat{BPP: 16, Depth: 16, BigEndian: true, TrueColour: true, RedMax: 31, GreenMax: 63, BlueMax: 31, RedShift: 11, GreenShift: 5}
)

var _ = Describe("VNC bridge", func() {
	var (
		e      *vmcenv.Env
		kc     *kvmclient.Client
		addr   string
		bridge *vncbridge.Bridge
	)

	start := func(password string) {
		var err error
		e, err = vmcenv.New(320, 200, screen.W2Terminal)
		Expect(err).NotTo(HaveOccurred())
		conn, err := e.Dial()
		Expect(err).NotTo(HaveOccurred())
		kc, err = kvmclient.Open(conn, kvmclient.Config{
			Credentials: redirclient.Credentials{User: vmcenv.User, Password: vmcenv.Password}, Timeout: 10 * time.Second})
		Expect(err).NotTo(HaveOccurred())
		ctx, cancel := context.WithCancel(context.Background())
		runDone := make(chan error, 1)
		go func() { runDone <- kc.Run(ctx) }()
		Expect(kc.WaitFirstFrame(ctx)).To(Succeed())

		bridge, err = vncbridge.New(vncbridge.Config{Source: kc, Password: password, Timeout: 10 * time.Second})
		Expect(err).NotTo(HaveOccurred())
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		addr = ln.Addr().String()
		serveDone := make(chan error, 1)
		go func() { serveDone <- bridge.Serve(ctx, ln) }()
		DeferCleanup(func() {
			cancel()
			Eventually(serveDone, 10*time.Second).Should(Receive(BeNil()))
			Eventually(runDone, 10*time.Second).Should(Receive(BeNil()))
			Expect(kc.Close()).To(Succeed())
			Expect(e.Close()).To(Succeed())
		})
	}

	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = c.Close() })
		return c
	}

	// check asks for a full update in pf and compares it with the console's
	// picture as a pf client reconstructs it.
	check := func(conn net.Conn, si rfb.ServerInit, pf *rfb.PixelFormat) *kvmtest.Client {
		Expect(si.Format).To(Equal(rfb.PF888))
		format := si.Format
		cl, err := kvmtest.NewClient(conn, format, int(si.Width), int(si.Height))
		Expect(err).NotTo(HaveOccurred())
		if pf != nil {
			Expect(cl.SetPixelFormat(*pf)).To(Succeed())
			format = *pf
		}
		Expect(cl.Send(&rfb.SetEncodings{Encodings: []int32{rfb.EncodingRaw, rfb.EncodingDesktopSize}})).To(Succeed())
		Expect(cl.Request(false)).To(Succeed())
		u, _, err := cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		for _, r := range u.Rects {
			Expect(r.Encoding).To(Equal(rfb.EncodingRaw))
		}
		exp, err := kvmtest.Expected(kc.Screenshot(), format)
		Expect(err).NotTo(HaveOccurred())
		x, y, ok := kvmtest.FirstDiff(cl.Dec.Image(), exp)
		Expect(ok).To(BeTrue(), fmt.Sprintf("first difference at (%d,%d)", x, y))
		return cl
	}

	Context("on loopback without a password", func() {
		BeforeEach(func() { start("") })

		for _, v := range []rfb.Version{rfb.V33, rfb.V37, rfb.V38} {
			It(fmt.Sprintf("serves an RFB %s viewer with security None, pixel-exact", v), func() {
				conn := dial()
				si, err := noneHandshake(conn, v)
				Expect(err).NotTo(HaveOccurred())
				Expect(int(si.Width)).To(Equal(320))
				check(conn, si, nil)
			})
		}

		It("serves 32 bpp BGR and big-endian 16 bpp viewers pixel-exactly", func() {
			for _, pf := range []rfb.PixelFormat{pfBGR32, pf565BE, rfb.PF332} {
				conn := dial()
				si, err := noneHandshake(conn, rfb.V38)
				Expect(err).NotTo(HaveOccurred())
				check(conn, si, &pf)
			}
		})

		It("forwards the viewer's keys to the device and follows its updates", func() {
			conn := dial()
			si, err := noneHandshake(conn, rfb.V38)
			Expect(err).NotTo(HaveOccurred())
			cl := check(conn, si, nil)
			var before uint32
			e.Host.WithScreen(func(s *screen.Screen) { before = s.LastInputID() })
			e.StartTicking(2 * time.Millisecond)
			for _, k := range "hi" {
				Expect(cl.Send(&rfb.KeyEvent{Down: true, Key: uint32(k)})).To(Succeed())
				Expect(cl.Send(&rfb.KeyEvent{Down: false, Key: uint32(k)})).To(Succeed())
			}
			// The viewer's own picture shows the stamp with the forwarded input.
			Eventually(func() uint32 {
				Expect(cl.Request(true)).To(Succeed())
				_, _, err := cl.ReadUpdate()
				Expect(err).NotTo(HaveOccurred())
				st, err := screen.DecodeStamp(cl.Dec.Image())
				if err != nil {
					return 0
				}
				return st.InputID
			}, 10*time.Second).Should(Equal(before + 4))
			e.StopTicking()
		})

		It("is viewable by the console's own KVM client (3.8 banner, Raw at 32 bpp)", func() {
			conn := dial()
			vc, err := kvmclient.Open(conn, kvmclient.Config{SkipRedirection: true, Format: rfb.PF888,
				Encodings: []int32{rfb.EncodingRaw}, Timeout: 10 * time.Second, KeepAlive: -1})
			Expect(err).NotTo(HaveOccurred())
			Expect(vc.Banner()).To(Equal(rfb.V38))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- vc.Run(ctx) }()
			Expect(vc.WaitFirstFrame(ctx)).To(Succeed())
			exp, err := kvmtest.Expected(kc.Screenshot(), rfb.PF888)
			Expect(err).NotTo(HaveOccurred())
			x, y, ok := kvmtest.FirstDiff(vc.Screenshot(), exp)
			Expect(ok).To(BeTrue(), fmt.Sprintf("first difference at (%d,%d)", x, y))
			Expect(vc.Stats().Rects["raw"]).To(BeNumerically(">", 0))
			Expect(vc.Stats().Integrity.Failures).To(BeZero())
			cancel()
			Eventually(done, 10*time.Second).Should(Receive(BeNil()))
			Expect(vc.Close()).To(Succeed())
		})

		It("refuses to listen on a non-loopback address without a password", func() {
			_, err := bridge.Security(&net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 5900})
			Expect(err).To(MatchError(ContainSubstring("needs a VNC password")))
			sec, err := bridge.Security(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5900})
			Expect(err).NotTo(HaveOccurred())
			Expect(sec).To(Equal(rfb.SecNone))
		})
	})

	Context("with a VNC password", func() {
		BeforeEach(func() { start("s3cret") })

		for _, v := range []rfb.Version{rfb.V33, rfb.V37, rfb.V38} {
			It(fmt.Sprintf("authenticates an RFB %s viewer and refuses a wrong password", v), func() {
				conn := dial()
				si, err := kvmtest.VNCHandshake(conn, v, "s3cret")
				Expect(err).NotTo(HaveOccurred())
				pf := pf565BE
				check(conn, si, &pf)

				bad := dial()
				_, err = kvmtest.VNCHandshake(bad, v, "wrong")
				Expect(err).To(HaveOccurred())
				if v == rfb.V38 {
					Expect(err).To(MatchError(ContainSubstring("wrong password")))
				}
			})
		}
	})
})
