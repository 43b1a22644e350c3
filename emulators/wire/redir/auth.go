package redir

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// AuthType is the authentication type byte.
type AuthType uint8

// Authentication types (reference §2.3).
const (
	AuthQuery       AuthType = 0
	AuthPassword    AuthType = 1 // user + password in clear
	AuthKerberos    AuthType = 2
	AuthDigest      AuthType = 3 // digest without qop
	AuthDigestQop   AuthType = 4 // digest with qop=auth
	redirectionURI           = "/RedirectionService"
	authHeaderBytes          = 9
)

// RedirectionURI is the digest uri every console uses.
const RedirectionURI = redirectionURI

// Authentication reply statuses.
const (
	AuthStatusSuccess      uint8 = 0
	AuthStatusFailure      uint8 = 1 // also the digest challenge
	AuthStatusNotSupported uint8 = 2
)

// AuthenticateSession is the console's request (opcode 0x13).
//
// Which fields are encoded depends on Type: none for AuthQuery; User and
// Password for AuthPassword; User, Realm, Nonce, URI, CNonce, NC, Response
// and (AuthDigestQop only) Qop for the digests; Data verbatim otherwise.
// The digest probe is a digest request with an empty Realm.
type AuthenticateSession struct {
	Type                                    AuthType
	User, Password                          string
	Realm, Nonce, URI, CNonce, NC, Response string
	Qop                                     string
	Data                                    []byte
}

func (*AuthenticateSession) Opcode() Opcode { return OpAuthenticateSession }

// Append encodes the request. Strings longer than 255 bytes are cut, as the
// wire gives each a 1-byte length.
func (m *AuthenticateSession) Append(b []byte) []byte {
	return appendAuth(b, OpAuthenticateSession, 0, m.Type, func(b []byte) []byte {
		switch m.Type {
		case AuthQuery:
			return b
		case AuthPassword:
			return appendStrs(b, m.User, m.Password)
		case AuthDigest:
			return appendStrs(b, m.User, m.Realm, m.Nonce, m.URI, m.CNonce, m.NC, m.Response)
		case AuthDigestQop:
			return appendStrs(b, m.User, m.Realm, m.Nonce, m.URI, m.CNonce, m.NC, m.Response, m.Qop)
		default:
			return append(b, m.Data...)
		}
	})
}

// IsProbe reports whether a digest request only asks for a challenge (empty realm).
func (m *AuthenticateSession) IsProbe() bool {
	return (m.Type == AuthDigest || m.Type == AuthDigestQop) && m.Realm == ""
}

// AuthenticateSessionReply is AMT's answer (opcode 0x14).
//
// Encoded data: Types for a successful AuthQuery; Realm, Nonce and
// (AuthDigestQop only) Qop for a digest challenge (status failure with
// a non-empty Realm); Data verbatim otherwise.
type AuthenticateSessionReply struct {
	Status            uint8
	Type              AuthType
	Types             []AuthType
	Realm, Nonce, Qop string
	Data              []byte
}

func (*AuthenticateSessionReply) Opcode() Opcode { return OpAuthenticateSessionReply }

// IsChallenge reports whether the reply is a digest challenge.
func (m *AuthenticateSessionReply) IsChallenge() bool {
	return m.Status == AuthStatusFailure && (m.Type == AuthDigest || m.Type == AuthDigestQop) && m.Realm != ""
}

func (m *AuthenticateSessionReply) Append(b []byte) []byte {
	return appendAuth(b, OpAuthenticateSessionReply, m.Status, m.Type, func(b []byte) []byte {
		switch {
		case m.Type == AuthQuery && m.Status == AuthStatusSuccess:
			for _, t := range m.Types {
				b = append(b, byte(t))
			}
			return b
		case m.IsChallenge() && m.Type == AuthDigestQop:
			return appendStrs(b, m.Realm, m.Nonce, m.Qop)
		case m.IsChallenge():
			return appendStrs(b, m.Realm, m.Nonce)
		default:
			return append(b, m.Data...)
		}
	})
}

func appendAuth(b []byte, op Opcode, status uint8, t AuthType, body func([]byte) []byte) []byte {
	start := len(b)
	b = append(b, byte(op), status, 0, 0, byte(t), 0, 0, 0, 0)
	b = body(b)
	l := len(b) - start - authHeaderBytes
	b[start+5], b[start+6], b[start+7], b[start+8] = byte(l), byte(l>>8), byte(l>>16), byte(l>>24)
	return b
}

