package rfb_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestRFB(t *testing.T) { RegisterFailHandler(Fail); RunSpecs(t, "RFB") }
