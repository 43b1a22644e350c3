package power

import (
	"fmt"
	"slices"
	"time"
)

// Config sets the initial state, the implemented requests and the length of
// each timed phase. Zero durations are allowed (the phase ends at the next Tick).
type Config struct {
	Initial State // On, LightSleep, DeepSleep, OffHard, Hibernate or OffSoft

	ColdBoot        time.Duration // power-on self test, BIOS and OS load
	WarmBoot        time.Duration // BIOS and OS load after a reset
	Resume          time.Duration // wake from sleep
	HibernateResume time.Duration // wake from hibernate
	CycleOff        time.Duration // off time inside a power cycle
	ResetHold       time.Duration // reset asserted, screen black, before the warm boot
	Shutdown        time.Duration // OS shutdown before a graceful power action

	// Supported lists the RequestPowerStateChange values the device
	// implements; anything else answers ReturnNotSupported.
	Supported []Request
}

// DefaultSupported is the set real AMT devices offer consoles (MeshCentral and
// DMT expose power on, cycle, off, reset, sleep, hibernate and the two
// graceful actions that need an OS). The other DMTF values are implemented but
// off by default.
var DefaultSupported = []Request{ReqOn, ReqSleep, ReqCycle, ReqHibernate, ReqOffSoft, ReqReset, ReqOffSoftGraceful, ReqResetGraceful}

// DefaultConfig is a device that is on, with boot times short enough for
// scenarios yet long enough for a console to watch the boot text.
func DefaultConfig() Config {
	return Config{
		Initial:         On,
		ColdBoot:        8 * time.Second,
		WarmBoot:        6 * time.Second,
		Resume:          2 * time.Second,
		HibernateResume: 5 * time.Second,
		CycleOff:        4 * time.Second,
		ResetHold:       500 * time.Millisecond,
		Shutdown:        3 * time.Second,
		Supported:       slices.Clone(DefaultSupported),
	}
}

// phase is what the host is doing right now.
type phase uint8

const (
	stable       phase = iota
	booting            // BootStart emitted, BootDone at the deadline
	resetting          // reset asserted; warm boot at the deadline
	cycleOff           // off half of a power cycle; cold boot at the deadline
	shuttingDown       // OS shutting down; then the follow-up request
)

var phaseNames = [...]string{"stable", "booting", "resetting", "power-cycle-off", "shutting-down"}

// Machine is one host's power state. Not safe for concurrent use.
type Machine struct {
	cfg       Config
	state     State // steady state; in a transient phase, the state to report
	phase     phase
	deadline  time.Time
	bootKind  BootKind
	then      Request // follow-up of a graceful shutdown
	osRunning bool
	osSaving  bool
	kvmOK     bool
	supported map[Request]bool
}

// New returns a machine in cfg.Initial. A device that starts On has its OS
// running.
func New(cfg Config) (*Machine, error) {
	switch cfg.Initial {
	case On, LightSleep, DeepSleep, OffHard, Hibernate, OffSoft:
	default:
		return nil, fmt.Errorf("power: Config.Initial: expected one of 2, 3, 4, 6, 7, 8, got %d", uint16(cfg.Initial))
	}
	for name, d := range map[string]time.Duration{"ColdBoot": cfg.ColdBoot, "WarmBoot": cfg.WarmBoot,
		"Resume": cfg.Resume, "HibernateResume": cfg.HibernateResume, "CycleOff": cfg.CycleOff,
		"ResetHold": cfg.ResetHold, "Shutdown": cfg.Shutdown} {
		if d < 0 {
			return nil, fmt.Errorf("power: Config.%s: expected a duration ≥ 0, got %s", name, d)
		}
	}
	m := &Machine{cfg: cfg, state: cfg.Initial, supported: map[Request]bool{}}
	for _, r := range cfg.Supported {
		if _, ok := requestNames[r]; !ok {
			return nil, fmt.Errorf("power: Config.Supported: expected RequestPowerStateChange values 2–16, got %d", uint16(r))
		}
		m.supported[r] = true
	}
	m.osRunning = cfg.Initial == On
	m.kvmOK, _ = m.kvmStatus()
	return m, nil
}

