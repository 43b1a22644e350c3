package apiclient_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/oobtb/oobtb/emulators/console/apiclient"
)

const dev = "12345678-9abc-def0-1122-334455667788"

// fake is an httptest server answering like the management server.
type fake struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []string
	body map[string]string
}

func newFake() *fake {
	f := &fake{body: map[string]string{}}
	mux := http.NewServeMux()
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			f.mu.Lock()
			f.reqs = append(f.reqs, r.Method+" "+r.URL.RequestURI())
			f.body[r.Method+" "+r.URL.Path] = string(b)
			f.mu.Unlock()
			if r.Header.Get("Authorization") != "Bearer T0K" {
				w.WriteHeader(401)
				_, _ = w.Write([]byte(`{"error":"missing bearer token","code":"unauthorized"}`))
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /api/v1/devices", auth(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("after") == "" {
			_, _ = w.Write([]byte(`{"devices":[{"uuid":"` + dev + `","ciraUser":"c","amtUser":"admin","state":"connected","online":true,
			  "boundPorts":[{"address":"","port":16992}],"failover":{"raw":"AQI=","summary":"pairing"},"gatewayIds":[{"type":"ipv4","value":"10.0.0.1"}],
			  "lastSeen":"2026-01-02T03:04:05Z","extension":"present","capability":"pairing"}],"next":"` + dev + `"}`))
			return
		}
		_, _ = w.Write([]byte(`{"devices":[{"uuid":"22222222-9abc-def0-1122-334455667788","state":"enrolled"}]}`))
	}))
	mux.HandleFunc("GET /api/v1/devices/{uuid}/power", auth(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("uuid") != dev {
			w.WriteHeader(409)
			_, _ = w.Write([]byte(`{"error":"server: device is not connected: x","code":"not_connected"}`))
			return
		}
		_, _ = w.Write([]byte(`{"powerState":2,"name":"on","availableRequestedPowerStates":[2,5,8,10]}`))
	}))
	mux.HandleFunc("POST /api/v1/devices/{uuid}/power", auth(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"action":"cycle","powerState":5,"returnValue":0}`))
	}))
	mux.HandleFunc("GET /api/v1/devices/{uuid}/inventory", auth(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"classes":{"CIM_Processor":[{"Family":"198","MaxClockSpeed":"3600"}]},"missing":{"CIM_Chip":"fault"},"amtVersion":"16.1.25"}`))
	}))
	mux.HandleFunc("POST /api/v1/sessions", auth(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"id":"s1","device":"` + dev + `","mode":"kvm","token":"SESS","expires":"2026-01-02T03:09:05Z",
		  "relayUrl":"ws://` + r.Host + `/relay/webrelay.ashx?host=` + dev + `&mode=kvm&p=2&port=16994&tls=0"}`))
	}))
	mux.HandleFunc("GET /relay/webrelay.ashx", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Sec-WebSocket-Protocol") != "SESS" {
			w.WriteHeader(409)
			_, _ = w.Write([]byte(`{"error":"device x already has a KVM session; one KVM session per device","code":"kvm_busy"}`))
			return
		}
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"SESS"}})
		if err != nil {
			return
		}
		ctx := r.Context()
		for { // echo
			typ, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			if err := ws.Write(ctx, typ, b); err != nil {
				return
			}
		}
	})
	f.srv = httptest.NewServer(mux)
	return f
}

var _ = Describe("API client", func() {
	var f *fake
	var c *apiclient.Client
	ctx := context.Background()

	BeforeEach(func() {
		f = newFake()
		DeferCleanup(f.srv.Close)
		var err error
		c, err = apiclient.New(f.srv.URL+"/", "T0K")
		Expect(err).NotTo(HaveOccurred())
	})

	It("lists devices across pages into typed structs", func() {
		ds, err := c.ListDevices(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(ds).To(HaveLen(2))
		Expect(ds[0].UUID).To(Equal(dev))
		Expect(ds[0].Online).To(BeTrue())
		Expect(ds[0].BoundPorts).To(Equal([]apiclient.BoundPort{{Port: 16992}}))
		Expect(ds[0].Failover.Raw).To(Equal([]byte{1, 2}))
		Expect(ds[0].GatewayIDs[0].Type).To(Equal("ipv4"))
		Expect(ds[0].LastSeen).To(Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
		Expect(ds[1].State).To(Equal("enrolled"))
		Expect(f.reqs).To(Equal([]string{"GET /api/v1/devices", "GET /api/v1/devices?after=" + dev}))
	})

	It("reads power, posts actions and reads inventory", func() {
		p, err := c.Power(ctx, dev)
		Expect(err).NotTo(HaveOccurred())
		Expect(p).To(Equal(apiclient.PowerState{PowerState: 2, Name: "on", Available: []int{2, 5, 8, 10}}))
		r, err := c.PowerAction(ctx, dev, "cycle")
		Expect(err).NotTo(HaveOccurred())
		Expect(r.PowerState).To(Equal(5))
		Expect(f.body["POST /api/v1/devices/"+dev+"/power"]).To(MatchJSON(`{"action":"cycle"}`))
		inv, err := c.Inventory(ctx, dev)
		Expect(err).NotTo(HaveOccurred())
		Expect(inv.Classes["CIM_Processor"][0]["MaxClockSpeed"]).To(Equal("3600"))
		Expect(inv.AMTVersion).To(Equal("16.1.25"))
	})

	It("turns error answers into clear typed errors", func() {
		_, err := c.Power(ctx, "other")
		Expect(apiclient.IsCode(err, "not_connected")).To(BeTrue())
		Expect(err.Error()).To(ContainSubstring("the device is offline"))
		var e *apiclient.Error
		Expect(err).To(BeAssignableToTypeOf(e))

		bad, err := apiclient.New(f.srv.URL, "wrong")
		Expect(err).NotTo(HaveOccurred())
		_, err = bad.ListDevices(ctx)
		Expect(apiclient.IsCode(err, "unauthorized")).To(BeTrue())
		Expect(err.Error()).To(ContainSubstring("401"))

		_, err = apiclient.New("ftp://x", "t")
		Expect(err).To(MatchError(ContainSubstring("expected http://host:port")))
	})

	It("creates a session and dials its relay with the token as subprotocol", func() {
		s, err := c.CreateSession(ctx, dev, "kvm")
		Expect(err).NotTo(HaveOccurred())
		Expect(f.body["POST /api/v1/sessions"]).To(MatchJSON(`{"device":"` + dev + `","mode":"kvm"}`))
		Expect(s.RelayURL).To(HavePrefix("ws://"))
		conn, err := c.DialRelay(ctx, s)
		Expect(err).NotTo(HaveOccurred())
		_, err = conn.Write([]byte("hello"))
		Expect(err).NotTo(HaveOccurred())
		buf := make([]byte, 5)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadFull(conn, buf)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(buf)).To(Equal("hello"))
		Expect(conn.Close()).To(Succeed())

		s.Token = "other"
		_, err = c.DialRelay(ctx, s)
		Expect(apiclient.IsCode(err, "kvm_busy")).To(BeTrue())
		Expect(err.Error()).To(ContainSubstring("a KVM session is already active on this device"))
		b, _ := json.Marshal(s)
		Expect(strings.Contains(string(b), "relayUrl")).To(BeTrue())
	})
})
