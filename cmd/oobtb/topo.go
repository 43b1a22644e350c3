package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/oobtb/oobtb/sim/clock"
	"github.com/oobtb/oobtb/topology"
	"github.com/oobtb/oobtb/topology/capture"
	"github.com/oobtb/oobtb/topology/linkemu"
	"github.com/oobtb/oobtb/topology/netns"
)

var topoStateDir string

func init() {
	topo := &cobra.Command{
		Use:   "topo",
		Short: "Bring emulated LAN/WAN topologies up and down in network namespaces",
	}
	topo.PersistentFlags().StringVar(&topoStateDir, "state-dir", netns.DefaultStateDir, "where run state files live")

	var prefix string
	var foreground bool
	var wait time.Duration
	up := &cobra.Command{
		Use:   "up FILE",
		Short: "Start a detached runner that brings FILE's topology up and keeps its links running",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := topology.LoadFile(args[0])
			if err != nil {
				return err
			}
			if err := netns.Preflight(); err != nil {
				return err
			}
			if prefix == "" {
				prefix = netns.NewPrefix()
			}
			if foreground {
				return runTopology(cmd.Context(), spec, prefix, nil)
			}
			return startRunner(cmd.OutOrStdout(), args[0], prefix, wait)
		},
	}
	up.Flags().StringVar(&prefix, "prefix", "", "run prefix oobtb-<6 hex> (default: random)")
	up.Flags().BoolVar(&foreground, "foreground", false, "run in this process until interrupted")
	up.Flags().DurationVar(&wait, "wait", time.Minute, "how long to wait for the runner to be ready")

	run := &cobra.Command{
		Use:    "__run FILE PREFIX",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ready := os.NewFile(3, "ready")
			spec, err := topology.LoadFile(args[0])
			if err != nil {
				fmt.Fprintf(ready, "error: %v\n", err)
				return err
			}
			return runTopology(cmd.Context(), spec, args[1], ready)
		},
	}

	down := &cobra.Command{
		Use:   "down [PREFIX]",
		Short: "Stop a run's runner and remove everything it created",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := pickRun(args)
			if err != nil {
				return err
			}
			if netns.Alive(st.PID) && st.PID != os.Getpid() {
				_ = syscall.Kill(st.PID, syscall.SIGTERM)
				deadline := time.Now().Add(30 * time.Second)
				for netns.Alive(st.PID) && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
			}
			// Whatever the runner left (or all of it, if it was gone).
			rep, err := netns.Clean(netns.CleanOptions{Prefix: st.Prefix, StateDir: topoStateDir})
			if err != nil {
				return err
			}
			_ = os.Remove(filepath.Join(topoStateDir, st.Prefix+".log"))
			fmt.Fprintf(cmd.OutOrStdout(), "%s down (%d leftover namespaces removed)\n", st.Prefix, rep.Namespaces)
			return nil
		},
	}

	show := &cobra.Command{
		Use:   "show [PREFIX]",
		Short: "List running topologies, their nodes and addresses",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			states, err := netns.ListStates(topoStateDir)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			for _, st := range states {
				if len(args) == 1 && st.Prefix != args[0] {
					continue
				}
				status := "running"
				if !netns.Alive(st.PID) {
					status = "orphaned (run `oobtb clean`)"
				}
				fmt.Fprintf(w, "%s\t%s\tpid %d\t%s\t%s\n", st.Prefix, st.Name, st.PID, status, st.File)
				for _, n := range st.Nodes {
					var ifs []string
					for _, i := range n.Ifaces {
						ifs = append(ifs, i.Name+"="+i.Address)
					}
					fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", n.Name, n.Role, n.NS, strings.Join(ifs, " "))
				}
				for _, l := range st.Links {
					fmt.Fprintf(w, "  link %s\t%s <-> %s\n", l.Name, l.A, l.B)
				}
			}
			return w.Flush()
		},
	}

	var execPrefix string
	execCmd := &cobra.Command{
		Use:   "exec NODE -- CMD [ARGS...]",
		Short: "Run a command inside a node's network namespace",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var sel []string
			if execPrefix != "" {
				sel = []string{execPrefix}
			}
			st, err := pickRun(sel)
			if err != nil {
				return err
			}
			n := st.Node(args[0])
			if n == nil {
				return fmt.Errorf("topo exec: run %s has no node %q", st.Prefix, args[0])
			}
			return execIn(filepath.Join(netns.NetnsDir, n.NS), args[1:])
		},
	}
	execCmd.Flags().StringVar(&execPrefix, "prefix", "", "run prefix (needed when several runs are up)")

	var capPrefix, capOut string
	var capDur time.Duration
	capture := &cobra.Command{
		Use:   "capture LINK|NODE --out FILE",
		Short: "Write pcapng of a link, or of every link of a node, from the running emulators",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var sel []string
			if capPrefix != "" {
				sel = []string{capPrefix}
			}
			st, err := pickRun(sel)
			if err != nil {
				return err
			}
			return captureFromRunner(cmd.Context(), st, args[0], capOut, capDur)
		},
	}
	capture.Flags().StringVar(&capPrefix, "prefix", "", "run prefix (needed when several runs are up)")
	capture.Flags().StringVar(&capOut, "out", "", "pcapng file to write")
	capture.Flags().DurationVar(&capDur, "duration", 0, "stop after this long (default: until interrupted)")
	_ = capture.MarkFlagRequired("out")

	topo.AddCommand(up, run, down, show, execCmd, capture)
	root.AddCommand(topo)
}

