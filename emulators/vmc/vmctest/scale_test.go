package vmctest_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/vmctest"
	"github.com/oobtb/oobtb/emulators/wire/redir"
)

const (
	fleetSize = 1000
	wave      = 100
)

var _ = Describe("1,000 vMCs against one MPS", Label("scale"), func() {
	It("all connect and become ready, serve a channel each on a sample of 100, and stop cleanly", func() {
		if testing.Short() {
			Skip("-short: the 1,000-device fleet takes tens of seconds")
		}
		m := startMPS()
		defer m.Close()
		base := vmctest.InUse()

		fleet, err := vmctest.NewFleet(fleetSize, func(i int) vmc.Spec {
			s := spec(i, m.Addr())
			s.PeriodicInterval = "" // AMT's 25 s; every device stays up anyway
			s.RFBPassword = ""
			return s
		}, deps())
		Expect(err).NotTo(HaveOccurred())
		stopped := false
		defer func() {
			if !stopped {
				fleet.Stop()
			}
		}()
		// Devices come up in waves of 100, as a site powers on, not as one
		// thundering herd of 1,000 simultaneous TLS handshakes (on a loaded
		// 2-core machine that herd outlasts the devices' 20 s dial bound).
		t0 := time.Now()
		for lo := 0; lo < fleetSize; lo += wave {
			fleet.StartRange(lo, lo+wave)
			Eventually(m.Ready, "60s", "20ms").Should(BeNumerically(">=", lo+wave), "wave starting at device %d", lo)
		}
		Expect(m.Ready()).To(Equal(fleetSize))
		allReady := time.Since(t0)
		for _, d := range fleet.Devices {
			Expect(d.Status().Tunnel.String()).To(Equal("up"))
		}
		times := fleet.ConnectTimes(m)
		Expect(times).To(HaveLen(fleetSize))

		time.Sleep(500 * time.Millisecond) // let handshake garbage become collectable
		idle := vmctest.InUse()
		perVMC := float64(idle-base) / fleetSize / 1024

		// A management server's first contact on a sample of 100 devices.
		// WS-MAN answers an unauthenticated request with 401 where
		// services.For serves it; otherwise the redirection service answers
		// StartRedirectionSession.
		wsman := wsmanServed()
		var wg sync.WaitGroup
		var good atomic.Int32
		errs := make(chan error, 100)
		for i := 0; i < fleetSize; i += fleetSize / 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer GinkgoRecover()
				c := m.Conn(fleet.UUIDs[i])
				if c == nil {
					errs <- fmt.Errorf("device %d: no tunnel", i)
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if wsman {
					ch, err := c.OpenChannel(ctx, 16992, "127.0.0.1", 40000)
					if err != nil {
						errs <- fmt.Errorf("device %d: %w", i, err)
						return
					}
					defer ch.Close()
					if line := wsmanStatus(ch); line != "HTTP/1.1 401 Unauthorized" {
						errs <- fmt.Errorf("device %d: WS-MAN answered %q, expected 401", i, line)
						return
					}
				} else {
					ch, err := c.OpenChannel(ctx, 16994, "127.0.0.1", 40000)
					if err != nil {
						errs <- fmt.Errorf("device %d: %w", i, err)
						return
					}
					defer ch.Close()
					rc := &vmctest.RedirConsole{Conn: ch, Timeout: 20 * time.Second}
					r, err := rc.Start(redir.SessionKVM)
					if err != nil {
						errs <- fmt.Errorf("device %d: %w", i, err)
						return
					}
					if r.Status != redir.StartStatusSuccess {
						errs <- fmt.Errorf("device %d: StartRedirectionSession status %d", i, r.Status)
						return
					}
				}
				good.Add(1)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(good.Load()).To(BeEquivalentTo(100))

		t1 := time.Now()
		fleet.Stop()
		stopped = true
		stopTime := time.Since(t1)
		for _, d := range fleet.Devices {
			Expect(d.Conn()).To(BeNil())
		}
		Eventually(m.Ready, "10s").Should(BeZero())

		service := "redirection 16994 StartRedirectionSessionReply"
		if wsman {
			service = "WS-MAN 16992 401"
		}
		AddReportEntry("fleet", fmt.Sprintf("%d vMCs in waves of %d: all ready in %s; connect-to-ready p50 %s p99 %s max %s; "+
			"memory per idle vMC %.1f KiB (HeapInuse+StackInuse, device and MPS side of each tunnel); sample of 100: %s; stop %s",
			fleetSize, wave, allReady.Round(time.Millisecond), vmctest.Percentile(times, 50).Round(time.Millisecond),
			vmctest.Percentile(times, 99).Round(time.Millisecond), vmctest.Percentile(times, 100).Round(time.Millisecond),
			perVMC, service, stopTime.Round(time.Millisecond)))
		GinkgoWriter.Printf("memory per idle vMC: %.1f KiB\n", perVMC)
		Expect(perVMC).To(BeNumerically("<=", 256), "memory per idle vMC (with the MPS side of its tunnel)")
	})
})
