package registry_test

import (
	"errors"
	"os"
	"sync"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/server/registry"
)

var _ = Describe("out of file descriptors", Serial, func() {
	It("keeps reading and writing the registry when the process has no descriptor left", func() {
		s := open(GinkgoT().TempDir())
		enrol(s, 1)
		// Lower the soft limit so filling it is quick, then fill it.
		var lim syscall.Rlimit
		Expect(syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)).To(Succeed())
		low := lim
		if low.Cur > 512 {
			low.Cur = 512
		}
		Expect(syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low)).To(Succeed())
		var fillers []*os.File
		DeferCleanup(func() {
			for _, f := range fillers {
				f.Close()
			}
			Expect(syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)).To(Succeed())
		})
		for {
			f, err := os.Open(os.DevNull)
			if err != nil {
				Expect(errors.Is(err, syscall.EMFILE)).To(BeTrue(), err.Error())
				break
			}
			fillers = append(fillers, f)
			Expect(len(fillers)).To(BeNumerically("<", 10000))
		}

		// Concurrent readers need the whole reader pool at once.
		var wg sync.WaitGroup
		errs := make(chan error, 8*50)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					if _, err := s.GetDevice(ctx, devUUID(1)); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			Expect(err).NotTo(HaveOccurred())
		}
		for i := 0; i < 20; i++ {
			Expect(s.VerifyCIRA(ctx, devUUID(1), "user1", "cira-pass-1")).To(Succeed())
			_, err := s.UpdateConnection(ctx, devUUID(1), registry.ConnectionUpdate{Now: t0, State: registry.StateConnected})
			Expect(err).NotTo(HaveOccurred())
			_, err = s.GetDevice(ctx, devUUID(1))
			Expect(err).NotTo(HaveOccurred())
		}
		_, err := s.AppendAudit(ctx, registry.AuditRecord{Time: t0, Action: "cira.refused", Outcome: "fd limit"})
		Expect(err).NotTo(HaveOccurred())
		enrol(s, 2)
	})
})
