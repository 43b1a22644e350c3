package backoff_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestBackoff(t *testing.T) { RegisterFailHandler(Fail); RunSpecs(t, "Backoff") }
