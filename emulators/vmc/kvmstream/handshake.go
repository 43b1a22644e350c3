package kvmstream

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// DefaultHandshakeTimeout bounds the whole handshake.
const DefaultHandshakeTimeout = 30 * time.Second

// Handshake is the server side of RFB's opening, up to and including
// ServerInit.
type Handshake struct {
	// Banner is the version the server announces: 4.0 on AMT's 16994,
	// 3.8 on 5900.
	Banner rfb.Version
	// Security is rfb.SecNone or rfb.SecVNCAuth.
	Security uint8
	// Password is the VNC password (first 8 bytes count).
	Password string
	// Rand supplies the VNC challenge; nil → crypto/rand.
	Rand io.Reader
	// Refuse, when set, refuses the connection after the version exchange
	// with this reason (security-type list of zero entries).
	Refuse string
	// Init is sent as ServerInit.
	Init rfb.ServerInit
	// Timeout bounds the handshake; 0 → 30 s.
	Timeout time.Duration
}

// Negotiate maps a client's version to the semantics the server uses:
// 3.3–3.6 → 3.3 (RFC 6143 §7.1.1), 3.7 → 3.7, and 3.8 or anything later
// (Apple's 3.889, RealVNC's and AMT's 4.x) → 3.8.
func Negotiate(c rfb.Version) (rfb.Version, error) {
	switch {
	case c.Major < 3 || c.Major == 3 && c.Minor < 3:
		return rfb.Version{}, fmt.Errorf("rfb: client speaks RFB %s; at least 3.3 is needed", c)
	case c.Major == 3 && c.Minor < 7:
		return rfb.V33, nil
	case c.Major == 3 && c.Minor == 7:
		return rfb.V37, nil
	default:
		return rfb.V38, nil
	}
}

// ServerHandshake runs the handshake on conn and returns the negotiated
// version. A wrong password gives ErrAuthFailed after the SecurityResult
// failure (with a reason under 3.8); a refusal gives ErrRefused. The caller
// closes conn on error.
func ServerHandshake(conn net.Conn, hs Handshake) (rfb.Version, error) {
	if hs.Timeout <= 0 {
		hs.Timeout = DefaultHandshakeTimeout
	}
	if hs.Rand == nil {
		hs.Rand = rand.Reader
	}
	if err := conn.SetDeadline(time.Now().Add(hs.Timeout)); err != nil {
		return rfb.Version{}, err
	}
	defer conn.SetDeadline(time.Time{})

	if _, err := conn.Write(hs.Banner.Append(nil)); err != nil {
		return rfb.Version{}, fmt.Errorf("rfb: writing the version banner: %w", err)
	}
	var vb [rfb.VersionLen]byte
	if _, err := io.ReadFull(conn, vb[:]); err != nil {
		return rfb.Version{}, fmt.Errorf("rfb: reading the client's ProtocolVersion: %w", err)
	}
	cv, _, err := rfb.ParseVersion(vb[:])
	if err != nil {
		return rfb.Version{}, err
	}
	v, err := Negotiate(cv)
	if err != nil {
		return rfb.Version{}, err
	}
	if hs.Refuse != "" {
		_, _ = conn.Write(rfb.AppendSecurityTypes(nil, v, nil, hs.Refuse))
		return v, fmt.Errorf("%w: %s", ErrRefused, hs.Refuse)
	}
	if _, err := conn.Write(rfb.AppendSecurityTypes(nil, v, []uint8{hs.Security}, "")); err != nil {
		return v, fmt.Errorf("rfb: writing security types: %w", err)
	}
	if v.AtLeast(rfb.V37) {
		var c [1]byte
		if _, err := io.ReadFull(conn, c[:]); err != nil {
			return v, fmt.Errorf("rfb: reading the client's security type: %w", err)
		}
		if c[0] != hs.Security {
			reason := fmt.Sprintf("security type %d was not offered (offered %d)", c[0], hs.Security)
			_, _ = conn.Write(rfb.AppendSecurityResult(nil, v, rfb.SecurityFailed, reason))
			return v, fmt.Errorf("rfb: %s", reason)
		}
	}
	switch hs.Security {
	case rfb.SecNone:
		// 3.3 and 3.7 send no SecurityResult for None; 3.8 does (and AMT's
		// consoles wait for it).
		if v.AtLeast(rfb.V38) {
			if _, err := conn.Write(rfb.AppendSecurityResult(nil, v, rfb.SecurityOK, "")); err != nil {
				return v, err
			}
		}
	case rfb.SecVNCAuth:
		var ch, resp [16]byte
		if _, err := io.ReadFull(hs.Rand, ch[:]); err != nil {
			return v, fmt.Errorf("rfb: drawing the VNC challenge: %w", err)
		}
		if _, err := conn.Write(ch[:]); err != nil {
			return v, err
		}
		if _, err := io.ReadFull(conn, resp[:]); err != nil {
			return v, fmt.Errorf("rfb: reading the VNC authentication response: %w", err)
		}
		want := rfb.VNCAuthResponse(hs.Password, ch)
		if subtle.ConstantTimeCompare(want[:], resp[:]) != 1 {
			_, _ = conn.Write(rfb.AppendSecurityResult(nil, v, rfb.SecurityFailed, "authentication failed: wrong password"))
			return v, ErrAuthFailed
		}
		if _, err := conn.Write(rfb.AppendSecurityResult(nil, v, rfb.SecurityOK, "")); err != nil {
			return v, err
		}
	default:
		return v, fmt.Errorf("rfb: security type %d is not implemented", hs.Security)
	}
	var ci [1]byte
	if _, err := io.ReadFull(conn, ci[:]); err != nil {
		return v, fmt.Errorf("rfb: reading ClientInit: %w", err)
	}
	if _, err := conn.Write(hs.Init.Append(nil)); err != nil {
		return v, fmt.Errorf("rfb: writing ServerInit: %w", err)
	}
	return v, nil
}
