package pki

import (
	"crypto/tls"
	"crypto/x509"
)

// AMTCipherSuites are the RSA key-exchange suites some AMT generations
// offer exclusively (reference §1.1; the DMT console adds exactly these).
// Go 1.22+ leaves them out of its defaults; listing them in
// tls.Config.CipherSuites enables them without GODEBUG=tlsrsakex=1 (checked
// against Go 1.26: the godebug only gates the default list).
var AMTCipherSuites = []uint16{
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

// defaultSuites is Go's default TLS 1.2 list (TLS 1.3 suites are not
// configurable). Setting CipherSuites replaces the defaults, so they are
// restated here.
var defaultSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
}

// CipherSuites returns Go's default TLS 1.2 suites followed by
// AMTCipherSuites. Go orders by its own preference, so forward-secret
// suites still win whenever the peer offers one.
func CipherSuites() []uint16 {
	out := make([]uint16, 0, len(defaultSuites)+len(AMTCipherSuites))
	out = append(out, defaultSuites...)
	return append(out, AMTCipherSuites...)
}

// ServerTLSOptions adjusts ServerTLSConfig.
type ServerTLSOptions struct {
	// RequestClientCert asks for (but does not require or verify) a client
	// certificate, as both Node MPSes do (AMT AuthMethod 1 sends one).
	RequestClientCert bool
	// ClientCAs, when set, requires and verifies a client certificate
	// (gateway control channel with mutual TLS).
	ClientCAs *x509.CertPool
	// NextProtos for ALPN.
	NextProtos []string
	// SessionTicketKeys, when set, replace Go's per-process random ticket
	// keys (the first encrypts, all decrypt), so tickets stay valid across
	// restarts (LoadOrCreateTicketKey). Go's automatic rotation is then off.
	SessionTicketKeys [][32]byte
}

// ServerTLSConfig returns a TLS 1.2+ server configuration with Go's default
// suites plus AMTCipherSuites. Session resumption uses Go's stateless
// session tickets (enabled; keys random per process and rotated
// automatically unless SessionTicketKeys are given); Go's server has no
// session-ID cache.
func ServerTLSConfig(cert tls.Certificate, o ...ServerTLSOptions) *tls.Config {
	var opt ServerTLSOptions
	if len(o) > 0 {
		opt = o[0]
	}
	c := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: CipherSuites(),
		Certificates: []tls.Certificate{cert},
		NextProtos:   opt.NextProtos,
	}
	switch {
	case opt.ClientCAs != nil:
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = opt.ClientCAs
	case opt.RequestClientCert:
		c.ClientAuth = tls.RequestClientCert
	}
	if len(opt.SessionTicketKeys) > 0 {
		c.SetSessionTicketKeys(opt.SessionTicketKeys)
	}
	return c
}

// ClientTLSConfig returns the configuration a vMC (or console, gateway) uses
// towards an oobtb server: TLS 1.2+, the same suites as the server, a
// 1000-entry client session cache (MeshCentral's server-side size) for
// resumption on reconnect storms. insecure skips verification, as a stock
// AMT talking to an untrusted test MPS would be configured.
func ClientTLSConfig(caPool *x509.CertPool, serverName string, insecure bool) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		CipherSuites:       CipherSuites(),
		RootCAs:            caPool,
		ServerName:         serverName,
		InsecureSkipVerify: insecure, //nolint:gosec // explicit test option
		ClientSessionCache: tls.NewLRUClientSessionCache(1000),
	}
}
