package policy

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// ScheduleKind is the form of a periodic rule's ExtendedData.
type ScheduleKind uint32

const (
	ScheduleInterval ScheduleKind = 0 // u32 0, u32 seconds
	ScheduleDaily    ScheduleKind = 1 // u32 1, u32 hour, u32 minute
)

// Schedule is a decoded ExtendedData.
type Schedule struct {
	Kind     ScheduleKind
	Interval time.Duration // ScheduleInterval
	Hour     int           // ScheduleDaily, 0–23, UTC (AMT keeps UTC time)
	Minute   int           // ScheduleDaily, 0–59
}

func (s Schedule) String() string {
	if s.Kind == ScheduleDaily {
		return fmt.Sprintf("daily at %02d:%02d UTC", s.Hour, s.Minute)
	}
	return "every " + s.Interval.String()
}

// MaxExtendedData is the largest ExtendedData AMT accepts, in decoded bytes.
const MaxExtendedData = 32

const edMsg = "AMT_RemoteAccessPolicyRule.ExtendedData"

// DecodeExtendedData decodes the base64 schedule of a periodic rule, e.g.
// "AAAAAAAAABk=" = every 25 s. Bytes after the form must be zero padding.
func DecodeExtendedData(b64 string) (Schedule, error) {
	if max := base64.StdEncoding.EncodedLen(MaxExtendedData); len(b64) > max {
		return Schedule{}, wireerr.New("WS-MAN", edMsg, "base64 text", 0,
			fmt.Sprintf("at most %d characters (%d bytes)", max, MaxExtendedData), fmt.Sprintf("%d characters", len(b64)))
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		off := 0
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			off = int(ce)
		}
		return Schedule{}, wireerr.New("WS-MAN", edMsg, "base64 text", off, "standard base64 with padding", err.Error())
	}
	if len(b) < 4 {
		return Schedule{}, wireerr.Short("WS-MAN", edMsg, "form", 0, 4, len(b))
	}
	var s Schedule
	var end int
	switch kind := ScheduleKind(binary.BigEndian.Uint32(b)); kind {
	case ScheduleInterval:
		if len(b) < 8 {
			return Schedule{}, wireerr.Short("WS-MAN", edMsg, "interval seconds", 4, 8, len(b))
		}
		sec := binary.BigEndian.Uint32(b[4:])
		if sec == 0 {
			return Schedule{}, wireerr.New("WS-MAN", edMsg, "interval seconds", 4, "a positive number of seconds", "0")
		}
		s = Schedule{Kind: kind, Interval: time.Duration(sec) * time.Second}
		end = 8
	case ScheduleDaily:
		if len(b) < 12 {
			return Schedule{}, wireerr.Short("WS-MAN", edMsg, "daily hour and minute", 4, 12, len(b))
		}
		h, m := binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:])
		if h > 23 {
			return Schedule{}, wireerr.New("WS-MAN", edMsg, "hour", 4, "0–23", fmt.Sprint(h))
		}
		if m > 59 {
			return Schedule{}, wireerr.New("WS-MAN", edMsg, "minute", 8, "0–59", fmt.Sprint(m))
		}
		s = Schedule{Kind: kind, Hour: int(h), Minute: int(m)}
		end = 12
	default:
		return Schedule{}, wireerr.New("WS-MAN", edMsg, "form", 0, "0 (interval) or 1 (daily)", fmt.Sprint(uint32(kind)))
	}
	for i := end; i < len(b); i++ {
		if b[i] != 0 {
			return Schedule{}, wireerr.New("WS-MAN", edMsg, "padding", i, "zero bytes after the schedule", fmt.Sprintf("0x%02x", b[i]))
		}
	}
	return s, nil
}

// EncodeExtendedData is the inverse of DecodeExtendedData.
func EncodeExtendedData(s Schedule) string {
	var b []byte
	if s.Kind == ScheduleDaily {
		b = binary.BigEndian.AppendUint32(b, uint32(ScheduleDaily))
		b = binary.BigEndian.AppendUint32(b, uint32(s.Hour))
		b = binary.BigEndian.AppendUint32(b, uint32(s.Minute))
	} else {
		b = binary.BigEndian.AppendUint32(b, uint32(ScheduleInterval))
		b = binary.BigEndian.AppendUint32(b, uint32(s.Interval/time.Second))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// IntervalData is ExtendedData for "every d" (whole seconds).
func IntervalData(d time.Duration) string {
	return EncodeExtendedData(Schedule{Kind: ScheduleInterval, Interval: d})
}

// next is the first occurrence of the schedule strictly after t.
func (s Schedule) next(t time.Time) time.Time {
	if s.Kind == ScheduleDaily {
		u := t.UTC()
		c := time.Date(u.Year(), u.Month(), u.Day(), s.Hour, s.Minute, 0, 0, time.UTC)
		for !c.After(u) {
			c = c.AddDate(0, 0, 1)
		}
		return c
	}
	return t.Add(s.Interval)
}

// atOrAfter is the first occurrence, counted from the anchor occurrence prev,
// at or after t. It keeps a periodic schedule on its grid instead of
// drifting by the time a failure took.
func (s Schedule) atOrAfter(prev, t time.Time) time.Time {
	if s.Kind == ScheduleDaily {
		if !prev.Before(t) {
			return prev
		}
		return s.next(t.Add(-time.Nanosecond))
	}
	if !prev.Before(t) {
		return prev
	}
	k := (t.Sub(prev) + s.Interval - 1) / s.Interval
	return prev.Add(k * s.Interval)
}
