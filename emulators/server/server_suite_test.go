package server_test

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/internal/leakcheck"
)

func TestMain(m *testing.M) {
	if os.Getenv(benchChildEnv) != "" {
		benchChild()
	}
	if os.Getenv(holdChildEnv) != "" {
		holdChild()
	}
	leakcheck.VerifyTestMain(m)
}

func TestServer(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Server")
}
