package schema_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestSchema(t *testing.T) { RegisterFailHandler(Fail); RunSpecs(t, "Scenario schema") }
