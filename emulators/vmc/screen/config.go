package screen

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oobtb/oobtb/emulators/framebuf"
)

// Workload selects what the screen shows while the host is on.
type Workload uint8

const (
	W0Idle     Workload = iota // static desktop, blinking text cursor
	W1BIOS                     // 80×25 text console, boot log lines appearing
	W2Terminal                 // terminal window, typing and scrolling
	W3Drag                     // window dragged across a desktop, its page scrolling
	W4Photo                    // 480×270 photo/video tile moving over a desktop
	W5Noise                    // every pixel changes every frame
	numWorkloads
)

var workloadNames = [numWorkloads]string{"idle", "bios", "terminal", "drag", "photo", "noise"}

func (w Workload) String() string {
	if w < numWorkloads {
		return fmt.Sprintf("W%d-%s", uint8(w), workloadNames[w])
	}
	return fmt.Sprintf("Workload(%d)", uint8(w))
}

// Workloads lists every workload in order, for tables and benchmarks.
func Workloads() []Workload {
	out := make([]Workload, numWorkloads)
	for i := range out {
		out[i] = Workload(i)
	}
	return out
}

// ParseWorkload accepts "W3", "w3", "3", "drag" or "W3-drag".
func ParseWorkload(s string) (Workload, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for i, n := range workloadNames {
		w := Workload(i)
		if t == n || t == strings.ToLower(w.String()) || t == fmt.Sprintf("w%d", i) || t == strconv.Itoa(i) {
			return w, nil
		}
	}
	return 0, fmt.Errorf("screen: unknown workload %q (want W0..W5 or idle, bios, terminal, drag, photo, noise)", s)
}

// Power is what the host's power state means for the display.
type Power uint8

const (
	PowerOn      Power = iota // the workload is shown
	PowerOff                  // black; the KVM server refuses sessions
	PowerBooting              // BIOS POST text for Config.BootDuration, then On
	PowerSleep                // black (the display is in standby); KVM may stay connected
	numPowers
)

var powerNames = [numPowers]string{"on", "off", "booting", "sleep"}

func (p Power) String() string {
	if p < numPowers {
		return powerNames[p]
	}
	return fmt.Sprintf("Power(%d)", uint8(p))
}

// Dark reports whether the display shows nothing but black.
func (p Power) Dark() bool { return p == PowerOff || p == PowerSleep }

// Standard resolutions. 640×480 is the BIOS text mode.
var (
	Res1080p = Resolution{1920, 1080}
	ResXGA   = Resolution{1024, 768}
	ResSXGA  = Resolution{1280, 1024}
	ResVGA   = Resolution{640, 480}
)

// Resolution is a display size in pixels.
type Resolution struct{ W, H int }

func (r Resolution) String() string { return fmt.Sprintf("%dx%d", r.W, r.H) }

// Limits on the display size: the stamp and the input panel must fit, and
// framebuf bounds either side.
const (
	MinWidth  = 320
	MinHeight = 200
)

// ParseResolution accepts "1920x1080" (or "1920×1080") and the names
// "1080p", "xga", "sxga", "vga".
func ParseResolution(s string) (Resolution, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch t {
	case "1080p", "fhd":
		return Res1080p, nil
	case "xga":
		return ResXGA, nil
	case "sxga":
		return ResSXGA, nil
	case "vga":
		return ResVGA, nil
	}
	t = strings.ReplaceAll(t, "×", "x")
	ws, hs, ok := strings.Cut(t, "x")
	if !ok {
		return Resolution{}, fmt.Errorf("screen: resolution %q is not WxH", s)
	}
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if err1 != nil || err2 != nil {
		return Resolution{}, fmt.Errorf("screen: resolution %q is not WxH", s)
	}
	r := Resolution{w, h}
	return r, r.validate()
}

func (r Resolution) validate() error {
	if r.W < MinWidth || r.H < MinHeight || r.W > framebuf.MaxSide || r.H > framebuf.MaxSide {
		return fmt.Errorf("screen: resolution %s out of range %dx%d..%dx%d", r, MinWidth, MinHeight, framebuf.MaxSide, framebuf.MaxSide)
	}
	return nil
}

// Config sets up a Screen. The zero value is a 1920×1080 W0 screen at
// 30 Hz, seed 0, powered on, with a 3 s boot sequence.
type Config struct {
	Width, Height int           // 0 → 1920×1080
	Workload      Workload      // shown while on
	Seed          uint64        // seeds the workload's content and motion
	FPS           int           // content frame rate in Hz, 1..240; 0 → 30
	BootDuration  time.Duration // BIOS text before the workload when booting; 0 → 3 s
	// BootWidth×BootHeight is the display mode during POST, e.g. 640×480
	// as a real BIOS; 0×0 → the same as Width×Height (no mode change).
	BootWidth, BootHeight int
	Power                 Power // initial power state
}

const (
	DefaultFPS          = 30
	DefaultBootDuration = 3 * time.Second
	maxFPS              = 240
)

func (c Config) withDefaults() (Config, error) {
	if c.Width == 0 && c.Height == 0 {
		c.Width, c.Height = Res1080p.W, Res1080p.H
	}
	if err := (Resolution{c.Width, c.Height}).validate(); err != nil {
		return c, err
	}
	if c.BootWidth == 0 && c.BootHeight == 0 {
		c.BootWidth, c.BootHeight = c.Width, c.Height
	}
	if err := (Resolution{c.BootWidth, c.BootHeight}).validate(); err != nil {
		return c, fmt.Errorf("boot mode: %w", err)
	}
	if c.FPS == 0 {
		c.FPS = DefaultFPS
	}
	if c.FPS < 1 || c.FPS > maxFPS {
		return c, fmt.Errorf("screen: FPS %d out of range 1..%d", c.FPS, maxFPS)
	}
	if c.BootDuration == 0 {
		c.BootDuration = DefaultBootDuration
	}
	if c.BootDuration < 0 || c.BootDuration > 10*time.Minute {
		return c, fmt.Errorf("screen: boot duration %v out of range", c.BootDuration)
	}
	if c.Workload >= numWorkloads {
		return c, fmt.Errorf("screen: unknown workload %d", c.Workload)
	}
	if c.Power >= numPowers {
		return c, fmt.Errorf("screen: unknown power state %d", c.Power)
	}
	return c, nil
}
