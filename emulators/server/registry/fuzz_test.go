package registry_test

import (
	"testing"

	"github.com/oobtb/oobtb/emulators/server/registry"
)

// FuzzNormalizeIdentifier: identifiers arrive from vMCs (gateway-info TLVs)
// and gateways; normalising must never panic, must bound its output, and
// must be idempotent, or a lookup could miss a stored identifier.
func FuzzNormalizeIdentifier(f *testing.F) {
	f.Add(uint8(0), "192.168.1.1")
	f.Add(uint8(1), "FE80::1")
	f.Add(uint8(2), "4433")
	f.Add(uint8(3), "AA-BB-CC-DD-EE-FF")
	f.Add(uint8(4), "Lan.Example.")
	f.Add(uint8(5), "UDI-1")
	f.Add(uint8(6), "HTTP://Gw.Example:4433/a?b#c")
	f.Add(uint8(7), "x")
	f.Fuzz(func(t *testing.T, typ uint8, v string) {
		types := registry.IdentifierTypes
		it := registry.IdentifierType("bogus")
		if int(typ) < len(types) {
			it = types[typ]
		}
		n, err := registry.NormalizeIdentifier(registry.Identifier{Type: it, Value: v})
		if err != nil {
			return
		}
		if n.Type != it || n.Value == "" {
			t.Fatalf("bad result %+v for %q", n, v)
		}
		again, err := registry.NormalizeIdentifier(n)
		if err != nil {
			t.Fatalf("normalised %q → %q no longer valid: %v", v, n.Value, err)
		}
		if again != n {
			t.Fatalf("not idempotent: %q → %q → %q", v, n.Value, again.Value)
		}
	})
}

// FuzzCanonicalUUID: the UUID comes straight from the APF USERAUTH/
// PROTOCOL_VERSION of an unauthenticated peer.
func FuzzCanonicalUUID(f *testing.F) {
	f.Add("12345678-9ABC-DEF0-1122-334455667788")
	f.Add("{12345678-9abc-def0-1122-334455667788}")
	f.Add("urn:uuid:12345678-9abc-def0-1122-334455667788")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := registry.CanonicalUUID(s)
		if err != nil {
			return
		}
		if len(c) != 36 {
			t.Fatalf("canonical %q has length %d", c, len(c))
		}
		if c2, err := registry.CanonicalUUID(c); err != nil || c2 != c {
			t.Fatalf("not idempotent: %q → %q → %q (%v)", s, c, c2, err)
		}
	})
}
