package netx_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

func TestNetx(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "netx")
}
