package apf

import (
	"encoding/hex"
	"fmt"
)

// GUID is a system UUID exactly as PROTOCOL_VERSION carries it: the
// "Microsoft GUID" layout, whose first three groups (4, 2 and 2 bytes) are
// stored byte-reversed and whose last 8 bytes are in order. Keeping the wire
// bytes makes encode/decode an identity; String gives the canonical form.
type GUID [16]byte

// ParseGUID parses a canonical UUID string (8-4-4-4-12 hex digits, either case)
// into its wire bytes.
func ParseGUID(s string) (GUID, error) {
	var c [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return GUID{}, fmt.Errorf("apf: UUID %q: want 8-4-4-4-12 hex digits", s)
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i--
			continue
		}
		if _, err := hex.Decode(c[j:j+1], []byte(s[i:i+2])); err != nil {
			return GUID{}, fmt.Errorf("apf: UUID %q: bad hex at %d", s, i)
		}
		j++
	}
	return GUIDFromCanonical(c), nil
}

// MustParseGUID is ParseGUID for constants in tests and examples.
func MustParseGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// GUIDFromCanonical converts UUID bytes in string order (RFC 4122 order, as
// MeshCentral's node ids use them) into wire order.
func GUIDFromCanonical(c [16]byte) GUID {
	return GUID{c[3], c[2], c[1], c[0], c[5], c[4], c[7], c[6],
		c[8], c[9], c[10], c[11], c[12], c[13], c[14], c[15]}
}

// Canonical returns the UUID bytes in string order. The swap is its own
// inverse, so this mirrors GUIDFromCanonical.
func (g GUID) Canonical() [16]byte { return [16]byte(GUIDFromCanonical([16]byte(g))) }

// String returns the canonical lower-case form both Node MPSes key devices by.
func (g GUID) String() string {
	c := g.Canonical()
	var b [36]byte
	hex.Encode(b[0:8], c[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], c[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], c[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], c[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], c[10:16])
	return string(b[:])
}
