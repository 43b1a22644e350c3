package cira

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/wire/apf"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var _ = Describe("deviceSession (pure)", func() {
	var s *deviceSession
	BeforeEach(func() {
		s = newDeviceSession(DeviceConfig{UUID: apf.MustParseGUID("12345678-9abc-def0-1122-334455667788"),
			Trigger: apf.TriggerPeriodic, Username: "admin", Password: "P@ssw0rd", Hostname: "amt.local"})
	})

	It("walks reference §1.5 and forwards AMT's ports in order", func() {
		out := s.start(t0)
		Expect(out).To(HaveLen(2))
		Expect(apf.Marshal(out[0])[:13]).To(Equal([]byte{0xc0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4}))
		Expect(out[1]).To(Equal(&apf.ServiceRequest{Service: apf.ServiceAuth}))

		out, _, err := s.handle(&apf.ServiceAccept{Service: apf.ServiceAuth}, t0)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal([]apf.Message{&apf.UserauthRequest{Username: "admin", Service: apf.ServicePfwd, Method: "password", Password: "P@ssw0rd"}}))

		out, _, _ = s.handle(&apf.UserauthSuccess{}, t0)
		Expect(out).To(Equal([]apf.Message{&apf.ServiceRequest{Service: apf.ServicePfwd}}))

		out, _, _ = s.handle(&apf.ServiceAccept{Service: apf.ServicePfwd}, t0)
		var ports []uint32
		for i := 0; ; i++ {
			Expect(out).To(HaveLen(1))
			fw := out[0].(*apf.TCPIPForward)
			ports = append(ports, fw.Port)
			var ev Event
			var err error
			out, ev, err = s.handle(&apf.RequestSuccess{HasPort: true, Port: fw.Port}, t0)
			Expect(err).NotTo(HaveOccurred())
			if ev != nil {
				Expect(ev).To(Equal(EventReady{}))
				break
			}
		}
		Expect(ports).To(Equal([]uint32{16993, 16992, 664, 623, 16995, 16994, 5900}))
		Expect(s.ready()).To(BeTrue())
	})

	It("fails with an AuthError on USERAUTH_FAILURE", func() {
		s.start(t0)
		s.handle(&apf.ServiceAccept{Service: apf.ServiceAuth}, t0)
		_, _, err := s.handle(&apf.UserauthFailure{Methods: "password"}, t0)
		Expect(err).To(BeAssignableToTypeOf(&AuthError{}))
	})

	It("rejects a REQUEST_SUCCESS naming another port", func() {
		s.start(t0)
		s.handle(&apf.ServiceAccept{Service: apf.ServiceAuth}, t0)
		s.handle(&apf.UserauthSuccess{}, t0)
		s.handle(&apf.ServiceAccept{Service: apf.ServicePfwd}, t0)
		_, _, err := s.handle(&apf.RequestSuccess{HasPort: true, Port: 1}, t0)
		Expect(err).To(MatchError(ContainSubstring("port 16993")))
	})

	It("keeps its own keep-alive schedule and adopts KEEPALIVE_OPTIONS", func() {
		readyDevice(s)
		Expect(s.tick(t0.Add(29 * time.Second))).To(BeEmpty())
		Expect(s.tick(t0.Add(30 * time.Second))).To(Equal([]apf.Message{&apf.KeepaliveRequest{Cookie: 1}}))
		out, _, _ := s.handle(&apf.KeepaliveOptionsRequest{Interval: 10, Timeout: 0}, t0.Add(31*time.Second))
		Expect(out).To(Equal([]apf.Message{&apf.KeepaliveOptionsReply{Interval: 10}}))
		Expect(s.tick(t0.Add(39 * time.Second))).To(BeEmpty())
		Expect(s.tick(t0.Add(40 * time.Second))).To(HaveLen(1))
	})

	It("tolerates a PROTOCOL_VERSION from the server and answers keep-alives", func() {
		readyDevice(s)
		_, ev, err := s.handle(&apf.ProtocolVersion{Major: 1}, t0)
		Expect(err).NotTo(HaveOccurred())
		Expect(ev).To(BeAssignableToTypeOf(EventPeerVersion{}))
		out, _, _ := s.handle(&apf.KeepaliveRequest{Cookie: 7}, t0)
		Expect(out).To(Equal([]apf.Message{&apf.KeepaliveReply{Cookie: 7}}))
	})
})

func readyDevice(s *deviceSession) {
	out := s.start(t0)
	out, _, _ = s.handle(&apf.ServiceAccept{Service: apf.ServiceAuth}, t0)
	out, _, _ = s.handle(&apf.UserauthSuccess{}, t0)
	out, _, _ = s.handle(&apf.ServiceAccept{Service: apf.ServicePfwd}, t0)
	for !s.ready() {
		fw := out[0].(*apf.TCPIPForward)
		out, _, _ = s.handle(&apf.RequestSuccess{HasPort: true, Port: fw.Port}, t0)
	}
}

