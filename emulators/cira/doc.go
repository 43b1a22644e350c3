// Package cira is the APF session layer of a CIRA tunnel: the device
// (AMT) and server (MPS) handshakes, keep-alives, and channels with APF flow
// control, over any byte stream (normally TLS).
//
// It is layered like golang.org/x/crypto/ssh: the wire codec is package apf;
// the decisions of each role live in pure state machines (deviceSession,
// serverSession, the window types) that take a message and the time and
// return what to send; Conn is the thin driver that owns the socket, the
// reader goroutine, the timers and the Channel objects, which behave as
// net.Conns so an HTTP or redirection server can run on one unchanged.
//
// The vMC uses the device role towards a server or a gateway; the server and
// the gateway's local MPS use the server role.
package cira
