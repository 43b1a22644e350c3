// Package redirsrv is the vMC's redirection server on port 16994: Intel
// AMT's session manager (StartRedirectionSession, AuthenticateSession with
// digest), then KVM as AMT's RFB dialect (package kvmstream) or serial over
// LAN on the host's serial console. Each APF channel to 16994 is one Serve.
//
// Port 16995 (the same protocol inside TLS) is not served: the device's
// channel router refuses CHANNEL_OPEN to it (connect failed) because no
// service is registered for it.
//
// Refusals (all followed by closing the channel):
//   - unknown session type → StartRedirectionSessionReply status 1;
//     IDER → status 3 (unsupported);
//   - KVM while another KVM session (16994 or 5900) runs → status 2 (busy);
//   - KVM while it is not allowed (host powered off, or KVM disabled in
//     CIM_KVMRedirectionSAP) → status 0xFF (error), the reason logged;
//     SOL while redirection has SOL disabled → status 3;
//   - wrong credentials → AuthenticateSessionReply failure with a fresh
//     challenge, and after MaxAuthFailures failures a bare failure.
//
// The KVM session is reserved at StartRedirectionSession (so a second
// console learns "busy" at once) and held through authentication, which is
// bounded by AuthTimeout.
package redirsrv
