package pki

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// TicketKeyFile holds the server's TLS session-ticket key in the data
// directory (32 bytes, 0600).
const TicketKeyFile = "tls-ticket.key"

// LoadOrCreateTicketKey returns the session-ticket key stored in dir,
// creating it on first use. A key that survives restarts lets devices resume
// their cached TLS sessions after a server restart, skipping the RSA
// operation of a full handshake (Go's own keys are random per process).
// Deleting the file rotates the key: every device then does one full
// handshake.
func LoadOrCreateTicketKey(dir string) ([32]byte, error) {
	var key [32]byte
	path := filepath.Join(dir, TicketKeyFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if len(b) != len(key) {
			return key, fmt.Errorf("pki: %s: want a %d-byte session-ticket key, found %d bytes (delete the file to make a new one)",
				path, len(key), len(b))
		}
		copy(key[:], b)
		return key, nil
	case !errors.Is(err, fs.ErrNotExist):
		return key, fmt.Errorf("pki: %w", err)
	}
	if _, err := rand.Read(key[:]); err != nil {
		return key, fmt.Errorf("pki: session-ticket key: %w", err)
	}
	if err := writeFile(path, key[:], 0o600); err != nil {
		return key, err
	}
	return key, nil
}
