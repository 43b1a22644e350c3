// Package netns brings a topology up on real Linux network namespaces: one
// namespace per node and per LAN segment, TAP pairs joined by link emulator
// directions, bridges, addresses, routes, forwarding and nftables NAT, and
// tears all of it down again — also after a crash, through Clean.
//
// Safety rules: every name carries a unique run prefix (oobtb-<6 hex>);
// only namespaces this package created are touched; addresses come from
// 198.18.0.0/15; nothing is ever linked to the host's namespace and no node
// has a route out.
package netns

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// NamePrefix starts every run prefix.
const NamePrefix = "oobtb-"

// NetnsDir is where named namespaces are bind-mounted (iproute2's place).
const NetnsDir = "/run/netns"

// DefaultStateDir holds one JSON state file per run.
const DefaultStateDir = "/run/oobtb"

var prefixRe = regexp.MustCompile(`^oobtb-[0-9a-f]{6}$`)

// NewPrefix returns a fresh run prefix, oobtb-<6 hex>.
func NewPrefix() string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return NamePrefix + hex.EncodeToString(b[:])
}

// ValidPrefix reports whether p is a run prefix.
func ValidPrefix(p string) bool { return prefixRe.MatchString(p) }

// NSName is the namespace name of a node or segment in a run.
func NSName(prefix, node string) string { return prefix + "-" + node }

// RunPrefixOf extracts the run prefix from a namespace name, or "".
func RunPrefixOf(nsName string) string {
	if len(nsName) < len(NamePrefix)+7 || !strings.HasPrefix(nsName, NamePrefix) {
		return ""
	}
	p := nsName[:len(NamePrefix)+6]
	if !ValidPrefix(p) || nsName[len(p)] != '-' {
		return ""
	}
	return p
}

func checkPrefix(p string) error {
	if !ValidPrefix(p) {
		return fmt.Errorf("netns: prefix %q is not of the form oobtb-<6 hex digits>", p)
	}
	return nil
}
