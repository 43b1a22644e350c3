// Package scenarios is the scenario catalogue: the *.yaml files in this
// directory (each commented), run by `oobtb run` and, as Ginkgo specs with
// the files' labels (pairing, failover, keyex, kvm, slow), by
// `go test ./scenarios/`. The format is package spec, the JSON Schema package
// schema, the engine package runner; docs/scenarios.md describes all three.
package scenarios
