package kvmclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/console/internal/vmcenv"
	"github.com/oobtb/oobtb/emulators/console/kvmclient"
	"github.com/oobtb/oobtb/emulators/console/redirclient"
	"github.com/oobtb/oobtb/emulators/framebuf"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream/kvmtest"
	"github.com/oobtb/oobtb/emulators/vmc/power"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

var goodCred = redirclient.Credentials{User: vmcenv.User, Password: vmcenv.Password}

type session struct {
	c    *kvmclient.Client
	conn net.Conn
	done chan error
	stop context.CancelFunc
}

func open(e *vmcenv.Env, cfg kvmclient.Config) *session {
	conn, err := e.Dial()
	Expect(err).NotTo(HaveOccurred())
	if cfg.Credentials == (redirclient.Credentials{}) {
		cfg.Credentials = goodCred
	}
	cfg.Timeout = 10 * time.Second
	var c *kvmclient.Client
	// A session that just ended may hold the KVM lock until the vMC notices.
	Eventually(func() error {
		c, err = kvmclient.Open(conn, cfg)
		if err != nil {
			conn.Close()
			conn, _ = e.Dial()
		}
		return err
	}, 10*time.Second, 20*time.Millisecond).Should(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{c: c, conn: conn, done: make(chan error, 1), stop: cancel}
	go func() { s.done <- c.Run(ctx) }()
	return s
}

func (s *session) close() {
	s.stop()
	Eventually(s.done, 10*time.Second).Should(Receive(BeNil()))
	Expect(s.c.Close()).To(Succeed())
}

// settle waits until the client shows the host's current frame (the clock
// stopped), then returns the host's frame as the client's format shows it.
func settle(e *vmcenv.Env, s *session, pf rfb.PixelFormat) (*framebuf.Image, *framebuf.Image) {
	e.StopTicking()
	want := e.Frame()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	Expect(s.c.WaitUntil(ctx, func(st screen.Stamp, ok bool) bool { return ok && st.Frame == want })).To(Succeed())
	exp, err := kvmtest.Expected(e.Snapshot(), pf)
	Expect(err).NotTo(HaveOccurred())
	return s.c.Screenshot(), exp
}

func expectSame(got, exp *framebuf.Image) {
	Expect(got.W).To(Equal(exp.W))
	Expect(got.H).To(Equal(exp.H))
	x, y, ok := kvmtest.FirstDiff(got, exp)
	Expect(ok).To(BeTrue(), fmt.Sprintf("first difference at (%d,%d): got %06x want %06x", x, y, got.At(x, y), exp.At(x, y)))
}

var _ = Describe("KVM client against the vMC's redirection service", func() {
	var e *vmcenv.Env

	BeforeEach(func() {
		var err error
		e, err = vmcenv.New(640, 480, screen.W2Terminal)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(e.Close()).To(Succeed()) })
	})

	It("decodes the default RGB565 stream pixel-exactly, frame after frame", func() {
		s := open(e, kvmclient.Config{})
		defer s.close()
		Expect(s.c.Banner()).To(Equal(rfb.V40))
		Expect(s.c.ServerInit().Name).To(Equal(rfb.AMTDesktopName))
		Expect(s.c.Redirection().AuthType).To(BeNumerically("==", 4))
		got, exp := settle(e, s, rfb.PF565)
		expectSame(got, exp)

		e.StartTicking(2 * time.Millisecond)
		Eventually(func() uint32 { st, _ := s.c.Stamp(); return st.Frame }, 10*time.Second).Should(BeNumerically(">=", 10))
		got, exp = settle(e, s, rfb.PF565)
		expectSame(got, exp)

		st := s.c.Stats()
		Expect(st.Updates).To(BeNumerically(">=", 2))
		Expect(st.Rects["amt16-stored"]).To(BeNumerically(">", 0))
		Expect(st.Integrity.Failures).To(BeZero())
		Expect(st.Integrity.Valid).To(Equal(st.Updates))
		Expect(st.SourceFrames).To(BeNumerically(">=", 10))
		Expect(st.BPP).To(Equal(16))

		var buf bytes.Buffer
		Expect(s.c.WritePNG(&buf)).To(Succeed())
		img, err := png.Decode(&buf)
		Expect(err).NotTo(HaveOccurred())
		Expect(img.Bounds().Dx()).To(Equal(640))
	})

	It("types text that the frame stamp and the pixels show, with latency figures", func() {
		s := open(e, kvmclient.Config{})
		defer s.close()
		e.StartTicking(2 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		Expect(s.c.Type(ctx, "Hello, oobtb!\n")).To(Succeed())
		Expect(s.c.WaitInputs(ctx)).To(Succeed())
		st := s.c.Stats()
		Expect(st.Inputs.Sent).To(BeEquivalentTo(28))
		Expect(st.Inputs.Seen).To(BeEquivalentTo(28))
		Expect(st.Latency.Samples).To(Equal(28))
		Expect(st.Latency.P50).To(BeNumerically(">", 0))
		Expect(st.Latency.P99).To(BeNumerically(">=", st.Latency.P95))
		Expect(st.Latency.P95).To(BeNumerically(">=", st.Latency.P50))
		stamp, ok := s.c.Stamp()
		Expect(ok).To(BeTrue())
		var hostID uint32
		e.Host.WithScreen(func(sc *screen.Screen) { hostID = sc.LastInputID() })
		Expect(stamp.InputID).To(Equal(hostID))
		got, exp := settle(e, s, rfb.PF565)
		expectSame(got, exp)
		Expect(s.c.Type(ctx, "\u20ac")).To(MatchError(ContainSubstring("no Latin-1 keysym")))
	})

	It("runs RGB332 with deflate (KvmExtCmd 4) pixel-exactly", func() {
		s := open(e, kvmclient.Config{Format: rfb.PF332, Deflate: true})
		defer s.close()
		e.StartTicking(2 * time.Millisecond)
		Eventually(func() uint32 { st, _ := s.c.Stamp(); return st.Frame }, 10*time.Second).Should(BeNumerically(">=", 10))
		got, exp := settle(e, s, rfb.PF332)
		expectSame(got, exp)
		st := s.c.Stats()
		Expect(st.BPP).To(Equal(8))
		Expect(st.Compression).To(Equal(1))
		Expect(st.Rects["amt16-deflate"]).To(BeNumerically(">", 0))
		Expect(st.Integrity.Failures).To(BeZero())
	})

	It("runs 32 bpp losslessly: the checksum equals the vMC's", func() {
		s := open(e, kvmclient.Config{Format: rfb.PF888})
		defer s.close()
		got, exp := settle(e, s, rfb.PF888)
		expectSame(got, exp)
		var sum uint64
		e.Host.WithScreen(func(sc *screen.Screen) { sum = sc.Checksum() })
		Expect(s.c.Stats().Checksum).To(Equal(fmt.Sprintf("%016x", sum)))
		Expect(s.c.Format()).To(Equal(rfb.PF888))
	})

	It("reports stats as JSON with the documented shape", func() {
		s := open(e, kvmclient.Config{})
		defer s.close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		Expect(s.c.WaitFirstFrame(ctx)).To(Succeed())
		b, err := json.Marshal(s.c.Stats())
		Expect(err).NotTo(HaveOccurred())
		var m map[string]any
		Expect(json.Unmarshal(b, &m)).To(Succeed())
		for _, k := range []string{"seconds", "width", "height", "pixelFormat", "bpp", "deflate", "updates",
			"framesPerSecond", "bytes", "mbitPerSecond", "rects", "sourceFrames", "inputs", "inputLatencyMs",
			"integrity", "stamp", "checksum"} {
			Expect(m).To(HaveKey(k))
		}
		Expect(m["inputLatencyMs"]).To(HaveKey("p50"))
		Expect(m["inputLatencyMs"]).To(HaveKey("p95"))
		Expect(m["inputLatencyMs"]).To(HaveKey("p99"))
		Expect(m["integrity"]).To(HaveKey("failures"))
	})

	It("refuses a wrong password, a second console and a powered-off host clearly", func() {
		conn, err := e.Dial()
		Expect(err).NotTo(HaveOccurred())
		_, err = kvmclient.Open(conn, kvmclient.Config{Credentials: redirclient.Credentials{User: "admin", Password: "nope"}, Timeout: 5 * time.Second})
		Expect(err).To(MatchError(redirclient.ErrAuth))
		conn.Close()

		s := open(e, kvmclient.Config{})
		conn2, err := e.Dial()
		Expect(err).NotTo(HaveOccurred())
		_, err = kvmclient.Open(conn2, kvmclient.Config{Credentials: goodCred, Timeout: 5 * time.Second})
		Expect(err).To(MatchError(redirclient.ErrBusy))
		Expect(err.Error()).To(ContainSubstring("a KVM session is already active on this device"))
		conn2.Close()
		s.close()

		Expect(e.Host.RequestPower(power.ReqOffSoft)).To(BeZero())
		e.Clock.Advance(time.Second)
		Eventually(func() error {
			conn, err := e.Dial()
			Expect(err).NotTo(HaveOccurred())
			defer conn.Close()
			_, err = kvmclient.Open(conn, kvmclient.Config{Credentials: goodCred, Timeout: 5 * time.Second})
			return err
		}, 10*time.Second).Should(MatchError(redirclient.ErrRefused))
	})
})

