package redir_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestRedir(t *testing.T) { RegisterFailHandler(Fail); RunSpecs(t, "Redir") }
