// Package relaycpu measures what relaying KVM costs the management server
// (issue 4: "relayed KVM frames/s and Mbit/s; server CPU per relayed
// Mbit"). The server runs alone in a child process, as the daemon would, so
// its CPU time is its own; a vMC and the console's KVM client run in the
// benchmark process and drive a redirection session through the server's
// web relay. The package holds only its benchmark.
package relaycpu
