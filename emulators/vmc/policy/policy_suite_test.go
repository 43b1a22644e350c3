package policy_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestPolicy(t *testing.T) { RegisterFailHandler(Fail); RunSpecs(t, "Policy") }
