package spec_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestSpec(t *testing.T) { RegisterFailHandler(Fail); RunSpecs(t, "Scenario spec") }
