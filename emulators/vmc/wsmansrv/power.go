package wsmansrv

import (
	"fmt"

	"github.com/oobtb/oobtb/emulators/vmc/power"
	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

const powerServiceName = "Intel(r) AMT Power Management Service"

func powerServiceEPR() wsman.EPR {
	return wsman.NewEPR(wsman.ResourceURI("CIM_PowerManagementService"),
		wsman.Sel("CreationClassName", "CIM_PowerManagementService"),
		wsman.Sel("Name", powerServiceName),
		wsman.Sel("SystemCreationClassName", ccsSystem),
		wsman.Sel("SystemName", amtSystem))
}

// associatedPowerService is the one CIM_AssociatedPowerManagementService:
// DMT MPS reads PowerState from a single item only (§3.1).
func associatedPowerService(s *Server) []wsman.Instance {
	rep := s.h.PowerReport()
	avail := make([]string, 0, len(rep.AvailableRequestedPowerStates))
	for _, r := range rep.AvailableRequestedPowerStates {
		avail = append(avail, u2s(uint16(r)))
	}
	return []wsman.Instance{inst("CIM_AssociatedPowerManagementService",
		wsman.L("AvailableRequestedPowerStates", avail...),
		wsman.S("PowerState", u2s(uint16(rep.PowerState))),
		wsman.R("ServiceProvided", powerServiceEPR()),
		wsman.R("UserOfService", computerSystemEPR()))}
}

func ipsPowerService(s *Server) []wsman.Instance {
	rep := s.h.PowerReport()
	return []wsman.Instance{service("IPS_PowerManagementService", powerServiceName,
		wsman.S("EnabledState", "5"),
		wsman.S("OSPowerSavingState", u2s(rep.OSPowerSavingState)),
		wsman.S("RequestedState", "12"))}
}

func cimPowerService(*Server) []wsman.Instance {
	return []wsman.Instance{service("CIM_PowerManagementService", powerServiceName,
		wsman.S("EnabledState", "5"),
		wsman.S("RequestedState", "12"))}
}

// requestPowerStateChange runs the power action on the host. The
// ManagedElement must address the managed host (CIM_ComputerSystem
// ManagedSystem), as both servers send it.
func requestPowerStateChange(s *Server, req *wsman.Request) (uint32, []wsman.Prop, *wsman.Fault) {
	const what = "RequestPowerStateChange"
	args := inputs(req)
	ps, f := needUint(args, what, "PowerState", 16)
	if f != nil {
		return 0, nil, f
	}
	me, ok := req.Arg("ManagedElement")
	if !ok || me.EPR == nil {
		f := wsman.FaultInvalidParameter(wsman.DetailMissingValues)
		f.Reason = what + ": the required argument ManagedElement (EPR of CIM_ComputerSystem ManagedSystem) is missing"
		return 0, nil, f
	}
	if me.EPR.ResourceURI != wsman.ResourceURI("CIM_ComputerSystem") {
		return 0, nil, invalid(fmt.Sprintf("%s: ManagedElement must reference %s, got %q", what, wsman.ResourceURI("CIM_ComputerSystem"), clip(me.EPR.ResourceURI)))
	}
	if n, ok := me.EPR.Selector("Name"); ok && n != managedSystem {
		return 0, nil, invalid(fmt.Sprintf("%s: ManagedElement Name must be %q, got %q", what, managedSystem, clip(n)))
	}
	rv := s.h.RequestPower(power.Request(ps))
	return uint32(rv), nil, nil
}
