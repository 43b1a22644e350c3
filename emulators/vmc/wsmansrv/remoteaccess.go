package wsmansrv

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

// AMT PT_STATUS return values of the AMT_RemoteAccessService methods.
const (
	ptSuccess         = 0
	ptInternalError   = 1
	ptMaxLimitReached = 23
	ptInvalidParam    = 36
)

// policyLocked is the device's remote-access configuration.
func (s *Server) policyLocked() policy.Config {
	if s.o.Policy != nil {
		return s.o.Policy()
	}
	return s.pol
}

// setPolicyLocked validates cfg and hands it to the device.
func (s *Server) setPolicyLocked(cfg policy.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if s.o.SetPolicy != nil {
		return s.o.SetPolicy(cfg)
	}
	s.pol = cfg
	return nil
}

// cloneConfig copies the slices so an edit never aliases the device's copy.
func cloneConfig(c policy.Config) policy.Config {
	c.MPS = slices.Clone(c.MPS)
	c.Rules = slices.Clone(c.Rules)
	c.Applies = slices.Clone(c.Applies)
	c.Environment.DetectionStrings = slices.Clone(c.Environment.DetectionStrings)
	return c
}

func mpsEPR(name string) wsman.EPR {
	return wsman.NewEPR(wsman.ResourceURI("AMT_ManagementPresenceRemoteSAP"),
		wsman.Sel("CreationClassName", "AMT_ManagementPresenceRemoteSAP"),
		wsman.Sel("Name", name),
		wsman.Sel("SystemCreationClassName", ccsSystem),
		wsman.Sel("SystemName", amtSystem))
}

func ruleEPR(name string) wsman.EPR {
	return wsman.NewEPR(wsman.ResourceURI("AMT_RemoteAccessPolicyRule"),
		wsman.Sel("CreationClassName", "AMT_RemoteAccessPolicyRule"),
		wsman.Sel("PolicyRuleName", name),
		wsman.Sel("SystemCreationClassName", ccsSystem),
		wsman.Sel("SystemName", amtSystem))
}

// Credentials are write-only, as on AMT: the SAP shows where, not how.
func managementPresenceSAPs(s *Server) []wsman.Instance {
	cfg := s.policyLocked()
	out := make([]wsman.Instance, 0, len(cfg.MPS))
	for _, m := range cfg.MPS {
		out = append(out, inst("AMT_ManagementPresenceRemoteSAP",
			wsman.S("AccessInfo", m.AccessInfo),
			wsman.S("CN", m.CN),
			wsman.S("CreationClassName", "AMT_ManagementPresenceRemoteSAP"),
			wsman.S("ElementName", "Intel(r) AMT:Management Presence Server"),
			wsman.S("InfoFormat", u2s(uint8(m.InfoFormat))),
			wsman.S("Name", m.Name),
			wsman.S("Port", u2s(m.Port)),
			wsman.S("SystemCreationClassName", ccsSystem),
			wsman.S("SystemName", amtSystem)))
	}
	return out
}

func policyRules(s *Server) []wsman.Instance {
	cfg := s.policyLocked()
	out := make([]wsman.Instance, 0, len(cfg.Rules))
	for _, r := range cfg.Rules {
		props := []wsman.Prop{
			wsman.S("CreationClassName", "AMT_RemoteAccessPolicyRule"),
			wsman.S("ElementName", "Intel(r) AMT:Remote Access Policy"),
		}
		if r.ExtendedData != "" {
			props = append(props, wsman.S("ExtendedData", r.ExtendedData))
		}
		props = append(props,
			wsman.S("PolicyRuleName", r.Name),
			wsman.S("SystemCreationClassName", ccsSystem),
			wsman.S("SystemName", amtSystem),
			wsman.S("Trigger", u2s(uint8(r.Trigger))),
			wsman.S("TunnelLifeTime", u2s(r.TunnelLifeTime)))
		out = append(out, inst("AMT_RemoteAccessPolicyRule", props...))
	}
	return out
}

func appliesToMPS(s *Server) []wsman.Instance {
	cfg := s.policyLocked()
	out := make([]wsman.Instance, 0, len(cfg.Applies))
	for _, a := range cfg.Applies {
		out = append(out, inst("AMT_RemoteAccessPolicyAppliesToMPS",
			wsman.R("ManagedElement", mpsEPR(a.MPS)),
			wsman.S("MpsType", u2s(uint8(a.MpsType))),
			wsman.S("OrderOfAccess", u2s(a.OrderOfAccess)),
			wsman.R("PolicySet", ruleEPR(a.Rule))))
	}
	return out
}

