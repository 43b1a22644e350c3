// Package host is the managed PC as the vMC's services see it: identity,
// power, the live screen, the serial console and the AMT settings that WS-MAN
// reads and writes. The WS-MAN server, the redirection/KVM server and the
// port-5900 VNC server all act on one Host, so a power action over WS-MAN is
// what a KVM console sees next.
//
// Host owns one goroutine that drives the pure power machine's deadlines and,
// while somebody watches the screen, the screen's frame clock. The screen's
// pixel buffers exist only while watched, so an idle vMC stays small.
package host

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/policy"
	"github.com/oobtb/oobtb/emulators/vmc/power"
	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/sim/clock"
)

// Identity is what the device says about itself over WS-MAN.
type Identity struct {
	UUID       string // canonical lower-case
	Hostname   string
	Domain     string
	MAC        net.HardwareAddr
	IP         netip.Prefix // address and prefix length; invalid when unknown
	Gateway    netip.Addr
	DHCP       bool
	AMTVersion string // e.g. "16.1.27"; the Server header and CIM_SoftwareIdentity
	Realm      string // "Digest:" + 32 upper-case hex; equals AMT_GeneralSettings.DigestRealm
	AMTUser    string // WS-MAN and redirection digest user
	AMTPass    string
	// ControlMode is IPS_HostBasedSetupService.CurrentControlMode: 1 CCM, 2 ACM.
	ControlMode  int
	Manufacturer string
	Model        string
	Serial       string
	BIOSVersion  string
	CPU          string
	MemoryMiB    int
}

// Settings are the AMT settings WS-MAN can change.
type Settings struct {
	// RedirectionState is AMT_RedirectionService.EnabledState: 32768 none,
	// 32769 IDER, 32770 SOL, 32771 both.
	RedirectionState uint32
	ListenerEnabled  bool
	// KVMEnabled is CIM_KVMRedirectionSAP enabled (2/6) versus disabled (3).
	KVMEnabled        bool
	Is5900PortEnabled bool
	RFBPassword       string
	OptInRequired     uint32 // 0 none, 1 KVM, 0xFFFFFFFF all
	OptInPolicy       bool
	SessionTimeout    uint32 // minutes
}

// Config sets up a Host.
type Config struct {
	Identity Identity
	Settings Settings
	Screen   screen.Config
	Power    power.Config
	Clock    clock.Clock
	Logger   *slog.Logger
}

// DefaultSettings are those of a freshly provisioned AMT 16 in ACM with KVM
// and SOL on.
func DefaultSettings() Settings {
	return Settings{RedirectionState: 32771, ListenerEnabled: true, KVMEnabled: true,
		OptInRequired: 0, SessionTimeout: 3}
}

// Host is one managed PC.
type Host struct {
	clk clock.Clock
	log *slog.Logger

	mu       sync.Mutex
	id       Identity
	settings Settings
	pwr      *power.Machine
	scr      *screen.Screen
	watchers int
	kvmOwner string
	frame    chan struct{} // closed at every new frame; replaced after
	powerCh  chan struct{} // closed at every power change; replaced after
	timer    clock.Timer
	closed   bool
	sol      *SerialConsole
	remote   policy.Config
	onRemote func(policy.Config) error
}

// New builds a host; call Close to stop its timers.
func New(cfg Config) (*Host, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Identity.UUID == "" {
		return nil, errors.New("host: identity needs a UUID")
	}
	if cfg.Power.Supported == nil {
		d := power.DefaultConfig()
		d.Initial = cfg.Power.Initial
		if d.Initial == 0 {
			d.Initial = power.On
		}
		cfg.Power = d
	}
	pm, err := power.New(cfg.Power)
	if err != nil {
		return nil, fmt.Errorf("host: power: %w", err)
	}
	sc := cfg.Screen
	if pm.PowerState() != power.On {
		sc.Power = screen.PowerOff
	}
	sc.BootDuration = cfg.Power.ColdBoot
	scr, err := screen.New(sc)
	if err != nil {
		return nil, fmt.Errorf("host: screen: %w", err)
	}
	scr.Release() // pixels only while a console watches
	h := &Host{clk: cfg.Clock, log: cfg.Logger.With("uuid", cfg.Identity.UUID), id: cfg.Identity, settings: cfg.Settings, pwr: pm, scr: scr,
		frame: make(chan struct{}), powerCh: make(chan struct{}), sol: newSerialConsole(cfg.Identity.Hostname)}
	h.mu.Lock()
	h.armLocked()
	h.mu.Unlock()
	return h, nil
}

// Close stops the host's timer; it is idempotent.
func (h *Host) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.timer != nil {
		h.timer.Stop()
	}
	h.sol.close()
}

// RemoteAccess is the device's remote-access configuration (MPS entries,
// policy rules, environment detection) as WS-MAN reports it.
func (h *Host) RemoteAccess() policy.Config {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.remote.Clone()
}

// SetRemoteAccess applies a configuration changed over WS-MAN. It is
// validated first; the device (OnRemoteAccess) then adopts it.
func (h *Host) SetRemoteAccess(cfg policy.Config) error {
	cfg = cfg.Clone()
	if err := cfg.Validate(); err != nil {
		return err
	}
	h.mu.Lock()
	hook := h.onRemote
	h.mu.Unlock()
	if hook != nil {
		if err := hook(cfg); err != nil {
			return err
		}
	}
	h.mu.Lock()
	h.remote = cfg
	h.mu.Unlock()
	return nil
}

// OnRemoteAccess sets the initial configuration and the hook that applies
// later changes to the running device.
func (h *Host) OnRemoteAccess(initial policy.Config, apply func(policy.Config) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remote, h.onRemote = initial.Clone(), apply
}

