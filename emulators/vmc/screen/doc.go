// Package screen is the vMC's live virtual display: a framebuffer driven by
// deterministic, seeded workloads, keyboard and pointer input, the host's
// power state and a machine-readable stamp in every frame.
//
// It is pure logic. The driver (the vMC) calls Step with the current time or
// Advance with a duration; the screen never reads a clock and starts no
// goroutines. Same configuration, same seed and the same sequence of Step
// times and inputs give identical pixels.
//
// The KVM encoder ships only what TakeDamage reports, so damage is exact at
// 64×64 tile granularity: every pixel that differs from the previous frame
// lies in a reported tile. Tiles are composed into a scratch buffer and
// compared before they are committed, so a tile is reported only when its
// pixels really changed.
//
// A Screen is not safe for concurrent use; the driver serialises calls.
package screen