// PowerState is the value WS-MAN reports in CIM_AssociatedPowerManagementService.
func (m *Machine) PowerState() State { return m.state }

// Phase names the transient phase ("stable", "booting", "resetting",
// "power-cycle-off", "shutting-down") for logs and reports.
func (m *Machine) Phase() string { return phaseNames[m.phase] }

// OSRunning reports whether the host OS is up (boot complete, not asleep).
func (m *Machine) OSRunning() bool { return m.osRunning }

// OSPowerSavingState is IPS_PowerManagementService.OSPowerSavingState.
func (m *Machine) OSPowerSavingState() uint16 {
	switch {
	case !m.osRunning:
		return OSPowerUnknown
	case m.osSaving:
		return OSPowerSaving
	}
	return OSPowerFull
}

// KVMStatus says whether a KVM session may run now, and why not.
func (m *Machine) KVMStatus() (allowed bool, reason string) { return m.kvmStatus() }

func (m *Machine) kvmStatus() (bool, string) {
	switch {
	case m.phase == cycleOff:
		return false, "host is powered off (power cycle in progress)"
	case m.phase != stable:
		return true, ""
	case m.state == On:
		return true, ""
	case m.state == OffSoft || m.state == OffHard:
		return false, fmt.Sprintf("host is powered off (PowerState %d, %s)", uint16(m.state), m.state)
	case m.state == Hibernate:
		return false, "host is hibernating (PowerState 7)"
	}
	return false, fmt.Sprintf("host is asleep (PowerState %d, %s): no display output", uint16(m.state), m.state)
}

// NextDeadline is when the current timed phase ends, if one is running.
func (m *Machine) NextDeadline() (time.Time, bool) {
	if m.phase == stable {
		return time.Time{}, false
	}
	return m.deadline, true
}

// Available is AvailableRequestedPowerStates for the current state, in
// ascending order and limited to Config.Supported.
//
// With the host on, AMT lists power on (2) too (captured responses show
// 2, 5, 8, 10, … on a running machine), and requesting it is a no-op success.
func (m *Machine) Available() []Request {
	var cand []Request
	switch {
	case m.phase == cycleOff || m.phase == shuttingDown:
		// Busy: AMT refuses power actions until the transition settles.
	case m.phase != stable:
		cand = []Request{ReqOn, ReqCycle, ReqOffHard, ReqOffSoft, ReqCycleOffHard, ReqReset}
	case m.state == On:
		cand = []Request{ReqOn, ReqLightSleep, ReqSleep, ReqCycle, ReqOffHard, ReqHibernate, ReqOffSoft,
			ReqCycleOffHard, ReqReset, ReqNMI, ReqOffSoftGraceful, ReqOffHardGraceful, ReqResetGraceful,
			ReqCycleSoftGraceful, ReqCycleHardGraceful}
	case m.state == LightSleep || m.state == DeepSleep:
		cand = []Request{ReqOn, ReqOffHard, ReqOffSoft}
	default: // off, hibernate
		cand = []Request{ReqOn}
	}
	out := cand[:0:0]
	for _, r := range cand {
		if m.supported[r] {
			out = append(out, r)
		}
	}
	return out
}

// Report is everything WS-MAN reports about power.
type Report struct {
	PowerState                    State
	AvailableRequestedPowerStates []Request
	OSPowerSavingState            uint16
}

// Report returns the values WS-MAN must report now.
func (m *Machine) Report() Report {
	return Report{PowerState: m.state, AvailableRequestedPowerStates: m.Available(), OSPowerSavingState: m.OSPowerSavingState()}
}

