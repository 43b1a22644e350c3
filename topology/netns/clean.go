package netns

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// GoneTimeout bounds how long teardown waits for the kernel to show a
// namespace's devices and bind mount gone.
const GoneTimeout = 10 * time.Second

func poll(what string, done func() bool) error {
	deadline := time.Now().Add(GoneTimeout)
	for wait := 100 * time.Microsecond; ; wait = min(2*wait, 20*time.Millisecond) {
		if done() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("netns: %s still present after %s", what, GoneTimeout)
		}
		time.Sleep(wait)
	}
}

// sockstat holds a namespace's /proc/net/sockstat files, opened inside it,
// so teardown can tell without a socket dump (which walks the host-wide
// TCP hash, milliseconds each) whether there is any TCP socket to abort.
type sockstat struct{ v4, v6 *os.File }

// openSockstat must run on a thread inside the namespace.
func openSockstat() *sockstat {
	v4, err := os.Open("/proc/thread-self/net/sockstat")
	if err != nil {
		return nil
	}
	v6, err := os.Open("/proc/thread-self/net/sockstat6")
	if err != nil {
		v6 = nil
	}
	return &sockstat{v4, v6}
}

// tcpInUse reads "TCP: inuse N" and "TCP6: inuse N"; unreadable counts
// as in use.
func (s *sockstat) tcpInUse() bool {
	for _, f := range []*os.File{s.v4, s.v6} {
		if f == nil {
			continue
		}
		buf := make([]byte, 4096)
		n, err := f.ReadAt(buf, 0)
		if n == 0 && err != nil {
			return true
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			fs := strings.Fields(line)
			if len(fs) >= 3 && (fs[0] == "TCP:" || fs[0] == "TCP6:") && fs[1] == "inuse" && fs[2] != "0" {
				return true
			}
		}
	}
	return false
}

// close releases the files (each holds a reference to the namespace).
func (s *sockstat) close() {
	if s == nil {
		return
	}
	for _, f := range []*os.File{s.v4, s.v6} {
		if f != nil {
			_ = f.Close()
		}
	}
}

// abortTCP destroys every TCP socket in a namespace (SOCK_DESTROY): blocked reads
// and writes of their owners fail at once, and orphaned sockets with data
// queued for a link that is gone stop holding the namespace. The network
// is going away; nothing could complete on it anyway.
// h must hold a NETLINK_INET_DIAG socket in the namespace.
func abortTCP(h *netlink.Handle) {
	// Go listens on [::] for "0.0.0.0": accepted IPv4 connections are
	// IPv4-mapped AF_INET6 sockets, found by the AF_INET6 dump and destroyed
	// through their IPv4 addresses.
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		socks, _ := h.SocketDiagTCP(fam)
		for _, s := range socks {
			local := &net.TCPAddr{IP: s.ID.Source, Port: int(s.ID.SourcePort)}
			remote := &net.TCPAddr{IP: s.ID.Destination, Port: int(s.ID.DestinationPort)}
			_ = h.SocketDestroy(local, remote)
		}
	}
}

// teardownSpace removes one namespace: it first aborts its TCP sockets, then releases our handles, unmounts
// and removes the /run/netns entry, then polls until the entry is gone and
// cannot be opened. The kernel then destroys the namespace with every
// device in it (TAPs, bridges) in one batch; deleting the devices one by
// one first would cost an RCU grace period each under the RTNL lock.
// waitDestroyed then watches the kernel finish.
func teardownSpace(name string, h *netlink.Handle, ns vnetns.NsHandle, stat *sockstat) error {
	path := filepath.Join(NetnsDir, name)
	if !ns.IsOpen() {
		if n, err := vnetns.GetFromPath(path); err == nil {
			ns = n
		}
	}
	switch {
	case h != nil:
		if stat == nil || stat.tcpInUse() {
			abortTCP(h)
		}
	case ns.IsOpen():
		if dh, err := netlink.NewHandleAt(ns, unix.NETLINK_INET_DIAG); err == nil {
			abortTCP(dh)
			dh.Close()
		}
	}
	stat.close()
	if h != nil {
		h.Close()
	}
	if ns.IsOpen() {
		_ = ns.Close()
	}
	var errs []error
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("netns: unmount %s: %w", path, err))
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("netns: remove %s: %w", path, err))
	}
	if err := poll(path, func() bool {
		_, err := os.Lstat(path)
		return errors.Is(err, fs.ErrNotExist)
	}); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CleanOptions selects what Clean removes.
type CleanOptions struct {
	// Prefix limits cleaning to one run and cleans it even when its owner
	// is alive (a runner is killed first). Empty: every run whose owner
	// process is gone.
	Prefix   string
	StateDir string // default DefaultStateDir
}

