// Package ciraload is a connection-scale load generator for CIRA servers
// (MPS role): it opens many real AMT-like tunnels — TCP, TLS with AMT's
// suites, and the standard APF handshake (PROTOCOL_VERSION, USERAUTH password,
// tcpip-forward of AMT's seven ports) — holds them idle with keep-alives at
// the interval the server asks for in KEEPALIVE_OPTIONS, and measures what
// the server pays for them.
//
// Only standard APF is spoken, so the target may be any CIRA server
// (MeshCentral, DMT MPS, oobtb's). One process may open at most 20,000 files
// on the testbed machines, so the tunnels live in several worker processes
// (the caller supplies the command that starts one; the oobtb CLI re-executes
// itself as `oobtb bench cira worker`), and on loopback every tunnel is bound
// to a source address in 127.1.0.0/16 so no single address runs out of
// ephemeral ports.
//
// The coordinator (Run) paces the ramp, collects each tunnel's outcome from
// the workers, probes every tunnel with an APF keep-alive after the ramp and
// after the hold, and — when the server is a local process — reads its VmRSS
// and CPU time from /proc. docs/bench-cira.md describes the figures.
package ciraload