// pickRun finds the run named by args[0], or the only run.
func pickRun(args []string) (*netns.State, error) {
	if len(args) == 1 && args[0] != "" {
		st, err := netns.ReadState(topoStateDir, args[0])
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no run %s in %s", args[0], topoStateDir)
		}
		return st, err
	}
	states, err := netns.ListStates(topoStateDir)
	if err != nil {
		return nil, err
	}
	switch len(states) {
	case 0:
		return nil, fmt.Errorf("no topology is up (no state in %s)", topoStateDir)
	case 1:
		return states[0], nil
	}
	var ps []string
	for _, s := range states {
		ps = append(ps, s.Prefix)
	}
	return nil, fmt.Errorf("several topologies are up (%s): name one", strings.Join(ps, ", "))
}

// startRunner re-executes this binary as a detached runner (own session,
// output to a log file) and waits until it reports ready on fd 3.
func startRunner(out io.Writer, file, prefix string, wait time.Duration) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(topoStateDir, 0o755); err != nil {
		return err
	}
	logPath := filepath.Join(topoStateDir, prefix+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pr.Close()
	cmd := exec.Command(self, "topo", "--state-dir", topoStateDir, "__run", abs, prefix)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return err
	}
	pw.Close()
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	res := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(pr).ReadString('\n')
		res <- strings.TrimSpace(line)
	}()
	select {
	case line := <-res:
		if line != "ok" {
			if line == "" {
				line = "runner exited; see " + logPath
			}
			return fmt.Errorf("topo up: %s", strings.TrimPrefix(line, "error: "))
		}
	case <-time.After(wait):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_, _ = netns.Clean(netns.CleanOptions{Prefix: prefix, StateDir: topoStateDir})
		return fmt.Errorf("topo up: runner not ready after %s; removed", wait)
	}
	fmt.Fprintf(out, "%s up (runner pid %d, log %s)\n", prefix, pid, logPath)
	return nil
}

// runTopology brings spec up, reports readiness, serves the control socket
// and tears down on SIGTERM/SIGINT.
func runTopology(ctx context.Context, spec *topology.Topology, prefix string, ready *os.File) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	sock := filepath.Join(topoStateDir, prefix+".sock")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	t, err := netns.Up(ctx, spec, netns.WithPrefix(prefix), netns.WithStateDir(topoStateDir),
		netns.WithControlSocket(sock), netns.WithLogger(log))
	if err != nil {
		if ready != nil {
			fmt.Fprintf(ready, "error: %v\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		return err
	}
	_ = os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		_ = t.Close()
		if ready != nil {
			fmt.Fprintf(ready, "error: control socket: %v\n", err)
		}
		return err
	}
	go serveControl(l, t, log)
	if ready != nil {
		fmt.Fprintln(ready, "ok")
		_ = ready.Close()
	} else {
		fmt.Printf("%s up; Ctrl-C to tear down\n", prefix)
	}
	sig := <-sigs
	log.Info("tearing down", "signal", sig.String())
	_ = l.Close()
	_ = os.Remove(sock)
	return t.Close()
}

