package registry_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"
)

// Ginkgo's own interrupt handler outlives RunSpecs; everything else (the
// database/sql connection goroutines of every store) must be gone.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction(
		"github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2"))
}

func TestRegistry(t *testing.T) { RegisterFailHandler(Fail); RunSpecs(t, "Registry") }
