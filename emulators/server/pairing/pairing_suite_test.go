package pairing_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestPairing(t *testing.T) { RegisterFailHandler(Fail); RunSpecs(t, "Pairing") }
