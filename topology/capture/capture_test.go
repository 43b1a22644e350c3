package capture_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/sim/clock"
	"github.com/oobtb/oobtb/topology/capture"
	"github.com/oobtb/oobtb/topology/linkemu"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 123456789, time.UTC)

type rec struct {
	iface int
	ts    time.Time
	data  []byte
	notes []string
}

func readAll(r io.Reader) ([]rec, []string) {
	ng, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
	Expect(err).NotTo(HaveOccurred())
	var out []rec
	for {
		data, ci, opts, err := ng.ReadPacketDataWithOptions()
		if errors.Is(err, io.EOF) {
			break
		}
		Expect(err).NotTo(HaveOccurred())
		out = append(out, rec{ci.InterfaceIndex, ci.Timestamp, bytes.Clone(data), opts.Comments})
	}
	var names []string
	for i := range ng.NInterfaces() {
		intf, err := ng.Interface(i)
		Expect(err).NotTo(HaveOccurred())
		Expect(intf.LinkType).To(Equal(layers.LinkTypeEthernet))
		names = append(names, intf.Name)
	}
	return out, names
}

// ethFrame is a minimal Ethernet II frame carrying id.
func ethFrame(id uint32, n int) []byte {
	b := make([]byte, n)
	copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 0x0b})
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 0x0a})
	binary.BigEndian.PutUint16(b[12:14], 0x88b5) // local experimental EtherType
	binary.BigEndian.PutUint32(b[14:18], id)
	return b
}

var _ = Describe("pcapng Writer", func() {
	It("writes frames that read back identically", func() {
		clk := clock.NewManual(t0)
		var buf bytes.Buffer
		w, err := capture.NewWriter(&buf, clk, "a", "b")
		Expect(err).NotTo(HaveOccurred())
		c, err := w.AddInterface("c")
		Expect(err).NotTo(HaveOccurred())
		Expect(c).To(Equal(2))
		want := []rec{
			{0, t0, ethFrame(1, 60), nil},
			{1, t0.Add(time.Microsecond), ethFrame(2, 1514), nil},
			{2, t0.Add(time.Second + 7), ethFrame(3, 61), nil},
		}
		for _, r := range want {
			Expect(w.WritePacket(r.iface, r.ts, r.data)).To(Succeed())
		}
		clk.Advance(time.Hour)
		Expect(w.WritePacket(0, time.Time{}, ethFrame(4, 64))).To(Succeed())
		want = append(want, rec{0, t0.Add(time.Hour), ethFrame(4, 64), nil})
		Expect(w.WritePacket(3, t0, ethFrame(5, 64))).To(MatchError(ContainSubstring("interface 3")))
		Expect(w.Close()).To(Succeed())
		Expect(w.WritePacket(0, t0, ethFrame(6, 64))).To(MatchError(capture.ErrClosed))

		got, names := readAll(&buf)
		Expect(names).To(Equal([]string{"a", "b", "c"}))
		Expect(got).To(HaveLen(len(want)))
		for i := range want {
			Expect(got[i].iface).To(Equal(want[i].iface))
			Expect(got[i].ts.Equal(want[i].ts)).To(BeTrue(), "%v vs %v", got[i].ts, want[i].ts)
			Expect(got[i].data).To(Equal(want[i].data))
		}
	})

	It("is safe for concurrent writers", func() {
		var buf bytes.Buffer
		w, err := capture.NewWriter(&buf, clock.Real{}, "x", "y")
		Expect(err).NotTo(HaveOccurred())
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 500 {
					Expect(w.WritePacket(g%2, time.Time{}, ethFrame(uint32(g*1000+i), 100+i))).To(Succeed())
				}
			}()
		}
		wg.Wait()
		Expect(w.Close()).To(Succeed())
		got, _ := readAll(&buf)
		Expect(got).To(HaveLen(2000))
		ids := map[uint32]bool{}
		for _, r := range got {
			id := binary.BigEndian.Uint32(r.data[14:])
			Expect(len(r.data)).To(Equal(100 + int(id%1000)))
			ids[id] = true
		}
		Expect(ids).To(HaveLen(2000))
	})

	It("records both sides of a Link through the tap", func() {
		clk := clock.NewManual(t0)
		var buf bytes.Buffer
		w, err := capture.NewWriter(&buf, clk, "A", "B")
		Expect(err).NotTo(HaveOccurred())
		l := linkemu.NewLink("l", linkemu.Profile{Delay: 10 * time.Millisecond, Duplicate: 1}, linkemu.Profile{Delay: 5 * time.Millisecond, Loss: 1},
			7, clk, func([]byte) {}, func([]byte) {})
		w.AttachLink(l, 0, 1)
		l.AB.Send(linkemu.CopyBuffer(ethFrame(1, 60)))
		l.BA.Send(linkemu.CopyBuffer(ethFrame(2, 60)))
		clk.Advance(time.Second)
		Expect(l.Close()).To(Succeed())
		Expect(w.Err()).NotTo(HaveOccurred())
		Expect(w.Close()).To(Succeed())

		got, _ := readAll(&buf)
		sort.SliceStable(got, func(i, j int) bool { return got[i].ts.Before(got[j].ts) })
		// A sends 1 (on A); B sends 2 (on B), lost; 1 and its duplicate reach B.
		Expect(got).To(HaveLen(4))
		Expect(got[0].iface).To(Equal(0))
		Expect(got[1].iface).To(Equal(1))
		for _, r := range got[2:] {
			Expect(r.iface).To(Equal(1))
			Expect(r.ts.Equal(t0.Add(10 * time.Millisecond))).To(BeTrue())
			Expect(binary.BigEndian.Uint32(r.data[14:])).To(Equal(uint32(1)))
		}
		Expect(got[2].notes).To(BeEmpty())
		Expect(got[3].notes).To(ConsistOf("linkemu: duplicate"))
	})

	It("writes files that tshark reads", func() {
		path := filepath.Join(GinkgoT().TempDir(), "l.pcapng")
		w, err := capture.Create(path, clock.NewManual(t0), "A", "B")
		Expect(err).NotTo(HaveOccurred())
		for i := range 10 {
			Expect(w.WritePacket(i%2, t0.Add(time.Duration(i)*time.Millisecond), ethFrame(uint32(i), 60))).To(Succeed())
		}
		Expect(w.Close()).To(Succeed())
		f, err := os.Open(path)
		Expect(err).NotTo(HaveOccurred())
		defer f.Close()
		got, _ := readAll(f)
		Expect(got).To(HaveLen(10))

		tshark, err := exec.LookPath("tshark")
		if err != nil {
			Skip("tshark is not installed; the pcapng file was checked with pcapgo.NgReader only")
		}
		// Frame numbers on stdout only: tshark warns on stderr when run as root.
		cmd := exec.Command(tshark, "-r", path, "-T", "fields", "-e", "frame.number", "-e", "frame.interface_id")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		Expect(err).NotTo(HaveOccurred(), stderr.String())
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		Expect(lines).To(HaveLen(10))
		Expect(lines[0]).To(Equal("1\t0"))
		Expect(lines[9]).To(Equal("10\t1"))
	})
})
