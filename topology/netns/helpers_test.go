package netns_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/topology"
	"github.com/oobtb/oobtb/topology/netns"
)

const runnerEnv = "OOBTB_NETNS_TEST_RUNNER"

// runAsRunner is the re-executed test binary standing in for the CLI's
// detached runner: it brings a topology up and waits to be killed.
// Arguments: the prefix (so Clean recognises the process) and state dir.
func runAsRunner(file string) int {
	prefix, dir := os.Args[len(os.Args)-2], os.Args[len(os.Args)-1]
	spec, err := topology.LoadFile(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	t, err := netns.Up(context.Background(), spec, netns.WithPrefix(prefix), netns.WithStateDir(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	fmt.Println("ready")
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, os.Interrupt)
	<-c
	_ = t.Close()
	return 0
}

// up brings a topology given as YAML up and registers its teardown plus
// the check that nothing of the run is left.
func up(src string, opts ...netns.Option) *netns.Topology {
	GinkgoHelper()
	spec, err := topology.Load("spec.yaml", []byte(src))
	Expect(err).NotTo(HaveOccurred())
	return upSpec(spec, opts...)
}

func upSpec(spec *topology.Topology, opts ...netns.Option) *netns.Topology {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts = append([]netns.Option{netns.WithStateDir(GinkgoT().TempDir())}, opts...)
	t, err := netns.Up(ctx, spec, opts...)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		Expect(t.Close()).To(Succeed())
		Expect(t.Close()).To(Succeed(), "Close is idempotent")
		Expect(netns.Leftovers(t.Prefix)).To(BeEmpty())
	})
	return t
}
