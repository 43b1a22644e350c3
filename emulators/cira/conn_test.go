package cira_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/sim/clock"
)

const testUUID = "12345678-9abc-def0-1122-334455667788"

type pair struct {
	dev, srv   *cira.Conn
	mu         sync.Mutex
	devEvents  []cira.Event
	srvEvents  []cira.Event
	devNC      net.Conn
	srvNC      net.Conn
	authChecks int
}

func (p *pair) close() {
	if p.dev != nil {
		p.dev.Close()
	}
	if p.srv != nil {
		p.srv.Close()
	}
}

// echoService serves 16992 by echoing and refuses other ports with reason 2.
func deviceConfig(pass string) cira.Config {
	return cira.Config{
		Device: &cira.DeviceConfig{UUID: apf.MustParseGUID(testUUID), Trigger: apf.TriggerPeriodic,
			Username: "admin", Password: pass, Hostname: "amt.local"},
		AcceptChannel: func(o *apf.ChannelOpen) (bool, apf.OpenFailureReason) {
			if o.TargetPort == 16992 {
				return true, 0
			}
			return false, apf.OpenConnectFailed
		},
		ServeChannel: func(ch *cira.Channel) { _, _ = io.Copy(ch, ch) },
	}
}

func newPair(devCfg cira.Config, srvCfg cira.Config) *pair {
	p := &pair{}
	a, b := tcpPair()
	p.devNC, p.srvNC = a, b
	devCfg.OnEvent = func(_ *cira.Conn, ev cira.Event) { p.mu.Lock(); p.devEvents = append(p.devEvents, ev); p.mu.Unlock() }
	srvCfg.OnEvent = func(_ *cira.Conn, ev cira.Event) { p.mu.Lock(); p.srvEvents = append(p.srvEvents, ev); p.mu.Unlock() }
	if srvCfg.Server == nil {
		srvCfg.Server = &cira.ServerConfig{}
	}
	if srvCfg.Verify == nil {
		srvCfg.Verify = func(_ context.Context, r cira.EventAuthRequest) bool {
			p.mu.Lock()
			p.authChecks++
			p.mu.Unlock()
			return r.UUID.String() == testUUID && r.Username == "admin" && r.Password == "P@ssw0rd"
		}
	}
	var err error
	p.srv, err = cira.New(b, cira.RoleServer, srvCfg)
	Expect(err).NotTo(HaveOccurred())
	p.dev, err = cira.New(a, cira.RoleDevice, devCfg)
	Expect(err).NotTo(HaveOccurred())
	return p
}

func tcpPair() (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); acc <- c }()
	a, err := net.Dial("tcp", ln.Addr().String())
	Expect(err).NotTo(HaveOccurred())
	return a, <-acc
}

