package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/oobtb/oobtb/emulators/backoff"
)

// ValidationError names the class, the instance and the field of a bad
// configuration value, with what was expected and what came — in the terms a
// WS-MAN fault or an operator would use.
type ValidationError struct {
	Class    string // e.g. "AMT_ManagementPresenceRemoteSAP"
	Instance string // instance name or index, e.g. "Intel(r) AMT:Management Presence Server 7"
	Field    string
	Expected string
	Got      string
}

func (e *ValidationError) Error() string {
	s := e.Class
	if e.Instance != "" {
		s += " " + fmt.Sprintf("%q", e.Instance)
	}
	return fmt.Sprintf("%s: field %s: expected %s, got %s", s, e.Field, e.Expected, e.Got)
}

// Validate checks c against AMT's rules and returns every problem found,
// joined (each one a *ValidationError), or nil.
func (c Config) Validate() error {
	var errs []error
	bad := func(class, inst, field, exp, got string) {
		errs = append(errs, &ValidationError{class, inst, field, exp, got})
	}

	const sap = "AMT_ManagementPresenceRemoteSAP"
	if len(c.MPS) > MaxMPS {
		bad(sap, c.MPS[MaxMPS].Name, "count", fmt.Sprintf("at most %d MPS entries", MaxMPS), fmt.Sprintf("%d (the %dth is one too many)", len(c.MPS), MaxMPS+1))
	}
	mpsNames := map[string]bool{}
	for i, m := range c.MPS {
		inst := m.Name
		if inst == "" {
			inst = fmt.Sprintf("#%d", i)
			bad(sap, inst, "Name", "a non-empty name", `""`)
		} else if mpsNames[m.Name] {
			bad(sap, inst, "Name", "a unique name", "a duplicate")
		}
		mpsNames[m.Name] = true
		switch m.InfoFormat {
		case InfoIPv4:
			if a, err := netip.ParseAddr(m.AccessInfo); err != nil || !a.Is4() {
				bad(sap, inst, "AccessInfo", "an IPv4 address (InfoFormat 3)", fmt.Sprintf("%q", m.AccessInfo))
			}
		case InfoIPv6:
			if a, err := netip.ParseAddr(m.AccessInfo); err != nil || !a.Is6() || a.Is4In6() {
				bad(sap, inst, "AccessInfo", "an IPv6 address (InfoFormat 4)", fmt.Sprintf("%q", m.AccessInfo))
			}
		case InfoFQDN:
			if !validFQDN(m.AccessInfo) {
				bad(sap, inst, "AccessInfo", "a fully qualified domain name (InfoFormat 201)", fmt.Sprintf("%q", m.AccessInfo))
			}
		default:
			bad(sap, inst, "InfoFormat", "3 (IPv4), 4 (IPv6) or 201 (FQDN)", fmt.Sprint(m.InfoFormat))
		}
		if m.Port == 0 {
			bad(sap, inst, "Port", "a TCP port 1–65535", "0")
		}
		switch m.AuthMethod {
		case AuthPassword:
			if m.Username == "" || len(m.Username) > MaxCredentialLength || !alnum(m.Username) {
				bad(sap, inst, "Username", fmt.Sprintf("1–%d alphanumeric characters", MaxCredentialLength), fmt.Sprintf("%q", m.Username))
			}
			if m.Password == "" || len(m.Password) > MaxCredentialLength {
				bad(sap, inst, "Password", fmt.Sprintf("1–%d characters", MaxCredentialLength), fmt.Sprintf("%d characters", len(m.Password)))
			}
		case AuthMutualTLS:
		default:
			bad(sap, inst, "AuthMethod", "1 (mutual TLS) or 2 (username and password)", fmt.Sprint(m.AuthMethod))
		}
	}

	const rule = "AMT_RemoteAccessPolicyRule"
	ruleNames := map[string]bool{}
	byTrigger := map[Trigger]string{}
	for i, r := range c.Rules {
		inst := r.Name
		if inst == "" {
			inst = fmt.Sprintf("#%d", i)
			bad(rule, inst, "PolicyRuleName", "a non-empty name", `""`)
		} else if ruleNames[r.Name] {
			bad(rule, inst, "PolicyRuleName", "a unique name", "a duplicate")
		}
		ruleNames[r.Name] = true
		if r.Trigger > TriggerHomeProvisioning {
			bad(rule, inst, "Trigger", "0 (user-initiated), 1 (alert), 2 (periodic) or 3 (home provisioning)", fmt.Sprint(uint8(r.Trigger)))
		} else if other, dup := byTrigger[r.Trigger]; dup {
			bad(rule, inst, "Trigger", "a trigger no other policy uses", fmt.Sprintf("%s, already used by %q", r.Trigger, other))
		} else {
			byTrigger[r.Trigger] = inst
		}
		if r.Trigger == TriggerPeriodic {
			if _, err := DecodeExtendedData(r.ExtendedData); err != nil {
				bad(rule, inst, "ExtendedData", "a periodic schedule (interval or daily form)", err.Error())
			}
		} else if r.ExtendedData != "" {
			bad(rule, inst, "ExtendedData", "empty (only periodic policies carry a schedule)", fmt.Sprintf("%q", r.ExtendedData))
		}
	}

	const assoc = "AMT_RemoteAccessPolicyAppliesToMPS"
	perRule := map[string][]AppliesTo{}
	for i, a := range c.Applies {
		inst := fmt.Sprintf("#%d (%s → %s)", i, a.Rule, a.MPS)
		if !ruleNames[a.Rule] {
			bad(assoc, inst, "PolicySet", "the name of a configured policy rule", fmt.Sprintf("%q", a.Rule))
		}
		if !mpsNames[a.MPS] {
			bad(assoc, inst, "ManagedElement", "the name of a configured MPS", fmt.Sprintf("%q", a.MPS))
		}
		if a.OrderOfAccess > 1 {
			bad(assoc, inst, "OrderOfAccess", "0 (primary) or 1 (backup)", fmt.Sprint(a.OrderOfAccess))
		}
		if a.MpsType > MpsBoth {
			bad(assoc, inst, "MpsType", "0 (external), 1 (internal) or 2 (both)", fmt.Sprint(a.MpsType))
		}
		for _, o := range perRule[a.Rule] {
			if o.MPS == a.MPS {
				bad(assoc, inst, "ManagedElement", "each MPS once per policy", fmt.Sprintf("%q twice", a.MPS))
			} else if o.OrderOfAccess == a.OrderOfAccess && overlaps(o.MpsType, a.MpsType) {
				bad(assoc, inst, "OrderOfAccess", "one MPS per order and environment in a policy",
					fmt.Sprintf("%d, also used by %q", a.OrderOfAccess, o.MPS))
			}
		}
		perRule[a.Rule] = append(perRule[a.Rule], a)
	}
	for _, r := range c.Rules {
		as := perRule[r.Name]
		if r.Name != "" && len(as) == 0 {
			bad(rule, r.Name, "MpServer", "at least one MPS (AMT_RemoteAccessPolicyAppliesToMPS)", "none")
		}
		for _, env := range []struct {
			name string
			in   func(MpsType) bool
		}{{"external", MpsType.appliesOutside}, {"internal", MpsType.appliesInside}} {
			n := 0
			for _, a := range as {
				if env.in(a.MpsType) {
					n++
				}
			}
			if n > MaxMPSPerPolicy {
				bad(rule, r.Name, "MpServer", fmt.Sprintf("at most %d %s MPS per policy", MaxMPSPerPolicy, env.name), fmt.Sprint(n))
			}
		}
	}

	const envc = "AMT_EnvironmentDetectionSettingData"
	if c.Environment.DetectionAlgorithm != 0 {
		bad(envc, "", "DetectionAlgorithm", "0 (local domains, the only one AMT implements)", fmt.Sprint(c.Environment.DetectionAlgorithm))
	}
	if len(c.Rules) > 0 && len(c.Environment.DetectionStrings) == 0 {
		bad(envc, "", "DetectionStrings", "at least one suffix: remote access requires environment detection", "none")
	}
	if len(c.Environment.DetectionStrings) > MaxDetectionStrings {
		bad(envc, "", "DetectionStrings", fmt.Sprintf("at most %d suffixes", MaxDetectionStrings), fmt.Sprint(len(c.Environment.DetectionStrings)))
	}
	for _, s := range c.Environment.DetectionStrings {
		if len(s) > MaxDetectionLength || !validFQDN(strings.TrimSuffix(s, ".")) {
			bad(envc, "", "DetectionStrings", fmt.Sprintf("DNS suffixes of 1–%d characters", MaxDetectionLength), fmt.Sprintf("%q", s))
		}
	}

	switch c.UIC {
	case UICDisabled, UICBIOSOnly, UICOSOnly, UICBoth:
	default:
		bad("AMT_UserInitiatedConnectionService", "", "EnabledState", "32768, 32769, 32770 or 32771", fmt.Sprint(uint16(c.UIC)))
	}
	if c.Keepalive < 0 {
		bad("vMC", "", "Keepalive", "a duration ≥ 0 (0 = 30 s)", c.Keepalive.String())
	}
	if c.Backoff != (backoff.Config{}) {
		if err := c.Backoff.Validate(); err != nil {
			bad("vMC", "", "Backoff", "a valid back-off", err.Error())
		}
	}
	if c.Extension > ExtensionMalformed {
		bad("vMC", "", "Extension", "on, stock or malformed", c.Extension.String())
	}
	return errors.Join(errs...)
}

func overlaps(a, b MpsType) bool {
	return (a.appliesInside() && b.appliesInside()) || (a.appliesOutside() && b.appliesOutside())
}

func alnum(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// validFQDN accepts LDH labels of 1–63 characters, 253 characters in all.
func validFQDN(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}