// Request handles RequestPowerStateChange(r) at now.
func (m *Machine) Request(now time.Time, r Request) (ReturnValue, []Action) {
	if !m.supported[r] {
		return ReturnNotSupported, nil
	}
	if !slices.Contains(m.Available(), r) {
		return ReturnFailed, nil
	}
	t := m.begin()
	switch r {
	case ReqOn:
		if m.phase == stable && m.state != On {
			m.wake(now, &t)
		} // else already powered: a no-op success
	case ReqLightSleep:
		m.settle(&t, LightSleep, "host entered light sleep")
	case ReqSleep:
		m.settle(&t, DeepSleep, "host entered sleep")
	case ReqHibernate:
		m.settle(&t, Hibernate, "host hibernated")
	case ReqOffSoft:
		m.settle(&t, OffSoft, "host powered off (soft)")
	case ReqOffHard:
		m.settle(&t, OffHard, "host powered off (hard)")
	case ReqCycle:
		m.startCycle(now, &t, OffSoft)
	case ReqCycleOffHard:
		m.startCycle(now, &t, OffHard)
	case ReqReset:
		m.startReset(now, &t)
	case ReqNMI:
		t.acts = append(t.acts, DiagnosticInterrupt{})
	case ReqOffSoftGraceful, ReqOffHardGraceful, ReqResetGraceful, ReqCycleSoftGraceful, ReqCycleHardGraceful:
		m.startShutdown(now, &t, r)
	}
	return ReturnOK, m.end(t)
}

// HostEvent is something that happens on the host side, for scenarios.
type HostEvent uint8

const (
	PowerButton     HostEvent = iota // short press: on → OS shutdown; off/asleep → on
	PowerButtonHold                  // 4-second override: off soft at once
	OSShutdown                       // the user shuts the OS down
	OSRestart                        // the user restarts the OS
	OSSleep                          // the OS suspends to RAM
	OSHibernate                      // the OS suspends to disk
	OSDisplayOff                     // the OS blanks the display to save power
	OSDisplayOn                      // the OS wakes the display
)

// Host handles a host-side event at now.
func (m *Machine) Host(now time.Time, ev HostEvent) []Action {
	t := m.begin()
	running := m.phase == stable && m.state == On
	switch ev {
	case PowerButton:
		switch {
		case running:
			m.startShutdown(now, &t, ReqOffSoftGraceful)
		case m.phase == stable:
			// The button is not a WS-MAN request: it works whatever
			// Config.Supported says.
			m.wake(now, &t)
		}
	case PowerButtonHold:
		if m.phase != stable || m.state == On || m.state == LightSleep || m.state == DeepSleep {
			m.settle(&t, OffSoft, "power button held")
		}
	case OSShutdown:
		if running {
			m.startShutdown(now, &t, ReqOffSoftGraceful)
		}
	case OSRestart:
		if running {
			m.startShutdown(now, &t, ReqResetGraceful)
		}
	case OSSleep:
		if running {
			m.settle(&t, DeepSleep, "OS suspended to RAM")
		}
	case OSHibernate:
		if running {
			m.settle(&t, Hibernate, "OS hibernated")
		}
	case OSDisplayOff:
		if running && !m.osSaving {
			m.osSaving = true
			t.acts = append(t.acts, ScreenOff{Reason: "OS display power saving"})
		}
	case OSDisplayOn:
		if m.osSaving {
			m.osSaving = false
			if m.phase == stable && m.state == On {
				t.acts = append(t.acts, ScreenOn{})
			}
		}
	}
	return m.end(t)
}

// wake powers a stable, not running host on: resume from sleep or
// hibernate, cold boot from off.
func (m *Machine) wake(now time.Time, t *txn) {
	switch m.state {
	case LightSleep, DeepSleep:
		m.startBoot(now, t, BootResume, m.cfg.Resume)
	case Hibernate:
		m.startBoot(now, t, BootResume, m.cfg.HibernateResume)
	default:
		m.startBoot(now, t, BootCold, m.cfg.ColdBoot)
	}
}

