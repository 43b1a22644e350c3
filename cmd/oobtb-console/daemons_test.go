package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// daemon is a started process of one of the built binaries.
type daemon struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// stop ends the process: SIGTERM, then SIGKILL after 5 s.
func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// await waits until the output matches re and returns the submatches.
func (d *daemon) await(re string) []string {
	rx := regexp.MustCompile(re)
	var m []string
	EventuallyWithOffset(1, func() []string {
		m = rx.FindStringSubmatch(d.out.String())
		return m
	}, "20s", "50ms").ShouldNot(BeNil(), "%s never printed %q (its output follows the failure)", d.name, re)
	return m
}

var _ = Describe("the four daemons as processes on loopback", Ordered, func() {
	const (
		dev1 = "5e551011-0000-4000-8000-0000000000d1"
		dev2 = "5e551011-0000-4000-8000-0000000000d2"
	)
	var (
		bin, work string
		daemons   []*daemon
		api, tok  string
		gw        *daemon
	)

	// start runs a binary until the spec's end (or stop).
	start := func(name string, args ...string) *daemon {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = work
		d := &daemon{name: name, cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
		cmd.Stdout, cmd.Stderr = d.out, d.out
		Expect(cmd.Start()).To(Succeed())
		go func() { _ = cmd.Wait(); close(d.done) }()
		daemons = append(daemons, d)
		return d
	}
	// oneShot runs a binary to completion within 60 s.
	oneShot := func(name string, args ...string) (string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
		cmd.Dir = work
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	// session runs an oobtb-console KVM session and decodes its report.
	session := func(args ...string) (map[string]any, error) {
		out, errb, err := oneShot("oobtb-console", append([]string{"--server", api, "--token", tok}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("%v: %s", err, errb)
		}
		var rep map[string]any
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			return nil, fmt.Errorf("report %q: %v (stderr %s)", out, err, errb)
		}
		return rep, nil
	}

	BeforeAll(func() {
		if testing.Short() {
			Skip("builds four binaries (-short)")
		}
		bin, work = GinkgoT().TempDir(), GinkgoT().TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		build := exec.CommandContext(ctx, "go", "build", "-o", bin+string(os.PathSeparator),
			"github.com/oobtb/oobtb/cmd/oobtb-server", "github.com/oobtb/oobtb/cmd/oobtb-gateway",
			"github.com/oobtb/oobtb/cmd/oobtb-vmc", "github.com/oobtb/oobtb/cmd/oobtb-console")
		b, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "go build: %s", b)
		DeferCleanup(func() {
			for i := len(daemons) - 1; i >= 0; i-- {
				daemons[i].stop()
			}
			if CurrentSpecReport().Failed() {
				for _, d := range daemons {
					GinkgoWriter.Printf("--- %s\n%s\n", d.name, d.out.String())
				}
			}
		})
	})

	It("enrols two devices and a gateway, then runs the server, the gateway and a vMC that learns the gateway by DHCP", func() {
		for i, u := range []string{dev1, dev2} {
			out, errb, err := oneShot("oobtb-server", "device", "add", "--data", "srv", "--uuid", u,
				"--user", fmt.Sprintf("dev%d", i+1), "--pass", "cira-secret", "--amt-pass", "P@ssw0rd")
			Expect(err).NotTo(HaveOccurred(), errb)
			Expect(out).To(ContainSubstring("enrolled " + u))
		}
		out, errb, err := oneShot("oobtb-server", "device", "list", "--data", "srv", "--json")
		Expect(err).NotTo(HaveOccurred(), errb)
		var listed []struct {
			UUID  string `json:"uuid"`
			State string `json:"state"`
		}
		Expect(json.Unmarshal([]byte(out), &listed)).To(Succeed(), out)
		Expect(listed).To(HaveLen(2))
		Expect([]string{listed[0].UUID, listed[1].UUID}).To(ConsistOf(dev1, dev2))
		Expect(listed[0].State).To(Equal("enrolled"))
		out, errb, err = oneShot("oobtb-server", "gateway", "add", "--data", "srv", "--id", "gw-edge-1")
		Expect(err).NotTo(HaveOccurred(), errb)
		enrol := strings.TrimSpace(out)
		Expect(enrol).To(MatchRegexp(`^gw-edge-1~\S{20,}$`))

		srv := start("oobtb-server", "serve", "--data", "srv", "--cira-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
			"--gateway-listen", "127.0.0.1:0", "--gateway-heartbeat", "1s")
		cira := srv.await(`CIRA on (127\.0\.0\.1:\d+)`)[1]
		api = srv.await(`API on (http://127\.0\.0\.1:\d+)/api/v1`)[1]
		ctl := srv.await(`gateway control channel on (127\.0\.0\.1:\d+)`)[1]
		t, err := os.ReadFile(filepath.Join(work, "srv", "admin.token"))
		Expect(err).NotTo(HaveOccurred())
		tok = strings.TrimSpace(string(t))

		gw = start("oobtb-gateway", "--server", ctl, "--ca", "srv/ca.crt", "--enrol-token", enrol, "--data", "gw",
			"--lan-mps", "127.0.0.1:0", "--wan-listen", "127.0.0.1:0", "--udi", "GW-0001", "--domain", "lan.oobtb.test",
			"--dhcp-listen", "127.0.0.1:0", "--dhcp-pool", "127.0.0.100-127.0.0.199", "--dhcp-prefix", "8", "--mdns-listen", "127.0.0.1:0")
		up := gw.await(`gateway up" id=gw-edge-1 .*dhcp=(127\.0\.0\.1:\d+) mdns=(127\.0\.0\.1:\d+)`)
		dhcp, mdns := up[1], up[2]
		Expect(oneShot("oobtb-server", "gateway", "list", "--data", "srv")).To(MatchRegexp(`gw-edge-1\s+true\s+true`))
		out, errb, err = oneShot("oobtb-server", "gateway", "list", "--data", "srv", "--json")
		Expect(err).NotTo(HaveOccurred(), errb)
		Expect(out).To(MatchRegexp(`(?s)^\[\s*\{.*"id": "gw-edge-1"`))

		v1 := start("oobtb-vmc", "--server", cira, "--ca", "srv/ca.crt", "--ca", "gw/lan/ca.crt", "--uuid", dev1, "--user", "dev1",
			"--pass", "cira-secret", "--amt-pass", "P@ssw0rd", "--workload", "terminal", "--resolution", "640x480", "--gateway-dhcp", dhcp)
		v1.await(`gateway learned by DHCP".*domain=lan\.oobtb\.test`)
		v1.await(`CIRA tunnel up" uuid=` + dev1)
		v2 := start("oobtb-vmc", "--server", cira, "--ca", "srv/ca.crt", "--ca", "gw/lan/ca.crt", "--uuid", dev2, "--user", "dev2",
			"--pass", "cira-secret", "--amt-pass", "P@ssw0rd", "--workload", "terminal", "--resolution", "640x480",
			"--trigger", "user", "--gateway-mdns", mdns)
		v2.await(`gateway learned by DNS-SD`)
		v2.await(`CIRA tunnel up" uuid=` + dev2 + ` .*trigger=user-initiated`)
	})

	It("runs a direct session peer to peer through the gateway, with a screenshot and typed text", func() {
		png := filepath.Join(work, "out.png")
		var rep map[string]any
		// The device reports its gateway just after its tunnel is up.
		Eventually(func() (string, error) {
			var err error
			rep, err = session("session", dev1, "--pass", "P@ssw0rd", "--type", "hello", "--screenshot", png, "--stats", "json")
			if err != nil {
				return "", err
			}
			return rep["path"].(string), nil
		}, "20s", "500ms").Should(Equal("direct"))
		Expect(rep["gatewayId"]).To(Equal("gw-edge-1"))
		st := rep["stats"].(map[string]any)
		Expect(st["width"]).To(BeEquivalentTo(640))
		Expect(st["inputs"].(map[string]any)["seen"]).To(BeEquivalentTo(10))
		fi, err := os.Stat(png)
		Expect(err).NotTo(HaveOccurred())
		Expect(fi.Size()).To(BeNumerically(">", 1000))
	})

	It("lists the user-initiated vMC's help request and accepts it into a gateway-assisted session", func() {
		var id string
		Eventually(func() (string, error) {
			out, errb, err := oneShot("oobtb-console", "--server", api, "--token", tok, "help-requests", "--json")
			if err != nil {
				return "", fmt.Errorf("%v: %s", err, errb)
			}
			var reqs []struct{ ID, DeviceUUID, State string }
			if err := json.Unmarshal([]byte(out), &reqs); err != nil {
				return "", err
			}
			for _, r := range reqs {
				if r.DeviceUUID == dev2 && r.State == "open" {
					id = r.ID
				}
			}
			return id, nil
		}, "10s", "200ms").ShouldNot(BeEmpty())
		rep, err := session("accept", id, "--pass", "P@ssw0rd", "--type", "hi", "--stats", "json")
		Expect(err).NotTo(HaveOccurred())
		Expect(rep["device"]).To(Equal(dev2))
		Expect(rep["path"]).To(BeElementOf("direct", "relay"))
		out, _, err := oneShot("oobtb-console", "--server", api, "--token", tok, "help-requests", "--state", "accepted")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring(id))
	})

	It("falls back to the classic relayed session, with the reason, when the gateway is stopped", func() {
		gw.stop()
		Eventually(func() (string, error) {
			rep, err := session("session", dev1, "--type", "bye", "--stats", "json")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%s: %s", rep["path"], rep["why"]), nil
		}, "20s", "500ms").Should(MatchRegexp(`^classic: gateway offline: gw-edge-1 \(control channel up false`))
	})
})
