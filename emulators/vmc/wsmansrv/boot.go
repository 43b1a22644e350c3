package wsmansrv

import (
	"slices"

	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

// bootState is AMT_BootSettingData as last written: the one-time boot
// options a console sets before a power action. The vMC keeps them so a Get
// shows what a Put wrote; the emulated BIOS does not act on them.
type bootState struct{ props []wsman.Prop }

const bootSettingsID = "Intel(r) AMT:BootSettingData 0"

func defaultBootState() bootState {
	return bootState{props: []wsman.Prop{
		wsman.S("BIOSPause", "false"),
		wsman.S("BIOSSetup", "false"),
		wsman.S("BootMediaIndex", "0"),
		wsman.S("ConfigurationDataReset", "false"),
		wsman.S("ElementName", "Intel(r) AMT Boot Configuration Settings"),
		wsman.S("EnforceSecureBoot", "false"),
		wsman.S("FirmwareVerbosity", "0"),
		wsman.S("ForcedProgressEvents", "false"),
		wsman.S("IDERBootDevice", "0"),
		wsman.S("InstanceID", bootSettingsID),
		wsman.S("LockKeyboard", "false"),
		wsman.S("LockPowerButton", "false"),
		wsman.S("LockResetButton", "false"),
		wsman.S("LockSleepButton", "false"),
		wsman.S("OwningEntity", "Intel(r) AMT"),
		wsman.S("ReflashBIOS", "false"),
		wsman.S("SecureErase", "false"),
		wsman.S("UseIDER", "false"),
		wsman.S("UseSOL", "false"),
		wsman.S("UseSafeMode", "false"),
		wsman.S("UserPasswordBypass", "false"),
	}}
}

func bootSettingData(s *Server) []wsman.Instance {
	return []wsman.Instance{inst("AMT_BootSettingData", slices.Clone(s.boot.props)...)}
}

// bootReadOnly are the properties a Put may not change.
var bootReadOnly = map[string]bool{"ElementName": true, "InstanceID": true, "OwningEntity": true}

// putBootSettings writes the known properties; booleans must be booleans
// and the rest unsigned integers, as in AMT's schema.
func putBootSettings(s *Server, _, body *wsman.Instance) (*wsman.Instance, *wsman.Fault) {
	const what = "Put AMT_BootSettingData"
	next := slices.Clone(s.boot.props)
	for _, p := range body.Props {
		if bootReadOnly[p.Name] {
			continue
		}
		k := slices.IndexFunc(next, func(q wsman.Prop) bool { return q.Name == p.Name })
		if k < 0 {
			continue // AMT ignores properties of newer schema versions it does not know
		}
		cur := next[k].Value
		if cur == "true" || cur == "false" {
			v, _, f := boolArg([]wsman.Prop{p}, what, p.Name)
			if f != nil {
				return nil, f
			}
			next[k].Value = b2s(v)
			continue
		}
		v, _, f := uintArg([]wsman.Prop{p}, what, p.Name, 16)
		if f != nil {
			return nil, f
		}
		next[k].Value = u2s(v)
	}
	s.boot.props = next
	return &bootSettingData(s)[0], nil
}

func bootCapabilities(*Server) []wsman.Instance {
	return []wsman.Instance{inst("AMT_BootCapabilities",
		wsman.S("BIOSPause", "false"),
		wsman.S("BIOSReflash", "true"),
		wsman.S("BIOSSecureBoot", "false"),
		wsman.S("BIOSSetup", "true"),
		wsman.S("ConfigurationDataReset", "false"),
		wsman.S("ElementName", "Intel(r) AMT: Boot Capabilities"),
		wsman.S("ForceCDorDVDBoot", "true"),
		wsman.S("ForceDiagnosticBoot", "false"),
		wsman.S("ForceHardDriveBoot", "true"),
		wsman.S("ForceHardDriveSafeModeBoot", "false"),
		wsman.S("ForcePXEBoot", "true"),
		wsman.S("ForcedProgressEvents", "true"),
		wsman.S("IDER", "true"),
		wsman.S("InstanceID", "Intel(r) AMT:BootCapabilities 0"),
		wsman.S("KeyboardLock", "true"),
		wsman.S("PowerButtonLock", "false"),
		wsman.S("ResetButtonLock", "false"),
		wsman.S("SOL", "true"),
		wsman.S("SecureErase", "false"),
		wsman.S("SleepButtonLock", "false"),
		wsman.S("UserPasswordBypass", "true"),
		wsman.S("VerbosityQuiet", "false"),
		wsman.S("VerbosityScreenBlank", "false"),
		wsman.S("VerbosityVerbose", "false"))}
}

func bootService(*Server) []wsman.Instance {
	return []wsman.Instance{service("CIM_BootService", "Intel(r) AMT Boot Service",
		wsman.S("EnabledState", "32768"),
		wsman.S("OperationalStatus", "0"),
		wsman.S("RequestedState", "12"))}
}

// The three boot sources AMT offers (§3.4).
var bootSources = []struct{ id, structured string }{
	{"Intel(r) AMT: Force Hard-drive Boot", "CIM:Hard-Disk:1"},
	{"Intel(r) AMT: Force PXE Boot", "CIM:Network:1"},
	{"Intel(r) AMT: Force CD/DVD Boot", "CIM:CD/DVD:1"},
}

func bootSourceSetting(*Server) []wsman.Instance {
	out := make([]wsman.Instance, 0, len(bootSources))
	for _, b := range bootSources {
		out = append(out, inst("CIM_BootSourceSetting",
			wsman.S("ElementName", b.id),
			wsman.S("FailThroughSupported", "2"),
			wsman.S("InstanceID", b.id),
			wsman.S("StructuredBootString", b.structured)))
	}
	return out
}
