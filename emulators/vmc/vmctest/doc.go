// Package vmctest holds the vMC's heavy tests — a fleet of 1,000 devices
// against one MPS, bad input on every port and on the CIRA tunnel, wrong
// credentials — and the helpers they share with the vmc benchmarks: an MPS on
// the cira server role that holds thousands of tunnels, a fleet of devices
// built from plain Specs, a redirection/KVM console that runs over an APF
// channel, and memory and percentile measurements.
package vmctest
