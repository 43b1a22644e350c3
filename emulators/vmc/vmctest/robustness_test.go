package vmctest_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/backoff"
	"github.com/oobtb/oobtb/emulators/vmc/kvmstream/kvmtest"
	"github.com/oobtb/oobtb/emulators/vmc/vmctest"
	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/emulators/wire/redir"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// heapBound is how much HeapInuse+StackInuse may grow between the early and
// the late rounds of a robustness loop: far below one leaked session per
// round (a 1080p screen alone is 4 MiB).
const heapBound = 2 << 20

// tunnelAttack is one way a hostile MPS breaks the APF stream after a good
// handshake, with what the device must say about it.
type tunnelAttack struct {
	name string
	run  func(s *rawSession) error
	// logs is a fragment of the error the device logs for the dropped tunnel.
	logs string
	// disconnect: the device answers with DISCONNECT (protocol error)
	// before closing; false when the attacker hangs up itself.
	disconnect bool
}

var tunnelAttacks = []tunnelAttack{
	{name: "garbage", logs: "expected a known APF message type, got 0xee", disconnect: true, run: func(s *rawSession) error {
		return s.write([]byte{0xee, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02})
	}},
	{name: "truncated message", logs: "bytes into an APF message", run: func(s *rawSession) error {
		b := (&apf.ChannelOpen{ChannelType: apf.ChannelForwardedTCPIP, Sender: 1, Window: 32768,
			Reserved: apf.ReservedMaxPacket, TargetPort: 16992}).Append(nil)
		if err := s.write(b[:len(b)/2]); err != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
		return s.conn.Close()
	}},
	{name: "oversized CHANNEL_DATA", logs: "expected at most 1048576, got 2147483647", disconnect: true, run: func(s *rawSession) error {
		b := apf.AppendChannelDataHeader(nil, 1, 0)
		binary.BigEndian.PutUint32(b[5:9], 0x7fffffff)
		return s.write(append(b, make([]byte, 64)...))
	}},
	{name: "CHANNEL_DATA beyond the advertised window", logs: "exceeds the 32768 bytes of window", disconnect: true, run: func(s *rawSession) error {
		id, err := s.openChannel(16994)
		if err != nil {
			return err
		}
		return s.send(&apf.ChannelData{Recipient: id, Data: make([]byte, 32769)})
	}},
}

var _ = Describe("Bad input on the CIRA tunnel", func() {
	It("garbage, truncated and oversized APF and window abuse each drop the tunnel with a clear error; the device reconnects per back-off without leaking", func() {
		var conns atomic.Int32
		raw := startRawMPS(func(s *rawSession) error {
			return tunnelAttacks[int(conns.Add(1)-1)%len(tunnelAttacks)].run(s)
		})
		defer raw.close()
		logs := &logBuffer{}
		bo := backoff.Config{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond, Multiplier: 2, JitterFraction: 1, Mode: backoff.JitterEqual}
		d := userDevice(raw.port(), ciraPass, bo, logs.logger())

		const rounds = 4 * 4
		var early uint64
		g0 := runtime.NumGoroutine()
		for i := range rounds {
			a := tunnelAttacks[i%len(tunnelAttacks)]
			res := raw.next()
			Expect(res.attackErr).NotTo(HaveOccurred(), "round %d (%s)", i, a.name)
			if a.disconnect {
				Expect(res.disconnect).NotTo(BeNil(), "round %d (%s): the device should answer with DISCONNECT", i, a.name)
				Expect(res.disconnect.Reason).To(Equal(apf.DisconnectProtocolError), "round %d (%s)", i, a.name)
			}
			// Each drop is logged with its own reason.
			want := i/len(tunnelAttacks) + 1
			Eventually(func() int { return strings.Count(logs.String(), a.logs) }, "5s").Should(BeNumerically(">=", want), "round %d (%s)", i, a.name)
			if i == len(tunnelAttacks)-1 {
				early = vmctest.InUse()
			}
		}
		// The device came back after every attack.
		res := raw.next()
		Expect(res.readErr).To(HaveOccurred())
		Expect(d.Status().Connects).To(BeNumerically(">=", rounds+1))
		late := vmctest.InUse()
		Expect(int64(late)-int64(early)).To(BeNumerically("<", heapBound), "heap grew from %d to %d over %d rounds", early, late, rounds-len(tunnelAttacks))
		Expect(runtime.NumGoroutine()).To(BeNumerically("<=", g0+8))
		AddReportEntry("tunnel attacks", fmt.Sprintf("%d rounds, heap %d → %d bytes", rounds, early, late))
	})
})

