// Package power is the vMC's host power state machine.
//
// It models what Intel AMT reports and accepts through
// CIM_AssociatedPowerManagementService, IPS_PowerManagementService and
// CIM_PowerManagementService.RequestPowerStateChange (reference §3.4), and what
// a power change does to the virtual screen and to KVM. It is pure: requests,
// host events and Tick carry the current time in and return actions; timed
// phases (power-cycle off time, warm reset, boot, graceful shutdown) end when
// Tick is called at or after their deadline. Drivers own the timers.
package power

import "fmt"

// State is a PowerState value as AMT reports it in
// CIM_AssociatedPowerManagementService (DMTF CIM_PowerManagementCapabilities
// numbering).
type State uint16

const (
	On         State = 2 // S0, full power
	LightSleep State = 3 // S1/S2
	DeepSleep  State = 4 // S3, "sleep"
	OffHard    State = 6 // G3/mechanical off
	Hibernate  State = 7 // S4
	OffSoft    State = 8 // S5
)

func (s State) String() string {
	switch s {
	case On:
		return "on"
	case LightSleep:
		return "light-sleep"
	case DeepSleep:
		return "sleep"
	case OffHard:
		return "off-hard"
	case Hibernate:
		return "hibernate"
	case OffSoft:
		return "off-soft"
	}
	return fmt.Sprintf("PowerState(%d)", uint16(s))
}

// Request is the PowerState input of RequestPowerStateChange (DMTF
// CIM_PowerManagementService numbering, which AMT uses).
type Request uint16

const (
	ReqOn                Request = 2  // power on / wake
	ReqLightSleep        Request = 3  // sleep - light
	ReqSleep             Request = 4  // sleep - deep (S3)
	ReqCycle             Request = 5  // power cycle (off soft, then on)
	ReqOffHard           Request = 6  // power off - hard
	ReqHibernate         Request = 7  // hibernate (S4)
	ReqOffSoft           Request = 8  // power off - soft (S5), immediate
	ReqCycleOffHard      Request = 9  // power cycle (off hard, then on)
	ReqReset             Request = 10 // master bus reset: warm reset
	ReqNMI               Request = 11 // diagnostic interrupt (NMI)
	ReqOffSoftGraceful   Request = 12 // OS shuts down, then off soft
	ReqOffHardGraceful   Request = 13 // OS shuts down, then off hard
	ReqResetGraceful     Request = 14 // OS restarts (master bus reset graceful)
	ReqCycleSoftGraceful Request = 15 // OS shuts down, then power cycle (off soft)
	ReqCycleHardGraceful Request = 16 // OS shuts down, then power cycle (off hard)
)

var requestNames = map[Request]string{
	ReqOn: "power-on", ReqLightSleep: "light-sleep", ReqSleep: "sleep", ReqCycle: "power-cycle",
	ReqOffHard: "off-hard", ReqHibernate: "hibernate", ReqOffSoft: "off-soft",
	ReqCycleOffHard: "power-cycle-off-hard", ReqReset: "reset", ReqNMI: "nmi",
	ReqOffSoftGraceful: "off-soft-graceful", ReqOffHardGraceful: "off-hard-graceful",
	ReqResetGraceful: "reset-graceful", ReqCycleSoftGraceful: "power-cycle-graceful",
	ReqCycleHardGraceful: "power-cycle-off-hard-graceful",
}

func (r Request) String() string {
	if n, ok := requestNames[r]; ok {
		return fmt.Sprintf("%s(%d)", n, uint16(r))
	}
	return fmt.Sprintf("Request(%d)", uint16(r))
}

// ReturnValue is RequestPowerStateChange's ReturnValue.
//
// AMT answers 0 on success. For the other codes we use the DMTF method's
// meanings: 1 "Not Supported" when the device does not implement the requested
// value at all (outside Config.Supported), 2 "Unknown or Unspecified Error"
// when the value is implemented but not available in the current power state
// (for example sleep while off, anything during the off time of a power cycle).
type ReturnValue uint32

const (
	ReturnOK           ReturnValue = 0
	ReturnNotSupported ReturnValue = 1
	ReturnFailed       ReturnValue = 2
)

func (r ReturnValue) String() string {
	switch r {
	case ReturnOK:
		return "0 (completed)"
	case ReturnNotSupported:
		return "1 (not supported)"
	case ReturnFailed:
		return "2 (failed: not available in the current power state)"
	}
	return fmt.Sprintf("ReturnValue(%d)", uint32(r))
}

// OSPowerSavingState values of IPS_PowerManagementService.
const (
	OSPowerUnknown uint16 = 0 // the OS is not running (off, sleeping, booting)
	OSPowerFull    uint16 = 2
	OSPowerSaving  uint16 = 3
)