// eprName is the value of selector key in an EPR argument or property.
func eprName(props []wsman.Prop, prop, key string) (string, bool) {
	for _, p := range props {
		if p.Name == prop && p.EPR != nil {
			return p.EPR.Selector(key)
		}
	}
	return "", false
}

// appliesPick finds the association a Put addresses: by its ManagedElement
// and PolicySet in the body (how RPS writes it), else by the header
// selectors.
func appliesPick(s *Server, req *wsman.Request) (*wsman.Instance, *wsman.Fault) {
	items := appliesToMPS(s)
	if req.Instance != nil {
		mps, ok1 := eprName(req.Instance.Props, "ManagedElement", "Name")
		rule, ok2 := eprName(req.Instance.Props, "PolicySet", "PolicyRuleName")
		if ok1 && ok2 {
			for k := range items {
				m, _ := eprName(items[k].Props, "ManagedElement", "Name")
				r, _ := eprName(items[k].Props, "PolicySet", "PolicyRuleName")
				if m == mps && r == rule {
					return &items[k], nil
				}
			}
			f := wsman.FaultInvalidSelectors(wsman.DetailInvalidValue)
			f.Reason = fmt.Sprintf("No AMT_RemoteAccessPolicyAppliesToMPS links policy %q to MPS %q.", rule, mps)
			return nil, f
		}
	}
	return pick(items, req.Selectors)
}

// putAppliesToMPS changes OrderOfAccess and MpsType of one association.
func putAppliesToMPS(s *Server, cur, body *wsman.Instance) (*wsman.Instance, *wsman.Fault) {
	const what = "Put AMT_RemoteAccessPolicyAppliesToMPS"
	order, orderOK, f := uintArg(body.Props, what, "OrderOfAccess", 8)
	if f != nil {
		return nil, f
	}
	typ, typOK, f := uintArg(body.Props, what, "MpsType", 8)
	if f != nil {
		return nil, f
	}
	mps, _ := eprName(cur.Props, "ManagedElement", "Name")
	rule, _ := eprName(cur.Props, "PolicySet", "PolicyRuleName")
	cfg := cloneConfig(s.policyLocked())
	for k := range cfg.Applies {
		a := &cfg.Applies[k]
		if a.MPS == mps && a.Rule == rule {
			if orderOK {
				a.OrderOfAccess = uint8(order)
			}
			if typOK {
				a.MpsType = policy.MpsType(typ)
			}
		}
	}
	if err := s.setPolicyLocked(cfg); err != nil {
		return nil, invalid(what + ": " + err.Error())
	}
	for _, in := range appliesToMPS(s) {
		m, _ := eprName(in.Props, "ManagedElement", "Name")
		r, _ := eprName(in.Props, "PolicySet", "PolicyRuleName")
		if m == mps && r == rule {
			return &in, nil
		}
	}
	return nil, wsman.FaultInternalError()
}

func remoteAccessService(*Server) []wsman.Instance {
	return []wsman.Instance{service("AMT_RemoteAccessService", "Intel(r) AMT Remote Access Service")}
}

// refuse logs why a remote-access method was refused and returns its code.
func (s *Server) refuse(method string, code uint32, why error) (uint32, []wsman.Prop, *wsman.Fault) {
	s.log.Info("remote-access method refused", "method", method, "return_value", code, "reason", why.Error())
	return code, nil, nil
}

// addMpServer adds one MPS. Missing or non-numeric arguments are faults
// naming the argument; values AMT rejects (bad address for the format,
// credentials too long, a seventh MPS, a refused configuration) answer a
// non-zero ReturnValue, as AMT does, with the reason in the device log.
func addMpServer(s *Server, req *wsman.Request) (uint32, []wsman.Prop, *wsman.Fault) {
	const what = "AddMpServer"
	args := inputs(req)
	access, ok := scalar(args, "AccessInfo")
	if !ok || access == "" {
		f := wsman.FaultInvalidParameter(wsman.DetailMissingValues)
		f.Reason = what + ": the required argument AccessInfo is missing"
		return 0, nil, f
	}
	format, f := needUint(args, what, "InfoFormat", 8)
	if f != nil {
		return 0, nil, f
	}
	port, f := needUint(args, what, "Port", 16)
	if f != nil {
		return 0, nil, f
	}
	auth, f := needUint(args, what, "AuthMethod", 8)
	if f != nil {
		return 0, nil, f
	}
	user, _ := scalar(args, "Username")
	pass, _ := scalar(args, "Password")
	cn, _ := scalar(args, "CN")

	cfg := cloneConfig(s.policyLocked())
	if len(cfg.MPS) >= policy.MaxMPS {
		return s.refuse(what, ptMaxLimitReached, fmt.Errorf("the device already has %d MPS entries, the most AMT holds", len(cfg.MPS)))
	}
	for _, m := range cfg.MPS {
		if strings.EqualFold(m.AccessInfo, access) && uint64(m.Port) == port {
			return s.refuse(what, ptInvalidParam, fmt.Errorf("%s:%d is already %q", access, port, m.Name))
		}
	}
	n := 1
	for slices.ContainsFunc(cfg.MPS, func(m policy.MPS) bool { return m.Name == policy.MPSName(n) }) {
		n++
	}
	m := policy.MPS{Name: policy.MPSName(n), AccessInfo: access, InfoFormat: policy.InfoFormat(format),
		Port: uint16(port), CN: cn, AuthMethod: policy.AuthMethod(auth), Username: user, Password: pass}
	cfg.MPS = append(cfg.MPS, m)
	if err := s.setPolicyLocked(cfg); err != nil {
		return s.refuse(what, codeFor(err), err)
	}
	return ptSuccess, []wsman.Prop{wsman.R("MpServer", mpsEPR(m.Name))}, nil
}

