package kvmclient

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/oobtb/oobtb/emulators/vmc/screen"
	"github.com/oobtb/oobtb/emulators/wire/rfb"
)

// maxLatencySamples bounds the latency samples kept (a long session keeps
// the first ones).
const maxLatencySamples = 1 << 20

// stats is the running tally; guarded by Client.mu.
type stats struct {
	format  rfb.PixelFormat
	deflate bool
	start   time.Time
	end     time.Time // set when Run ends

	updates, bytes     uint64
	rects              map[string]uint64
	firstStamp         screen.Stamp
	lastStamp          screen.Stamp
	stampOK            bool
	haveFirst          bool
	checked, valid     uint64
	failures           uint64
	regressions        uint64
	firstFailure       string
	inputsSent         uint64
	inputsSeen         uint64
	inputsDropped      uint64
	latencies          []time.Duration
	compression        int // last KvmExtCmd compression report, −1 none
	cutTexts, bells    uint64
	desktopW, desktopH int
	lastUpdateAt       time.Time
	maxUpdateGap       time.Duration
}

func newStats(pf rfb.PixelFormat, deflate bool) stats {
	return stats{format: pf, deflate: deflate, rects: map[string]uint64{}, compression: -1}
}

// encodingName names an encoding for the rects table.
func encodingName(enc int32, stored bool) string {
	switch enc {
	case rfb.EncodingRaw:
		return "raw"
	case rfb.EncodingCopyRect:
		return "copyrect"
	case rfb.EncodingAMT16:
		if stored {
			return "amt16-stored"
		}
		return "amt16-deflate"
	case rfb.EncodingDesktopSize:
		return "desktopsize"
	default:
		return fmt.Sprintf("encoding-%d", enc)
	}
}

// Stats are a session's figures; the JSON shape is stable (docs/console.md).
type Stats struct {
	Seconds     float64 `json:"seconds"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	PixelFormat string  `json:"pixelFormat"`
	BPP         int     `json:"bpp"`
	Deflate     bool    `json:"deflate"`
	// Compression is the server's last KvmExtCmd compression report (−1 when
	// it sent none).
	Compression int `json:"compression"`

	Updates         uint64            `json:"updates"`
	FramesPerSecond float64           `json:"framesPerSecond"`
	Bytes           uint64            `json:"bytes"`
	MbitPerSecond   float64           `json:"mbitPerSecond"`
	Rects           map[string]uint64 `json:"rects"`
	// SourceFrames is how far the stamp's frame counter advanced: frames the
	// device drew while the console watched (some may have been merged into
	// one update).
	SourceFrames uint64  `json:"sourceFrames"`
	CutTexts     uint64  `json:"cutTexts"` // ServerCutText messages (Intel's extensions included)
	Bells        uint64  `json:"bells"`
	MaxUpdateGap float64 `json:"maxUpdateGapMs"`

	Inputs    InputStats     `json:"inputs"`
	Latency   LatencyStats   `json:"inputLatencyMs"`
	Integrity IntegrityStats `json:"integrity"`
	Stamp     *StampView     `json:"stamp,omitempty"`
	// Checksum is screen.ChecksumImage of the current picture, hex.
	Checksum string `json:"checksum"`
}

// InputStats count input events.
type InputStats struct {
	Sent    uint64 `json:"sent"`
	Seen    uint64 `json:"seen"`    // shown by a frame stamp
	Dropped uint64 `json:"dropped"` // forgotten: more than 65536 pending
}

// LatencyStats are input-to-pixel latencies in milliseconds.
type LatencyStats struct {
	Samples int     `json:"samples"`
	P50     float64 `json:"p50"`
	P95     float64 `json:"p95"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
	Mean    float64 `json:"mean"`
}

// IntegrityStats count frame-stamp checks, one per completed update.
type IntegrityStats struct {
	Checked     uint64 `json:"checked"`
	Valid       uint64 `json:"valid"`
	Failures    uint64 `json:"failures"`
	Regressions uint64 `json:"regressions"` // frame counter went backwards
	// FirstFailure says why the first failing frame failed.
	FirstFailure string `json:"firstFailure,omitempty"`
}

// StampView is the last valid stamp.
type StampView struct {
	Frame    uint32 `json:"frame"`
	InputID  uint32 `json:"inputId"`
	Workload string `json:"workload"`
}

// Stats returns the figures so far.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.st
	end := s.end
	if end.IsZero() {
		end = c.clk.Now()
	}
	img := c.dec.Image()
	out := Stats{
		Seconds: end.Sub(s.start).Seconds(), Width: img.W, Height: img.H,
		PixelFormat: s.format.String(), BPP: int(s.format.BPP), Deflate: s.deflate, Compression: s.compression,
		Updates: s.updates, Bytes: s.bytes, Rects: make(map[string]uint64, len(s.rects)),
		MaxUpdateGap: float64(s.maxUpdateGap) / float64(time.Millisecond),
		CutTexts:     s.cutTexts, Bells: s.bells,
		Inputs: InputStats{Sent: s.inputsSent, Seen: s.inputsSeen, Dropped: s.inputsDropped},
		Integrity: IntegrityStats{Checked: s.checked, Valid: s.valid, Failures: s.failures,
			Regressions: s.regressions, FirstFailure: s.firstFailure},
		Checksum: fmt.Sprintf("%016x", screen.ChecksumImage(img)),
	}
	for k, v := range s.rects {
		out.Rects[k] = v
	}
	if out.Seconds > 0 {
		out.FramesPerSecond = float64(s.updates) / out.Seconds
		out.MbitPerSecond = float64(s.bytes) * 8 / out.Seconds / 1e6
	}
	if s.haveFirst && s.stampOK {
		out.SourceFrames = uint64(s.lastStamp.Frame - s.firstStamp.Frame)
	}
	if s.stampOK {
		out.Stamp = &StampView{Frame: s.lastStamp.Frame, InputID: s.lastStamp.InputID, Workload: s.lastStamp.Workload.String()}
	}
	out.Latency = latencyStats(s.latencies)
	return out
}

// latencyStats computes nearest-rank percentiles.
func latencyStats(ls []time.Duration) LatencyStats {
	out := LatencyStats{Samples: len(ls)}
	if len(ls) == 0 {
		return out
	}
	s := slices.Clone(ls)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p/100*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	out.P50, out.P95, out.P99 = ms(rank(50)), ms(rank(95)), ms(rank(99))
	out.Max = ms(s[len(s)-1])
	out.Mean = ms(sum / time.Duration(len(s)))
	return out
}
