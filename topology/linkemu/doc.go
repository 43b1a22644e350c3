// Package linkemu is the userspace link emulator that stands in for sch_netem.
//
// A Link is two Directions. Each Direction takes frames with Send, runs them
// through a seeded impairment pipeline and hands the survivors to a deliver
// callback at the time the pipeline computed. The stages, in order, are:
//
//	closed/down → partition → MTU → loss (Bernoulli or Gilbert–Elliott)
//	→ duplication → corruption → rate limit (tail-drop queue) → delay + jitter
//
// Every random draw comes from one PCG generator seeded per Direction, and
// every decision is taken when Send is called, against the injected clock, so
// a run under clock.Manual is exactly reproducible; under clock.Real the
// delivery times are the same schedule, met by a precise wake-up.
//
// The package also holds the textual profile form used by the topology YAML
// and scenario files (ParseProfile, ParseRate, ParsePercent, ParseSize) and
// StreamProxy, the TCP relay that applies a pair of profiles to byte streams
// for the in-process backend. docs/link-emulator.md describes the model.
package linkemu