// codeFor maps a refused configuration to AMT's status: a validation
// problem is an invalid parameter, anything else (the device could not
// apply it) an internal error.
func codeFor(err error) uint32 {
	var ve *policy.ValidationError
	if errors.As(err, &ve) {
		return ptInvalidParam
	}
	return ptInternalError
}

var triggerNames = map[policy.Trigger]string{
	policy.TriggerUser: "User Initiated", policy.TriggerAlert: "Alert",
	policy.TriggerPeriodic: "Periodic", policy.TriggerHomeProvisioning: "Home Provisioning",
}

// addRemoteAccessPolicyRule adds a policy with its primary (and backup) MPS
// as external (MpServer) and internal (InternalMpServer) associations, in
// the order given.
func addRemoteAccessPolicyRule(s *Server, req *wsman.Request) (uint32, []wsman.Prop, *wsman.Fault) {
	const what = "AddRemoteAccessPolicyRule"
	args := inputs(req)
	trig, f := needUint(args, what, "Trigger", 8)
	if f != nil {
		return 0, nil, f
	}
	life, f := needUint(args, what, "TunnelLifeTime", 32)
	if f != nil {
		return 0, nil, f
	}
	ext, _ := scalar(args, "ExtendedData")
	var external, internal []string
	for _, p := range args {
		if p.Name != "MpServer" && p.Name != "InternalMpServer" {
			continue
		}
		if p.EPR == nil {
			return 0, nil, invalid(fmt.Sprintf("%s: %s must be an EPR of AMT_ManagementPresenceRemoteSAP", what, p.Name))
		}
		name, ok := p.EPR.Selector("Name")
		if !ok {
			return 0, nil, invalid(fmt.Sprintf("%s: %s EPR has no Name selector", what, p.Name))
		}
		if p.Name == "MpServer" {
			external = append(external, name)
		} else {
			internal = append(internal, name)
		}
	}
	if len(external)+len(internal) == 0 {
		f := wsman.FaultInvalidParameter(wsman.DetailMissingValues)
		f.Reason = what + ": at least one MpServer (EPR of AMT_ManagementPresenceRemoteSAP) is required"
		return 0, nil, f
	}
	if len(external) > policy.MaxMPSPerPolicy || len(internal) > policy.MaxMPSPerPolicy {
		return s.refuse(what, ptMaxLimitReached, fmt.Errorf("at most %d MPS per policy and environment, got %d external and %d internal",
			policy.MaxMPSPerPolicy, len(external), len(internal)))
	}
	t := policy.Trigger(trig)
	typ, ok := triggerNames[t]
	if !ok {
		return s.refuse(what, ptInvalidParam, fmt.Errorf("Trigger must be 0 (user), 1 (alert), 2 (periodic) or 3 (home provisioning), got %d", trig))
	}
	cfg := cloneConfig(s.policyLocked())
	handle := len(cfg.Rules) + 1
	for _, r := range cfg.Rules {
		if i := strings.LastIndexByte(r.Name, ' '); i >= 0 {
			if h, err := strconv.Atoi(r.Name[i+1:]); err == nil && h >= handle {
				handle = h + 1
			}
		}
	}
	name := fmt.Sprintf("%s %d", typ, handle)
	cfg.Rules = append(cfg.Rules, policy.Rule{Name: name, Trigger: t, TunnelLifeTime: uint32(life), ExtendedData: ext})
	for i, m := range external {
		cfg.Applies = append(cfg.Applies, policy.AppliesTo{Rule: name, MPS: m, OrderOfAccess: uint8(i), MpsType: policy.MpsExternal})
	}
	for i, m := range internal {
		cfg.Applies = append(cfg.Applies, policy.AppliesTo{Rule: name, MPS: m, OrderOfAccess: uint8(i), MpsType: policy.MpsInternal})
	}
	if err := s.setPolicyLocked(cfg); err != nil {
		return s.refuse(what, codeFor(err), err)
	}
	return ptSuccess, []wsman.Prop{wsman.R("PolicyRule", ruleEPR(name))}, nil
}