// Tick ends every timed phase whose deadline is at or before now. Chained
// phases start at the previous deadline, not at now, so a late Tick does not
// stretch the schedule.
func (m *Machine) Tick(now time.Time) []Action {
	t := m.begin()
	for m.phase != stable && !now.Before(m.deadline) {
		at := m.deadline
		switch m.phase {
		case booting:
			m.phase = stable
			m.state = On
			m.osRunning = true
			m.osSaving = false
			t.acts = append(t.acts, BootDone{})
		case resetting:
			m.startBoot(at, &t, BootWarm, m.cfg.WarmBoot)
		case cycleOff:
			m.startBoot(at, &t, BootCold, m.cfg.ColdBoot)
		case shuttingDown:
			m.phase = stable
			m.osRunning = false
			switch m.then {
			case ReqOffSoftGraceful:
				m.settle(&t, OffSoft, "OS shut down")
			case ReqOffHardGraceful:
				m.settle(&t, OffHard, "OS shut down")
			case ReqResetGraceful:
				m.startBoot(at, &t, BootWarm, m.cfg.WarmBoot)
			case ReqCycleSoftGraceful:
				m.startCycle(at, &t, OffSoft)
			case ReqCycleHardGraceful:
				m.startCycle(at, &t, OffHard)
			}
		}
	}
	return m.end(t)
}

// txn collects a call's actions and remembers what the driver had been told,
// so end can add StateChanged, KVM and ScheduleWake only when they changed.
type txn struct {
	acts     []Action
	state    State
	deadline time.Time
	timed    bool
}

func (m *Machine) begin() txn {
	d, ok := m.NextDeadline()
	return txn{state: m.state, deadline: d, timed: ok}
}

func (m *Machine) end(t txn) []Action {
	acts := t.acts
	if m.state != t.state {
		acts = append([]Action{StateChanged{From: t.state, To: m.state}}, acts...)
	}
	if ok, why := m.kvmStatus(); ok != m.kvmOK {
		m.kvmOK = ok
		acts = append(acts, KVM{Allowed: ok, Reason: why})
	}
	if d, ok := m.NextDeadline(); ok && (!t.timed || !d.Equal(t.deadline)) {
		acts = append(acts, ScheduleWake{At: d})
	}
	return acts
}

func (m *Machine) settle(t *txn, s State, why string) {
	wasLit := m.screenLit()
	m.phase = stable
	m.state = s
	m.osRunning = false
	m.osSaving = false
	if wasLit {
		t.acts = append(t.acts, ScreenOff{Reason: why})
	}
}

func (m *Machine) screenLit() bool {
	switch m.phase {
	case cycleOff, resetting:
		return false
	case stable:
		return m.state == On && !m.osSaving
	}
	return true
}

func (m *Machine) startBoot(at time.Time, t *txn, kind BootKind, d time.Duration) {
	if !m.screenLit() {
		t.acts = append(t.acts, ScreenOn{})
	}
	m.phase = booting
	m.state = On
	m.bootKind = kind
	m.deadline = at.Add(d)
	m.osRunning = false
	m.osSaving = false
	t.acts = append(t.acts, BootStart{Kind: kind, Duration: d})
}

func (m *Machine) startCycle(at time.Time, t *txn, off State) {
	if m.screenLit() {
		t.acts = append(t.acts, ScreenOff{Reason: "power cycle"})
	}
	m.phase = cycleOff
	m.state = off
	m.deadline = at.Add(m.cfg.CycleOff)
	m.osRunning = false
	m.osSaving = false
}

func (m *Machine) startReset(at time.Time, t *txn) {
	// The screen goes black while reset is asserted, but the host stays
	// powered and KVM stays open: the console watches the boot that follows.
	if m.screenLit() {
		t.acts = append(t.acts, ScreenOff{Reason: "reset"})
	}
	m.phase = resetting
	m.state = On
	m.deadline = at.Add(m.cfg.ResetHold)
	m.osRunning = false
	m.osSaving = false
}

func (m *Machine) startShutdown(at time.Time, t *txn, then Request) {
	if m.osSaving {
		m.osSaving = false
		t.acts = append(t.acts, ScreenOn{}) // the shutdown screen wakes the display
	}
	m.phase = shuttingDown
	m.then = then
	m.deadline = at.Add(m.cfg.Shutdown)
}
