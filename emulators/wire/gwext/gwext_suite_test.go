package gwext_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestGwext(t *testing.T) { RegisterFailHandler(Fail); RunSpecs(t, "gwext") }
