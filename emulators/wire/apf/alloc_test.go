package apf_test

import "testing"

// testing_AllocsPerRun keeps the testing import out of the Ginkgo specs.
func testing_AllocsPerRun(runs int, f func()) float64 { return testing.AllocsPerRun(runs, f) }
