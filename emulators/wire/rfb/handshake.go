package rfb

import (
	"crypto/des"
	"fmt"
	"math/bits"
)

// Version is an RFB protocol version from the 12-byte banner.
type Version struct{ Major, Minor int }

// Known versions. AMT announces 4.0; its consoles answer 3.8.
var (
	V33 = Version{3, 3}
	V37 = Version{3, 7}
	V38 = Version{3, 8}
	V40 = Version{4, 0}
)

// VersionLen is the size of the banner "RFB xxx.yyy\n".
const VersionLen = 12

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// AtLeast reports whether v ≥ o.
func (v Version) AtLeast(o Version) bool {
	return v.Major > o.Major || v.Major == o.Major && v.Minor >= o.Minor
}

// Append appends the 12-byte banner.
func (v Version) Append(b []byte) []byte {
	return fmt.Appendf(b, "RFB %03d.%03d\n", v.Major%1000, v.Minor%1000)
}

// ParseVersion reads the 12-byte banner from the front of b.
func ParseVersion(b []byte) (Version, int, error) {
	const msg = "ProtocolVersion"
	if len(b) < VersionLen {
		for i, c := range []byte("RFB ")[:min(len(b), 4)] {
			if b[i] != c {
				return Version{}, 0, bad(msg, "banner", i, `"RFB "`, fmt.Sprintf("%q", b[:min(len(b), 4)]))
			}
		}
		return Version{}, 0, short(msg, "banner", VersionLen, len(b))
	}
	if string(b[:4]) != "RFB " || b[7] != '.' || b[11] != '\n' {
		return Version{}, 0, bad(msg, "banner", 0, `"RFB xxx.yyy\n"`, fmt.Sprintf("%q", b[:12]))
	}
	var v [2]int
	for i, f := range [2][]byte{b[4:7], b[8:11]} {
		for _, c := range f {
			if c < '0' || c > '9' {
				return Version{}, 0, bad(msg, "version digits", 4+4*i, "decimal digits", fmt.Sprintf("%q", f))
			}
			v[i] = v[i]*10 + int(c-'0')
		}
	}
	return Version{v[0], v[1]}, VersionLen, nil
}

// Security types.
const (
	SecInvalid uint8 = 0
	SecNone    uint8 = 1
	SecVNCAuth uint8 = 2
)

// AppendSecurityTypes appends the server's list. For 3.3 the single u32
// type (types[0]) is sent; an empty list means failure, and then reason
// follows (3.3: type 0 + reason; 3.7+: count 0 + reason).
func AppendSecurityTypes(b []byte, v Version, types []uint8, reason string) []byte {
	if !v.AtLeast(V37) {
		if len(types) == 0 {
			return appendString(put32(b, 0), reason)
		}
		return put32(b, uint32(types[0]))
	}
	if len(types) == 0 {
		return appendString(append(b, 0), reason)
	}
	if len(types) > 255 {
		types = types[:255]
	}
	b = append(b, byte(len(types)))
	return append(b, types...)
}

// DecodeSecurityTypes reads the server's security types. An empty list comes
// with the server's reason.
func DecodeSecurityTypes(b []byte, v Version) (types []uint8, reason string, n int, err error) {
	const msg = "SecurityTypes"
	if !v.AtLeast(V37) {
		if len(b) < 4 {
			return nil, "", 0, short(msg, "security-type", 4, len(b))
		}
		t := be32(b)
		if t == 0 {
			reason, n, err = decodeString(b, 4, msg, "reason")
			return nil, reason, n, err
		}
		if t > 255 {
			return nil, "", 0, bad(msg, "security-type", 0, "0..255", fmt.Sprint(t))
		}
		return []uint8{uint8(t)}, "", 4, nil
	}
	if len(b) < 1 {
		return nil, "", 0, short(msg, "number-of-security-types", 1, 0)
	}
	c := int(b[0])
	if c == 0 {
		reason, n, err = decodeString(b, 1, msg, "reason")
		return nil, reason, n, err
	}
	if len(b) < 1+c {
		return nil, "", 0, short(msg, "security-types", 1+c, len(b))
	}
	return append([]uint8{}, b[1:1+c]...), "", 1 + c, nil
}

// appendString appends a u32 length and the string.
func appendString(b []byte, s string) []byte {
	b = put32(b, uint32(len(s)))
	return append(b, s...)
}