// writeCounter counts the console's writes (flights) on a stream.
type writeCounter struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes++
	w.mu.Unlock()
	return w.Conn.Write(p)
}

func (w *writeCounter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes
}

var _ = Describe("pipelined opening", func() {
	var e *vmcenv.Env

	BeforeEach(func() {
		var err error
		e, err = vmcenv.New(640, 480, screen.W2Terminal)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(e.Close()).To(Succeed()) })
	})

	// opened opens with cfg on a counting connection and returns the
	// number of writes the opening took, after checking the picture.
	opened := func(cfg kvmclient.Config, pf rfb.PixelFormat) int {
		nc, err := e.Dial()
		Expect(err).NotTo(HaveOccurred())
		wc := &writeCounter{Conn: nc}
		cfg.Credentials, cfg.Timeout = goodCred, 10*time.Second
		c, err := kvmclient.Open(wc, cfg)
		Expect(err).NotTo(HaveOccurred())
		n := wc.count()
		ctx, cancel := context.WithCancel(context.Background())
		s := &session{c: c, conn: wc, done: make(chan error, 1), stop: cancel}
		go func() { s.done <- c.Run(ctx) }()
		got, exp := settle(e, s, pf)
		expectSame(got, exp)
		Expect(c.Stats().Integrity.Failures).To(BeZero())
		s.close()
		Expect(e.Errors()).To(BeEmpty())
		// The vMC frees its KVM lock once it saw the close.
		Eventually(e.Host.KVMActive, 5*time.Second, 10*time.Millisecond).Should(BeFalse())
		return n
	}

	It("opens in three flights with a size hint, four without, ten sequentially, with the same pixels", func() {
		Expect(opened(kvmclient.Config{SizeHint: image.Pt(640, 480)}, rfb.PF565)).To(Equal(3))
		Expect(opened(kvmclient.Config{}, rfb.PF565)).To(Equal(4))
		Expect(opened(kvmclient.Config{Sequential: true}, rfb.PF565)).To(Equal(10))
	})

	It("opens in two flights optimistically (KVM start and RFB with the digest), and still reports a wrong password", func() {
		Expect(opened(kvmclient.Config{SizeHint: image.Pt(640, 480), Optimistic: true}, rfb.PF565)).To(Equal(2))
		Expect(opened(kvmclient.Config{Optimistic: true}, rfb.PF565)).To(Equal(3))
		conn, err := e.Dial()
		Expect(err).NotTo(HaveOccurred())
		defer conn.Close()
		_, err = kvmclient.Open(conn, kvmclient.Config{Credentials: redirclient.Credentials{User: "admin", Password: "nope"},
			Optimistic: true, Timeout: 5 * time.Second})
		Expect(err).To(MatchError(redirclient.ErrAuth))
		Expect(err.Error()).To(ContainSubstring(`rejected user "admin"`))
	})

	It("recovers from a stale size hint with a full request, and pipelines a pixel format and deflate", func() {
		Expect(opened(kvmclient.Config{SizeHint: image.Pt(1024, 768)}, rfb.PF565)).To(Equal(4))
		Expect(opened(kvmclient.Config{SizeHint: image.Pt(640, 480), Format: rfb.PF332, Deflate: true}, rfb.PF332)).To(Equal(3))
	})
})
