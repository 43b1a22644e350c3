package policy

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/oobtb/oobtb/emulators/backoff"
)

// MPSName is the name AMT gives the n-th MPS (from 1).
func MPSName(n int) string { return fmt.Sprintf("Intel(r) AMT:Management Presence Server %d", n) }

// NewMPS fills an MPS for host:port with password authentication, choosing
// InfoFormat from the host (IPv4 3, IPv6 4, otherwise FQDN 201) and setting
// CN to the host as RPS does for an IP.
func NewMPS(n int, host string, port uint16, user, pass string) MPS {
	m := MPS{Name: MPSName(n), AccessInfo: host, InfoFormat: InfoFQDN, Port: port, AuthMethod: AuthPassword, Username: user, Password: pass}
	if a, err := netip.ParseAddr(host); err == nil {
		m.InfoFormat = InfoIPv6
		if a.Is4() {
			m.InfoFormat = InfoIPv4
		}
		m.CN = host
	}
	return m
}

// DefaultRPS is the configuration Open AMT's RPS CIRA profile writes
// (reference §4.3): one MPS on port 4433, a periodic policy every 25 s with
// lifetime 0 and a user-initiated policy with lifetime 300, both applying to
// the MPS with MpsType 2 and OrderOfAccess 0, UIC enabled in BIOS and OS, and
// a random detection suffix (pass one, e.g. "<uuid>.com") so the device always
// believes it is outside.
func DefaultRPS(host, user, pass, detectionSuffix string) Config {
	m := NewMPS(1, host, 4433, user, pass)
	return Config{
		MPS: []MPS{m},
		Rules: []Rule{
			{Name: "Periodic 1", Trigger: TriggerPeriodic, TunnelLifeTime: 0, ExtendedData: "AAAAAAAAABk="},
			{Name: "User Initiated 2", Trigger: TriggerUser, TunnelLifeTime: 300},
		},
		Applies: []AppliesTo{
			{Rule: "Periodic 1", MPS: m.Name, OrderOfAccess: 0, MpsType: MpsBoth},
			{Rule: "User Initiated 2", MPS: m.Name, OrderOfAccess: 0, MpsType: MpsBoth},
		},
		Environment:     EnvironmentDetection{DetectionStrings: []string{detectionSuffix}},
		UIC:             UICBoth,
		Keepalive:       DefaultKeepalive,
		Backoff:         backoff.Default(),
		FailoverCapable: true,
	}
}

// DefaultMeshCentral is what MeshCentral's "setup CIRA" policy writes
// (reference §4.3): its own MPS (port 4433 is MeshCentral's default mpsport),
// a username of the 16-character group prefix, a periodic policy every 10 s
// with lifetime 0 (MpsType left at its default 0, external), no user or alert
// policy, UIC 32771 and the given detection suffix (MeshCentral uses a random
// 12-hex-character one when none is configured).
func DefaultMeshCentral(host, groupPrefix, pass, detectionSuffix string) Config {
	m := NewMPS(1, host, 4433, groupPrefix, pass)
	return Config{
		MPS:   []MPS{m},
		Rules: []Rule{{Name: "Periodic 1", Trigger: TriggerPeriodic, ExtendedData: IntervalData(10 * time.Second)}},
		Applies: []AppliesTo{
			{Rule: "Periodic 1", MPS: m.Name, OrderOfAccess: 0, MpsType: MpsExternal},
		},
		Environment:     EnvironmentDetection{DetectionStrings: []string{detectionSuffix}},
		UIC:             UICBoth,
		Keepalive:       DefaultKeepalive,
		Backoff:         backoff.Default(),
		FailoverCapable: true,
	}
}

// WithGatewayMPS adds the edge gateway as an internal MPS (MpsType 1, order
// 0) to every policy and the LAN's domain to DetectionStrings — the native
// AMT arrangement of reference §4.4: inside, the device reaches the gateway;
// outside, the cloud MPS.
func (c Config) WithGatewayMPS(host string, port uint16, lanDomain string) Config {
	out := c
	out.MPS = append(append([]MPS(nil), c.MPS...), MPS{})
	gw := NewMPS(len(c.MPS)+1, host, port, "", "")
	if len(c.MPS) > 0 {
		gw.AuthMethod, gw.Username, gw.Password = c.MPS[0].AuthMethod, c.MPS[0].Username, c.MPS[0].Password
	}
	out.MPS[len(c.MPS)] = gw
	out.Applies = append([]AppliesTo(nil), c.Applies...)
	for i, a := range out.Applies {
		if a.MpsType == MpsBoth {
			out.Applies[i].MpsType = MpsExternal
		}
	}
	for _, r := range c.Rules {
		out.Applies = append(out.Applies, AppliesTo{Rule: r.Name, MPS: gw.Name, OrderOfAccess: 0, MpsType: MpsInternal})
	}
	out.Environment.DetectionStrings = append([]string{lanDomain}, c.Environment.DetectionStrings...)
	return out
}
