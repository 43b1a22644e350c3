package power

import (
	"fmt"
	"time"
)

// Action is something the driver must do after a call into the Machine.
type Action interface {
	fmt.Stringer
	isAction()
}

// BootKind says what kind of boot the screen shows.
type BootKind uint8

const (
	BootCold   BootKind = iota // from off or the off half of a power cycle: POST, BIOS, OS load
	BootWarm                   // after a reset: BIOS again, no power-on self test of memory
	BootResume                 // wake from sleep or hibernate: no BIOS text
)

func (k BootKind) String() string {
	switch k {
	case BootCold:
		return "cold"
	case BootWarm:
		return "warm"
	case BootResume:
		return "resume"
	}
	return fmt.Sprintf("BootKind(%d)", uint8(k))
}

// StateChanged tells the driver that the PowerState reported over WS-MAN changed.
type StateChanged struct{ From, To State }

// ScreenOff blanks the virtual screen.
type ScreenOff struct{ Reason string }

// ScreenOn lights the virtual screen again.
type ScreenOn struct{}

// BootStart starts a boot sequence of the given kind on the screen; it
// completes (BootDone) Duration later.
type BootStart struct {
	Kind     BootKind
	Duration time.Duration
}

// BootDone: the OS is up; the screen shows the workload again.
type BootDone struct{}

// KVM says whether a KVM session may be opened (and whether an open one must
// be closed). Reason explains a refusal in words a console can show.
type KVM struct {
	Allowed bool
	Reason  string
}

// DiagnosticInterrupt: an NMI was delivered to the host.
type DiagnosticInterrupt struct{}

// ScheduleWake asks the driver to call Tick at At.
type ScheduleWake struct{ At time.Time }

func (StateChanged) isAction()        {}
func (ScreenOff) isAction()           {}
func (ScreenOn) isAction()            {}
func (BootStart) isAction()           {}
func (BootDone) isAction()            {}
func (KVM) isAction()                 {}
func (DiagnosticInterrupt) isAction() {}
func (ScheduleWake) isAction()        {}

func (a StateChanged) String() string { return fmt.Sprintf("power state %s → %s", a.From, a.To) }
func (a ScreenOff) String() string    { return "screen off (" + a.Reason + ")" }
func (ScreenOn) String() string       { return "screen on" }
func (a BootStart) String() string    { return fmt.Sprintf("%s boot for %s", a.Kind, a.Duration) }
func (BootDone) String() string       { return "boot complete" }
func (a KVM) String() string {
	if a.Allowed {
		return "KVM allowed"
	}
	return "KVM refused: " + a.Reason
}
func (DiagnosticInterrupt) String() string { return "NMI delivered" }
func (a ScheduleWake) String() string      { return "wake at " + a.At.Format(time.RFC3339Nano) }
