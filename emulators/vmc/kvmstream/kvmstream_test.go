package kvmstream_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream/kvmtest"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

var _ = Describe("version negotiation", func() {
	DescribeTable("maps a client's banner to the semantics served",
		func(c, want rfb.Version) {
			got, err := kvmstream.Negotiate(c)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(want))
		},
		Entry("3.3", rfb.V33, rfb.V33),
		Entry("3.5 (treated as 3.3)", rfb.Version{Major: 3, Minor: 5}, rfb.V33),
		Entry("3.7", rfb.V37, rfb.V37),
		Entry("3.8", rfb.V38, rfb.V38),
		Entry("Apple 3.889", rfb.Version{Major: 3, Minor: 889}, rfb.V38),
		Entry("4.0 (RealVNC, AMT)", rfb.V40, rfb.V38),
		Entry("5.0", rfb.Version{Major: 5}, rfb.V38),
	)
	It("rejects versions before 3.3", func() {
		_, err := kvmstream.Negotiate(rfb.Version{Major: 3, Minor: 2})
		Expect(err).To(MatchError(ContainSubstring("at least 3.3")))
	})
})

var _ = Describe("the handshake", func() {
	It("fails a client that picks a security type that was not offered, with the reason", func() {
		a, b := net.Pipe()
		defer b.Close()
		done := make(chan error, 1)
		go func() {
			_, err := kvmstream.ServerHandshake(a, kvmstream.Handshake{Banner: rfb.V38, Security: rfb.SecVNCAuth, Password: "x"})
			a.Close()
			done <- err
		}()
		buf := make([]byte, 64)
		_, err := b.Read(buf[:12])
		Expect(err).NotTo(HaveOccurred())
		_, err = b.Write(rfb.V38.Append(nil))
		Expect(err).NotTo(HaveOccurred())
		n, err := b.Read(buf)
		Expect(err).NotTo(HaveOccurred())
		Expect(buf[:n]).To(Equal([]byte{1, rfb.SecVNCAuth}))
		_, err = b.Write([]byte{rfb.SecNone})
		Expect(err).NotTo(HaveOccurred())
		var res []byte
		for {
			n, err := b.Read(buf)
			res = append(res, buf[:n]...)
			if err != nil {
				break
			}
		}
		st, reason, _, err := rfb.DecodeSecurityResult(res, rfb.V38)
		Expect(err).NotTo(HaveOccurred())
		Expect(st).To(Equal(rfb.SecurityFailed))
		Expect(reason).To(ContainSubstring("not offered"))
		Expect(<-done).To(MatchError(ContainSubstring("not offered")))
	})

	It("gives up on a silent client at the timeout", func() {
		a, b := net.Pipe()
		defer b.Close()
		done := make(chan error, 1)
		go func() {
			_, err := kvmstream.ServerHandshake(a, kvmstream.Handshake{Banner: rfb.V40, Security: rfb.SecNone, Timeout: 100 * time.Millisecond})
			done <- err
		}()
		Expect(<-done).To(MatchError(ContainSubstring("banner")))
	})
})