// decodeString reads a u32-length string at off, bounded by MaxReason.
func decodeString(b []byte, off int, msg, field string) (string, int, error) {
	if len(b) < off+4 {
		return "", 0, short(msg, field+"-length", off+4, len(b))
	}
	l := be32(b[off:])
	if l > MaxReason {
		return "", 0, bad(msg, field+"-length", off, fmt.Sprintf("at most %d", MaxReason), fmt.Sprint(l))
	}
	end := off + 4 + int(l)
	if len(b) < end {
		return "", 0, short(msg, field, end, len(b))
	}
	return string(b[off+4 : end]), end, nil
}

// VNCAuthResponse computes the VNC authentication response (RFC 6143
// §7.2.2): the challenge encrypted with DES-ECB under the password's first
// eight bytes, zero-padded, with each key byte's bits reversed.
func VNCAuthResponse(password string, challenge [16]byte) [16]byte {
	var key [8]byte
	copy(key[:], password)
	for i := range key {
		key[i] = bits.Reverse8(key[i])
	}
	blk, _ := des.NewCipher(key[:]) // an 8-byte key never fails
	var out [16]byte
	blk.Encrypt(out[:8], challenge[:8])
	blk.Encrypt(out[8:], challenge[8:])
	return out
}

// SecurityResult statuses.
const (
	SecurityOK     uint32 = 0
	SecurityFailed uint32 = 1
)

// AppendSecurityResult appends the u32 status and, for a failure under 3.8
// or later, the reason string.
func AppendSecurityResult(b []byte, v Version, status uint32, reason string) []byte {
	b = put32(b, status)
	if status != SecurityOK && v.AtLeast(V38) {
		b = appendString(b, reason)
	}
	return b
}

// DecodeSecurityResult reads the server's SecurityResult.
func DecodeSecurityResult(b []byte, v Version) (status uint32, reason string, n int, err error) {
	const msg = "SecurityResult"
	if len(b) < 4 {
		return 0, "", 0, short(msg, "status", 4, len(b))
	}
	status = be32(b)
	if status == SecurityOK || !v.AtLeast(V38) {
		return status, "", 4, nil
	}
	reason, n, err = decodeString(b, 4, msg, "reason")
	if err != nil {
		return 0, "", 0, err
	}
	return status, reason, n, nil
}

// ClientInit is the client's one-byte shared flag (consoles send 1).
type ClientInit struct{ Shared bool }

func (m ClientInit) Append(b []byte) []byte { return append(b, b2u(m.Shared)) }

// DecodeClientInit reads the shared flag.
func DecodeClientInit(b []byte) (ClientInit, int, error) {
	if len(b) < 1 {
		return ClientInit{}, 0, short("ClientInit", "shared-flag", 1, 0)
	}
	return ClientInit{Shared: b[0] != 0}, 1, nil
}

// AMTDesktopName is the name AMT announces; noVNC keys off it.
const AMTDesktopName = "Intel(r) AMT KVM"

// ServerInit announces the framebuffer.
type ServerInit struct {
	Width, Height uint16
	Format        PixelFormat
	Name          string
}

// AMTServerInit returns AMT's ServerInit for a w×h screen: RGB565 LE.
func AMTServerInit(w, h uint16) ServerInit {
	return ServerInit{Width: w, Height: h, Format: PF565, Name: AMTDesktopName}
}

func (m ServerInit) Append(b []byte) []byte {
	b = put16(b, m.Width)
	b = put16(b, m.Height)
	b = m.Format.Append(b)
	return appendString(b, m.Name)
}

// DecodeServerInit reads ServerInit; the name is bounded by MaxName.
func DecodeServerInit(b []byte) (ServerInit, int, error) {
	const msg = "ServerInit"
	if len(b) < 24 {
		return ServerInit{}, 0, short(msg, "name-length", 24, len(b))
	}
	pf, _ := ParsePixelFormat(b[4:20])
	l := be32(b[20:])
	if l > MaxName {
		return ServerInit{}, 0, bad(msg, "name-length", 20, fmt.Sprintf("at most %d", MaxName), fmt.Sprint(l))
	}
	end := 24 + int(l)
	if len(b) < end {
		return ServerInit{}, 0, short(msg, "name-string", end, len(b))
	}
	return ServerInit{Width: be16(b), Height: be16(b[2:]), Format: pf, Name: string(b[24:end])}, end, nil
}
