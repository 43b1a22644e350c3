package ciraload

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/server"
	"github.com/oobtb/oobtb/emulators/server/authtoken"
	"github.com/oobtb/oobtb/emulators/server/registry"
)

// ServerLogFile is the log of a spawned server, in its data directory.
const ServerLogFile = "bench-server.log"

// Enrol writes devices 0…count-1 of cfg (its credentials, or UUIDBase and
// the patterns) straight into the registry in dataDir, for local runs. A
// device already enrolled with that UUID is left as it is (its password must
// then match). It returns how many it added.
func Enrol(ctx context.Context, dataDir string, cfg Config, count int) (int, error) {
	st, err := registry.Open(ctx, registry.Options{Dir: dataDir})
	if err != nil {
		return 0, fmt.Errorf("enrol: registry in %s: %w", dataDir, err)
	}
	defer st.Close()
	return EnrolInto(ctx, st, cfg, count)
}

// EnrolInto is Enrol on an open registry (an in-process server's Store).
func EnrolInto(ctx context.Context, st registry.Store, cfg Config, count int) (int, error) {
	jobs := make(chan int)
	var mu sync.Mutex
	added := 0
	var firstErr error
	var wg sync.WaitGroup
	// Hashing is the cost; SQLite serialises the writes.
	for range max(2, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				d, err := cfg.Device(i)
				if err == nil {
					_, err = st.EnrolDevice(ctx, registry.DeviceEnrolment{UUID: d.UUID, CIRAUser: d.User,
						CIRAPassword: d.Password, AMTPassword: "bench-amt-" + d.Password}, time.Now())
				}
				mu.Lock()
				switch {
				case err == nil:
					added++
				case errors.Is(err, registry.ErrExists):
				case firstErr == nil:
					firstErr = fmt.Errorf("enrol device %d: %w", i, err)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range count {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return added, firstErr
}

// ServerOptions configure a server run for a benchmark.
type ServerOptions struct {
	DataDir     string        `json:"data_dir"`
	MaxConns    int           `json:"max_conns"`    // 0: the fd limit minus the reserve
	IdleTimeout time.Duration `json:"idle_timeout"` // 0: the server's default (90 s)
	// GCPercent, when not 0, is the spawned server's GOGC
	// (debug.SetGCPercent): lower keeps less free heap (RSS) at the price of
	// more collections while connections are accepted. Reported, never
	// implied: the result records it.
	GCPercent int `json:"gc_percent,omitempty"`
	// PprofAddr, when set, serves net/http/pprof there (a loopback
	// address): profile the server during a ramp or a hold.
	PprofAddr string `json:"pprof_addr,omitempty"`
	// FixedProcs keeps GOMAXPROCS at all cores instead of the daemon's
	// default adaptive scheduler (server.Config.AdaptiveProcs).
	FixedProcs bool `json:"fixed_procs,omitempty"`
}

// ServerInfo is what a spawned server reports once it listens.
type ServerInfo struct {
	PID        int    `json:"pid"`
	CIRA       string `json:"cira"`
	API        string `json:"api"`
	CAFile     string `json:"ca_file"`
	AdminToken string `json:"admin_token"`
	MaxConns   int    `json:"max_conns"`
	Log        string `json:"log"`
}

// ServeServer is the child side of SpawnServer: it runs an oobtb server on
// loopback (ephemeral ports) with opts, writes a ServerInfo line to out, and
// serves until in ends or ctx is done. The server logs to ServerLogFile in
// the data directory.
func ServeServer(ctx context.Context, opts ServerOptions, in io.Reader, out io.Writer) error {
	if opts.DataDir == "" {
		return errors.New("bench server: a data directory is required")
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return err
	}
	logPath := filepath.Join(opts.DataDir, ServerLogFile)
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("bench server: log: %w", err)
	}
	defer lf.Close()
	if opts.GCPercent != 0 {
		debug.SetGCPercent(opts.GCPercent)
	}
	if opts.PprofAddr != "" {
		stop, err := servePprof(opts.PprofAddr)
		if err != nil {
			return err
		}
		defer stop()
	}
	srv, err := server.New(server.Config{DataDir: opts.DataDir, CIRAListen: "127.0.0.1:0", APIListen: "127.0.0.1:0",
		MaxConns: opts.MaxConns, IdleTimeout: opts.IdleTimeout, AdaptiveProcs: !opts.FixedProcs,
		Logger: slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		return err
	}
	info := ServerInfo{PID: os.Getpid(), CIRA: srv.CIRAAddr().String(), API: srv.APIURL(), CAFile: srv.CACertPath(),
		AdminToken: srv.AdminToken(), MaxConns: srv.MaxConns(), Log: logPath}
	if err := json.NewEncoder(out).Encode(info); err != nil {
		return err
	}
	go func() {
		_, _ = io.Copy(io.Discard, in)
		cancel()
	}()
	<-ctx.Done()
	return nil
}

// SpawnedServer is a server child process.
type SpawnedServer struct {
	ServerInfo
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	err   error
}

// SpawnServer starts cmd — a command that runs ServeServer on its stdin and
// stdout — and waits (up to a minute) for the server's ServerInfo.
func SpawnServer(ctx context.Context, cmd *exec.Cmd) (*SpawnedServer, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the server (%s): %w", cmd.Path, err)
	}
	s := &SpawnedServer{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	lines := make(chan []byte, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, _ := readLine(br)
		lines <- line
		_, _ = io.Copy(io.Discard, br)
		s.err = cmd.Wait()
		close(s.done)
	}()
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	select {
	case line := <-lines:
		if err := json.Unmarshal(line, &s.ServerInfo); err != nil || s.CIRA == "" {
			s.Stop()
			return nil, fmt.Errorf("the spawned server did not report its addresses (said %q; exit: %v)", truncate(string(line), 200), s.err)
		}
		return s, nil
	case <-t.C:
		s.Stop()
		return nil, errors.New("the spawned server did not start within a minute")
	case <-ctx.Done():
		s.Stop()
		return nil, ctx.Err()
	}
}

// Stop ends the server (stdin closed, then killed after 20 s) and reaps it.
func (s *SpawnedServer) Stop() error {
	_ = s.stdin.Close()
	t := time.NewTimer(20 * time.Second)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	return s.err
}

// AdminTokenFrom reads the admin token a server wrote into its data
// directory ("" when absent).
func AdminTokenFrom(dataDir string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, authtoken.AdminTokenFile))
	if err != nil {
		return ""
	}
	return string(trimNL(b))
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