// Logger is the device's logger, for the services acting on this host.
func (h *Host) Logger() *slog.Logger { return h.log }

// Identity returns the device identity.
func (h *Host) Identity() Identity {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.id
}

// SetAddress records the address the device really has (DHCP or static), so
// AMT_EthernetPortSettings reports the truth.
func (h *Host) SetAddress(ip netip.Prefix, gw netip.Addr, domain string, dhcp bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.id.IP, h.id.Gateway, h.id.DHCP = ip, gw, dhcp
	if domain != "" {
		h.id.Domain = domain
	}
}

// Settings returns the current AMT settings.
func (h *Host) Settings() Settings {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.settings
}

// UpdateSettings applies f to the settings under the host's lock.
func (h *Host) UpdateSettings(f func(*Settings)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(&h.settings)
}

// PowerReport is what WS-MAN reports about power.
func (h *Host) PowerReport() power.Report {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pwr.Report()
}

// RequestPower runs RequestPowerStateChange.
func (h *Host) RequestPower(r power.Request) power.ReturnValue {
	h.mu.Lock()
	defer h.mu.Unlock()
	rv, acts := h.pwr.Request(h.clk.Now(), r)
	h.applyLocked(acts)
	h.log.Info("power request", "uuid", h.id.UUID, "request", r, "result", rv, "state", h.pwr.PowerState())
	return rv
}

// HostEvent injects a host-side event (power button and the like).
func (h *Host) HostEvent(ev power.HostEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.applyLocked(h.pwr.Host(h.clk.Now(), ev))
}

// PowerChanged is closed at the next power-state change.
func (h *Host) PowerChanged() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.powerCh
}

// KVMAllowed says whether a KVM session may run now, and why not.
func (h *Host) KVMAllowed() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.settings.KVMEnabled {
		return false, "KVM is disabled (CIM_KVMRedirectionSAP)"
	}
	return h.pwr.KVMStatus()
}

// ErrKVMBusy refuses a second KVM session.
var ErrKVMBusy = errors.New("a KVM session is already active on this device")

// AcquireKVM reserves the single KVM session for owner and starts the
// screen's frame clock; release ends it.
func (h *Host) AcquireKVM(owner string) (release func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.settings.KVMEnabled {
		return nil, errors.New("KVM is disabled (CIM_KVMRedirectionSAP)")
	}
	if ok, why := h.pwr.KVMStatus(); !ok {
		return nil, errors.New(why)
	}
	if h.kvmOwner != "" {
		return nil, fmt.Errorf("%w (held by %s)", ErrKVMBusy, h.kvmOwner)
	}
	h.kvmOwner = owner
	h.watchLocked()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.kvmOwner = ""
			h.unwatchLocked()
		})
	}, nil
}

// KVMActive reports whether a KVM session holds the screen now; WS-MAN
// reports CIM_KVMRedirectionSAP EnabledState 2 then, and 6 (enabled but
// offline) otherwise.
func (h *Host) KVMActive() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.kvmOwner != ""
}

// Watch starts the frame clock for a viewer that is not the KVM session (for
// example a test reading the framebuffer); unwatch stops it.
func (h *Host) Watch() (unwatch func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watchLocked()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.unwatchLocked()
		})
	}
}

func (h *Host) watchLocked() {
	h.watchers++
	if h.watchers == 1 {
		h.scr.Step(h.clk.Now())
		h.scr.MarkAll()
		h.armLocked()
	}
}

func (h *Host) unwatchLocked() {
	h.watchers--
	if h.watchers == 0 {
		h.scr.Release()
		h.armLocked()
	}
}

// WithScreen runs f with the screen under the host's lock; f must be quick
// (encode a frame, read damage, inject input).
func (h *Host) WithScreen(f func(s *screen.Screen)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h.scr)
}

// NextFrame is closed when the screen has a new frame.
func (h *Host) NextFrame() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.frame
}

// Serial returns the host's serial console for SOL.
func (h *Host) Serial() *SerialConsole { return h.sol }

func (h *Host) applyLocked(acts []power.Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case power.ScreenOff:
			_ = h.scr.SetPower(screen.PowerOff)
		case power.ScreenOn:
			_ = h.scr.SetPower(screen.PowerOn)
		case power.BootStart:
			_ = h.scr.SetPower(screen.PowerBooting)
			h.sol.write(fmt.Sprintf("\r\n[%s] %s boot\r\n", h.id.Hostname, a.Kind))
		case power.BootDone:
			_ = h.scr.SetPower(screen.PowerOn)
			h.sol.write(fmt.Sprintf("\r\n%s login: ", h.id.Hostname))
		case power.StateChanged:
			close(h.powerCh)
			h.powerCh = make(chan struct{})
		}
	}
	h.armLocked()
}

// armLocked schedules the next wake-up: the earlier of the power machine's
// deadline and, while watched, the next frame.
func (h *Host) armLocked() {
	if h.closed {
		return
	}
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	now := h.clk.Now()
	var at time.Time
	if dl, ok := h.pwr.NextDeadline(); ok {
		at = dl
	}
	if h.watchers > 0 {
		next := now.Add(time.Second / time.Duration(h.scr.FPS()))
		if at.IsZero() || next.Before(at) {
			at = next
		}
	}
	if at.IsZero() {
		return
	}
	h.timer = h.clk.AfterFunc(max(at.Sub(now), 0), h.wake)
}

func (h *Host) wake() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	now := h.clk.Now()
	acts := h.pwr.Tick(now)
	if h.watchers > 0 && h.scr.Step(now) {
		close(h.frame)
		h.frame = make(chan struct{})
	}
	h.applyLocked(acts) // re-arms
}
