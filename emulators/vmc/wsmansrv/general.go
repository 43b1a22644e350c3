package wsmansrv

import (
	"crypto/sha1"
	"encoding/base64"
	"strings"

	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

// The names AMT gives its own system and the managed host in EPRs.
const (
	amtSystem     = "Intel(r) AMT"
	managedSystem = "ManagedSystem"
	ccsSystem     = "CIM_ComputerSystem"
)

// service is the common head of AMT's service instances.
func service(class, name string, extra ...wsman.Prop) wsman.Instance {
	props := []wsman.Prop{
		wsman.S("CreationClassName", class),
		wsman.S("ElementName", name),
	}
	props = append(props, extra...)
	props = append(props,
		wsman.S("Name", name),
		wsman.S("SystemCreationClassName", ccsSystem),
		wsman.S("SystemName", amtSystem))
	return inst(class, props...)
}

func generalSettings(s *Server) []wsman.Instance {
	id := s.identity()
	fqdn := id.Hostname
	if id.Domain != "" {
		fqdn += "." + id.Domain
	}
	const name = "Intel(r) AMT: General Settings"
	return []wsman.Instance{inst("AMT_GeneralSettings",
		wsman.S("AMTNetworkEnabled", "1"),
		wsman.S("DDNSPeriodicUpdateInterval", "1440"),
		wsman.S("DDNSTTL", "900"),
		wsman.S("DDNSUpdateByDHCPServerEnabled", "true"),
		wsman.S("DDNSUpdateEnabled", "false"),
		wsman.S("DHCPv6ConfigurationTimeout", "0"),
		wsman.S("DigestRealm", id.Realm),
		wsman.S("DomainName", id.Domain),
		wsman.S("ElementName", name),
		wsman.S("HostName", id.Hostname),
		wsman.S("HostOSFQDN", fqdn),
		wsman.S("IdleWakeTimeout", "65535"),
		wsman.S("InstanceID", name),
		wsman.S("NetworkInterfaceEnabled", "true"),
		wsman.S("PingResponseEnabled", "true"),
		wsman.S("PowerSource", "0"),
		wsman.S("PreferredAddressFamily", "0"),
		wsman.S("PresenceNotificationInterval", "0"),
		wsman.S("PrivacyLevel", "0"),
		wsman.S("RmcpPingResponseEnabled", "true"),
		wsman.S("SharedFQDN", "true"),
		wsman.S("ThunderboltDockEnabled", "0"),
		wsman.S("WsmanOnlyMode", "false"),
	)}
}

// controlMode is IPS_HostBasedSetupService.CurrentControlMode: 1 CCM, 2 ACM
// (a host without one is reported in ACM, what DefaultSettings model).
func (s *Server) controlMode() int {
	if m := s.identity().ControlMode; m == 1 || m == 2 {
		return m
	}
	return 2
}

func hostBasedSetup(s *Server) []wsman.Instance {
	id := s.identity()
	// A stable 20-byte nonce per device, as AMT keeps one until
	// re-provisioning.
	sum := sha1.Sum([]byte("oobtb-config-nonce:" + strings.ToLower(id.UUID)))
	const name = "Intel(r) AMT Host Based Setup Service"
	return []wsman.Instance{inst("IPS_HostBasedSetupService",
		wsman.L("AllowedControlModes", "2", "1"),
		wsman.S("CertChainStatus", "0"),
		wsman.S("ConfigurationNonce", base64.StdEncoding.EncodeToString(sum[:])),
		wsman.S("CreationClassName", "IPS_HostBasedSetupService"),
		wsman.S("CurrentControlMode", u2s(s.controlMode())),
		wsman.S("ElementName", name),
		wsman.S("Name", name),
		wsman.S("SystemCreationClassName", ccsSystem),
		wsman.S("SystemName", amtSystem),
	)}
}

func setupAndConfiguration(s *Server) []wsman.Instance {
	mode := "1" // ACM
	if s.controlMode() == 1 {
		mode = "4" // CCM
	}
	return []wsman.Instance{service("AMT_SetupAndConfigurationService", "Intel(r) AMT Setup and Configuration Service",
		wsman.S("EnabledState", "5"),
		wsman.S("PasswordModel", "1"),
		wsman.S("ProvisioningMode", mode),
		wsman.S("ProvisioningState", "2"),
		wsman.S("RequestedState", "12"),
		wsman.S("ZeroTouchConfigurationEnabled", "true"),
	)}
}

// buildNumber is the fourth part of a version such as 16.1.27.2225, or a
// fixed build when the version has three parts.
func buildNumber(v string) string {
	if p := strings.Split(v, "."); len(p) >= 4 && p[3] != "" {
		return p[3]
	}
	return "2225"
}

// shortVersion is the first three parts, as AMT's VersionString has.
func shortVersion(v string) string {
	if p := strings.Split(v, "."); len(p) > 3 {
		return strings.Join(p[:3], ".")
	}
	return v
}

func softwareIdentity(s *Server) []wsman.Instance {
	id := s.identity()
	v := shortVersion(id.AMTVersion)
	b := buildNumber(id.AMTVersion)
	entries := [][2]string{
		{"Flash", v}, {"Netstack", v}, {"AMTApps", v}, {"AMT", v},
		{"Sku", "16392"}, {"VendorID", "8086"}, {"Build Number", b},
		{"Recovery Version", v}, {"Recovery Build Num", b},
		{"Legacy Mode", "False"}, {"AMT FW Core Version", v},
	}
	out := make([]wsman.Instance, 0, len(entries))
	for _, e := range entries {
		out = append(out, inst("CIM_SoftwareIdentity",
			wsman.S("InstanceID", e[0]),
			wsman.S("IsEntity", "true"),
			wsman.S("VersionString", e[1])))
	}
	return out
}
