package wsmansrv

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	"github.com/oobtb/oobtb/emulators/wire/apf"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

// PlatformGUID formats a canonical UUID the way AMT reports
// CIM_ComputerSystemPackage.PlatformGUID: 32 upper-case hex digits of the
// SMBIOS byte order, whose first three groups are byte-reversed (the order
// APF's PROTOCOL_VERSION carries). MeshCentral turns it back into the
// canonical form by swapping those groups (its guidToStr). An unparsable UUID
// gives its hex digits as they are.
func PlatformGUID(uuid string) string {
	g, err := apf.ParseGUID(uuid)
	if err != nil {
		return strings.ToUpper(strings.ReplaceAll(uuid, "-", ""))
	}
	return strings.ToUpper(hex.EncodeToString(g[:]))
}

func chassisEPR() wsman.EPR {
	return wsman.NewEPR(wsman.ResourceURI("CIM_Chassis"),
		wsman.Sel("CreationClassName", "CIM_Chassis"), wsman.Sel("Tag", "CIM_Chassis"))
}

func cardEPR() wsman.EPR {
	return wsman.NewEPR(wsman.ResourceURI("CIM_Card"),
		wsman.Sel("CreationClassName", "CIM_Card"), wsman.Sel("Tag", "CIM_Card"))
}

func computerSystemEPR() wsman.EPR {
	return wsman.NewEPR(wsman.ResourceURI("CIM_ComputerSystem"),
		wsman.Sel("CreationClassName", "CIM_ComputerSystem"), wsman.Sel("Name", managedSystem))
}