func userInitiatedConnection(s *Server) []wsman.Instance {
	uic := s.policyLocked().UIC
	if uic == 0 {
		uic = policy.UICDisabled
	}
	return []wsman.Instance{service("AMT_UserInitiatedConnectionService", "Intel(r) AMT User Initiated Connection Service",
		wsman.S("EnabledState", u2s(uint16(uic))))}
}

func uicRequestStateChange(s *Server, req *wsman.Request) (uint32, []wsman.Prop, *wsman.Fault) {
	const what = "AMT_UserInitiatedConnectionService.RequestStateChange"
	v, f := needUint(inputs(req), what, "RequestedState", 32)
	if f != nil {
		return 0, nil, f
	}
	if v < uint64(policy.UICDisabled) || v > uint64(policy.UICBoth) {
		return s.refuse(what, rscInvalidParam, fmt.Errorf("RequestedState must be 32768–32771, got %d", v))
	}
	cfg := cloneConfig(s.policyLocked())
	cfg.UIC = policy.UICState(v)
	if err := s.setPolicyLocked(cfg); err != nil {
		return s.refuse(what, 2, err)
	}
	return rscOK, nil, nil
}

const envDetectionID = "Intel(r) AMT Environment Detection Settings"

func environmentDetection(s *Server) []wsman.Instance {
	env := s.policyLocked().Environment
	return []wsman.Instance{inst("AMT_EnvironmentDetectionSettingData",
		wsman.S("DetectionAlgorithm", u2s(env.DetectionAlgorithm)),
		wsman.L("DetectionStrings", env.DetectionStrings...),
		wsman.S("ElementName", envDetectionID),
		wsman.S("InstanceID", envDetectionID))}
}

// putEnvironmentDetection replaces DetectionAlgorithm and DetectionStrings
// (an absent DetectionStrings clears the list, as a Put replaces the
// instance).
func putEnvironmentDetection(s *Server, _, body *wsman.Instance) (*wsman.Instance, *wsman.Fault) {
	const what = "Put AMT_EnvironmentDetectionSettingData"
	alg, algOK, f := uintArg(body.Props, what, "DetectionAlgorithm", 8)
	if f != nil {
		return nil, f
	}
	if algOK && alg != 0 {
		return nil, invalid(fmt.Sprintf("%s: DetectionAlgorithm must be 0 (local domains), the only one AMT implements; got %d", what, alg))
	}
	var strs []string
	if p, ok := body.Prop("DetectionStrings"); ok && !p.Nil {
		for _, v := range p.All() {
			if v = strings.TrimSpace(v); v != "" {
				strs = append(strs, v)
			}
		}
	}
	if len(strs) > policy.MaxDetectionStrings {
		return nil, invalid(fmt.Sprintf("%s: at most %d DetectionStrings, got %d", what, policy.MaxDetectionStrings, len(strs)))
	}
	for _, v := range strs {
		if len(v) > policy.MaxDetectionLength {
			return nil, invalid(fmt.Sprintf("%s: DetectionStrings entry %q is longer than %d characters", what, clip(v), policy.MaxDetectionLength))
		}
	}
	cfg := cloneConfig(s.policyLocked())
	cfg.Environment.DetectionAlgorithm = uint8(alg)
	cfg.Environment.DetectionStrings = strs
	if err := s.setPolicyLocked(cfg); err != nil {
		return nil, invalid(what + ": " + err.Error())
	}
	return &environmentDetection(s)[0], nil
}

func remoteAccessCapabilities(*Server) []wsman.Instance {
	const name = "Intel(r) AMT Remote Access Capabilities"
	return []wsman.Instance{inst("AMT_RemoteAccessCapabilities",
		wsman.S("ElementName", name),
		wsman.S("InstanceID", name),
		wsman.S("MaxMpsPerPolicy", u2s(policy.MaxMPSPerPolicy)),
		wsman.S("MaxTotalMpServers", u2s(policy.MaxMPS)),
		wsman.S("MaxTotalPolicies", "4"),
		wsman.S("MaxTotalProxyEntryPoints", "0"))}
}