func appendStrs(b []byte, ss ...string) []byte {
	for _, s := range ss {
		if len(s) > 255 {
			s = s[:255]
		}
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	return b
}

// authFrame checks the common 9-byte header and returns the data slice.
func authFrame(b []byte, op Opcode) ([]byte, int, error) {
	if err := need(b, op, "auth data length", authHeaderBytes); err != nil {
		return nil, 0, err
	}
	l := le32(b[5:9])
	if l > MaxAuthData {
		return nil, 0, errLen(op, "auth data length", 5, MaxAuthData, int(l))
	}
	n := authHeaderBytes + int(l)
	if err := need(b, op, "auth data", n); err != nil {
		return nil, 0, err
	}
	return b[authHeaderBytes:n], n, nil
}

// strReader reads 1-byte-length strings from auth data.
type strReader struct {
	op    Opcode
	data  []byte
	off   int
	names []string
	err   error
}

func (r *strReader) next(name string) string {
	if r.err != nil {
		return ""
	}
	if r.off >= len(r.data) {
		r.err = wireerr.New(Proto, r.op.String(), name+" length", authHeaderBytes+r.off, "a 1-byte length inside the auth data", "end of auth data")
		return ""
	}
	l := int(r.data[r.off])
	if r.off+1+l > len(r.data) {
		r.err = wireerr.New(Proto, r.op.String(), name, authHeaderBytes+r.off+1,
			fmt.Sprintf("%d bytes inside the auth data", l), fmt.Sprintf("%d bytes left", len(r.data)-r.off-1))
		return ""
	}
	s := string(r.data[r.off+1 : r.off+1+l])
	r.off += 1 + l
	return s
}

func (r *strReader) end() error {
	if r.err == nil && r.off != len(r.data) {
		r.err = wireerr.New(Proto, r.op.String(), "auth data", authHeaderBytes+r.off, "no bytes after the last field", fmt.Sprintf("%d bytes", len(r.data)-r.off))
	}
	return r.err
}

func decodeAuth(b []byte) (Msg, int, error) {
	const op = OpAuthenticateSession
	data, n, err := authFrame(b, op)
	if err != nil {
		return nil, 0, err
	}
	m := &AuthenticateSession{Type: AuthType(b[4])}
	r := &strReader{op: op, data: data}
	switch m.Type {
	case AuthQuery:
		err = r.end()
	case AuthPassword:
		m.User, m.Password = r.next("user"), r.next("password")
		err = r.end()
	case AuthDigest, AuthDigestQop:
		m.User, m.Realm, m.Nonce, m.URI = r.next("user"), r.next("realm"), r.next("nonce"), r.next("uri")
		m.CNonce, m.NC, m.Response = r.next("cnonce"), r.next("nc"), r.next("response")
		if m.Type == AuthDigestQop {
			m.Qop = r.next("qop")
		}
		err = r.end()
	default:
		m.Data = append([]byte{}, data...)
	}
	if err != nil {
		return nil, 0, err
	}
	return m, n, nil
}

func decodeAuthReply(b []byte) (Msg, int, error) {
	const op = OpAuthenticateSessionReply
	data, n, err := authFrame(b, op)
	if err != nil {
		return nil, 0, err
	}
	m := &AuthenticateSessionReply{Status: b[1], Type: AuthType(b[4])}
	switch {
	case m.Type == AuthQuery && m.Status == AuthStatusSuccess:
		m.Types = make([]AuthType, len(data))
		for i, t := range data {
			m.Types[i] = AuthType(t)
		}
	case m.Status == AuthStatusFailure && (m.Type == AuthDigest || m.Type == AuthDigestQop) && len(data) > 0:
		r := &strReader{op: op, data: data}
		m.Realm, m.Nonce = r.next("realm"), r.next("nonce")
		if m.Type == AuthDigestQop {
			m.Qop = r.next("qop")
		}
		if err := r.end(); err != nil {
			return nil, 0, err
		}
		if m.Realm == "" {
			return nil, 0, wireerr.New(Proto, op.String(), "realm", authHeaderBytes+1, "a non-empty challenge realm", "empty")
		}
	default:
		if len(data) > 0 {
			m.Data = append([]byte{}, data...)
		}
	}
	return m, n, nil
}

// DigestResponse computes the digest response the way AMT and the consoles
// do: HA1 = MD5(user:realm:password), HA2 = MD5("POST:" + uri) — "POST"
// even though no HTTP is involved — and MD5(HA1:nonce:nc:cnonce:qop:HA2),
// or MD5(HA1:nonce:HA2) when qop is empty (type 3).
func DigestResponse(user, realm, password, nonce, nc, cnonce, qop, uri string) string {
	ha1 := md5hex(user + ":" + realm + ":" + password)
	ha2 := md5hex("POST:" + uri)
	if qop == "" {
		return md5hex(ha1 + ":" + nonce + ":" + ha2)
	}
	return md5hex(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + ha2)
}

// VerifyDigest checks a digest request against the password, using the uri,
// nc, cnonce and qop exactly as received.
func VerifyDigest(m *AuthenticateSession, realm, nonce, password string) bool {
	if m.Type != AuthDigest && m.Type != AuthDigestQop {
		return false
	}
	if m.Realm != realm || m.Nonce != nonce {
		return false
	}
	qop := ""
	if m.Type == AuthDigestQop {
		qop = m.Qop
	}
	want := DigestResponse(m.User, realm, password, nonce, m.NC, m.CNonce, qop, m.URI)
	return len(m.Response) == len(want) && constEq(m.Response, want)
}

func constEq(a, b string) bool {
	var v byte
	for i := 0; i < len(a); i++ {
		v |= a[i] ^ b[i]
	}
	return v == 0
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}