// CleanReport says what Clean did.
type CleanReport struct {
	Runs       []string // prefixes cleaned
	Skipped    []string // prefixes left alone because their owner runs
	Namespaces int
	Killed     []int // runner PIDs killed
	HostLinks  int
}

// Runs lists the run prefixes with a namespace or a state file.
func Runs(stateDir string) (map[string][]string, map[string]*State, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir
	}
	spaces := map[string][]string{}
	ents, err := os.ReadDir(NetnsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	for _, e := range ents {
		if p := RunPrefixOf(e.Name()); p != "" {
			spaces[p] = append(spaces[p], e.Name())
		}
	}
	states := map[string]*State{}
	sts, err := ListStates(stateDir)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range sts {
		states[s.Prefix] = s
		if _, ok := spaces[s.Prefix]; !ok {
			spaces[s.Prefix] = nil
		}
	}
	return spaces, states, nil
}

// Alive reports whether pid is a live process. A zombie (killed, not yet
// reaped by a parent that may never reap it) is not alive: its fds are
// closed and it holds nothing.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	// The state follows the parenthesised command name, which may itself
	// contain spaces and parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		switch stat[i+2] {
		case 'Z', 'X':
			return false
		}
	}
	return true
}

// isRunner reports whether pid is an `oobtb topo` runner for prefix: its
// command line names the prefix. Only such processes are ever killed.
func isRunner(pid int, prefix string) bool {
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(cmd, []byte(prefix))
}

// Clean removes what runs left behind: namespaces (with their TAPs and
// bridges), host links carrying the prefix (there should never be any),
// state files, and with an explicit prefix the run's runner process.
func Clean(o CleanOptions) (*CleanReport, error) {
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.Prefix != "" {
		if err := checkPrefix(o.Prefix); err != nil {
			return nil, err
		}
	}
	spaces, states, err := Runs(o.StateDir)
	if err != nil {
		return nil, err
	}
	rep := &CleanReport{}
	var errs []error
	prefixes := make([]string, 0, len(spaces))
	for p := range spaces {
		prefixes = append(prefixes, p)
	}
	if o.Prefix != "" {
		prefixes = []string{o.Prefix}
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		st := states[p]
		if st != nil && st.PID != os.Getpid() && Alive(st.PID) {
			if o.Prefix == "" {
				rep.Skipped = append(rep.Skipped, p)
				continue
			}
			if isRunner(st.PID, p) {
				_ = syscall.Kill(st.PID, syscall.SIGKILL)
				if err := poll(fmt.Sprintf("runner %d", st.PID), func() bool { return !Alive(st.PID) }); err != nil {
					errs = append(errs, err)
				}
				rep.Killed = append(rep.Killed, st.PID)
			}
		}
		names := spaces[p]
		if st != nil {
			for _, n := range st.Namespaces {
				if _, err := os.Lstat(filepath.Join(NetnsDir, n)); err == nil && !contains(names, n) {
					names = append(names, n)
				}
			}
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		sem := make(chan struct{}, 8)
		ids := map[int]string{}
		for _, n := range names {
			if id := nsidOfPath(filepath.Join(NetnsDir, n)); id >= 0 {
				ids[id] = n
			}
		}
		for _, n := range names {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				err := teardownSpace(n, nil, vnetns.None(), nil)
				mu.Lock()
				defer mu.Unlock()
				rep.Namespaces++
				if err != nil {
					errs = append(errs, err)
				}
			}()
		}
		wg.Wait()
		if err := waitDestroyed(ids); err != nil {
			errs = append(errs, err)
		}
		if links, err := netlink.LinkList(); err == nil {
			for _, l := range links {
				if strings.Contains(l.Attrs().Name, p[len(NamePrefix):]) && strings.HasPrefix(l.Attrs().Name, "oob") {
					if err := netlink.LinkDel(l); err == nil {
						rep.HostLinks++
					}
				}
			}
		}
		for _, f := range []string{StatePath(o.StateDir, p), filepath.Join(o.StateDir, p+".sock"), filepath.Join(o.StateDir, p+".log")} {
			if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		rep.Runs = append(rep.Runs, p)
	}
	return rep, errors.Join(errs...)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Leftovers lists what of a run is still visible: /run/netns entries and
// host links whose name carries the prefix. Tests assert it is empty.
func Leftovers(prefix string) []string {
	var out []string
	ents, _ := os.ReadDir(NetnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, filepath.Join(NetnsDir, e.Name()))
		}
	}
	if links, err := netlink.LinkList(); err == nil {
		for _, l := range links {
			if strings.Contains(l.Attrs().Name, prefix[len(NamePrefix):]) {
				out = append(out, "link "+l.Attrs().Name)
			}
		}
	}
	return out
}
