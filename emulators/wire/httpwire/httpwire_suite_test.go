package httpwire_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestHTTPWire(t *testing.T) { RegisterFailHandler(Fail); RunSpecs(t, "HTTPWire") }
