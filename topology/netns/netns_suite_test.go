package netns_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/topology/netns"
)

func TestMain(m *testing.M) {
	if f := os.Getenv(runnerEnv); f != "" {
		os.Exit(runAsRunner(f))
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2"))
}

func TestNetns(t *testing.T) { RegisterFailHandler(Fail); RunSpecs(t, "Netns") }

var _ = BeforeEach(func() {
	if err := netns.Preflight(); err != nil {
		Skip("topology tests need root and /dev/net/tun: " + err.Error())
	}
})
