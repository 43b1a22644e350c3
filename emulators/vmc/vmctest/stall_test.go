package vmctest_test

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/vmctest"
)

// stallConn lets a test stop the MPS reading its socket, so the device's
// writes back up in TCP (not in APF flow control).
type stallConn struct {
	net.Conn
	paused atomic.Bool
	closed atomic.Bool
}

func (s *stallConn) Read(b []byte) (int, error) {
	for s.paused.Load() && !s.closed.Load() {
		time.Sleep(10 * time.Millisecond)
	}
	return s.Conn.Read(b)
}

func (s *stallConn) Close() error {
	s.closed.Store(true)
	return s.Conn.Close()
}

var _ = Describe("An MPS that stops reading its socket", Label("slow"), func() {
	It("while the device streams big KVM frames: the device's write times out, the tunnel drops with a clear error, the device reconnects and frees the KVM session", func() {
		if testing.Short() {
			Skip("-short: waits for the tunnel's 30 s write timeout")
		}
		var mu sync.Mutex
		var conns []*stallConn
		m, err := vmctest.StartMPS(vmctest.MPSConfig{CA: ca, KeyType: "ecdsa-p256", User: ciraUser, Pass: ciraPass,
			// A window far beyond a frame, so the device is held by TCP alone.
			Window: 1 << 30,
			WrapConn: func(nc net.Conn) net.Conn {
				sc := &stallConn{Conn: nc}
				mu.Lock()
				conns = append(conns, sc)
				mu.Unlock()
				return sc
			}})
		Expect(err).NotTo(HaveOccurred())
		defer m.Close()
		logs := &logBuffer{}
		s := spec(6, m.Addr())
		s.Workload = "noise"
		d, err := vmc.Build(s, vmc.Deps{RootCAs: ca.Pool(), Logger: logs.logger(), Services: deps().Services})
		Expect(err).NotTo(HaveOccurred())
		d.Start()
		defer d.Stop()
		Eventually(m.Ready, "10s").Should(Equal(1))
		id := d.Host().Identity().UUID
		c := m.Conn(id)

		ch := openChannel(c, 16994)
		cl, _, err := vmctest.OpenKVM(ch, amtUser, amtPass)
		Expect(err).NotTo(HaveOccurred())
		mu.Lock()
		stalled := conns[len(conns)-1]
		mu.Unlock()
		stalled.paused.Store(true)
		t0 := time.Now()

		// Keep asking for frames (writes towards the device still flow); each
		// answer is a 4 MB noise frame that nobody reads.
		stop := make(chan struct{})
		asked := make(chan struct{})
		go func() {
			defer close(asked)
			if cl.Request(false) != nil {
				return
			}
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if cl.Request(true) != nil {
					return
				}
			}
		}()
		defer func() { close(stop); <-asked }()

		Eventually(func() bool { n := m.Conn(id); return n != nil && n != c }, "60s", "100ms").Should(BeTrue(),
			"the device should drop the stalled tunnel and reconnect")
		dropped := time.Since(t0)
		Expect(logs.String()).To(ContainSubstring("i/o timeout"))
		line := ""
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "cira tunnel ended") && strings.Contains(l, "write to") {
				line = l
			}
		}
		Expect(line).NotTo(BeEmpty(), "the device logs why the tunnel ended")
		GinkgoWriter.Println(line)
		Eventually(d.Host().KVMActive, "10s").Should(BeFalse())
		stalled.paused.Store(false)
		stalled.Close()

		// The new tunnel serves KVM again.
		ch2 := openChannel(m.Conn(id), 16994)
		defer ch2.Close()
		cl2, _, err := vmctest.OpenKVM(ch2, amtUser, amtPass)
		Expect(err).NotTo(HaveOccurred())
		Expect(cl2.Request(false)).To(Succeed())
		_, _, err = cl2.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		AddReportEntry("stalled MPS", "tunnel dropped and replaced after "+dropped.Round(100*time.Millisecond).String())
	})
})
