// Package leakcheck wraps goleak with the goroutines that test frameworks
// (not our code) leave running, so every package checks leaks the same way.
package leakcheck

import (
	"testing"

	"go.uber.org/goleak"
)

// Options are goleak options ignoring Ginkgo's own interrupt handler.
func Options() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2"),
		goleak.IgnoreAnyFunction("github.com/onsi/ginkgo/v2/internal.(*Suite).runNode.func1"),
	}
}

// VerifyTestMain runs the package's tests, then fails if goroutines leaked.
func VerifyTestMain(m *testing.M, extra ...goleak.Option) {
	goleak.VerifyTestMain(m, append(Options(), extra...)...)
}
