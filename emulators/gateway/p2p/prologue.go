// Package p2p is the console↔gateway channel of flow F4: a cleartext
// preamble naming the pairing session, Noise_KK_25519_ChaChaPoly_BLAKE2s
// bound to the pairing by its prologue, then Noise transport records carrying
// the stream multiplexer of package mux. It runs over any net.Conn, so the
// same bytes go straight to the gateway or through the server's relay, which
// pairs two sockets by the session id in the preamble and sees only
// ciphertext. The console calls Dial, the gateway Accept.
// docs/protocols/console-gateway.md is the specification.
package p2p

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/oobtb/oobtb/emulators/wire/gwext"
)

// Params are the pairing fields both ends bind into the handshake.
type Params struct {
	Session    gwext.SessionID
	GatewayID  string // as the server registered it
	DeviceUUID string // canonical text form; compared case-insensitively
	ConsoleID  string
}

// PrologueLabel opens every prologue, so a prologue of another protocol or
// version never matches.
const PrologueLabel = "oobtb-p2p/1"

// Prologue is PrologueLabel ‖ session id ‖ gateway id ‖ device UUID ‖
// console id, each field as u16 length ‖ bytes (the UUID as its 16 bytes in
// text order), so no two field lists share an encoding.
func Prologue(p Params) ([]byte, error) {
	u, err := uuidBytes(p.DeviceUUID)
	if err != nil {
		return nil, err
	}
	if p.GatewayID == "" || p.ConsoleID == "" {
		return nil, fmt.Errorf("p2p: prologue needs a gateway id and a console id (got %q, %q)", p.GatewayID, p.ConsoleID)
	}
	if len(p.GatewayID) > 255 || len(p.ConsoleID) > 255 {
		return nil, fmt.Errorf("p2p: gateway id and console id must be ≤ 255 bytes")
	}
	b := []byte(PrologueLabel)
	for _, f := range [][]byte{p.Session[:], []byte(p.GatewayID), u[:], []byte(p.ConsoleID)} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b, nil
}

func uuidBytes(s string) ([16]byte, error) {
	var u [16]byte
	h := strings.ReplaceAll(strings.ToLower(s), "-", "")
	if len(s) != 36 || len(h) != 32 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("p2p: device UUID %q: want the canonical 8-4-4-4-12 form", s)
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, fmt.Errorf("p2p: device UUID %q: %v", s, err)
	}
	return u, nil
}
