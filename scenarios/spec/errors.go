package spec

import "github.com/oobtb/oobtb/topology"

// Error is one problem in a scenario file: file, line, field path (e.g.
// timeline[3].link) and message. It is the topology loader's type, so an
// error inside an inline topology and one in the scenario read the same.
type Error = topology.Error

// Errors is every problem found in one file; a loader returns it whenever
// the file is invalid, so callers can tell an invalid file (exit code 2)
// from other failures with errors.As.
type Errors = topology.Errors
