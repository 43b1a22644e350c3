package vmctest_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/services"
	"github.com/oobtb/oobtb/emulators/vmc/vmctest"
)

const (
	ciraUser = "admin"
	ciraPass = "P@ssw0rd-cira"
	amtUser  = "admin"
	amtPass  = "P@ssw0rd-amt"
	vncPass  = "vncpw123"
)

var ca *pki.CA

var _ = BeforeSuite(func() {
	var err error
	ca, err = pki.NewCA(pki.CAOptions{KeyType: pki.ECDSAP256})
	Expect(err).NotTo(HaveOccurred())
})

func startMPS() *vmctest.MPS {
	m, err := vmctest.StartMPS(vmctest.MPSConfig{CA: ca, KeyType: pki.ECDSAP256, User: ciraUser, Pass: ciraPass})
	Expect(err).NotTo(HaveOccurred())
	return m
}

// spec is one device of the suite: 1080p idle screen, VNC on 5900, a
// one-second periodic policy so a dropped tunnel comes back fast.
func spec(i int, servers ...string) vmc.Spec {
	return vmc.Spec{UUID: vmctest.UUID(i), Servers: servers, User: ciraUser, Pass: ciraPass,
		AMTUser: amtUser, AMTPass: amtPass, RFBPassword: vncPass, Seed: uint64(i + 1), PeriodicInterval: "1"}
}

func deps() vmc.Deps {
	return vmc.Deps{RootCAs: ca.Pool(), Services: func(h *host.Host) map[uint32]vmc.Service { return services.For(h) }}
}

// build makes and starts one device; it is stopped at the end of the spec.
func build(s vmc.Spec) *vmc.Device {
	d, err := vmc.Build(s, deps())
	Expect(err).NotTo(HaveOccurred())
	d.Start()
	DeferCleanup(d.Stop)
	return d
}

// wsmanServed reports whether services.For serves WS-MAN on 16992 in this
// tree (the service is assembled there by the WS-MAN work).
func wsmanServed() bool { return served(16992) }

// served reports whether services.For serves port (with 5900 enabled).
func served(port uint32) bool {
	st := host.DefaultSettings()
	st.Is5900PortEnabled, st.RFBPassword = true, vncPass
	h, err := host.New(host.Config{Identity: host.Identity{UUID: vmctest.UUID(0), AMTPass: amtPass}, Settings: st})
	Expect(err).NotTo(HaveOccurred())
	defer h.Close()
	_, ok := services.For(h)[port]
	return ok
}

func openChannel(c *cira.Conn, port uint32) *cira.Channel {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := c.OpenChannel(ctx, port, "127.0.0.1", 40000)
	Expect(err).NotTo(HaveOccurred(), "opening a channel to port %d", port)
	return ch
}

// readAll reads until the device closes the channel (bounded).
func readAll(ch net.Conn) (string, error) {
	_ = ch.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(ch)
	return string(b), err
}

// wsmanStatus sends one unauthenticated WS-MAN request, as every management
// server's first contact does, and returns the HTTP status line.
func wsmanStatus(ch net.Conn) string {
	body := `<?xml version="1.0" encoding="UTF-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope"><Header/><Body/></Envelope>`
	req := fmt.Sprintf("POST /wsman HTTP/1.1\r\nHost: 127.0.0.1:16992\r\nContent-Type: application/soap+xml; charset=UTF-8\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	_, err := ch.Write([]byte(req))
	Expect(err).NotTo(HaveOccurred())
	_ = ch.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(got), "\r\n") {
		n, err := ch.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	line, _, _ := strings.Cut(string(got), "\r\n")
	return line
}

const generalSettingsGet = `<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:To>/wsman</a:To><w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</w:ResourceURI><a:MessageID>1</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout></Header><Body></Body></Envelope>`

// wsmanRequest sends a Get of AMT_GeneralSettings with an optional
// Authorization header and returns the response head (status line and
// headers).
func wsmanRequest(ch net.Conn, authz string) string {
	hdr := ""
	if authz != "" {
		hdr = "Authorization: " + authz + "\r\n"
	}
	req := fmt.Sprintf("POST /wsman HTTP/1.1\r\nHost: 127.0.0.1:16992\r\n%sContent-Type: application/soap+xml; charset=UTF-8\r\nContent-Length: %d\r\n\r\n%s",
		hdr, len(generalSettingsGet), generalSettingsGet)
	_, err := ch.Write([]byte(req))
	Expect(err).NotTo(HaveOccurred())
	_ = ch.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(got), "\r\n\r\n") {
		n, err := ch.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	head, _, _ := strings.Cut(string(got), "\r\n\r\n")
	return head
}

// header returns the value of header name in an HTTP response head.
func header(head, name string) string {
	for _, l := range strings.Split(head, "\r\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