var _ = Describe("Conn over TCP", func() {
	It("completes the CIRA handshake on both sides and records the port table", func() {
		p := newPair(deviceConfig("P@ssw0rd"), cira.Config{})
		defer p.close()
		Eventually(p.dev.Ready()).Should(BeClosed())
		Eventually(p.srv.Ready()).Should(BeClosed())
		Eventually(p.srv.BoundPorts).Should(Equal([]uint32{16993, 16992, 664, 623, 16995, 16994, 5900}))
		v, ok := p.srv.PeerVersion()
		Expect(ok).To(BeTrue())
		Expect(v.UUID.String()).To(Equal(testUUID))
		Eventually(func() []cira.Event { p.mu.Lock(); defer p.mu.Unlock(); return p.srvEvents }).Should(
			ContainElement(cira.EventKeepaliveOptions{Interval: 30}))
	})

	It("refuses wrong credentials and tells the device why", func() {
		p := newPair(deviceConfig("wrong"), cira.Config{})
		defer p.close()
		Eventually(p.dev.Done()).Should(BeClosed())
		var ae *cira.AuthError
		Expect(errors.As(p.dev.Err(), &ae)).To(BeTrue(), "got %v", p.dev.Err())
		Consistently(p.srv.Ready(), "100ms").ShouldNot(BeClosed())
	})

	It("carries channel data both ways intact under flow control", func() {
		p := newPair(deviceConfig("P@ssw0rd"), cira.Config{Window: 4096})
		defer p.close()
		Eventually(p.srv.Ready()).Should(BeClosed())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ch, err := p.srv.OpenChannel(ctx, 16992, "1.2.3.4", 1024)
		Expect(err).NotTo(HaveOccurred())
		Expect(ch.Port()).To(Equal(uint32(16992)))
		payload := make([]byte, 1<<20)
		_, _ = rand.Read(payload)
		go func() { _, _ = ch.Write(payload) }()
		got := make([]byte, len(payload))
		_ = ch.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err = io.ReadFull(ch, got)
		Expect(err).NotTo(HaveOccurred())
		Expect(bytes.Equal(got, payload)).To(BeTrue())
		Expect(ch.Close()).To(Succeed())
		Expect(p.dev.Stats().ChannelsOpened).To(Equal(uint64(1)))
	})

	It("refuses a channel to an unserved port with the device's reason", func() {
		p := newPair(deviceConfig("P@ssw0rd"), cira.Config{})
		defer p.close()
		Eventually(p.srv.Ready()).Should(BeClosed())
		_, err := p.srv.OpenChannel(context.Background(), 623, "", 0)
		Expect(cira.IsOpenRefused(err)).To(BeTrue())
		Expect(err).To(MatchError(ContainSubstring("connect failed")))
	})

	It("runs many channels at once", func() {
		p := newPair(deviceConfig("P@ssw0rd"), cira.Config{})
		defer p.close()
		Eventually(p.srv.Ready()).Should(BeClosed())
		var wg sync.WaitGroup
		for i := 0; i < 32; i++ {
			wg.Add(1)
			go func(i int) {
				defer GinkgoRecover()
				defer wg.Done()
				ch, err := p.srv.OpenChannel(context.Background(), 16992, "", 0)
				Expect(err).NotTo(HaveOccurred())
				defer ch.Close()
				msg := bytes.Repeat([]byte{byte(i)}, 10000+i)
				go ch.Write(msg)
				got := make([]byte, len(msg))
				_ = ch.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, err = io.ReadFull(ch, got)
				Expect(err).NotTo(HaveOccurred())
				Expect(got).To(Equal(msg))
			}(i)
		}
		wg.Wait()
	})

	It("cuts off a peer that sends garbage with a protocol error", func() {
		a, b := tcpPair()
		srv, err := cira.New(b, cira.RoleServer, cira.Config{Server: &cira.ServerConfig{},
			Verify: func(context.Context, cira.EventAuthRequest) bool { return true }})
		Expect(err).NotTo(HaveOccurred())
		_, _ = a.Write([]byte{0xee, 1, 2, 3})
		Eventually(srv.Done()).Should(BeClosed())
		Expect(srv.Err()).To(MatchError(ContainSubstring("APF")))
		// The peer is told: a DISCONNECT (protocol error) arrives before EOF.
		_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf, _ := io.ReadAll(a)
		Expect(buf).To(Equal([]byte{1, 0, 0, 0, 2, 0, 0}))
		a.Close()
	})

	It("refuses channel traffic before authentication", func() {
		a, b := tcpPair()
		defer a.Close()
		srv, _ := cira.New(b, cira.RoleServer, cira.Config{Server: &cira.ServerConfig{},
			Verify: func(context.Context, cira.EventAuthRequest) bool { return true }})
		_, _ = a.Write(apf.Marshal(&apf.ChannelData{Recipient: 1, Data: []byte("x")}))
		Eventually(srv.Done()).Should(BeClosed())
		Expect(srv.Err()).To(MatchError(ContainSubstring("before authentication")))
	})

	It("gives up on a device that never finishes the handshake", func() {
		a, b := tcpPair()
		defer a.Close()
		srv, _ := cira.New(b, cira.RoleServer, cira.Config{Server: &cira.ServerConfig{}, HandshakeTimeout: 200 * time.Millisecond,
			Verify: func(context.Context, cira.EventAuthRequest) bool { return true }})
		Eventually(srv.Done(), "2s").Should(BeClosed())
		Expect(srv.Err()).To(MatchError(ContainSubstring("handshake did not complete")))
	})

	It("ends a channel writer stuck on a peer that stops reading, by deadline", func() {
		p := newPair(cira.Config{
			Device:        deviceConfig("P@ssw0rd").Device,
			AcceptChannel: func(*apf.ChannelOpen) (bool, apf.OpenFailureReason) { return true, 0 },
			ServeChannel:  func(ch *cira.Channel) { <-time.After(300 * time.Millisecond) }, // never reads
		}, cira.Config{})
		defer p.close()
		Eventually(p.srv.Ready()).Should(BeClosed())
		ch, err := p.srv.OpenChannel(context.Background(), 16992, "", 0)
		Expect(err).NotTo(HaveOccurred())
		_ = ch.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, err = ch.Write(make([]byte, 100000))
		Expect(err).To(MatchError(os.ErrDeadlineExceeded))
	})

	It("sends keep-alives on the injected clock and the server times out a silent device", func() {
		devClk, srvClk := clock.NewManual(time.Now()), clock.NewManual(time.Now())
		dc := deviceConfig("P@ssw0rd")
		dc.Clock = devClk
		p := newPair(dc, cira.Config{Clock: srvClk, Server: &cira.ServerConfig{IdleTimeout: 90 * time.Second}})
		defer p.close()
		Eventually(p.dev.Ready()).Should(BeClosed())
		Eventually(p.srv.Ready()).Should(BeClosed())
		Eventually(func() uint64 { return p.dev.Stats().MessagesIn }).Should(BeNumerically("==", 11)) // 3 handshake replies, 7 forwards, KEEPALIVE_OPTIONS
		before := p.srv.Stats().MessagesIn
		devClk.Advance(30 * time.Second) // the device's keep-alive falls due
		Eventually(func() uint64 { return p.srv.Stats().MessagesIn }).Should(Equal(before + 1))
		Eventually(func() uint64 { return p.dev.Stats().MessagesIn }).Should(Equal(uint64(12))) // the reply
		// The device's clock stands still from now on, so it goes silent;
		// the server drops it once its own idle timeout passes.
		srvClk.Advance(89 * time.Second)
		Consistently(p.srv.Done(), "50ms").ShouldNot(BeClosed())
		srvClk.Advance(2 * time.Second)
		Eventually(p.srv.Done()).Should(BeClosed())
		var de *cira.DisconnectError
		Expect(errors.As(p.srv.Err(), &de)).To(BeTrue())
		Expect(de.Reason).To(Equal(apf.DisconnectConnectionTimedOut))
	})
})
