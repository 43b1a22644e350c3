package wsmansrv

import (
	"fmt"

	"github.com/oobtb/oobtb/emulators/vmc/host"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

// CIM RequestStateChange return values (CIM_EnabledLogicalElement).
const (
	rscOK           = 0
	rscInvalidParam = 5
)

const redirectionName = "Intel(r) AMT Redirection Service"

func redirectionService(s *Server) []wsman.Instance {
	st := s.h.Settings()
	return []wsman.Instance{service("AMT_RedirectionService", redirectionName,
		wsman.S("EnabledState", u2s(st.RedirectionState)),
		wsman.S("ListenerEnabled", b2s(st.ListenerEnabled)))}
}

// putRedirection applies ListenerEnabled; EnabledState changes only through
// RequestStateChange, as on AMT, so a Put carrying the current value back is
// accepted and another value is refused.
func putRedirection(s *Server, _, body *wsman.Instance) (*wsman.Instance, *wsman.Fault) {
	const what = "Put AMT_RedirectionService"
	le, leOK, f := boolArg(body.Props, what, "ListenerEnabled")
	if f != nil {
		return nil, f
	}
	es, esOK, f := uintArg(body.Props, what, "EnabledState", 32)
	if f != nil {
		return nil, f
	}
	if cur := s.h.Settings().RedirectionState; esOK && uint32(es) != cur {
		return nil, invalid(fmt.Sprintf("%s: EnabledState is changed with RequestStateChange; Put carried %d, current is %d", what, es, cur))
	}
	if leOK {
		s.h.UpdateSettings(func(st *host.Settings) { st.ListenerEnabled = le })
	}
	return &redirectionService(s)[0], nil
}

func redirectionRequestStateChange(s *Server, req *wsman.Request) (uint32, []wsman.Prop, *wsman.Fault) {
	v, f := needUint(inputs(req), "AMT_RedirectionService.RequestStateChange", "RequestedState", 32)
	if f != nil {
		return 0, nil, f
	}
	if v < 32768 || v > 32771 {
		s.log.Info("RequestStateChange refused", "class", "AMT_RedirectionService", "requested", v,
			"reason", "RequestedState must be 32768 (none), 32769 (IDER), 32770 (SOL) or 32771 (both)")
		return rscInvalidParam, nil, nil
	}
	s.h.UpdateSettings(func(st *host.Settings) { st.RedirectionState = uint32(v) })
	return rscOK, nil, nil
}

// kvmState is CIM_KVMRedirectionSAP's EnabledState: 3 disabled, 2 enabled
// with a session, 6 enabled and waiting (no session).
func kvmState(s *Server) (enabled, requested string) {
	if !s.h.Settings().KVMEnabled {
		return "3", "3"
	}
	if s.h.KVMActive() {
		return "2", "2"
	}
	return "6", "2"
}

func kvmSAP(s *Server) []wsman.Instance {
	es, rs := kvmState(s)
	const name = "KVM Redirection Service Access Point"
	return []wsman.Instance{inst("CIM_KVMRedirectionSAP",
		wsman.S("CreationClassName", "CIM_KVMRedirectionSAP"),
		wsman.S("ElementName", name),
		wsman.S("EnabledState", es),
		wsman.S("KVMProtocol", "4"),
		wsman.S("Name", name),
		wsman.S("RequestedState", rs),
		wsman.S("SystemCreationClassName", ccsSystem),
		wsman.S("SystemName", managedSystem))}
}

// kvmRequestStateChange enables (2) or disables (3) KVM. 32768/32769 are
// AMT's aliases (disabled/enabled) used by older consoles.
func kvmRequestStateChange(s *Server, req *wsman.Request) (uint32, []wsman.Prop, *wsman.Fault) {
	v, f := needUint(inputs(req), "CIM_KVMRedirectionSAP.RequestStateChange", "RequestedState", 32)
	if f != nil {
		return 0, nil, f
	}
	var on bool
	switch v {
	case 2, 32769:
		on = true
	case 3, 32768:
	default:
		s.log.Info("RequestStateChange refused", "class", "CIM_KVMRedirectionSAP", "requested", v,
			"reason", "RequestedState must be 2 (enabled) or 3 (disabled)")
		return rscInvalidParam, nil, nil
	}
	s.h.UpdateSettings(func(st *host.Settings) { st.KVMEnabled = on })
	return rscOK, nil, nil
}

const kvmSettingsName = "Intel(r) KVM Redirection Settings"

// kvmSettings never shows RFBPassword: AMT treats it as write-only.
func kvmSettings(s *Server) []wsman.Instance {
	st := s.h.Settings()
	return []wsman.Instance{inst("IPS_KVMRedirectionSettingData",
		wsman.S("BackToBackFbMode", "false"),
		wsman.S("DefaultScreen", "0"),
		wsman.S("ElementName", kvmSettingsName),
		wsman.S("EnabledByMEBx", "true"),
		wsman.S("InitialDecimationModeForLowRes", "0"),
		wsman.S("InstanceID", kvmSettingsName),
		wsman.S("Is5900PortEnabled", b2s(st.Is5900PortEnabled)),
		wsman.S("OptInPolicy", b2s(st.OptInPolicy)),
		wsman.S("OptInPolicyTimeout", "300"),
		wsman.S("RFBPassword", ""),
		wsman.S("SessionTimeout", u2s(st.SessionTimeout)),
		wsman.S("ZlibControlSupported", "true"))}
}

// putKVMSettings applies Is5900PortEnabled, OptInPolicy, SessionTimeout and
// a non-empty RFBPassword. AMT wants an RFB password of exactly 8
// printable ASCII characters (the VNC DES key length).
func putKVMSettings(s *Server, _, body *wsman.Instance) (*wsman.Instance, *wsman.Fault) {
	const what = "Put IPS_KVMRedirectionSettingData"
	port, portOK, f := boolArg(body.Props, what, "Is5900PortEnabled")
	if f != nil {
		return nil, f
	}
	oip, oipOK, f := boolArg(body.Props, what, "OptInPolicy")
	if f != nil {
		return nil, f
	}
	to, toOK, f := uintArg(body.Props, what, "SessionTimeout", 32)
	if f != nil {
		return nil, f
	}
	pw, pwOK := scalar(body.Props, "RFBPassword")
	if pwOK && pw != "" {
		if len(pw) != 8 {
			return nil, invalid(fmt.Sprintf("%s: RFBPassword must be exactly 8 characters, got %d", what, len(pw)))
		}
		for i := 0; i < len(pw); i++ {
			if pw[i] < 0x21 || pw[i] > 0x7e {
				return nil, invalid(fmt.Sprintf("%s: RFBPassword must be printable ASCII without spaces (byte %d is 0x%02x)", what, i, pw[i]))
			}
		}
	}
	s.h.UpdateSettings(func(st *host.Settings) {
		if portOK {
			st.Is5900PortEnabled = port
		}
		if oipOK {
			st.OptInPolicy = oip
		}
		if toOK {
			st.SessionTimeout = uint32(to)
		}
		if pwOK && pw != "" {
			st.RFBPassword = pw
		}
	})
	return &kvmSettings(s)[0], nil
}

const optInName = "Intel(r) AMT OptIn Service"

func optInService(s *Server) []wsman.Instance {
	st := s.h.Settings()
	return []wsman.Instance{inst("IPS_OptInService",
		wsman.S("CanModifyOptInPolicy", "1"),
		wsman.S("CreationClassName", "IPS_OptInService"),
		wsman.S("ElementName", optInName),
		wsman.S("Name", optInName),
		wsman.S("OptInCodeTimeout", "120"),
		wsman.S("OptInDisplayTimeout", "300"),
		wsman.S("OptInRequired", u2s(st.OptInRequired)),
		wsman.S("OptInState", "0"),
		wsman.S("SystemCreationClassName", ccsSystem),
		wsman.S("SystemName", amtSystem))}
}

// putOptIn applies OptInRequired: 0 none, 1 KVM only, 4294967295 all.
func putOptIn(s *Server, _, body *wsman.Instance) (*wsman.Instance, *wsman.Fault) {
	const what = "Put IPS_OptInService"
	v, ok, f := uintArg(body.Props, what, "OptInRequired", 32)
	if f != nil {
		return nil, f
	}
	if ok {
		if v != 0 && v != 1 && v != 0xFFFFFFFF {
			return nil, invalid(fmt.Sprintf("%s: OptInRequired must be 0 (none), 1 (KVM) or 4294967295 (all), got %d", what, v))
		}
		s.h.UpdateSettings(func(st *host.Settings) { st.OptInRequired = uint32(v) })
	}
	return &optInService(s)[0], nil
}

// screenSettings describes the one virtual screen at its current
// resolution (AMT reports up to three screens; the others inactive).
func screenSettings(s *Server) []wsman.Instance {
	var w, h int
	s.h.WithScreen(func(sc *screen.Screen) { w, h = sc.Size() })
	const name = "Intel(r) Screen Settings"
	return []wsman.Instance{inst("IPS_ScreenSettingData",
		wsman.S("ElementName", name),
		wsman.S("InstanceID", name),
		wsman.L("IsActive", "true", "false", "false"),
		wsman.S("PrimaryIndex", "0"),
		wsman.L("ResolutionX", u2s(w), "0", "0"),
		wsman.L("ResolutionY", u2s(h), "0", "0"),
		wsman.S("SecondaryIndex", "0"),
		wsman.L("UpperLeftX", "0", "0", "0"),
		wsman.L("UpperLeftY", "0", "0", "0"))}
}
