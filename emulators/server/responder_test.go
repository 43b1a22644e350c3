package server_test

import (
	"crypto/rand"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc"
	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/power"
	"github.com/oobtb/oobtb/emulators/wire/digest"
	"github.com/oobtb/oobtb/emulators/wire/httpwire"
	"github.com/oobtb/oobtb/emulators/wire/wireerr"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

// wsmanResponder is a small in-test WS-MAN service for port 16992, used
// until the vMC's own WS-MAN service lands in services.For. It answers the
// classes the server reads, from the host, with AMT's digest behaviour: 401
// with Connection: close for a missing or wrong Authorization, nonce reuse
// with increasing nc accepted.
type wsmanResponder struct {
	h      *host.Host
	mu     sync.Mutex
	nonces *digest.NonceTable
	ids    wsman.MessageIDs
	// seen counts requests by outcome, for assertions on the digest flow.
	unauth, authed int
}

func newResponder(h *host.Host) *wsmanResponder {
	return &wsmanResponder{h: h, nonces: digest.NewNonceTable(rand.Reader, 0, 0)}
}

func (r *wsmanResponder) service() vmc.Service {
	return func(ch net.Conn) {
		var buf []byte
		tmp := make([]byte, 8192)
		for {
			req, n, err := httpwire.ParseRequest(buf, httpwire.Limits{})
			if errors.Is(err, wireerr.ErrShort) || len(buf) == 0 {
				_ = ch.SetReadDeadline(time.Now().Add(30 * time.Second))
				k, rerr := ch.Read(tmp)
				buf = append(buf, tmp[:k]...)
				if rerr != nil {
					return
				}
				continue
			}
			if err != nil {
				return
			}
			buf = buf[n:]
			resp := r.handle(req)
			if _, err := ch.Write(httpwire.AppendResponse(nil, resp)); err != nil || resp.Close() {
				return
			}
		}
	}
}

func (r *wsmanResponder) handle(req *httpwire.Request) *httpwire.Response {
	id := r.h.Identity()
	r.mu.Lock()
	ok := false
	if a, err := digest.ParseAuthorization(req.Header.Get("Authorization")); err == nil && a.Username == id.AMTUser &&
		a.Realm == id.Realm && r.nonces.Check(a.Nonce, a.NC, time.Now()) == digest.NonceOK && digest.Verify(a, id.AMTPass, "POST") {
		ok = true
	}
	if !ok {
		r.unauth++
		nonce, _ := r.nonces.Issue(time.Now())
		r.mu.Unlock()
		ch := digest.Challenge{Realm: id.Realm, Nonce: nonce, QOP: "auth"}
		return httpwire.Unauthorized(id.AMTVersion, ch.String())
	}
	r.authed++
	msgID := r.ids.Next()
	r.mu.Unlock()
	w, err := wsman.ParseRequest(req.Body, wsman.Limits{})
	if err != nil {
		return httpwire.SOAPResponse(400, id.AMTVersion, time.Now(), wsman.AppendFault(nil, wsman.Reply{MessageID: msgID}, wsman.FaultInvalidParameter("")))
	}
	rep := wsman.ReplyTo(w, msgID)
	class := wsman.ClassName(w.ResourceURI)
	fault := func(f *wsman.Fault) *httpwire.Response {
		return httpwire.SOAPResponse(f.HTTPStatus(), id.AMTVersion, time.Now(), wsman.AppendFault(nil, rep, f))
	}
	ok200 := func(b []byte) *httpwire.Response { return httpwire.SOAPResponse(200, id.AMTVersion, time.Now(), b) }
	switch w.Operation {
	case wsman.OpGet:
		in := r.instance(class)
		if in == nil {
			return fault(wsman.FaultDestinationUnreachable())
		}
		return ok200(wsman.AppendGetResponse(nil, rep, in))
	case wsman.OpEnumerate:
		if _, known := r.items(class); !known {
			return fault(wsman.FaultDestinationUnreachable())
		}
		return ok200(wsman.AppendEnumerateResponse(nil, rep, class))
	case wsman.OpPull:
		items, known := r.items(w.EnumerationContext)
		if !known {
			return fault(wsman.FaultInvalidEnumerationContext())
		}
		return ok200(wsman.AppendPullResponse(nil, rep, items, "", true))
	case wsman.OpInvoke:
		if class != "CIM_PowerManagementService" || w.Method != "RequestPowerStateChange" {
			return fault(wsman.FaultActionNotSupported())
		}
		ps, _ := w.Arg("PowerState")
		me, hasME := w.Arg("ManagedElement")
		if !hasME || me.EPR == nil || wsman.ClassName(me.EPR.ResourceURI) != "CIM_ComputerSystem" {
			return fault(wsman.FaultInvalidParameter(wsman.DetailMissingValues))
		}
		if name, _ := me.EPR.Selector("Name"); name != "ManagedSystem" {
			return fault(wsman.FaultInvalidParameter(wsman.DetailInvalidValue))
		}
		n, err := strconv.Atoi(ps.Value)
		if err != nil {
			return fault(wsman.FaultInvalidParameter(wsman.DetailInvalidValue))
		}
		rv := r.h.RequestPower(power.Request(n))
		return ok200(wsman.AppendMethodResponse(nil, rep, "RequestPowerStateChange", uint32(rv)))
	}
	return fault(wsman.FaultActionNotSupported())
}

func (r *wsmanResponder) instance(class string) *wsman.Instance {
	id := r.h.Identity()
	uri := wsman.ResourceURI(class)
	switch class {
	case "AMT_GeneralSettings":
		return &wsman.Instance{Class: class, ResourceURI: uri, Props: []wsman.Prop{
			wsman.S("DigestRealm", id.Realm), wsman.S("HostName", id.Hostname), wsman.S("DomainName", id.Domain),
			wsman.S("InstanceID", "Intel(r) AMT: General Settings")}}
	case "IPS_PowerManagementService":
		return &wsman.Instance{Class: class, ResourceURI: uri, Props: []wsman.Prop{
			wsman.S("Name", "Intel(r) AMT Power Management Service"),
			wsman.S("OSPowerSavingState", strconv.Itoa(int(r.h.PowerReport().OSPowerSavingState)))}}
	case "CIM_ComputerSystemPackage":
		return &wsman.Instance{Class: class, ResourceURI: uri, Props: []wsman.Prop{
			wsman.S("PlatformGUID", strings.ToUpper(strings.ReplaceAll(id.UUID, "-", "")))}}
	case "CIM_Chassis":
		return &wsman.Instance{Class: class, ResourceURI: uri, Props: []wsman.Prop{
			wsman.S("Manufacturer", id.Manufacturer), wsman.S("Model", id.Model), wsman.S("SerialNumber", id.Serial)}}
	case "CIM_BIOSElement":
		return &wsman.Instance{Class: class, ResourceURI: uri, Props: []wsman.Prop{wsman.S("Version", id.BIOSVersion)}}
	}
	return nil // CIM_Card and others: not present, as on many real devices
}

func (r *wsmanResponder) items(class string) ([]wsman.Instance, bool) {
	id := r.h.Identity()
	uri := wsman.ResourceURI(class)
	one := func(props ...wsman.Prop) []wsman.Instance {
		return []wsman.Instance{{Class: class, ResourceURI: uri, Props: props}}
	}
	switch class {
	case "CIM_ServiceAvailableToElement":
		rep := r.h.PowerReport()
		var avail []string
		for _, a := range rep.AvailableRequestedPowerStates {
			avail = append(avail, strconv.Itoa(int(a)))
		}
		return []wsman.Instance{{Class: "CIM_AssociatedPowerManagementService", ResourceURI: wsman.ResourceURI("CIM_AssociatedPowerManagementService"),
			Props: []wsman.Prop{wsman.L("AvailableRequestedPowerStates", avail...), wsman.S("PowerState", strconv.Itoa(int(rep.PowerState)))}}}, true
	case "CIM_Processor":
		return one(wsman.S("DeviceID", "CPU 0"), wsman.S("Name", id.CPU)), true
	case "CIM_PhysicalMemory":
		return one(wsman.S("Capacity", strconv.Itoa(id.MemoryMiB<<20))), true
	case "CIM_SoftwareIdentity":
		return []wsman.Instance{
			{Class: class, ResourceURI: uri, Props: []wsman.Prop{wsman.S("InstanceID", "Flash"), wsman.S("VersionString", id.AMTVersion)}},
			{Class: class, ResourceURI: uri, Props: []wsman.Prop{wsman.S("InstanceID", "AMT"), wsman.S("VersionString", id.AMTVersion)}}}, true
	case "AMT_EthernetPortSettings":
		return one(wsman.S("InstanceID", "Intel(r) AMT Ethernet Port Settings 0"), wsman.S("MACAddress", strings.ReplaceAll(id.MAC.String(), ":", "-"))), true
	case "CIM_MediaAccessDevice", "CIM_PhysicalPackage", "CIM_SystemPackaging", "CIM_Chip":
		return nil, true
	}
	return nil, false
}
