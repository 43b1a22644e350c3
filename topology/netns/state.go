package netns

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// State is what a run records in <state dir>/<prefix>.json before it
// creates anything, so `oobtb topo show/exec/down` and `oobtb clean` find
// the run, its owner process and its namespaces even after a crash.
type State struct {
	Prefix     string      `json:"prefix"`
	PID        int         `json:"pid"`
	Name       string      `json:"name"`
	File       string      `json:"file,omitempty"`
	Started    time.Time   `json:"started"`
	Control    string      `json:"control,omitempty"` // runner's control socket
	Namespaces []string    `json:"namespaces"`
	Nodes      []StateNode `json:"nodes"`
	Links      []StateLink `json:"links"`
}

// StateNode is one node in a State.
type StateNode struct {
	Name   string       `json:"name"`
	Role   string       `json:"role"`
	NS     string       `json:"ns"`
	Ifaces []StateIface `json:"ifaces"`
}

// StateIface is one interface in a State.
type StateIface struct {
	Name    string `json:"name"`
	Link    string `json:"link"`
	Address string `json:"address"`
}

// StateLink is one link in a State.
type StateLink struct {
	Name string `json:"name"`
	A    string `json:"a"` // node:iface or segment:port
	B    string `json:"b"`
}

// StatePath is the state file of prefix in dir.
func StatePath(dir, prefix string) string { return filepath.Join(dir, prefix+".json") }

func writeState(dir string, s *State) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := StatePath(dir, s.Prefix) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, StatePath(dir, s.Prefix))
}

// ReadState reads one run's state file.
func ReadState(dir, prefix string) (*State, error) {
	data, err := os.ReadFile(StatePath(dir, prefix))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("netns: state %s: %w", StatePath(dir, prefix), err)
	}
	return &s, nil
}

// ListStates reads every state file in dir, oldest first.
func ListStates(dir string) ([]*State, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*State
	for _, e := range ents {
		p, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !ValidPrefix(p) {
			continue
		}
		if s, err := ReadState(dir, p); err == nil {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, nil
}

// Node returns the named node of the state, or nil.
func (s *State) Node(name string) *StateNode {
	for i := range s.Nodes {
		if s.Nodes[i].Name == name {
			return &s.Nodes[i]
		}
	}
	return nil
}