var _ = Describe("the session", func() {
	var r *rig
	AfterEach(func() { r.close() })

	It("sends Raw to a stock viewer listing ZRLE when tile widths are not multiples of 8", func() {
		r = newRig(650, 400, screen.W1BIOS, rfb.PF888, func(c *kvmstream.Config) { c.Dialect = kvmstream.DialectStandard })
		Expect(r.cl.Send(&rfb.SetEncodings{Encodings: []int32{16, 0}})).To(Succeed())
		Expect(r.cl.Request(true)).To(Succeed())
		u, _, err := r.cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		Expect(u.Rects).To(HaveLen(11 * 7))
		Expect(u.Rects[0].Encoding).To(Equal(rfb.EncodingRaw))
		Expect(r.count.RectsRaw.Load()).To(Equal(uint64(77)))
	})

	It("merges requests that arrive before the answer into one update", func() {
		r = newRig(640, 480, screen.W2Terminal, rfb.PF565, nil)
		Expect(r.cl.Send(&rfb.SetEncodings{Encodings: rfb.AMTConsoleEncodings})).To(Succeed())
		Expect(r.cl.Request(true)).To(Succeed())
		_, _, err := r.cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		for i := 0; i < 3; i++ {
			Expect(r.cl.Request(true)).To(Succeed())
		}
		Eventually(r.count.Requests.Load).Should(Equal(uint64(4)))
		r.step()
		_, _, err = r.cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		r.cl.Timeout = 200 * time.Millisecond
		_, err = r.cl.Next()
		Expect(err).To(MatchError(ContainSubstring("timeout")))
		Expect(r.count.Updates.Load()).To(Equal(uint64(2)))
	})

	It("ends a silent session at the read timeout with a clear error", func() {
		r = newRig(640, 480, screen.W0Idle, rfb.PF565, func(c *kvmstream.Config) { c.ReadTimeout = 100 * time.Millisecond })
		var err error
		Eventually(r.done, 5*time.Second).Should(Receive(&err))
		Expect(err).To(MatchError(ContainSubstring("read deadline")))
		r.done <- err // for close
	})

	It("rejects a pixel format it cannot produce", func() {
		r = newRig(640, 480, screen.W0Idle, rfb.PF565, nil)
		Expect(r.cl.Send(&rfb.SetPixelFormat{Format: rfb.PixelFormat{BPP: 24, Depth: 24, TrueColour: true, RedMax: 255, GreenMax: 255, BlueMax: 255}})).To(Succeed())
		var err error
		Eventually(r.done, 5*time.Second).Should(Receive(&err))
		Expect(err).To(MatchError(ContainSubstring("SetPixelFormat")))
		r.done <- err
	})

	It("leaves the screen as the client sees it pixel-exact across many W5 frames", func() {
		r = newRig(640, 480, screen.W5Noise, rfb.PF565, nil)
		Expect(r.cl.Send(&rfb.SetEncodings{Encodings: rfb.AMTConsoleEncodings})).To(Succeed())
		for i := 0; i < 5; i++ {
			Expect(r.cl.Request(true)).To(Succeed())
			if i > 0 {
				r.step()
			}
			_, _, err := r.cl.ReadUpdate()
			Expect(err).NotTo(HaveOccurred())
			var want = snapshot(r)
			exp, err := kvmtest.Expected(want, rfb.PF565)
			Expect(err).NotTo(HaveOccurred())
			x, y, ok := kvmtest.FirstDiff(r.cl.Dec.Image(), exp)
			Expect(ok).To(BeTrue(), "frame %d: first difference at (%d,%d)", i, x, y)
		}
	})
})

var _ = Describe("the session on the wall clock", func() {
	It("streams frames as the real-time screen produces them", func() {
		hst, err := host.New(host.Config{
			Identity: host.Identity{UUID: "12345678-9abc-def0-1122-334455667788", Hostname: "pc"},
			Settings: host.DefaultSettings(),
			Screen:   screen.Config{Width: 320, Height: 200, Workload: screen.W5Noise, Seed: 1, FPS: 60},
		})
		Expect(err).NotTo(HaveOccurred())
		defer hst.Close()
		rel, err := hst.AcquireKVM("real-time test")
		Expect(err).NotTo(HaveOccurred())
		defer rel()
		sc, cc, err := tcpPair()
		Expect(err).NotTo(HaveOccurred())
		defer cc.Close()
		done := make(chan error, 1)
		go func() {
			done <- kvmstream.Serve(context.Background(), sc, 320, 200, kvmstream.Config{Host: hst, Format: rfb.PF332})
			sc.Close()
		}()
		cl, err := kvmtest.NewClient(cc, rfb.PF565, 320, 200)
		Expect(err).NotTo(HaveOccurred())
		Expect(cl.SetPixelFormat(rfb.PF332)).To(Succeed())
		Expect(cl.Send(&rfb.SetEncodings{Encodings: rfb.AMTConsoleEncodings})).To(Succeed())
		var last uint32
		for i := 0; i < 10; i++ {
			Expect(cl.Request(true)).To(Succeed())
			_, _, err := cl.ReadUpdate()
			Expect(err).NotTo(HaveOccurred())
			st, err := screen.DecodeStamp(cl.Dec.Image())
			Expect(err).NotTo(HaveOccurred())
			if i > 0 {
				Expect(st.Frame).To(BeNumerically(">", last))
			}
			last = st.Frame
		}
		cc.Close()
		Eventually(done, 5*time.Second).Should(Receive(BeNil()))
	})
})

var _ = Describe("random bytes after the handshake", func() {
	It("end the session with an error or cleanly, never a panic or a hang", func() {
		for seed := uint64(1); seed <= 20; seed++ {
			r := newRig(320, 200, screen.W0Idle, rfb.PF565, func(c *kvmstream.Config) { c.ReadTimeout = 2 * time.Second })
			rng := rand.New(rand.NewPCG(seed, 0))
			junk := make([]byte, 64+rng.IntN(512))
			for i := range junk {
				junk[i] = byte(rng.Uint32())
			}
			junk[0] = byte(rng.IntN(8)) // start with a plausible message type
			_, _ = r.client.Write(junk)
			// Drain whatever the server answers until it closes.
			go func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }(r.client)
			r.client.(*net.TCPConn).CloseWrite()
			var err error
			Eventually(r.done, 5*time.Second).Should(Receive(&err))
			r.done <- err
			r.close()
		}
	})
})