func computerSystemPackage(s *Server) []wsman.Instance {
	return []wsman.Instance{inst("CIM_ComputerSystemPackage",
		wsman.R("Antecedent", chassisEPR()),
		wsman.R("Dependent", computerSystemEPR()),
		wsman.S("PlatformGUID", PlatformGUID(s.identity().UUID)))}
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func chassis(s *Server) []wsman.Instance {
	id := s.identity()
	return []wsman.Instance{inst("CIM_Chassis",
		wsman.S("ChassisPackageType", "0"),
		wsman.S("CreationClassName", "CIM_Chassis"),
		wsman.S("ElementName", "Managed System Chassis"),
		wsman.S("Manufacturer", orDefault(id.Manufacturer, "oobtb")),
		wsman.S("Model", orDefault(id.Model, "vPro emulated PC")),
		wsman.S("OperationalStatus", "0"),
		wsman.S("PackageType", "3"),
		wsman.S("SerialNumber", orDefault(id.Serial, "0")),
		wsman.S("Tag", "CIM_Chassis"),
		wsman.S("Version", "1.0"))}
}

func card(s *Server) []wsman.Instance {
	id := s.identity()
	return []wsman.Instance{inst("CIM_Card",
		wsman.S("CanBeFRUed", "true"),
		wsman.S("CreationClassName", "CIM_Card"),
		wsman.S("ElementName", "Managed System Base Board"),
		wsman.S("HostingBoard", "true"),
		wsman.S("Manufacturer", orDefault(id.Manufacturer, "oobtb")),
		wsman.S("Model", orDefault(id.Model, "vPro emulated PC")+" board"),
		wsman.S("OperationalStatus", "0"),
		wsman.S("PackageType", "9"),
		wsman.S("SerialNumber", orDefault(id.Serial, "0")),
		wsman.S("Tag", "CIM_Card"),
		wsman.S("Version", "1.0"))}
}

func biosElement(s *Server) []wsman.Instance {
	id := s.identity()
	v := orDefault(id.BIOSVersion, "OOBTB.1.0")
	return []wsman.Instance{inst("CIM_BIOSElement",
		wsman.S("ElementName", "Primary BIOS"),
		wsman.S("Manufacturer", orDefault(id.Manufacturer, "oobtb")),
		wsman.S("Name", "Primary BIOS"),
		wsman.S("OperationalStatus", "0"),
		wsman.S("PrimaryBIOS", "true"),
		wsman.N("ReleaseDate", wsman.S("Datetime", "2026-01-01T00:00:00Z")),
		wsman.S("SoftwareElementID", v),
		wsman.S("SoftwareElementState", "2"),
		wsman.S("TargetOperatingSystem", "66"),
		wsman.S("Version", v))}
}

func systemPackaging(*Server) []wsman.Instance {
	return []wsman.Instance{
		inst("CIM_SystemPackaging", wsman.R("Antecedent", chassisEPR()), wsman.R("Dependent", computerSystemEPR())),
		inst("CIM_SystemPackaging", wsman.R("Antecedent", cardEPR()), wsman.R("Dependent", computerSystemEPR())),
	}
}

func chip(s *Server) []wsman.Instance {
	return []wsman.Instance{inst("CIM_Chip",
		wsman.S("CanBeFRUed", "true"),
		wsman.S("CreationClassName", "CIM_Chip"),
		wsman.S("ElementName", "Managed System Processor Chip"),
		wsman.S("Manufacturer", "Intel(R) Corporation"),
		wsman.S("OperationalStatus", "0"),
		wsman.S("Tag", "CPU 0"),
		wsman.S("Version", orDefault(s.identity().CPU, "Intel(R) Core(TM) i7 (emulated)")))}
}

func processor(*Server) []wsman.Instance {
	return []wsman.Instance{inst("CIM_Processor",
		wsman.S("CPUStatus", "1"),
		wsman.S("CreationClassName", "CIM_Processor"),
		wsman.S("CurrentClockSpeed", "2600"),
		wsman.S("DeviceID", "CPU 0"),
		wsman.S("ElementName", "Managed System CPU"),
		wsman.S("EnabledState", "2"),
		wsman.S("ExternalBusClockSpeed", "100"),
		wsman.S("Family", "198"),
		wsman.S("HealthState", "0"),
		wsman.S("MaxClockSpeed", "5200"),
		wsman.S("OperationalStatus", "0"),
		wsman.S("RequestedState", "12"),
		wsman.S("Stepping", "4"),
		wsman.S("SystemCreationClassName", ccsSystem),
		wsman.S("SystemName", managedSystem),
		wsman.S("UpgradeMethod", "6"))}
}

// physicalMemory reports the host's memory as two equal modules when it
// splits evenly, as most laptops have, else one.
func physicalMemory(s *Server) []wsman.Instance {
	id := s.identity()
	mib := id.MemoryMiB
	if mib <= 0 {
		mib = 8192
	}
	n := 1
	if mib >= 2048 && mib%2 == 0 {
		n = 2
	}
	out := make([]wsman.Instance, 0, n)
	for i := range n {
		out = append(out, inst("CIM_PhysicalMemory",
			wsman.S("BankLabel", fmt.Sprintf("BANK %d", i)),
			wsman.S("Capacity", u2s(uint64(mib/n)<<20)),
			wsman.S("CreationClassName", "CIM_PhysicalMemory"),
			wsman.S("ElementName", "Managed System Memory Chip"),
			wsman.S("FormFactor", "13"),
			wsman.S("IsSpeedInMhz", "true"),
			wsman.S("Manufacturer", orDefault(id.Manufacturer, "oobtb")),
			wsman.S("MaxMemorySpeed", "4800"),
			wsman.S("MemoryType", "34"),
			wsman.S("PartNumber", "OOBTB-DDR5-"+u2s(mib/n)),
			wsman.S("SerialNumber", fmt.Sprintf("%s-%d", orDefault(id.Serial, "0"), i)),
			wsman.S("Speed", "0"),
			wsman.S("Tag", fmt.Sprintf("9876543210 %d", i))))
	}
	return out
}

func mediaAccessDevice(*Server) []wsman.Instance {
	return []wsman.Instance{inst("CIM_MediaAccessDevice",
		wsman.L("Capabilities", "4", "10"),
		wsman.S("CreationClassName", "CIM_MediaAccessDevice"),
		wsman.S("DeviceID", "MEDIA DEV 0"),
		wsman.S("ElementName", "Managed System Media Access Device"),
		wsman.S("EnabledDefault", "2"),
		wsman.S("EnabledState", "0"),
		wsman.S("MaxMediaSize", "500107862"),
		wsman.S("OperationalStatus", "0"),
		wsman.S("RequestedState", "12"),
		wsman.S("Security", "2"),
		wsman.S("SystemCreationClassName", ccsSystem),
		wsman.S("SystemName", managedSystem))}
}

// physicalPackage lists the board and the chassis, each in its own class
// namespace, as AMT enumerates the subclasses.
func physicalPackage(s *Server) []wsman.Instance {
	return append(card(s), chassis(s)...)
}

func ethernetPortSettings(s *Server) []wsman.Instance {
	id := s.identity()
	mac := "00-00-00-00-00-00"
	if len(id.MAC) == 6 {
		mac = strings.ReplaceAll(id.MAC.String(), ":", "-")
	}
	ip, mask, gw := "0.0.0.0", "0.0.0.0", "0.0.0.0"
	if id.IP.IsValid() && id.IP.Addr().Is4() {
		ip = id.IP.Addr().String()
		mask = prefixMask(id.IP.Bits())
	}
	if id.Gateway.IsValid() {
		gw = id.Gateway.String()
	}
	const name = "Intel(r) AMT Ethernet Port Settings"
	return []wsman.Instance{inst("AMT_EthernetPortSettings",
		wsman.S("DHCPEnabled", b2s(id.DHCP)),
		wsman.S("DefaultGateway", gw),
		wsman.S("ElementName", name),
		wsman.S("IPAddress", ip),
		wsman.S("InstanceID", name+" 0"),
		wsman.S("IpSyncEnabled", "true"),
		wsman.S("LinkIsUp", "true"),
		wsman.L("LinkPolicy", "1", "14", "16"),
		wsman.S("MACAddress", mac),
		wsman.S("PhysicalConnectionType", "0"),
		wsman.S("SharedDynamicIP", "true"),
		wsman.S("SharedMAC", "true"),
		wsman.S("SharedStaticIp", "false"),
		wsman.S("SubnetMask", mask))}
}

func prefixMask(bits int) string {
	if bits < 0 || bits > 32 {
		return "0.0.0.0"
	}
	m := uint32(0)
	if bits > 0 {
		m = ^uint32(0) << (32 - bits)
	}
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
}
