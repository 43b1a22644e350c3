package server

import (
	"context"
	"net"
	"runtime"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/pki"
)

var _ = Describe("scheduler Ps policy", func() {
	var (
		pol procsPolicy
		st  procsState
		now time.Time
		cpu time.Duration
	)
	BeforeEach(func() {
		pol = defaultProcsPolicy(4)
		st = procsState{cur: 4}
		now = time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
		cpu = 0
		Expect(pol.step(&st, now, cpu, 0)).To(Equal(4)) // the first step only takes the baseline
	})
	// run advances by n steps of 250 ms at the given CPU use (cores) and
	// accepts per step, returning the Ps after each step.
	run := func(n int, cores float64, accepts int64) []int {
		var out []int
		for i := 0; i < n; i++ {
			now = now.Add(procsStep)
			cpu += time.Duration(cores * float64(procsStep))
			out = append(out, pol.step(&st, now, cpu, accepts))
		}
		return out
	}

	It("goes to one P only after the process stayed idle for IdleFor", func() {
		steps := int(pol.IdleFor / procsStep)
		got := run(steps-1, 0.05, 0)
		Expect(got).To(HaveEach(4))
		Expect(run(2, 0.05, 0)).To(ContainElement(1))
		Expect(st.cur).To(Equal(1))
	})

	It("a busy moment restarts the idle clock", func() {
		steps := int(pol.IdleFor / procsStep)
		run(steps-2, 0.05, 0)
		Expect(run(1, 0.3, 0)).To(Equal([]int{4}))
		Expect(run(steps-1, 0.05, 0)).To(HaveEach(4))
	})

	It("goes back to every P within one step when busy or when an accept storm starts", func() {
		run(int(pol.IdleFor/procsStep)+1, 0.02, 0)
		Expect(st.cur).To(Equal(1))
		Expect(run(1, 0.3, 0)).To(Equal([]int{1}), "moderate use fits one P")
		Expect(run(1, 0.9, 0)).To(Equal([]int{4}))

		run(int(pol.IdleFor/procsStep)+1, 0.02, 0)
		Expect(st.cur).To(Equal(1))
		Expect(run(1, 0.02, pol.AcceptBurst)).To(Equal([]int{4}))
		Expect(run(3, 0.02, pol.AcceptBurst)).To(HaveEach(4), "a storm keeps every P even before the CPU shows it")
	})

	It("ignores a step whose clock did not advance", func() {
		Expect(pol.step(&st, now, cpu+time.Second, 0)).To(Equal(4))
		Expect(pol.step(&st, now.Add(-time.Second), cpu, 0)).To(Equal(4))
	})
})

var _ = Describe("scheduler Ps driver", func() {
	It("runs an idle server on one P, takes every P back for an accept storm and restores them on Close", func() {
		max := runtime.GOMAXPROCS(0)
		if max < 2 {
			Skip("needs GOMAXPROCS ≥ 2")
		}
		orig := newProcsPolicy
		newProcsPolicy = func(m int) procsPolicy {
			p := defaultProcsPolicy(m)
			p.IdleFor = 500 * time.Millisecond
			return p
		}
		DeferCleanup(func() { newProcsPolicy = orig; runtime.GOMAXPROCS(max) })

		srv, err := New(Config{DataDir: GinkgoT().TempDir(), CIRAListen: "127.0.0.1:0", APIListen: "127.0.0.1:0",
			KeyType: pki.ECDSAP256, AdaptiveProcs: true})
		Expect(err).NotTo(HaveOccurred())
		Expect(srv.Start(context.Background())).To(Succeed())
		closed := false
		DeferCleanup(func() {
			if !closed {
				srv.Close()
			}
		})
		Eventually(func() int { return runtime.GOMAXPROCS(0) }, 10*time.Second, 50*time.Millisecond).Should(Equal(1))

		// A storm: more than AcceptBurst sockets within one step.
		var conns []net.Conn
		for i := 0; i < 40; i++ {
			c, err := net.Dial("tcp", srv.CIRAAddr().String())
			Expect(err).NotTo(HaveOccurred())
			conns = append(conns, c)
		}
		Eventually(func() int { return runtime.GOMAXPROCS(0) }, 5*time.Second, 20*time.Millisecond).Should(Equal(max))
		for _, c := range conns {
			_ = c.Close()
		}
		Eventually(func() int { return runtime.GOMAXPROCS(0) }, 10*time.Second, 50*time.Millisecond).Should(Equal(1))

		Expect(srv.Close()).To(Succeed())
		closed = true
		Expect(runtime.GOMAXPROCS(0)).To(Equal(max))
	})
})