var _ = Describe("serverSession (pure)", func() {
	var s *serverSession
	BeforeEach(func() { s = newServerSession(ServerConfig{}, t0) })

	auth := func() {
		s.handle(&apf.ProtocolVersion{Major: 1, UUID: apf.MustParseGUID("12345678-9abc-def0-1122-334455667788")}, t0)
		s.handle(&apf.ServiceRequest{Service: apf.ServiceAuth}, t0)
		_, ev, err := s.handle(&apf.UserauthRequest{Username: "u", Method: "password", Password: "p"}, t0)
		Expect(err).NotTo(HaveOccurred())
		Expect(ev).To(Equal(EventAuthRequest{UUID: apf.MustParseGUID("12345678-9abc-def0-1122-334455667788"), Username: "u", Password: "p", Method: "password"}))
		out, err := s.authDone(true)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal([]apf.Message{&apf.UserauthSuccess{}}))
	}

	It("accepts SERVICE_REQUEST before PROTOCOL_VERSION", func() {
		out, _, err := s.handle(&apf.ServiceRequest{Service: apf.ServiceAuth}, t0)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal([]apf.Message{&apf.ServiceAccept{Service: apf.ServiceAuth}}))
	})

	It("refuses forwards and pfwd before authentication", func() {
		_, _, err := s.handle(&apf.TCPIPForward{WantReply: true, Port: 16992}, t0)
		Expect(err).To(MatchError(ContainSubstring("before authentication")))
		s2 := newServerSession(ServerConfig{}, t0)
		_, _, err = s2.handle(&apf.ServiceRequest{Service: apf.ServicePfwd}, t0)
		Expect(err).To(HaveOccurred())
	})

	It("answers each forward with the port and sends KEEPALIVE_OPTIONS after 5900", func() {
		auth()
		out, ev, _ := s.handle(&apf.TCPIPForward{WantReply: true, Port: 16992}, t0)
		Expect(out).To(Equal([]apf.Message{&apf.RequestSuccess{HasPort: true, Port: 16992}}))
		Expect(ev).To(Equal(EventPortBound{Port: 16992}))
		out, _, _ = s.handle(&apf.TCPIPForward{WantReply: true, Port: 5900}, t0)
		Expect(out).To(Equal([]apf.Message{&apf.RequestSuccess{HasPort: true, Port: 5900}, &apf.KeepaliveOptionsRequest{Interval: 30}}))
		out, _, _ = s.handle(&apf.CancelTCPIPForward{WantReply: true, Port: 16992}, t0)
		Expect(out).To(Equal([]apf.Message{&apf.RequestSuccess{}}))
		Expect(s.ports).To(Equal([]uint32{5900}))
	})

	It("sends the 15-byte failure and disconnects after too many attempts", func() {
		s.handle(&apf.ProtocolVersion{Major: 1}, t0)
		for i := 0; i < 2; i++ {
			s.handle(&apf.UserauthRequest{Username: "u", Method: "password", Password: "x"}, t0)
			out, err := s.authDone(false)
			Expect(err).NotTo(HaveOccurred())
			Expect(apf.Marshal(out[0])).To(HaveLen(15))
		}
		s.handle(&apf.UserauthRequest{Username: "u", Method: "password", Password: "x"}, t0)
		out, err := s.authDone(false)
		Expect(err).To(BeAssignableToTypeOf(&AuthError{}))
		Expect(out[1]).To(Equal(&apf.Disconnect{Reason: apf.DisconnectNoMoreAuthMethods}))
	})

	It("times out an idle tunnel", func() {
		auth()
		s.received(t0.Add(10 * time.Second))
		Expect(s.tick(t0.Add(99 * time.Second))).To(Succeed())
		Expect(s.tick(t0.Add(100 * time.Second))).To(MatchError(ContainSubstring("no traffic")))
	})

	It("rejects an unsupported major version", func() {
		out, _, err := s.handle(&apf.ProtocolVersion{Major: 2}, t0)
		Expect(err).To(HaveOccurred())
		Expect(out).To(Equal([]apf.Message{&apf.Disconnect{Reason: apf.DisconnectProtocolVersionNotSupported}}))
	})
})

var _ = Describe("flow-control windows (pure)", func() {
	It("never grants more than the credit and waits at zero", func() {
		w := sendWindow{credit: 5000}
		Expect(w.take(10000, 4087)).To(Equal(4087))
		Expect(w.take(10000, 4087)).To(Equal(913))
		Expect(w.take(10000, 4087)).To(Equal(0))
		Expect(w.add(100)).To(Succeed())
		Expect(w.take(10000, 4087)).To(Equal(100))
		Expect(w.add(1<<32 - 1)).To(Succeed())
		Expect(w.add(1)).To(MatchError(ContainSubstring("beyond")))
	})
	It("adjusts after more than half the window is consumed and detects abuse", func() {
		r := newRecvWindow(32768)
		Expect(r.received(32768)).To(Succeed())
		Expect(r.received(1)).To(MatchError(ContainSubstring("exceeds")))
		Expect(r.consume(16384)).To(BeZero())
		Expect(r.consume(1)).To(Equal(uint32(16385)))
		Expect(r.received(16385)).To(Succeed())
		Expect(r.received(1)).To(HaveOccurred())
	})
})
