// Package runner runs scenario files: it brings a scenario's topology up on a
// backend (inproc: every party in this process on 127.0.0.0/8 with link
// emulation by stream proxies; netns: network namespaces and TAP links from
// topology/netns), starts and scripts the parties (server, vMC fleets,
// consoles, external processes) along the timeline, checks the assertions,
// collects the figures, tears everything down — also on failure — and
// returns a reports.Case per scenario (matrix point).
package runner

import (
	"context"
	"errors"
	"fmt"
	"os/exec"

	"github.com/oobtb/oobtb/emulators/netx"
	"github.com/oobtb/oobtb/scenarios/spec"
	"github.com/oobtb/oobtb/topology/linkemu"
	"github.com/oobtb/oobtb/topology/netns"
)

// Backend names.
const (
	BackendInproc = "inproc"
	BackendNetns  = "netns"
)

// Backend brings a scenario's network up.
type Backend interface {
	Name() string
	// Up builds the network of s's topology.
	Up(ctx context.Context, s *spec.Scenario, seed uint64) (Net, error)
}

// Net is one scenario's running network.
type Net interface {
	// Network is the stack parties on node listen and dial on.
	Network(node string) netx.Network
	// Host is node's address (what the others dial).
	Host(node string) string
	// Route is the address a dialer on from uses to reach addr, a listener
	// on node to: the address itself on a real network, a stream proxy that
	// applies the path's impairments in process.
	Route(from, to, addr string) (string, error)
	SetProfiles(link string, ab, ba linkemu.Profile) error
	Cut(link string) error
	Heal(link string) error
	Partition(link string) error
	// Start starts cmd inside node.
	Start(node string, cmd *exec.Cmd) error
	// Leftovers lists what of the run is still there (namespaces, links)
	// after Close.
	Leftovers() []string
	Close() error
}

// EnvError is an environment problem: something the run needs is missing
// (root, /dev/net/tun, a binary, a party this build lacks). The CLI exits 3.
type EnvError struct {
	Missing string
	Err     error
}

func (e *EnvError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("environment: %s: %v", e.Missing, e.Err)
	}
	return "environment: " + e.Missing
}

func (e *EnvError) Unwrap() error { return e.Err }

// IsEnv reports whether err is an environment problem.
func IsEnv(err error) bool {
	var e *EnvError
	return errors.As(err, &e)
}

// NetnsAvailable says whether the netns backend can run here, and if not,
// what is missing.
func NetnsAvailable() error {
	if err := netns.Preflight(); err != nil {
		return &EnvError{Missing: "netns backend needs root and /dev/net/tun", Err: err}
	}
	return nil
}

// NewBackend returns the named backend; "" picks netns where it can run and
// inproc otherwise.
func NewBackend(name string) (Backend, error) {
	switch name {
	case "":
		if NetnsAvailable() == nil {
			return &netnsBackend{}, nil
		}
		return inprocBackend{}, nil
	case BackendInproc:
		return inprocBackend{}, nil
	case BackendNetns:
		if err := NetnsAvailable(); err != nil {
			return nil, err
		}
		return &netnsBackend{}, nil
	}
	return nil, fmt.Errorf("unknown backend %q: expected inproc or netns", name)
}
