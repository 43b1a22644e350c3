package netns_test

import (
	"bytes"
	"io"
	"sync"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/sim/clock"
	"github.com/oobtb/oobtb/topology/capture"
	"github.com/oobtb/oobtb/topology/linkemu"
	"github.com/oobtb/oobtb/topology/netns"
)

var _ = Describe("capture", func() {
	It("writes pcapng of a running link, one interface per side", func() {
		t := pair("none", "none")
		echoServer(t.Node("b"), "7600")
		var buf bytes.Buffer
		w, err := capture.NewWriter(&buf, clock.Real{}, "ab/a", "ab/b")
		Expect(err).NotTo(HaveOccurred())
		ab, ba := w.Tap(0, 1), w.Tap(1, 0)
		l := t.Link("ab")
		stop := l.Tap(func(atob bool, pkt []byte, ev linkemu.Event) {
			if atob {
				ab(pkt, ev)
			} else {
				ba(pkt, ev)
			}
		})
		var delivered int
		var mu sync.Mutex
		stopFrames := l.Capture(func(netns.Frame) { mu.Lock(); delivered++; mu.Unlock() })
		echoOnce(t.Node("a"), "b:7600")
		time.Sleep(200 * time.Millisecond) // let the close handshake finish
		stop()
		stopFrames()
		Expect(w.Close()).To(Succeed())

		r, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.DefaultNgReaderOptions)
		Expect(err).NotTo(HaveOccurred())
		perIface := map[int]int{}
		for {
			_, ci, err := r.ReadPacketData()
			if err == io.EOF {
				break
			}
			Expect(err).NotTo(HaveOccurred())
			perIface[ci.InterfaceIndex]++
		}
		Expect(r.NInterfaces()).To(Equal(2))
		// ARP, the handshake, data and its echo, and the close: both sides
		// see every frame once sent and once delivered.
		Expect(perIface[0]).To(BeNumerically(">=", 8))
		Expect(perIface[0]).To(Equal(perIface[1]))
		mu.Lock()
		defer mu.Unlock()
		Expect(perIface[0] + perIface[1]).To(Equal(2 * delivered))
	})
})