// execIn enters the namespace at path on this (locked) thread and
// replaces the process with argv; execve keeps the calling thread's
// namespace.
func execIn(path string, argv []string) error {
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("topo exec: %w", err)
	}
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("topo exec: setns %s: %w", path, err)
	}
	_ = unix.Close(fd)
	return syscall.Exec(bin, argv, os.Environ())
}

// controlRequest is one line of JSON on the runner's control socket.
type controlRequest struct {
	Op       string        `json:"op"` // "capture"
	Target   string        `json:"target"`
	Duration time.Duration `json:"duration"`
}

func serveControl(l net.Listener, t *netns.Topology, log *slog.Logger) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var req controlRequest
			if err := json.NewDecoder(io.LimitReader(c, 4096)).Decode(&req); err != nil {
				fmt.Fprintf(c, "error: %v\n", err)
				return
			}
			switch req.Op {
			case "capture":
				if err := serveCapture(c, t, req); err != nil {
					log.Warn("capture", "target", req.Target, "err", err)
				}
			default:
				fmt.Fprintf(c, "error: unknown op %q\n", req.Op)
			}
		}()
	}
}

func captureFromRunner(ctx context.Context, st *netns.State, target, out string, d time.Duration) error {
	if st.Control == "" {
		return fmt.Errorf("run %s has no control socket", st.Prefix)
	}
	c, err := net.Dial("unix", st.Control)
	if err != nil {
		return fmt.Errorf("topo capture: runner of %s: %w", st.Prefix, err)
	}
	defer c.Close()
	if err := json.NewEncoder(c).Encode(controlRequest{Op: "capture", Target: target, Duration: d}); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("topo capture: %w", err)
	}
	if line != "ok\n" {
		return fmt.Errorf("topo capture: %s", strings.TrimSpace(strings.TrimPrefix(line, "error: ")))
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
		}
		_ = c.(*net.UnixConn).CloseWrite() // tells the runner to finish the file
	}()
	_, err = io.Copy(f, br)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// serveCapture streams pcapng of target (a link, or every link of a node)
// to c until the duration passes or the client closes its side. Each link
// side is one pcapng interface ("link/node"), so a side shows what its end
// sent and what was delivered to it; drops appear only as the missing
// delivery, duplicates and corrupted copies carry a comment.
func serveCapture(c net.Conn, t *netns.Topology, req controlRequest) error {
	var links []*netns.Link
	if l := t.Link(req.Target); l != nil {
		links = append(links, l)
	} else if n := t.Node(req.Target); n != nil {
		for _, l := range t.Links() {
			if l.A.Node == n.Name || l.B.Node == n.Name {
				links = append(links, l)
			}
		}
	}
	if len(links) == 0 {
		fmt.Fprintf(c, "error: %q is neither a link nor a node with links\n", req.Target)
		return nil
	}
	if _, err := io.WriteString(c, "ok\n"); err != nil {
		return err
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Name+"/"+l.A.Node, l.Name+"/"+l.B.Node)
	}
	w, err := capture.NewWriter(c, clock.Real{}, names...)
	if err != nil {
		return err
	}
	var stops []func()
	for i, l := range links {
		ab, ba := w.Tap(2*i, 2*i+1), w.Tap(2*i+1, 2*i)
		stops = append(stops, l.Tap(func(atob bool, pkt []byte, ev linkemu.Event) {
			if atob {
				ab(pkt, ev)
			} else {
				ba(pkt, ev)
			}
		}))
	}
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, c); close(done) }()
	var timeout <-chan time.Time
	if req.Duration > 0 {
		tm := time.NewTimer(req.Duration)
		defer tm.Stop()
		timeout = tm.C
	}
	flush := time.NewTicker(200 * time.Millisecond)
	defer flush.Stop()
	var werr error
loop:
	for {
		select {
		case <-flush.C:
			if werr = w.Flush(); werr != nil {
				break loop
			}
		case <-timeout:
			break loop
		case <-done:
			break loop
		}
	}
	for _, s := range stops {
		s()
	}
	if err := w.Close(); werr == nil {
		werr = err
	}
	if werr == nil {
		// A frame racing the detach finds the writer closed: not an error.
		if err := w.Err(); !errors.Is(err, capture.ErrClosed) {
			werr = err
		}
	}
	return werr
}
