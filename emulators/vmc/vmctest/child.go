package vmctest

import (
	"bufio"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/oobtb/oobtb/emulators/pki"
)

// ChildEnv marks a test binary started as a child MPS.
const ChildEnv = "OOBTB_VMCTEST_CHILD_MPS"

// IsChild reports whether this process was started by StartChildMPS.
func IsChild() bool { return os.Getenv(ChildEnv) != "" }

// ServeChild runs an MPS for a parent process: it prints its address and CA
// certificate, answers "ready" with the number of ready tunnels, and stops
// when its input ends. A test binary calls it from a test the parent selects
// with -test.run, so the parent's memory figures hold the devices alone.
func ServeChild(in io.Reader, out io.Writer, user, pass string) error {
	ca, err := pki.NewCA(pki.CAOptions{})
	if err != nil {
		return err
	}
	m, err := StartMPS(MPSConfig{CA: ca, User: user, Pass: pass})
	if err != nil {
		return err
	}
	defer m.Close()
	fmt.Fprintf(out, "vmctest-addr %s\nvmctest-ca %s\n", m.Addr(), base64.StdEncoding.EncodeToString(ca.Cert.Raw))
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch sc.Text() {
		case "ready":
			fmt.Fprintf(out, "vmctest-ready %d\n", m.Ready())
		default:
			fmt.Fprintf(out, "vmctest-error unknown command %q\n", sc.Text())
		}
	}
	return sc.Err()
}

// ChildMPS is an MPS in a child process.
type ChildMPS struct {
	Addr  string
	Roots *x509.CertPool
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
}

// StartChildMPS re-runs the current test binary with -test.run=runPattern
// (a test that calls ServeChild when IsChild) and waits for its address.
func StartChildMPS(runPattern string) (*ChildMPS, error) {
	cmd := exec.Command(os.Args[0], "-test.run="+runPattern, "-test.count=1")
	cmd.Env = append(os.Environ(), ChildEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &ChildMPS{cmd: cmd, in: in, out: bufio.NewScanner(outp)}
	addr, err := c.line("vmctest-addr")
	if err != nil {
		c.Close()
		return nil, err
	}
	ca, err := c.line("vmctest-ca")
	if err != nil {
		c.Close()
		return nil, err
	}
	der, err := base64.StdEncoding.DecodeString(ca)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("vmctest: child CA: %w", err)
	}
	crt, err := x509.ParseCertificate(der)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("vmctest: child CA: %w", err)
	}
	c.Addr, c.Roots = addr, x509.NewCertPool()
	c.Roots.AddCert(crt)
	return c, nil
}

// line reads output lines until one starts with prefix.
func (c *ChildMPS) line(prefix string) (string, error) {
	for c.out.Scan() {
		if v, ok := strings.CutPrefix(c.out.Text(), prefix+" "); ok {
			return v, nil
		}
		if v, ok := strings.CutPrefix(c.out.Text(), "vmctest-error "); ok {
			return "", errors.New("vmctest: child MPS: " + v)
		}
	}
	return "", fmt.Errorf("vmctest: child MPS ended before %q (%v)", prefix, c.out.Err())
}

// Ready asks the child how many tunnels are ready.
func (c *ChildMPS) Ready() (int, error) {
	if _, err := io.WriteString(c.in, "ready\n"); err != nil {
		return 0, err
	}
	v, err := c.line("vmctest-ready")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(v)
}

// WaitReady polls until n tunnels are ready or timeout passes.
func (c *ChildMPS) WaitReady(n int, timeout time.Duration) error {
	end := time.Now().Add(timeout)
	for {
		got, err := c.Ready()
		if err != nil {
			return err
		}
		if got >= n {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("vmctest: %d of %d tunnels ready after %s", got, n, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Close ends the child and waits for it.
func (c *ChildMPS) Close() error {
	c.in.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		return <-done
	}
}
