package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/server"
)

// holdChildEnv makes the test binary a process that, on "go", opens plain
// TCP connections to an address and holds them until its stdin closes. The
// fd-limit spec needs the connecting side outside this process, whose fd
// limit it lowers.
const holdChildEnv = "OOBTB_SERVER_HOLD_CHILD"

func holdChild() {
	f := strings.Split(os.Getenv(holdChildEnv), ",")
	n, _ := strconv.Atoi(f[1])
	in := bufio.NewReader(os.Stdin)
	_, _ = in.ReadString('\n')
	var conns []net.Conn
	for range n {
		c, err := net.DialTimeout("tcp", f[0], 5*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, "hold child:", err)
			break
		}
		conns = append(conns, c)
	}
	fmt.Printf("up %d\n", len(conns))
	_, _ = in.ReadString('\n')
	for _, c := range conns {
		c.Close()
	}
	os.Exit(0)
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	Expect(err).NotTo(HaveOccurred())
	return len(ents)
}

var _ = Describe("At the file-descriptor limit", Serial, func() {
	It("refuses new CIRA connections cleanly while tunnels and the API keep working", func() {
		srv := newServer(GinkgoT().TempDir(), func(c *server.Config) { c.MaxConns = 1 << 20 })
		defer srv.Close()
		enrol(srv, 40)
		enrol(srv, 41)
		a, err := rawDevice(srv.CIRAAddr().String(), srv.CAPool(), uuidN(40), ciraUser(40), ciraPass(40))
		Expect(err).NotTo(HaveOccurred())
		defer a.Close()
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		defer hc.CloseIdleConnections()
		get := func() (int, error) {
			req, _ := http.NewRequest("GET", srv.APIURL()+"/api/v1/devices/"+uuidN(40), nil)
			req.Header.Set("Authorization", "Bearer "+srv.AdminToken())
			resp, err := hc.Do(req)
			if err != nil {
				return 0, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode, nil
		}
		Expect(get()).To(Equal(200))

		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), holdChildEnv+"="+srv.CIRAAddr().String()+",40")
		cmd.Stderr = GinkgoWriter
		stdin, err := cmd.StdinPipe()
		Expect(err).NotTo(HaveOccurred())
		stdout, err := cmd.StdoutPipe()
		Expect(err).NotTo(HaveOccurred())
		Expect(cmd.Start()).To(Succeed())
		defer func() { stdin.Close(); _ = cmd.Wait() }()

		var old syscall.Rlimit
		Expect(syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old)).To(Succeed())
		low := old
		low.Cur = uint64(openFDs() + 4)
		Expect(syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low)).To(Succeed())
		restored := false
		restore := func() {
			if !restored {
				restored = true
				Expect(syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)).To(Succeed())
			}
		}
		defer restore()

		_, err = io.WriteString(stdin, "go\n")
		Expect(err).NotTo(HaveOccurred())
		line, err := bufio.NewReader(stdout).ReadString('\n')
		Expect(err).NotTo(HaveOccurred())
		Expect(line).To(HavePrefix("up 40"))
		Eventually(func() float64 {
			return metric(srv, "oobtb_server_cira_refused_total", map[string]string{"reason": "fd_limit"})
		}, 10*time.Second, 20*time.Millisecond).Should(BeNumerically(">=", 1))

		// Existing tunnel and the API (on its open connection) still work.
		Consistently(a.Done(), 500*time.Millisecond).ShouldNot(BeClosed())
		Expect(get()).To(Equal(200))
		_, ok := srv.Tunnel(uuidN(40))
		Expect(ok).To(BeTrue())

		restore()
		_, _ = io.WriteString(stdin, "close\n")
		// New devices are served again.
		Eventually(func() error {
			c, err := rawDevice(srv.CIRAAddr().String(), srv.CAPool(), uuidN(41), ciraUser(41), ciraPass(41))
			if err == nil {
				c.Close()
			}
			return err
		}, 20*time.Second, 200*time.Millisecond).Should(Succeed())
	})
})
