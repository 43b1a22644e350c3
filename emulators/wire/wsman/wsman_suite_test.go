package wsman_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestWSMan(t *testing.T) { RegisterFailHandler(Fail); RunSpecs(t, "WSMan") }
