package netx_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/netx"
)

var _ = Describe("RawIO", func() {
	// pair returns a raw-I/O server side and a plain client side.
	pair := func() (raw, peer net.Conn) {
		ln, err := netx.Host{}.Listen(context.Background(), "tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		defer ln.Close()
		peer, err = net.Dial("tcp", ln.Addr().String())
		Expect(err).NotTo(HaveOccurred())
		c, err := ln.Accept()
		Expect(err).NotTo(HaveOccurred())
		raw = netx.RawIO(c)
		Expect(raw).NotTo(BeIdenticalTo(c))
		DeferCleanup(func() { _ = raw.Close(); _ = peer.Close() })
		return raw, peer
	}

	It("moves bytes both ways, including writes larger than the socket buffers", func() {
		raw, peer := pair()
		big := make([]byte, 8<<20)
		_, _ = rand.Read(big)
		got := make(chan []byte, 1)
		go func() {
			defer GinkgoRecover()
			b, err := io.ReadAll(io.LimitReader(peer, int64(len(big))))
			Expect(err).NotTo(HaveOccurred())
			got <- b
		}()
		n, err := raw.Write(big)
		Expect(err).NotTo(HaveOccurred())
		Expect(n).To(Equal(len(big)))
		Eventually(got, 10*time.Second).Should(Receive(Equal(big)))

		go func() {
			defer GinkgoRecover()
			_, err := peer.Write(big)
			Expect(err).NotTo(HaveOccurred())
		}()
		back, err := io.ReadAll(io.LimitReader(raw, int64(len(big))))
		Expect(err).NotTo(HaveOccurred())
		Expect(bytes.Equal(back, big)).To(BeTrue())
	})

	It("reports the peer's close as io.EOF and honours read deadlines", func() {
		raw, peer := pair()
		Expect(raw.SetReadDeadline(time.Now().Add(50 * time.Millisecond))).To(Succeed())
		_, err := raw.Read(make([]byte, 16))
		Expect(errors.Is(err, os.ErrDeadlineExceeded)).To(BeTrue(), "%v", err)
		var ne net.Error
		Expect(errors.As(err, &ne) && ne.Timeout()).To(BeTrue())

		Expect(raw.SetReadDeadline(time.Time{})).To(Succeed())
		_, err = peer.Write([]byte("last words"))
		Expect(err).NotTo(HaveOccurred())
		Expect(peer.Close()).To(Succeed())
		b, err := io.ReadAll(raw)
		Expect(err).NotTo(HaveOccurred()) // ReadAll stops at io.EOF
		Expect(string(b)).To(Equal("last words"))
		n, err := raw.Read(make([]byte, 4))
		Expect(n, err).Error().To(MatchError(io.EOF))
		Expect(n).To(BeZero())
	})

	It("unblocks a pending read on Close and then refuses I/O", func() {
		raw, _ := pair()
		done := make(chan error, 1)
		go func() {
			_, err := raw.Read(make([]byte, 16))
			done <- err
		}()
		Consistently(done, 100*time.Millisecond).ShouldNot(Receive())
		Expect(raw.Close()).To(Succeed())
		Eventually(done, 5*time.Second).Should(Receive(MatchError(net.ErrClosed)))
		_, err := raw.Write([]byte("x"))
		Expect(err).To(MatchError(net.ErrClosed))
	})

	It("reports a write to a reset connection as an error naming the call", func() {
		raw, peer := pair()
		Expect(peer.(*net.TCPConn).SetLinger(0)).To(Succeed())
		Expect(peer.Close()).To(Succeed()) // RST
		var err error
		Eventually(func() error {
			_, err = raw.Write(make([]byte, 64<<10))
			return err
		}, 5*time.Second).Should(HaveOccurred())
		Expect(err.Error()).To(Or(ContainSubstring("write"), ContainSubstring("read")))
	})

	It("leaves connections that are not TCP as they are", func() {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		Expect(netx.RawIO(a)).To(BeIdenticalTo(a))
	})
})
