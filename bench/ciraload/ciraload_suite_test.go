package ciraload_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/bench/ciraload"
	"github.com/oobtb/oobtb/internal/leakcheck"
)

// The test binary doubles as a worker and as a coordinator process (the
// role the oobtb CLI plays), selected by this variable.
const roleEnv = "OOBTB_CIRALOAD_TEST_ROLE"

// parentEnv carries a coordinator's configuration (JSON parentConfig).
const parentEnv = "OOBTB_CIRALOAD_TEST_PARENT"

type parentConfig struct {
	Target string        `json:"target"`
	CAFile string        `json:"ca_file"`
	Count  int           `json:"count"`
	Procs  int           `json:"procs"`
	Hold   time.Duration `json:"hold"`
}

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "worker":
		signal.Ignore(os.Interrupt)
		if err := ciraload.WorkerMain(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	case "parent":
		os.Exit(parentMain())
	}
	leakcheck.VerifyTestMain(m)
}

// parentMain is a coordinator run as the CLI runs it: SIGINT cancels,
// errors print and exit 1.
func parentMain() int {
	var pc parentConfig
	if err := json.Unmarshal([]byte(os.Getenv(parentEnv)), &pc); err != nil {
		fmt.Fprintln(os.Stderr, "parent config:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := ciraload.Config{Target: pc.Target, Count: pc.Count, Procs: pc.Procs, Hold: pc.Hold,
		WorkerCommand: workerCommand, Progress: os.Stderr}
	if pc.CAFile != "" {
		pem, err := os.ReadFile(pc.CAFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		cfg.CAPEM = pem
	} else {
		cfg.Insecure = true
	}
	res, err := ciraload.Run(ctx, cfg)
	if res != nil {
		res.WriteSummary(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ciraload:", err)
		return 1
	}
	return 0
}

func workerCommand() *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"=worker")
	return cmd
}

func TestCiraload(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "ciraload")
}
