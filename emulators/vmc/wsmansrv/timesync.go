package wsmansrv

import (
	"fmt"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/wsman"
)

func timeSyncService(*Server) []wsman.Instance {
	return []wsman.Instance{service("AMT_TimeSynchronizationService", "Intel(r) AMT Time Synchronization Service",
		wsman.S("EnabledState", "5"),
		wsman.S("LocalTimeSyncEnabled", "0"),
		wsman.S("RequestedState", "12"),
		wsman.S("TimeSource", "0"))}
}

// amtNowLocked is amtNow for callers holding s.mu.
func (s *Server) amtNowLocked() time.Time { return s.clk.Now().Add(s.timeOffset) }

// getLowAccuracyTimeSynch returns Ta0, the device's UTC time in seconds.
func getLowAccuracyTimeSynch(s *Server, _ *wsman.Request) (uint32, []wsman.Prop, *wsman.Fault) {
	ta0 := s.amtNowLocked().Unix()
	return 0, []wsman.Prop{wsman.S("Ta0", u2s(uint64(max(ta0, 0))))}, nil
}

// setHighAccuracyTimeSynch sets the device clock to Tm2, the console's time
// when it sent the call (MeshCentral sends Ta0 as received, Tm1 when it
// received it, Tm2 now). The offset is kept for the device's life and moves
// Ta0, Date headers and nothing else.
func setHighAccuracyTimeSynch(s *Server, req *wsman.Request) (uint32, []wsman.Prop, *wsman.Fault) {
	const what = "SetHighAccuracyTimeSynch"
	args := inputs(req)
	ta0, f := needUint(args, what, "Ta0", 32)
	if f != nil {
		return 0, nil, f
	}
	tm1, f := needUint(args, what, "Tm1", 32)
	if f != nil {
		return 0, nil, f
	}
	tm2, f := needUint(args, what, "Tm2", 32)
	if f != nil {
		return 0, nil, f
	}
	if tm2 < tm1 {
		return 0, nil, invalid(fmt.Sprintf("%s: Tm2 (%d) is before Tm1 (%d)", what, tm2, tm1))
	}
	before := s.amtNowLocked()
	s.timeOffset = time.Unix(int64(tm2), 0).Sub(s.clk.Now())
	s.log.Info("time synchronised", "ta0", ta0, "tm1", tm1, "tm2", tm2, "drift", time.Unix(int64(tm2), 0).Sub(before))
	return 0, nil, nil
}
