package wsmansrv_test

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/vmc/wsmansrv"
	"github.com/oobtb/oobtb/emulators/wire/digest"
	"github.com/oobtb/oobtb/emulators/wire/httpwire"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

func fuzzHost(f *testing.F) *host.Host { return fuzzHostT(f) }

func fuzzHostT(f testing.TB) *host.Host {
	h, err := host.New(host.Config{
		Identity: host.Identity{UUID: tUUID, Hostname: "vmc1", AMTVersion: "16.1.27",
			Realm: tRealm, AMTUser: tUser, AMTPass: tPass},
		Settings: host.DefaultSettings(),
		Screen:   screen.Config{Width: 320, Height: 200, Workload: screen.W0Idle, Seed: 1},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(h.Close)
	return h
}

// feed writes data into a fresh channel and collects what the server
// answers. With one set it hangs up after the first whole response;
// otherwise it waits for the server to end the channel (a short idle timeout
// makes that quick).
func feed(t testing.TB, srv *wsmansrv.Server, data []byte, one bool) (error, []byte) {
	a, z := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(z) }()
	var out []byte
	read := make(chan struct{})
	go func() {
		defer close(read)
		_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
		tmp := make([]byte, 4096)
		for {
			k, err := a.Read(tmp)
			out = append(out, tmp[:k]...)
			if one {
				if _, _, perr := httpwire.ParseResponse(out, httpwire.Limits{}); perr == nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	_ = a.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = a.Write(data)
	<-read
	a.Close()
	select {
	case err := <-done:
		return err, out
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not end after the peer hung up")
		return nil, nil
	}
}

// FuzzServe feeds arbitrary bytes to a channel: the server must answer or
// close, never panic or hang.
func FuzzServe(f *testing.F) {
	f.Add([]byte(meshFirstRequest))
	f.Add(httpReq("Digest username=\"admin\",realm=\"x\",nonce=\"n\",uri=\"/wsman\",response=\"00\"", []byte("<x/>")))
	f.Add([]byte("POST /wsman HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"))
	f.Add([]byte("\x00\x01\x02"))
	srv := wsmansrv.New(fuzzHost(f), wsmansrv.Options{IdleTimeout: 10 * time.Millisecond, RequestTimeout: 10 * time.Millisecond})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Any end is fine (401, 400, truncation, the hang-up); a panic or a
		// hang is not.
		_, out := feed(t, srv, data, false)
		// Whatever came back is well-framed HTTP.
		for len(out) > 0 {
			_, n, perr := httpwire.ParseResponse(out, httpwire.Limits{})
			if perr != nil {
				if errors.Is(perr, wireerr.ErrShort) {
					break // cut by the hang-up
				}
				t.Fatalf("server wrote a malformed response: %v\n%q", perr, out)
			}
			out = out[n:]
		}
	})
}

// FuzzWSMan sends arbitrary bodies in authenticated requests: every answer
// is a 200 or a SOAP fault, never a crash.
func FuzzWSMan(f *testing.F) {
	f.Add(mesh.Get("0", wsman.ResourceURI("AMT_GeneralSettings")))
	f.Add(dmt.Enumerate("1", wsman.ResourceURI("CIM_SoftwareIdentity")))
	f.Add(dmt.Pull("2", wsman.ResourceURI("CIM_SoftwareIdentity"), "E2020000-0000-0000-0000-000000000000", 999, 99999))
	f.Add(dmt.Invoke("3", wsman.ResourceURI("AMT_RemoteAccessService"), "AddMpServer",
		[]wsman.Prop{wsman.S("AccessInfo", "1.2.3.4"), wsman.S("InfoFormat", "3"), wsman.S("Port", "4433"), wsman.S("AuthMethod", "2")}))
	f.Add(mesh.Put("4", &wsman.Instance{Class: "IPS_OptInService", ResourceURI: wsman.ResourceURI("IPS_OptInService"),
		Props: []wsman.Prop{wsman.S("OptInRequired", "1")}}))
	f.Add([]byte("<a"))
	srv := wsmansrv.New(fuzzHost(f), wsmansrv.Options{})
	// One challenge for the whole run; each input uses the next nc.
	_, out := feed(f, srv, httpReq("", mesh.Get("0", wsman.ResourceURI("AMT_GeneralSettings"))), true)
	r, _, err := httpwire.ParseResponse(out, httpwire.Limits{})
	if err != nil {
		f.Fatal(err)
	}
	ch, err := digest.ParseChallenge(r.Header.Get("WWW-Authenticate"))
	if err != nil {
		f.Fatal(err)
	}
	var mu sync.Mutex
	nc := uint32(0)
	f.Fuzz(func(t *testing.T, body []byte) {
		mu.Lock()
		nc++
		n := nc
		mu.Unlock()
		_, out := feed(t, srv, httpReq(authz(ch, tPass, digest.NCHex(n), tCNonce, digest.StyleQuoted), body), true)
		r, _, err := httpwire.ParseResponse(out, httpwire.Limits{})
		if err != nil {
			t.Fatalf("no response: %v", err)
		}
		switch r.StatusCode {
		case 200:
			if _, err := wsman.ParseResponse(r.Body, wsman.Limits{}); err != nil {
				t.Fatalf("200 with an unparsable body: %v", err)
			}
		case 400, 500:
			var fault *wsman.Fault
			if _, err := wsman.ParseResponse(r.Body, wsman.Limits{}); !errors.As(err, &fault) {
				t.Fatalf("%d without a SOAP fault: %v", r.StatusCode, err)
			}
		default:
			t.Fatalf("status %d", r.StatusCode)
		}
	})
}
