package scenarios_test

import (
	"os"

	. "github.com/onsi/gomega"
)

func readFile(p string) []byte {
	b, err := os.ReadFile(p)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return b
}
