package runner

import (
	"context"
	"fmt"
	"net/http"

	"github.com/oobtb/oobtb/emulators/server"
	"github.com/oobtb/oobtb/emulators/server/registry"
	"strings"
	"time"

	"github.com/oobtb/oobtb/scenarios/spec"
)

// wait polls the step's condition until it holds or the step times out; the
// error says what was expected and what was last seen.
func (c *caseRun) wait(ctx context.Context, st *spec.Step, timeout time.Duration) error {
	want, poll := c.condition(st)
	var last string
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		ok, seen, fatal := poll(ctx)
		last = seen
		if ok {
			return nil
		}
		if fatal {
			return fmt.Errorf("expected %s; %s", want, seen)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("expected %s within %s; %s", want, timeout, last)
		case <-t.C:
		}
	}
}

type pollFunc func(ctx context.Context) (ok bool, seen string, fatal bool)

func (c *caseRun) condition(st *spec.Step) (string, pollFunc) {
	onServer := ""
	if st.Server != "" {
		onServer = " to server " + st.Server
	}
	switch st.For {
	case spec.CondDeviceConnected, spec.CondDeviceDisconnected:
		d, err := c.device(st.Device)
		if err != nil {
			return st.Device, func(context.Context) (bool, string, bool) { return false, err.Error(), true }
		}
		want := st.For == spec.CondDeviceConnected
		what := "device " + st.Device + " connected" + onServer
		if !want {
			what = "device " + st.Device + " disconnected" + strings.Replace(onServer, " to ", " from ", 1)
		}
		return what, func(context.Context) (bool, string, bool) {
			on := c.connectedTo(d, st.Server)
			return (on != "") == want, c.deviceState(d, on), false
		}
	case spec.CondDevicesConnected:
		f := c.fleets[st.Party]
		n := len(f.devices)
		if st.Count > 0 {
			n = min(st.Count, n)
		}
		return fmt.Sprintf("%d devices of %s connected%s", n, st.Party, onServer), func(context.Context) (bool, string, bool) {
			up := 0
			var missing []string
			for _, d := range f.devices {
				if on := c.connectedTo(d, st.Server); on != "" {
					up++
				} else if len(missing) < 3 {
					missing = append(missing, fmt.Sprintf("%s[%d]: %s", st.Party, d.index, c.deviceState(d, "")))
				}
			}
			seen := fmt.Sprintf("%d connected", up)
			if len(missing) > 0 {
				seen += " (not: " + strings.Join(missing, "; ") + ")"
			}
			return up >= n, seen, false
		}
	case spec.CondDeviceListed:
		d, err := c.device(st.Device)
		if err != nil {
			return st.Device, func(context.Context) (bool, string, bool) { return false, err.Error(), true }
		}
		return "device " + st.Device + " listed online by its server" + onServer, func(ctx context.Context) (bool, string, bool) {
			name := st.Server
			if name == "" {
				name = d.serverOf(c)
			}
			srv := c.servers[name].current()
			if srv == nil {
				return false, "server " + name + " is not running", false
			}
			devs, err := srv.Devices(ctx)
			if err != nil {
				return false, "listing: " + err.Error(), false
			}
			for _, x := range devs {
				if x.UUID == d.spec.UUID {
					if _, on := srv.Tunnel(d.spec.UUID); on {
						return true, "listed and online", false
					}
					return false, fmt.Sprintf("listed, state %s, not online", x.State), false
				}
			}
			return false, fmt.Sprintf("not among the %d devices listed", len(devs)), false
		}
	case spec.CondSessionEstablished, spec.CondPath:
		return "session " + st.Session + " " + map[string]string{spec.CondPath: "on the " + st.Path + " path "}[st.For] + "established",
			func(context.Context) (bool, string, bool) {
				ss := c.session(st.Session)
				if ss == nil {
					return false, "no such session", true
				}
				ss.mu.Lock()
				defer ss.mu.Unlock()
				if ss.refused {
					return false, "it was refused: " + ss.refusal, true
				}
				if st.For == spec.CondPath && ss.established && ss.path != st.Path {
					return false, "it is on the " + ss.path + " path (" + ss.reason + ")", false
				}
				return ss.established, "not established yet", false
			}
	case spec.CondViaGateway:
		return c.viaGateway(st)
	case spec.CondKVMDone:
		return "KVM session " + st.Session + " done", func(context.Context) (bool, string, bool) {
			ss := c.session(st.Session)
			if ss == nil {
				return false, "no such session", true
			}
			select {
			case <-ss.done:
				ss.mu.Lock()
				defer ss.mu.Unlock()
				if ss.err != "" {
					return false, "it failed: " + ss.err, true
				}
				if ss.refused {
					return false, "it was refused: " + ss.refusal, true
				}
				return true, "done", false
			default:
				return false, "still running", false
			}
		}
	}
	return st.For, func(context.Context) (bool, string, bool) { return false, "unknown condition " + st.For, true }
}

// deviceState describes a device for failure messages.
func (c *caseRun) deviceState(d *device, on string) string {
	if on != "" {
		return "connected to " + on
	}
	dev := d.current()
	if dev == nil {
		return "not running"
	}
	st := dev.Status()
	s := fmt.Sprintf("tunnel %s, %d connects", st.Tunnel, st.Connects)
	if st.LastError != "" {
		s += ", last error: " + st.LastError
	}
	return s
}

// viaGateway is the condition "the server records the device as managed
// through a gateway" (path gateway, the gateway's id).
func (c *caseRun) viaGateway(st *spec.Step) (string, pollFunc) {
	d, err := c.device(st.Device)
	if err != nil {
		return st.Device, func(context.Context) (bool, string, bool) { return false, err.Error(), true }
	}
	return "device " + st.Device + " managed through a gateway", func(ctx context.Context) (bool, string, bool) {
		name := st.Server
		if name == "" {
			name = d.serverOf(c)
		}
		srv := c.servers[name].current()
		if srv == nil {
			return false, "server " + name + " is not running", false
		}
		devs, err := srv.Devices(ctx)
		if err != nil {
			return false, "listing: " + err.Error(), false
		}
		for _, x := range devs {
			if x.UUID == d.spec.UUID {
				if x.Path == registry.PathGateway && x.ViaGateway != "" {
					return true, "through gateway " + x.ViaGateway, false
				}
				return false, fmt.Sprintf("path %q, via gateway %q, %s", x.Path, x.ViaGateway, c.deviceState(d, "")), false
			}
		}
		return false, "not listed", false
	}
}

// power queries the device's power state with WS-MAN through its server's
// API, from the console's node, until it answers or the step times out.
func (c *caseRun) power(ctx context.Context, st *spec.Step, timeout time.Duration) error {
	d, err := c.device(st.Device)
	if err != nil {
		return err
	}
	k := c.consoles[st.Console]
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		var ps server.PowerState
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.apiCall(qctx, k.node, k.server, "GET", "/api/v1/devices/"+d.spec.UUID+"/power", nil, http.StatusOK, &ps)
		cancel()
		if err == nil {
			c.logger.Info("power state", "device", st.Device, "state", ps.Name)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("expected a WS-MAN power query through server %s to succeed within %s; last: %v", k.server.p.Name, timeout, err)
		case <-t.C:
		}
	}
}