// portInput is bad input on one of the device's ports.
type portInput struct {
	port uint32
	name string
	// send writes the bad input on an open channel.
	send func(ch net.Conn)
	// reply is a prefix of what the device answers before closing, if any.
	reply string
	// hangUp: the input is a truncated message the device must wait out, so
	// the console closes the channel; the goroutine bound at the end checks
	// the device's side ended too.
	hangUp bool
}

func redirStart(ch net.Conn) {
	rc := &vmctest.RedirConsole{Conn: ch}
	r, err := rc.Start(redir.SessionKVM)
	Expect(err).NotTo(HaveOccurred())
	Expect(r.Status).To(Equal(redir.StartStatusSuccess))
}

// write sends bad input; the device may close the channel before the last
// byte arrives, which the write reports as net.ErrClosed.
func write(ch net.Conn, b []byte) {
	_, err := ch.Write(b)
	if err != nil {
		Expect(err).To(MatchError(net.ErrClosed))
	}
}

var portInputs = []portInput{
	{port: 16994, name: "garbage", send: func(ch net.Conn) { write(ch, []byte("\xee\xee\xee\xeeGET / HTTP/1.1\r\n\r\n")) }},
	{port: 16994, name: "oversized AuthenticateSession", send: func(ch net.Conn) {
		redirStart(ch)
		b := []byte{0x13, 0, 0, 0, 4, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f}
		write(ch, append(b, make([]byte, 256)...))
	}},
	{port: 16994, name: "truncated StartRedirectionSession", hangUp: true, send: func(ch net.Conn) {
		write(ch, redir.NewStart(redir.SessionKVM).Append(nil)[:5])
	}},
	{port: 5900, name: "truncated version", hangUp: true, send: func(ch net.Conn) { write(ch, []byte("RFB 003.")) }},
	{port: 16992, name: "truncated request", hangUp: true, send: func(ch net.Conn) {
		write(ch, []byte("POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n<Envel"))
	}},
	{port: 5900, name: "garbage banner", send: func(ch net.Conn) { write(ch, []byte("SSH-2.0-OpenSSH_9.6\r\n")) }},
	{port: 5900, name: "oversized ClientCutText", send: func(ch net.Conn) {
		_, err := kvmtest.VNCHandshake(ch, rfb.V38, vncPass)
		Expect(err).NotTo(HaveOccurred())
		write(ch, []byte{6, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 'x'})
	}},
	{port: 16992, name: "garbage", reply: "HTTP/1.1 400", send: func(ch net.Conn) {
		write(ch, []byte("\x16\x03\x01\x02\x00 not http at all\r\n\r\n"))
	}},
	{port: 16992, name: "oversized header", reply: "HTTP/1.1 4", send: func(ch net.Conn) {
		write(ch, []byte("POST /wsman HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 64<<10)+"\r\n\r\n"))
	}},
	{port: 16993, name: "garbage instead of a TLS ClientHello", send: func(ch net.Conn) {
		write(ch, []byte("POST /wsman HTTP/1.1\r\nHost: x\r\n\r\n"))
	}},
	{port: 16993, name: "ClientHello record announcing 16 KiB, then 5 bytes", hangUp: true, send: func(ch net.Conn) {
		write(ch, []byte{0x16, 0x03, 0x01, 0x40, 0x00, 1, 0, 0x3f, 0xfb, 3})
	}},
	{port: 16992, name: "oversized body", reply: "HTTP/1.1 4", send: func(ch net.Conn) {
		write(ch, []byte("POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n<Envelope"))
	}},
}

var _ = Describe("Bad input on every port", func() {
	It("each gets a clear refusal and a closed channel; the tunnel stays up, good sessions follow, nothing leaks", func() {
		m := startMPS()
		defer m.Close()
		d := build(spec(4, m.Addr()))
		Eventually(m.Ready, "10s").Should(Equal(1))
		id := d.Host().Identity().UUID
		c := m.Conn(id)
		wsman := wsmanServed()
		isServed := map[uint32]bool{}
		for _, in := range portInputs {
			isServed[in.port] = served(in.port)
		}

		goodSessions := func() {
			ch := openChannel(c, 16994)
			cl, _, err := vmctest.OpenKVM(ch, amtUser, amtPass)
			Expect(err).NotTo(HaveOccurred())
			Expect(cl.Request(false)).To(Succeed())
			_, _, err = cl.ReadUpdate()
			Expect(err).NotTo(HaveOccurred())
			ch.Close()
			Eventually(d.Host().KVMActive, "5s").Should(BeFalse())
			if wsman {
				ch = openChannel(c, 16992)
				Expect(wsmanStatus(ch)).To(Equal("HTTP/1.1 401 Unauthorized"))
				ch.Close()
			}
		}
		goodSessions()

		const rounds = 6
		var early uint64
		g0 := runtime.NumGoroutine()
		for r := range rounds {
			for _, in := range portInputs {
				if !isServed[in.port] {
					continue
				}
				ch := openChannel(c, in.port)
				By(fmt.Sprintf("port %d: %s", in.port, in.name))
				in.send(ch)
				if in.hangUp {
					ch.Close()
					continue
				}
				got, err := readAll(ch)
				Expect(err).NotTo(HaveOccurred(), "port %d, %s: the device should close the channel", in.port, in.name)
				if in.reply != "" {
					Expect(got).To(HavePrefix(in.reply), "port %d, %s", in.port, in.name)
				}
				ch.Close()
				Expect(m.Conn(id)).To(BeIdenticalTo(c), "port %d, %s: the tunnel must survive", in.port, in.name)
			}
			Eventually(d.Host().KVMActive, "5s").Should(BeFalse())
			goodSessions()
			if r == 1 {
				early = vmctest.InUse()
			}
		}
		late := vmctest.InUse()
		Expect(int64(late)-int64(early)).To(BeNumerically("<", heapBound), "heap grew from %d to %d", early, late)
		Eventually(runtime.NumGoroutine, "5s").Should(BeNumerically("<=", g0+4))
		Expect(d.Status().Connects).To(Equal(1))
	})

	It("a peer that stops reading a big KVM frame stalls only its channel; closing it frees the KVM session", func() {
		m := startMPS()
		defer m.Close()
		s := spec(5, m.Addr())
		s.Workload = "noise"
		d := build(s)
		Eventually(m.Ready, "10s").Should(Equal(1))
		c := m.Conn(d.Host().Identity().UUID)

		stalled := openChannel(c, 16994)
		cl, si, err := vmctest.OpenKVM(stalled, amtUser, amtPass)
		Expect(err).NotTo(HaveOccurred())
		Expect(si.Width).To(BeEquivalentTo(1920))
		// A full 1080p noise frame is megabytes; the console asks and never
		// reads, so the device runs out of APF credit after 32 KiB.
		Expect(cl.Request(false)).To(Succeed())
		Eventually(func() uint64 { return c.Stats().BytesIn }, "5s").Should(BeNumerically(">=", 30000))
		time.Sleep(300 * time.Millisecond)
		in := c.Stats().BytesIn
		Expect(in).To(BeNumerically("<=", 32768+1024), "the device must not send beyond the window")

		// The tunnel still carries other channels and keep-alives.
		busy := openChannel(c, 16994)
		rc := &vmctest.RedirConsole{Conn: busy}
		r, err := rc.Start(redir.SessionKVM)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Status).To(Equal(redir.StartStatusBusy), "one KVM session at a time")
		busy.Close()
		if wsmanServed() {
			ch := openChannel(c, 16992)
			Expect(wsmanStatus(ch)).To(Equal("HTTP/1.1 401 Unauthorized"))
			ch.Close()
		}

		stalled.Close()
		Eventually(d.Host().KVMActive, "10s").Should(BeFalse())
		ch := openChannel(c, 16994)
		defer ch.Close()
		cl, _, err = vmctest.OpenKVM(ch, amtUser, amtPass)
		Expect(err).NotTo(HaveOccurred())
		Expect(cl.Request(false)).To(Succeed())
		u, _, err := cl.ReadUpdate()
		Expect(err).NotTo(HaveOccurred())
		Expect(u.Bytes).To(BeNumerically(">", 1<<20), "a full noise frame")
		Expect(m.Conn(d.Host().Identity().UUID)).To(BeIdenticalTo(c))
	})
})
