package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/coder/websocket"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/cira"
	"github.com/oobtb/oobtb/emulators/pki"
	"github.com/oobtb/oobtb/emulators/server"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/emulators/wire/gwext"
	"github.com/oobtb/oobtb/emulators/wire/redir"
)

var _ = Describe("Server", func() {
	var (
		dir string
		srv *server.Server
		fl  *fleet
	)
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		srv = newServer(dir)
		fl = newFleet()
	})
	AfterEach(func() {
		fl.stop()
		srv.Close()
	})
	online := func(uuid string) func() bool {
		return func() bool { _, ok := srv.Tunnel(uuid); return ok }
	}

	It("holds 200 vMCs and lists them through the paginated API", func() {
		const n = 200
		for i := range n {
			enrol(srv, i)
		}
		for i := range n {
			fl.start(srv.CIRAAddr().String(), srv.CAPool(), i)
		}
		Eventually(func() int { return len(srv.Connected()) }, 90*time.Second, 100*time.Millisecond).Should(Equal(n))
		var seen []string
		after := ""
		for {
			var page server.DeviceList
			Expect(api(srv, "GET", "/api/v1/devices?limit=64&after="+after, nil, &page)).To(Equal(200))
			for _, d := range page.Devices {
				Expect(d.Online).To(BeTrue(), d.UUID)
				seen = append(seen, d.UUID)
			}
			if page.Next == "" {
				break
			}
			after = page.Next
		}
		Expect(seen).To(HaveLen(n))
		Expect(sort.StringsAreSorted(seen)).To(BeTrue())
		// The gauge follows the live table (a loaded machine may cycle a tunnel meanwhile).
		Eventually(func() bool {
			return metric(srv, "oobtb_server_cira_devices_connected", nil) == float64(len(srv.Connected()))
		}).Should(BeTrue())
		// The registry has each device's registration.
		Eventually(func() []registry.BoundPort {
			d, err := srv.Store().GetDevice(context.Background(), uuidN(7))
			Expect(err).NotTo(HaveOccurred())
			return d.BoundPorts
		}, 30*time.Second).Should(ContainElement(registry.BoundPort{Port: 16992}))
		d, err := srv.Store().GetDevice(context.Background(), uuidN(7))
		Expect(err).NotTo(HaveOccurred())
		Expect(d.State).To(Equal(registry.StateConnected)) // written before the ports
		Expect(d.LastTrigger).NotTo(BeEmpty())
		Expect(d.Failover.Summary).To(HavePrefix("present"))
	})

	It("enrols over the API, refuses wrong CIRA credentials and unknown devices with audit and metrics", func() {
		var dev server.DeviceView
		Expect(api(srv, "POST", "/api/v1/devices", server.EnrolRequest{UUID: strings.ToUpper(uuidN(1)),
			CIRAUser: ciraUser(1), CIRAPass: ciraPass(1), AMTPass: amtPass}, &dev)).To(Equal(201))
		Expect(dev.UUID).To(Equal(uuidN(1)))
		var apiErr server.APIError
		Expect(api(srv, "POST", "/api/v1/devices", server.EnrolRequest{UUID: uuidN(1), CIRAUser: "x", CIRAPass: "y", AMTPass: "z"}, &apiErr)).To(Equal(409))
		Expect(apiErr.Code).To(Equal("exists"))
		Expect(api(srv, "POST", "/api/v1/devices", map[string]string{"uuid": "nope"}, &apiErr)).To(Equal(400))
		Expect(apiTok(srv, "", "GET", "/api/v1/devices", nil, &apiErr)).To(Equal(401))
		Expect(apiTok(srv, "oobtb-admin-wrong", "GET", "/api/v1/devices", nil, &apiErr)).To(Equal(401))
		Expect(metric(srv, "oobtb_server_auth_failures_total", map[string]string{"kind": "api"})).To(BeNumerically(">=", 2))

		_, err := rawDevice(srv.CIRAAddr().String(), srv.CAPool(), uuidN(1), ciraUser(1), "wrong")
		Expect(err).To(HaveOccurred())
		Expect(srv.Flush(context.Background())).To(Succeed()) // tunnel events are written asynchronously
		Expect(metric(srv, "oobtb_server_auth_failures_total", map[string]string{"kind": "cira"})).To(BeNumerically(">=", 1))
		var audit server.AuditList
		Expect(api(srv, "GET", "/api/v1/audit?action=cira.auth&subject="+uuidN(1), nil, &audit)).To(Equal(200))
		Expect(audit.Records).NotTo(BeEmpty())
		Expect(audit.Records[0].Outcome).To(Equal("refused"))
		Expect(string(audit.Records[0].Details)).NotTo(ContainSubstring("wrong"))

		_, err = rawDevice(srv.CIRAAddr().String(), srv.CAPool(), uuidN(99), "u", "p")
		Expect(err).To(HaveOccurred())
		Expect(metric(srv, "oobtb_server_cira_refused_total", map[string]string{"reason": "unknown_device"})).To(BeNumerically(">=", 1))
		_, known := srv.Tunnel(uuidN(99))
		Expect(known).To(BeFalse())

		c, err := rawDevice(srv.CIRAAddr().String(), srv.CAPool(), uuidN(1), ciraUser(1), ciraPass(1))
		Expect(err).NotTo(HaveOccurred())
		defer c.Close()
		Eventually(online(uuidN(1))).Should(BeTrue())
		Expect(api(srv, "GET", "/api/v1/devices/"+uuidN(1), nil, &dev)).To(Equal(200))
		Expect(dev.Online).To(BeTrue())
		Expect(dev.Extension).To(Equal("absent")) // the bare device role sends zeros
		Expect(api(srv, "DELETE", "/api/v1/devices/"+uuidN(1), nil, nil)).To(Equal(204))
		Eventually(c.Done(), 10*time.Second).Should(BeClosed())
		Expect(api(srv, "GET", "/api/v1/devices/"+uuidN(1), nil, &apiErr)).To(Equal(404))
		Expect(apiErr.Code).To(Equal("not_found"))
	})

	It("replaces the old connection when the same UUID connects again", func() {
		enrol(srv, 3)
		a, err := rawDevice(srv.CIRAAddr().String(), srv.CAPool(), uuidN(3), ciraUser(3), ciraPass(3))
		Expect(err).NotTo(HaveOccurred())
		defer a.Close()
		Eventually(online(uuidN(3))).Should(BeTrue())
		b, err := rawDevice(srv.CIRAAddr().String(), srv.CAPool(), uuidN(3), ciraUser(3), ciraPass(3))
		Expect(err).NotTo(HaveOccurred())
		defer b.Close()
		Eventually(a.Done(), 10*time.Second).Should(BeClosed())
		Consistently(b.Done(), 300*time.Millisecond).ShouldNot(BeClosed())
		t, ok := srv.Tunnel(uuidN(3))
		Expect(ok).To(BeTrue())
		Expect(t.Conn()).NotTo(BeNil())
		Expect(srv.Connected()).To(HaveLen(1))
		// The old tunnel's end does not mark the device disconnected.
		Expect(srv.Flush(context.Background())).To(Succeed())
		Consistently(func() registry.DeviceState {
			d, _ := srv.Store().GetDevice(context.Background(), uuidN(3))
			return d.State
		}, 500*time.Millisecond).Should(Equal(registry.StateConnected))
	})

	It("answers the gateway extension only to devices that carry it and stores gateway-info", func() {
		enrol(srv, 4)
		enrol(srv, 5)
		enrol(srv, 6)
		fl.start(srv.CIRAAddr().String(), srv.CAPool(), 4)
		fl.start(srv.CIRAAddr().String(), srv.CAPool(), 5, func(s *vmc.Spec) { s.Stock = true })
		fl.start(srv.CIRAAddr().String(), srv.CAPool(), 6, func(s *vmc.Spec) { s.Malformed = true })
		for _, i := range []int{4, 5, 6} {
			Eventually(online(uuidN(i)), 20*time.Second).Should(BeTrue())
		}
		t4, _ := srv.Tunnel(uuidN(4))
		Expect(t4.Extension().Presence).To(Equal(gwext.Present))
		Expect(t4.Extension().Answered).To(BeTrue())
		Expect(t4.Extension().Capability().Has(gwext.CapGatewayInfo)).To(BeTrue())
		t5, _ := srv.Tunnel(uuidN(5))
		Expect(t5.Extension().Presence).To(Equal(gwext.Absent))
		Expect(t5.Extension().Answered).To(BeFalse())
		t6, _ := srv.Tunnel(uuidN(6))
		Expect(t6.Extension().Presence).To(Equal(gwext.Malformed))
		Expect(t6.Extension().Err).To(HaveOccurred())
		Expect(t6.Extension().Answered).To(BeFalse())
		// The registry write follows the registration in the live table.
		Eventually(func() string {
			d6, err := srv.Store().GetDevice(context.Background(), uuidN(6))
			Expect(err).NotTo(HaveOccurred())
			return d6.Failover.Summary
		}).Should(HavePrefix("malformed: "))

		// gateway-info@oobtb from a raw tunnel that proved support.
		enrol(srv, 8)
		gw, err := gwext.Endpoint(netipMust("198.18.1.1:4433"))
		Expect(err).NotTo(HaveOccurred())
		mac, _ := gwext.MAC(net.HardwareAddr{2, 0, 0x5e, 0x10, 0, 1})
		req, err := gwext.GatewayInfo{IDs: []gwext.Identifier{gw, mac}, Key: [32]byte{1, 2, 3}}.Request()
		Expect(err).NotTo(HaveOccurred())
		c, err := rawDevice(srv.CIRAAddr().String(), srv.CAPool(), uuidN(8), ciraUser(8), ciraPass(8))
		Expect(err).NotTo(HaveOccurred())
		defer c.Close()
		ok, err := c.Request(context.Background(), req)
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeTrue())
		d8, err := srv.Store().GetDevice(context.Background(), uuidN(8))
		Expect(err).NotTo(HaveOccurred())
		Expect(d8.GatewayIDs).To(ContainElements(
			registry.Identifier{Type: registry.IDIPv4, Value: "198.18.1.1"},
			registry.Identifier{Type: registry.IDPort, Value: "4433"},
			registry.Identifier{Type: registry.IDMAC, Value: "02:00:5e:10:00:01"}))
		t8, _ := srv.Tunnel(uuidN(8))
		Expect(t8.GatewayInfo()).NotTo(BeNil())
	})

	Context("with a connected vMC", func() {
		var uuid string
		BeforeEach(func() {
			enrol(srv, 10)
			enrol(srv, 11)
			uuid = uuidN(10)
			fl.start(srv.CIRAAddr().String(), srv.CAPool(), 10)
			Eventually(online(uuid), 20*time.Second).Should(BeTrue())
		})

		It("reads and changes the power state over WS-MAN with digest and nonce reuse", func() {
			var ps server.PowerState
			Expect(api(srv, "GET", "/api/v1/devices/"+uuid+"/power", nil, &ps)).To(Equal(200))
			Expect(ps.PowerState).To(Equal(2))
			var res server.PowerResult
			Expect(api(srv, "POST", "/api/v1/devices/"+uuid+"/power", server.PowerRequest{Action: "off"}, &res)).To(Equal(200))
			Expect(res.ReturnValue).To(Equal(0))
			Eventually(func() int {
				Expect(api(srv, "GET", "/api/v1/devices/"+uuid+"/power", nil, &ps)).To(Equal(200))
				return ps.PowerState
			}, 20*time.Second, 200*time.Millisecond).ShouldNot(Equal(2))
			Expect(api(srv, "POST", "/api/v1/devices/"+uuid+"/power", server.PowerRequest{Action: "on"}, &res)).To(Equal(200))
			Eventually(func() int {
				Expect(api(srv, "GET", "/api/v1/devices/"+uuid+"/power", nil, &ps)).To(Equal(200))
				return ps.PowerState
			}, 20*time.Second, 200*time.Millisecond).Should(Equal(2))
			var apiErr server.APIError
			Expect(api(srv, "POST", "/api/v1/devices/"+uuid+"/power", server.PowerRequest{Action: "explode"}, &apiErr)).To(Equal(400))
			Expect(apiErr.Error).To(ContainSubstring("cycle"))
			Expect(api(srv, "GET", "/api/v1/devices/"+uuidN(11)+"/power", nil, &apiErr)).To(Equal(409))
			Expect(apiErr.Code).To(Equal("not_connected"))
			// One 401 for the very first request; afterwards the nonce is
			// reused with increasing nc across channels and API calls.
			Expect(metric(srv, "oobtb_server_wsman_requests_total", map[string]string{"status": "401"})).To(BeNumerically("==", 1))
			Expect(metric(srv, "oobtb_server_wsman_requests_total", map[string]string{"status": "200"})).To(BeNumerically(">", 6))
		})

		It("reads an inventory and settings that match the vMC's configuration", func() {
			id := fl.host(uuid).Identity()
			var inv server.Inventory
			Expect(api(srv, "GET", "/api/v1/devices/"+uuid+"/inventory", nil, &inv)).To(Equal(200))
			Expect(inv.AMTVersion).To(Equal(id.AMTVersion))
			Expect(inv.Classes["CIM_Chassis"]).To(HaveLen(1))
			Expect(inv.Classes["CIM_Chassis"][0]).To(HaveKeyWithValue("Manufacturer", id.Manufacturer))
			Expect(inv.Classes["CIM_BIOSElement"][0]).To(HaveKeyWithValue("Version", id.BIOSVersion))
			Expect(inv.Classes["CIM_Processor"]).NotTo(BeEmpty())
			Expect(inv.Classes["AMT_EthernetPortSettings"]).NotTo(BeEmpty())
			Expect(strings.ToLower(inv.Classes["AMT_EthernetPortSettings"][0]["MACAddress"].(string))).
				To(Equal(strings.ReplaceAll(id.MAC.String(), ":", "-")))
			var gs map[string]any
			Expect(api(srv, "GET", "/api/v1/devices/"+uuid+"/settings", nil, &gs)).To(Equal(200))
			Expect(gs).To(HaveKeyWithValue("DigestRealm", id.Realm))
			Expect(gs).To(HaveKeyWithValue("HostName", id.Hostname))
		})

		It("relays KVM with injected credentials, one KVM session per device", func() {
			var sess server.Session
			Expect(api(srv, "POST", "/api/v1/sessions", server.SessionRequest{Device: uuid, Mode: "kvm"}, &sess)).To(Equal(201))
			Expect(sess.RelayURL).To(ContainSubstring("/relay/webrelay.ashx?"))
			Expect(sess.RelayURL).To(ContainSubstring("mode=kvm"))
			Expect(sess.RelayURL).To(ContainSubstring("p=2"))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rc, resp, err := dialRelay(ctx, sess)
			Expect(err).NotTo(HaveOccurred())
			Expect(rc.ws.Subprotocol()).To(Equal(sess.Token))
			Expect(resp.StatusCode).To(Equal(http.StatusSwitchingProtocols))
			defer rc.ws.CloseNow()
			rc.authenticate(redir.SessionKVM)
			rc.send(&redir.KVMStart{})
			Expect(rc.recv().Opcode()).To(Equal(redir.OpKVMStartReply))
			for len(rc.pending) < 12 {
				rc.fill()
			}
			Expect(string(rc.pending[:4])).To(Equal("RFB "))

			// A second KVM session is refused before the upgrade.
			var sess2 server.Session
			Expect(api(srv, "POST", "/api/v1/sessions", server.SessionRequest{Device: uuid, Mode: "kvm"}, &sess2)).To(Equal(201))
			_, resp2, err := websocket.Dial(ctx, sess2.RelayURL, &websocket.DialOptions{Subprotocols: []string{sess2.Token}})
			Expect(err).To(HaveOccurred())
			Expect(resp2.StatusCode).To(Equal(http.StatusConflict))
			var apiErr server.APIError
			Expect(json.NewDecoder(resp2.Body).Decode(&apiErr)).To(Succeed())
			Expect(apiErr.Code).To(Equal("kvm_busy"))
			Expect(metric(srv, "oobtb_server_relay_bytes_total", map[string]string{"kind": "kvm", "direction": "from_device"})).To(BeNumerically(">", 12))
			Expect(metric(srv, "oobtb_server_relay_bytes_total", map[string]string{"kind": "kvm", "direction": "to_device"})).To(BeNumerically(">", 0))

			// Closing the first frees the device for the next console.
			rc.ws.Close(websocket.StatusNormalClosure, "")
			Eventually(func() int {
				w3, r3, err := websocket.Dial(ctx, sess2.RelayURL, &websocket.DialOptions{Subprotocols: []string{sess2.Token}})
				if err == nil {
					w3.Close(websocket.StatusNormalClosure, "")
					return 101
				}
				return r3.StatusCode
			}, 10*time.Second, 100*time.Millisecond).Should(Equal(101))
		})

		It("relays SOL: a line typed reaches the host's serial console and its echo comes back", func() {
			var sess server.Session
			Expect(api(srv, "POST", "/api/v1/sessions", server.SessionRequest{Device: uuid, Mode: "sol"}, &sess)).To(Equal(201))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rc, _, err := dialRelay(ctx, sess)
			Expect(err).NotTo(HaveOccurred())
			defer rc.ws.CloseNow()
			rc.authenticate(redir.SessionSOL)
			rc.send(&redir.StartSOL{Seq: 1, MaxTxBuffer: 10000, TxTimeout: 100, RxTimeout: 10000, RxFlushTimeout: 100})
			Expect(rc.recv().(*redir.StartSOLReply).Status).To(Equal(uint8(0)))
			rc.send(&redir.SOLData{Op: redir.OpSOLDataToHost, Seq: 2, Data: []byte("oobtb-sol-probe\r")})
			var got []byte
			for !strings.Contains(string(got), "oobtb-sol-probe") {
				if d, ok := rc.recv().(*redir.SOLData); ok {
					got = append(got, d.Data...)
				}
			}
			Expect(metric(srv, "oobtb_server_relay_bytes_total", map[string]string{"kind": "sol", "direction": "to_device"})).To(BeNumerically(">", 0))
			Expect(metric(srv, "oobtb_server_relay_sessions", map[string]string{"kind": "sol"})).To(BeNumerically("==", 1))
		})

		It("refuses relay requests without a valid token for the device and mode", func() {
			var sol server.Session
			Expect(api(srv, "POST", "/api/v1/sessions", server.SessionRequest{Device: uuid, Mode: "sol"}, &sol)).To(Equal(201))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			kvmURL := strings.Replace(sol.RelayURL, "mode=sol", "mode=kvm", 1)
			_, resp, err := websocket.Dial(ctx, kvmURL, &websocket.DialOptions{Subprotocols: []string{sol.Token}})
			Expect(err).To(HaveOccurred())
			Expect(resp.StatusCode).To(Equal(http.StatusForbidden))
			_, resp, err = websocket.Dial(ctx, kvmURL, nil)
			Expect(err).To(HaveOccurred())
			Expect(resp.StatusCode).To(Equal(http.StatusUnauthorized))
			_, resp, err = websocket.Dial(ctx, strings.Replace(sol.RelayURL, "port=16994", "port=16995", 1),
				&websocket.DialOptions{Subprotocols: []string{sol.Token}})
			Expect(err).To(HaveOccurred())
			Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
			Expect(metric(srv, "oobtb_server_auth_failures_total", map[string]string{"kind": "relay"})).To(BeNumerically(">=", 2))
			// The SOL token works for SOL.
			ws, _, err := websocket.Dial(ctx, sol.RelayURL, &websocket.DialOptions{Subprotocols: []string{sol.Token}})
			Expect(err).NotTo(HaveOccurred())
			ws.Close(websocket.StatusNormalClosure, "")
		})

		It("keeps serving while listeners get garbage, partial and huge messages and silent peers", func() {
			addr := srv.CIRAAddr().String()
			// Plain-text garbage instead of TLS.
			nc, err := net.Dial("tcp", addr)
			Expect(err).NotTo(HaveOccurred())
			_, _ = nc.Write([]byte("GET / HTTP/1.0\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"))
			defer nc.Close()
			tlsConn := func() *tls.Conn {
				c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: srv.CAPool(), ServerName: "127.0.0.1"})
				Expect(err).NotTo(HaveOccurred())
				return c
			}
			// Garbage after TLS: an unknown message type.
			g := tlsConn()
			defer g.Close()
			_, _ = g.Write([]byte{0xEE, 1, 2, 3, 4, 5, 6, 7})
			// A huge length in USERAUTH.
			h := tlsConn()
			defer h.Close()
			pv := (&apf.ProtocolVersion{Major: 1, Trigger: apf.TriggerPeriodic, UUID: apf.MustParseGUID(uuidN(11))}).Append(nil)
			_, _ = h.Write(append(pv, 0x32, 0xFF, 0xFF, 0xFF, 0xF0, 'a', 'b'))
			// A partial message, then silence.
			p := tlsConn()
			defer p.Close()
			_, _ = p.Write(pv[:40])
			// A peer that authenticates and never reads again.
			s, err := rawDevice(addr, srv.CAPool(), uuidN(11), ciraUser(11), ciraPass(11))
			Expect(err).NotTo(HaveOccurred())
			defer s.Close()
			// Wrong credentials.
			_, err = rawDevice(addr, srv.CAPool(), uuidN(11), ciraUser(11), "bad")
			Expect(err).To(HaveOccurred())

			for _, c := range []net.Conn{g, h} {
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, err := c.Read(make([]byte, 64))
				for err == nil {
					_, err = c.Read(make([]byte, 64))
				}
				Expect(err).To(HaveOccurred(), "the server closes a tunnel that breaks the protocol")
			}
			// The vMC still works end to end, and the registry is intact.
			var ps server.PowerState
			Expect(api(srv, "GET", "/api/v1/devices/"+uuid+"/power", nil, &ps)).To(Equal(200))
			Expect(ps.PowerState).To(Equal(2))
			devs, err := srv.Devices(context.Background())
			Expect(err).NotTo(HaveOccurred())
			Expect(devs).To(HaveLen(2))
		})
	})

	It("survives a restart: devices reconnect and the registry persists", func() {
		for i := range 5 {
			enrol(srv, 20+i)
			fl.start(srv.CIRAAddr().String(), srv.CAPool(), 20+i)
		}
		Eventually(func() int { return len(srv.Connected()) }, 30*time.Second).Should(Equal(5))
		addr, admin := srv.CIRAAddr().String(), srv.AdminToken()
		var before server.AuditList
		Expect(api(srv, "GET", "/api/v1/audit?action=cira.connect", nil, &before)).To(Equal(200))
		Expect(srv.Close()).To(Succeed())
		Eventually(func() registry.DeviceState {
			st, err := registry.Open(context.Background(), registry.Options{Dir: dir})
			Expect(err).NotTo(HaveOccurred())
			defer st.Close()
			d, err := st.GetDevice(context.Background(), uuidN(20))
			Expect(err).NotTo(HaveOccurred())
			return d.State
		}).Should(Equal(registry.StateDisconnected))
		srv = newServer(dir, func(c *server.Config) { c.CIRAListen = addr })
		Expect(srv.AdminToken()).To(Equal(admin))
		Eventually(func() int { return len(srv.Connected()) }, 60*time.Second, 200*time.Millisecond).Should(Equal(5))
		Eventually(func() int {
			var after server.AuditList
			Expect(api(srv, "GET", "/api/v1/audit?action=cira.connect", nil, &after)).To(Equal(200))
			return len(after.Records)
		}).Should(BeNumerically(">=", len(before.Records)+5))
	})

	It("resumes a device's TLS session after a restart (ticket key in the data directory)", func() {
		enrol(srv, 30)
		cli := pki.ClientTLSConfig(srv.CAPool(), "127.0.0.1", false)
		cli.MaxVersion = tls.VersionTLS12 // as AMT
		login := func() bool {
			nc, err := net.Dial("tcp", srv.CIRAAddr().String())
			Expect(err).NotTo(HaveOccurred())
			tc := tls.Client(nc, cli)
			Expect(tc.Handshake()).To(Succeed())
			resumed := tc.ConnectionState().DidResume
			c, err := cira.New(tc, cira.RoleDevice, cira.Config{Device: &cira.DeviceConfig{UUID: apf.MustParseGUID(uuidN(30)),
				Trigger: apf.TriggerPeriodic, Username: ciraUser(30), Password: ciraPass(30)}})
			Expect(err).NotTo(HaveOccurred())
			Eventually(c.Ready(), 10*time.Second).Should(BeClosed())
			Expect(c.Close()).To(Succeed())
			return resumed
		}
		Expect(login()).To(BeFalse())
		Expect(login()).To(BeTrue())
		Expect(srv.Close()).To(Succeed())
		srv = newServer(dir)
		Expect(login()).To(BeTrue(), "a restarted server resumes sessions from tickets it issued before")
	})

	It("closes connections beyond the cap at once and keeps the others", func() {
		srv.Close()
		srv = newServer(dir, func(c *server.Config) { c.MaxConns = 2 })
		for i := range 3 {
			enrol(srv, 30+i)
		}
		a, err := rawDevice(srv.CIRAAddr().String(), srv.CAPool(), uuidN(30), ciraUser(30), ciraPass(30))
		Expect(err).NotTo(HaveOccurred())
		defer a.Close()
		b, err := rawDevice(srv.CIRAAddr().String(), srv.CAPool(), uuidN(31), ciraUser(31), ciraPass(31))
		Expect(err).NotTo(HaveOccurred())
		defer b.Close()
		_, err = rawDevice(srv.CIRAAddr().String(), srv.CAPool(), uuidN(32), ciraUser(32), ciraPass(32))
		Expect(err).To(HaveOccurred())
		Expect(metric(srv, "oobtb_server_cira_refused_total", map[string]string{"reason": "max_conns"})).To(BeNumerically(">=", 1))
		Consistently(a.Done(), 300*time.Millisecond).ShouldNot(BeClosed())
		Expect(srv.Connected()).To(HaveLen(2))
	})

	It("documents every route in the OpenAPI document and nothing else", func() {
		var doc struct {
			Paths map[string]map[string]json.RawMessage `json:"paths"`
		}
		Expect(apiTok(srv, "", "GET", "/api/v1/openapi.json", nil, &doc)).To(Equal(200))
		var documented []string
		for p, ops := range doc.Paths {
			for m := range ops {
				switch m {
				case "get", "post", "put", "patch", "delete":
					documented = append(documented, strings.ToUpper(m)+" "+p)
				}
			}
		}
		Expect(documented).To(ConsistOf(srv.Routes()))
	})
})
