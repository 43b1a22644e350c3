package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/topology/linkemu"
)

var (
	nameRe  = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	labelRe = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	devRe   = regexp.MustCompile(`^([a-z][a-z0-9-]*)(?:\[(\d+)\])?$`)
)

// Known values of requires.
var Requirements = []string{"gateway", "pairing"}

// MaxDevices bounds one vMC party.
const MaxDevices = 10000

type checker struct {
	s    *Scenario
	errs Errors
}

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.s.File, Line: c.line(field), Field: field, Msg: fmt.Sprintf(format, args...)})
}

// line finds the closest recorded line for a field path, walking up.
func (c *checker) line(field string) int {
	for p := field; p != ""; {
		if l, ok := c.s.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

func (s *Scenario) validate() Errors {
	c := &checker{s: s}
	if s.Name == "" {
		c.add("name", "required: a short name such as classic-kvm")
	} else if !nameRe.MatchString(s.Name) || len(s.Name) > 64 {
		c.add("name", "%q: expected lower-case letters, digits and '-', at most 64", s.Name)
	}
	for i, l := range s.Labels {
		if !labelRe.MatchString(l) {
			c.add(fmt.Sprintf("labels[%d]", i), "%q: expected lower-case letters, digits and '-'", l)
		}
	}
	for i, r := range s.Requires {
		if !slices.Contains(Requirements, r) {
			c.add(fmt.Sprintf("requires[%d]", i), "%q: expected one of %s", r, strings.Join(Requirements, ", "))
		}
	}
	parties := map[string]*Party{}
	if len(s.Parties) == 0 {
		c.add("parties", "required: at least one party")
	}
	for i := range s.Parties {
		p := &s.Parties[i]
		f := fmt.Sprintf("parties[%d]", i)
		if !nameRe.MatchString(p.Name) || len(p.Name) > 32 {
			c.add(f+".name", "%q: expected lower-case letters, digits and '-', at most 32", p.Name)
		} else if parties[p.Name] != nil {
			c.add(f+".name", "%q is used by another party", p.Name)
		}
		parties[p.Name] = p
		if s.Topo != nil {
			for j, n := range p.NodeList() {
				if s.Topo.Resolved() != nil && !topoHasNode(s, n) {
					field := f + ".node"
					if len(p.Nodes) > 0 {
						field = fmt.Sprintf("%s.nodes[%d]", f, j)
					}
					c.add(field, "no node %q in the topology", n)
				}
			}
		}
		if p.Node != "" && len(p.Nodes) > 0 {
			c.add(f+".nodes", "give node or nodes, not both")
		}
		c.party(f, p)
	}
	for i := range s.Parties {
		p := &s.Parties[i]
		f := fmt.Sprintf("parties[%d]", i)
		for j, sv := range p.Servers {
			if q := parties[sv]; q == nil || q.Kind != KindServer {
				c.add(fmt.Sprintf("%s.servers[%d]", f, j), "%q is not a server party", sv)
			}
		}
		if p.Gateway != "" {
			if q := parties[p.Gateway]; q == nil || q.Kind != KindGateway {
				c.add(f+".gateway", "%q is not a gateway party", p.Gateway)
			}
		}
		if (p.Kind == KindVMC || p.Kind == KindConsole || p.Kind == KindGateway) && len(p.Servers) == 0 {
			if n := countKind(s, KindServer); n == 1 {
				p.Servers = []string{firstOfKind(s, KindServer)}
			} else {
				c.add(f+".servers", "required: which server party (or parties, in MPS order) this %s talks to", p.Kind)
			}
		}
	}
	sessions := map[string]int{}
	if len(s.Timeline) == 0 {
		c.add("timeline", "required: at least one step")
	}
	for i := range s.Timeline {
		c.step(i, &s.Timeline[i], parties, sessions)
	}
	for i := range s.Assertions {
		c.assertion(i, &s.Assertions[i], parties, sessions)
	}
	for i, m := range s.Metrics {
		if strings.TrimSpace(m) == "" || strings.ContainsAny(m, " \t") {
			c.add(fmt.Sprintf("metrics[%d]", i), "%q: expected a metric name such as kvm.fps", m)
		}
	}
	return c.errs
}

func topoHasNode(s *Scenario, n string) bool {
	for _, x := range s.Topo.Nodes {
		if x.Name == n {
			return true
		}
	}
	return false
}

func countKind(s *Scenario, kind string) int {
	n := 0
	for _, p := range s.Parties {
		if p.Kind == kind {
			n++
		}
	}
	return n
}

func firstOfKind(s *Scenario, kind string) string {
	for _, p := range s.Parties {
		if p.Kind == kind {
			return p.Name
		}
	}
	return ""
}

func (c *checker) party(f string, p *Party) {
	switch p.Kind {
	case KindServer, KindConsole, KindGateway:
		if p.PairingTTL != "" {
			if d, err := time.ParseDuration(p.PairingTTL); p.Kind != KindServer {
				c.add(f+".pairing_ttl", "only server parties have a pairing lifetime")
			} else if err != nil || d < time.Second {
				c.add(f+".pairing_ttl", "%q: expected a duration of at least 1s", p.PairingTTL)
			}
		}
	case KindVMC:
		if p.Count < 0 || p.Count > MaxDevices {
			c.add(f+".count", "%d: expected 1..%d", p.Count, MaxDevices)
		}
		if p.Count == 0 {
			p.Count = 1
		}
		if p.Workload != "" {
			if _, err := screen.ParseWorkload(p.Workload); err != nil {
				c.add(f+".workload", "%q: expected W0..W5 or idle, bios, terminal, drag, photo, noise", p.Workload)
			}
		}
		if p.Resolution != "" {
			if _, err := screen.ParseResolution(p.Resolution); err != nil {
				c.add(f+".resolution", "%q: expected WIDTHxHEIGHT or 1080p, xga, sxga, vga", p.Resolution)
			}
		}
		if p.FPS < 0 || p.FPS > 120 {
			c.add(f+".fps", "%d: expected 1..120", p.FPS)
		}
		switch p.Trigger {
		case "", "periodic", "user", "alert":
		default:
			c.add(f+".trigger", "%q: expected periodic, user or alert", p.Trigger)
		}
		if p.Stock && (p.Malformed || p.Incapable) {
			c.add(f+".stock", "a stock device has no extension, so it cannot also be malformed or incapable")
		}
		if p.Periodic != "" {
			if d, err := time.ParseDuration(p.Periodic); err != nil || d < 100*time.Millisecond {
				c.add(f+".periodic", "%q: expected a duration of at least 100ms", p.Periodic)
			}
		}
	case KindProcess:
		if len(p.Command) == 0 || p.Command[0] == "" {
			c.add(f+".command", "required: the program and its arguments")
		}
	case "":
		c.add(f+".kind", "required: one of server, vmc, console, gateway, process")
	default:
		c.add(f+".kind", "%q: expected one of server, vmc, console, gateway, process", p.Kind)
	}
	if p.Enrol != nil && p.Kind != KindVMC && p.Kind != KindGateway {
		c.add(f+".enrol", "only vmc and gateway parties are enrolled")
	}
	if p.Kind != KindVMC && (p.Count != 0 || p.Workload != "" || p.Stock || p.Malformed || p.Incapable || p.Trigger != "") {
		c.add(f+".kind", "count, workload, trigger, stock, malformed and incapable belong to vmc parties, not %s", p.Kind)
	}
	if p.Kind != KindProcess && len(p.Command) > 0 {
		c.add(f+".command", "only process parties run a command")
	}
}

// DeviceRef splits "fleet" or "fleet[2]" into party and index (0 when
// absent).
func DeviceRef(ref string) (party string, index int, ok bool) {
	m := devRe.FindStringSubmatch(ref)
	if m == nil {
		return "", 0, false
	}
	if m[2] != "" {
		i, err := strconv.Atoi(m[2])
		if err != nil {
			return "", 0, false
		}
		index = i
	}
	return m[1], index, true
}

func (c *checker) device(field, ref string, parties map[string]*Party) {
	name, idx, ok := DeviceRef(ref)
	if !ok {
		c.add(field, "%q: expected a vmc party name or party[index]", ref)
		return
	}
	p := parties[name]
	if p == nil || p.Kind != KindVMC {
		c.add(field, "%q is not a vmc party", name)
		return
	}
	if idx >= max(p.Count, 1) {
		c.add(field, "%q: party %s has %d devices (index 0..%d)", ref, name, max(p.Count, 1), max(p.Count, 1)-1)
	}
}

func (c *checker) partyOf(field, name string, parties map[string]*Party, kinds ...string) {
	p := parties[name]
	if name == "" {
		c.add(field, "required")
		return
	}
	if p == nil {
		c.add(field, "no party %q", name)
		return
	}
	if len(kinds) > 0 && !slices.Contains(kinds, p.Kind) {
		c.add(field, "%q is a %s party; expected %s", name, p.Kind, strings.Join(kinds, " or "))
	}
}

func (c *checker) link(field, name string) {
	if name == "" {
		c.add(field, "required: a link name from the topology")
		return
	}
	if c.s.Topo == nil {
		return // implicit topology: checked once it exists (links are <node>-lan)
	}
	for _, l := range c.s.Topo.Links {
		if l.Name == name {
			return
		}
	}
	var names []string
	for _, l := range c.s.Topo.Links {
		names = append(names, l.Name)
	}
	c.add(field, "no link %q in the topology (links: %s)", name, strings.Join(names, ", "))
}

func (c *checker) duration(field, v string, required bool) {
	if v == "" {
		if required {
			c.add(field, "required: a duration such as 10s")
		}
		return
	}
	if d, err := time.ParseDuration(v); err != nil || d < 0 {
		c.add(field, "%q: expected a duration such as 500ms or 10s", v)
	}
}

func (c *checker) profile(field, v string) {
	if v == "" {
		return
	}
	if _, err := linkemu.ParseProfile(v); err != nil {
		c.add(field, "%q: %v", v, err)
	}
}

func (c *checker) step(i int, st *Step, parties map[string]*Party, sessions map[string]int) {
	f := fmt.Sprintf("timeline[%d]", i)
	if _, ok := StepKinds[st.Do]; !ok {
		kinds := sortedKeys(StepKinds)
		if st.Do == "" {
			c.add(f+".do", "required: the step kind, one of %s", strings.Join(kinds, ", "))
		} else {
			c.add(f+".do", "%q: expected one of %s", st.Do, strings.Join(kinds, ", "))
		}
		return
	}
	c.duration(f+".timeout", st.Timeout, false)
	switch st.Do {
	case StepStart, StepStop, StepKill, StepRestart:
		names := st.Parties
		if st.Party != "" {
			names = append([]string{st.Party}, names...)
		}
		if len(names) == 0 {
			c.add(f+".party", "required: the party to %s", st.Do)
		}
		for _, n := range names {
			c.partyOf(f+".party", n, parties)
		}
	case StepSession, StepKVM:
		c.partyOf(f+".console", st.Console, parties, KindConsole)
		if st.Device == "" {
			c.add(f+".device", "required: the device (vmc party or party[index])")
		} else {
			c.device(f+".device", st.Device, parties)
		}
		switch st.Initiated {
		case "", "console", "user":
		default:
			c.add(f+".initiated", "%q: expected console or user", st.Initiated)
		}
		switch st.Mode {
		case "", "kvm":
		default:
			c.add(f+".mode", "%q: only kvm sessions are scripted", st.Mode)
		}
		if st.Gateway != "" {
			c.partyOf(f+".gateway", st.Gateway, parties, KindGateway)
		}
		switch st.GatewayID {
		case "", "udi", "mac", "ip", "domain", "url", "endpoint":
		default:
			c.add(f+".gateway_id", "%q: expected udi, mac, ip, domain, url or endpoint", st.GatewayID)
		}
		if st.Fault != "" {
			if !slices.Contains(Faults, st.Fault) {
				c.add(f+".fault", "%q: expected one of %s", st.Fault, strings.Join(Faults, ", "))
			}
			if st.Fault == "mitm" {
				c.link(f+".link", st.Link)
			}
		}
		if st.Expect != nil {
			switch st.Expect.Path {
			case "", PathDirect, PathRelay, PathClassic:
			default:
				c.add(f+".expect.path", "%q: expected direct, relay or classic", st.Expect.Path)
			}
		}
		if st.Do == StepKVM {
			c.duration(f+".duration", st.Duration, true)
			switch st.Encoding {
			case "", "zrle16", "deflate", "raw":
			default:
				c.add(f+".encoding", "%q: expected zrle16 (AMT encoding 16), deflate (16 with zlib) or raw", st.Encoding)
			}
		}
		name := st.SessionName(i)
		if _, dup := sessions[name]; dup {
			c.add(f+".session", "session %q is opened by an earlier step", name)
		}
		sessions[name] = i
	case StepType:
		if st.Text == "" {
			c.add(f+".text", "required: the text to type")
		}
		if _, ok := sessions[st.Session]; !ok {
			c.add(f+".session", "%q: expected the name of a background kvm step before this one", st.Session)
		}
	case StepLink:
		c.link(f+".link", st.Link)
		if st.Profile == "" && st.AtoB == "" && st.BtoA == "" {
			c.add(f+".profile", "required: a profile (name or key=value list), or a_to_b/b_to_a")
		}
		c.profile(f+".profile", st.Profile)
		c.profile(f+".a_to_b", st.AtoB)
		c.profile(f+".b_to_a", st.BtoA)
	case StepCut, StepHeal, StepPartition:
		c.link(f+".link", st.Link)
	case StepWait:
		c.wait(f, st, parties, sessions)
	case StepSleep:
		c.duration(f+".duration", st.Duration, true)
	case StepCalibrate:
		c.duration(f+".duration", st.Duration, true)
		if st.From == "" || st.To == "" {
			c.add(f+".from", "required: from and to nodes of the transfer")
		} else {
			for _, x := range []struct{ fld, n string }{{"from", st.From}, {"to", st.To}} {
				if c.s.Topo != nil && !topoHasNode(c.s, x.n) {
					c.add(f+"."+x.fld, "no node %q in the topology", x.n)
				}
			}
		}
		if st.As == "" {
			c.add(f+".as", "required: the metric prefix for the result, e.g. calib.wan")
		}
	case StepPower:
		c.partyOf(f+".console", st.Console, parties, KindConsole)
		if st.Device == "" {
			c.add(f+".device", "required")
		} else {
			c.device(f+".device", st.Device, parties)
		}
	case StepPost:
		if st.Device == "" {
			c.add(f+".device", "required")
		} else {
			c.device(f+".device", st.Device, parties)
		}
		if !slices.Contains(PostEvents, st.For) {
			c.add(f+".for", "%q: expected one of %s", st.For, strings.Join(PostEvents, ", "))
		}
	}
}

func (c *checker) wait(f string, st *Step, parties map[string]*Party, sessions map[string]int) {
	switch st.For {
	case CondDeviceConnected, CondDeviceDisconnected, CondDeviceListed, CondViaGateway:
		if st.Device == "" {
			c.add(f+".device", "required for %s", st.For)
		} else {
			c.device(f+".device", st.Device, parties)
		}
	case CondDevicesConnected:
		c.partyOf(f+".party", st.Party, parties, KindVMC)
	case CondSessionEstablished, CondKVMDone, CondPath:
		if _, ok := sessions[st.Session]; !ok {
			c.add(f+".session", "%q: expected the name of a session opened by an earlier step", st.Session)
		}
		if st.For == CondPath {
			switch st.Path {
			case PathDirect, PathRelay, PathClassic:
			default:
				c.add(f+".path", "%q: expected direct, relay or classic", st.Path)
			}
		}
	case "":
		c.add(f+".for", "required: one of %s", strings.Join(Conditions, ", "))
	default:
		c.add(f+".for", "%q: expected one of %s", st.For, strings.Join(Conditions, ", "))
	}
	if st.Server != "" {
		c.partyOf(f+".server", st.Server, parties, KindServer)
	}
}

func (c *checker) assertion(i int, a *Assertion, parties map[string]*Party, sessions map[string]int) {
	f := fmt.Sprintf("assertions[%d]", i)
	bounds := a.Eq != nil || a.Le != nil || a.Ge != nil || a.Lt != nil || a.Gt != nil
	switch a.Check {
	case CheckPath:
		if _, ok := sessions[a.Session]; !ok {
			c.add(f+".session", "%q: expected a session opened by the timeline", a.Session)
		}
		switch a.Is {
		case PathDirect, PathRelay, PathClassic:
		default:
			c.add(f+".is", "%q: expected direct, relay or classic", a.Is)
		}
	case CheckSession:
		if _, ok := sessions[a.Session]; !ok {
			c.add(f+".session", "%q: expected a session opened by the timeline", a.Session)
		}
		switch a.Is {
		case "established", "refused":
		default:
			c.add(f+".is", "%q: expected established or refused", a.Is)
		}
	case CheckServerBytes:
		if a.Server != "" {
			c.partyOf(f+".server", a.Server, parties, KindServer)
		}
		switch a.Kind {
		case "", "kvm", "sol":
		default:
			c.add(f+".kind", "%q: expected kvm or sol", a.Kind)
		}
		if !bounds {
			c.add(f, "server-bytes needs a bound: eq, le, ge, lt or gt")
		}
	case CheckMetric:
		if a.Metric == "" {
			c.add(f+".metric", "required: a metric name such as kvm.fps")
		}
		if !bounds {
			c.add(f, "metric needs a bound: eq, le, ge, lt or gt")
		}
	case CheckFailover:
		if a.Device == "" {
			c.add(f+".device", "required")
		} else {
			c.device(f+".device", a.Device, parties)
		}
		if a.Is == "" {
			c.add(f+".is", "required: what the server recorded (absent, present, malformed), matched as a prefix")
		}
		if a.Server != "" {
			c.partyOf(f+".server", a.Server, parties, KindServer)
		}
	case CheckConnectedTo:
		if a.Device == "" {
			c.add(f+".device", "required")
		} else {
			c.device(f+".device", a.Device, parties)
		}
		if a.Is != "none" {
			c.partyOf(f+".is", a.Is, parties, KindServer)
		}
	case CheckNoLeftovers:
		for j, w := range a.What {
			switch w {
			case "namespaces", "goroutines", "sockets":
			default:
				c.add(fmt.Sprintf("%s.what[%d]", f, j), "%q: expected namespaces, goroutines or sockets", w)
			}
		}
	case "":
		c.add(f+".check", "required: one of %s", strings.Join(Checks, ", "))
	default:
		c.add(f+".check", "%q: expected one of %s", a.Check, strings.Join(Checks, ", "))
	}
}

// SessionName is the name under which a session or kvm step's session is
// kept: Session, or "s<step number>".
func (s *Step) SessionName(i int) string {
	if s.Session != "" {
		return s.Session
	}
	return fmt.Sprintf("s%d", i+1)
}
