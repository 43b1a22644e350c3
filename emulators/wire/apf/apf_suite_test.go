package apf_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestAPF(t *testing.T) { RegisterFailHandler(Fail); RunSpecs(t, "APF") }
