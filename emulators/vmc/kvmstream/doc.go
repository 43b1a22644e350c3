// Package kvmstream is the vMC's RFB server loop over a host.Host, shared by
// the redirection server's KVM sessions (port 16994, AMT's RFB dialect) and
// the plain RFB server on port 5900.
//
// ServerHandshake runs the part of RFB that differs per port (version
// negotiation for 3.3, 3.7 and 3.8 clients, security None or VNC
// authentication, ClientInit/ServerInit). Serve then runs the session: it
// reads client messages, injects keys and pointer moves into the host's
// screen with increasing input ids (so the frame stamp reports the last
// input applied), and answers each FramebufferUpdateRequest with exactly one
// update: the whole screen for the first request whatever its incremental
// flag, then only the 64×64 tiles the screen reported damaged, never an
// empty update (with nothing to send it waits for the host's next frame).
//
// The caller owns the single KVM session (host.AcquireKVM) for as long as
// Serve runs; the screen's frame clock runs only while it is held.
package kvmstream
