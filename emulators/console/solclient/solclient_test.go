package solclient_test

import (
	"bytes"
	"context"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/console/internal/vmcenv"
	"github.com/oobtb/oobtb/emulators/console/redirclient"
	"github.com/oobtb/oobtb/emulators/console/solclient"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
)

// syncBuf is a goroutine-safe output sink.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var _ = Describe("SOL client against the vMC", func() {
	It("sends text, receives the host's echo, heartbeats and ends cleanly", func() {
		e, err := vmcenv.New(640, 480, screen.W0Idle)
		Expect(err).NotTo(HaveOccurred())
		defer func() { Expect(e.Close()).To(Succeed()) }()
		conn, err := e.Dial()
		Expect(err).NotTo(HaveOccurred())
		c, err := solclient.Open(conn, solclient.Config{
			Credentials: redirclient.Credentials{User: vmcenv.User, Password: vmcenv.Password},
			Timeout:     400 * time.Millisecond, Heartbeat: 50 * time.Millisecond})
		Expect(err).NotTo(HaveOccurred())
		out := &syncBuf{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx, out) }()
		_, err = c.Write([]byte("uptime\n"))
		Expect(err).NotTo(HaveOccurred())
		Eventually(out.String, 5*time.Second).Should(ContainSubstring(": uptime\r\n"))
		// Heartbeats keep an otherwise silent session alive past its timeout.
		Consistently(done, time.Second).ShouldNot(Receive())
		rx, tx := c.Counts()
		Expect(tx).To(BeEquivalentTo(7))
		Expect(rx).To(BeNumerically(">", 7))
		cancel()
		Eventually(done, 5*time.Second).Should(Receive(BeNil()))
		Expect(c.Close()).To(Succeed())
		_, err = c.Write([]byte("x"))
		Expect(err).To(MatchError(solclient.ErrClosed))
	})

	It("reports wrong credentials", func() {
		e, err := vmcenv.New(640, 480, screen.W0Idle)
		Expect(err).NotTo(HaveOccurred())
		defer func() { Expect(e.Close()).To(Succeed()) }()
		conn, err := e.Dial()
		Expect(err).NotTo(HaveOccurred())
		defer conn.Close()
		_, err = solclient.Open(conn, solclient.Config{Credentials: redirclient.Credentials{User: "admin", Password: "x"}, Timeout: 5 * time.Second})
		Expect(err).To(MatchError(redirclient.ErrAuth))
	})
})
