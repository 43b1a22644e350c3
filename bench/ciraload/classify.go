package ciraload

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/oobtb/oobtb/emulators/cira"
)

// Failure reasons, the keys of Result.Failures and of the dead-tunnel counts.
const (
	// ReasonRefused: the TCP connection was refused, or the server reset or
	// closed it before the TLS handshake finished — how a server at its
	// connection cap turns a device away.
	ReasonRefused = "refused"
	// ReasonTLS: the TLS handshake failed (certificate, suites, alerts).
	ReasonTLS = "tls"
	// ReasonAuth: the server refused the CIRA credentials (USERAUTH_FAILURE).
	ReasonAuth = "auth"
	// ReasonTimeout: dial, TLS or APF handshake (or a probe's keep-alive
	// round trip) did not finish in time.
	ReasonTimeout = "timeout"
	// ReasonRejected: the server closed the connection during the APF
	// handshake without a USERAUTH_FAILURE — how DMT MPS and oobtb's server
	// turn away a UUID they do not know.
	ReasonRejected = "rejected"
	// ReasonClosed: the server closed or reset an established tunnel.
	ReasonClosed = "closed"
	// ReasonDial: any other connect error (no route, address in use, …).
	ReasonDial = "dial"
	// ReasonAPF: the server broke the APF protocol as this device sees it.
	ReasonAPF = "apf"
	// ReasonCanceled: the run was interrupted.
	ReasonCanceled = "canceled"
)

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) ||
		(errors.As(err, &ne) && ne.Timeout())
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

func classifyDial(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	case isTimeout(err):
		return ReasonTimeout
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		// On loopback the reset of a connection the server accepted and
		// dropped can arrive before connect returns.
		return ReasonRefused
	}
	return ReasonDial
}

func classifyTLS(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	case isTimeout(err):
		return ReasonTimeout
	case isReset(err):
		return ReasonRefused
	}
	return ReasonTLS
}

// classifyAPF names why a tunnel failed or ended after TLS.
func classifyAPF(err error) string {
	var ae *cira.AuthError
	var de *cira.DisconnectError
	switch {
	case errors.As(err, &ae):
		return ReasonAuth
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	case isTimeout(err):
		return ReasonTimeout
	case errors.As(err, &de) && de.ByPeer, isReset(err), errors.Is(err, cira.ErrClosed):
		return ReasonClosed
	}
	return ReasonAPF
}

// handshakeReason is classifyAPF for a tunnel that never became ready: a
// close by the server then is a rejection.
func handshakeReason(err error) string {
	if r := classifyAPF(err); r != ReasonClosed {
		return r
	}
	return ReasonRejected
}
