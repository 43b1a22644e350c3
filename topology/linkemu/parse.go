package linkemu

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/oobtb/oobtb/emulators/wire/wireerr"
)

// Limits of the textual forms; longer or larger input is rejected, so a
// hostile scenario file cannot make the parser allocate without bound.
const (
	maxTextLen      = 64
	maxProfileLen   = 4096
	maxRate         = 10_000_000_000_000 // 10 Tbit/s
	maxSize         = 1 << 30
	maxQueuePackets = 1 << 24
)

type wireErr = wireerr.Error

func parseErr(msg, field string, off int, expected, got string) *wireerr.Error {
	return wireerr.New("linkemu", msg, field, off, expected, got)
}

// splitNumber splits "12.5Mbit" into "12.5" and "Mbit". The number is plain
// decimal: digits with at most one point and an optional exponent, so
// "inf", "nan", hex floats and underscores are refused.
func splitNumber(s string) (num, unit string, ok bool) {
	i, digits := 0, 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return "", "", false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		// "5e" without digits is not an exponent; leave it to the unit,
		// where it will be rejected.
		if k > j {
			i = k
		}
	}
	return s[:i], strings.TrimSpace(s[i:]), true
}

func tooLong(field, s string) error {
	if len(s) > maxTextLen {
		return parseErr("value", field, 0, fmt.Sprintf("at most %d characters", maxTextLen), fmt.Sprintf("%d characters", len(s)))
	}
	return nil
}

// ParseRate parses a bit rate: a decimal number with an optional SI unit of
// bits per second — bit, kbit, Mbit, Gbit, Tbit (case-insensitive, with an
// optional "/s" or written as bps, kbps, Mbps, …). "0", "" and "unlimited"
// mean no limit. Byte units ("MB/s", "MBps") are refused rather than
// guessed. The result is rounded to whole bit/s.
func ParseRate(s string) (int64, error) {
	if err := tooLong("rate", s); err != nil {
		return 0, err
	}
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "", "unlimited", "none":
		return 0, nil
	}
	const expect = "rate such as 20Mbit, 1.5Gbit, 100kbit/s or 512000 (units bit, kbit, Mbit, Gbit, Tbit)"
	num, unit, ok := splitNumber(t)
	if !ok {
		return 0, parseErr("rate", "number", 0, expect, strconv.Quote(s))
	}
	if strings.Contains(unit, "B") || strings.Contains(strings.ToLower(unit), "byte") {
		return 0, parseErr("rate", "unit", len(num), "a bit unit (bit, kbit, Mbit, Gbit, Tbit); byte rates are not accepted", strconv.Quote(unit))
	}
	u := strings.ToLower(unit)
	mult := float64(1)
	if len(u) > 0 {
		switch u[0] {
		case 'k':
			mult, u = 1e3, u[1:]
		case 'm':
			mult, u = 1e6, u[1:]
		case 'g':
			mult, u = 1e9, u[1:]
		case 't':
			mult, u = 1e12, u[1:]
		}
	}
	switch u {
	case "", "bit", "bits", "bit/s", "bits/s", "bps", "b/s":
	default:
		return 0, parseErr("rate", "unit", len(num), expect, strconv.Quote(unit))
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, parseErr("rate", "number", 0, expect, strconv.Quote(s))
	}
	r := math.Round(v * mult)
	if r > maxRate || math.IsNaN(r) {
		return 0, parseErr("rate", "value", 0, "at most 10Tbit", strconv.Quote(s))
	}
	return int64(r), nil
}

// FormatRate writes a rate in the largest unit that divides it exactly, so
// ParseRate(FormatRate(r)) == r.
func FormatRate(bps int64) string {
	if bps == 0 {
		return "0"
	}
	for _, u := range []struct {
		m int64
		n string
	}{{1e12, "Tbit"}, {1e9, "Gbit"}, {1e6, "Mbit"}, {1e3, "kbit"}} {
		if bps%u.m == 0 {
			return strconv.FormatInt(bps/u.m, 10) + u.n
		}
	}
	return strconv.FormatInt(bps, 10) + "bit"
}

// ParsePercent parses a probability: "0.1%" is 0.001, a bare number is a
// fraction ("0.001"). The result must lie in 0..1. Percentages are converted
// by moving the decimal exponent, so "0.1%" gives exactly the float64 nearest
// to 0.001.
func ParsePercent(s string) (float64, error) {
	if err := tooLong("probability", s); err != nil {
		return 0, err
	}
	t := strings.TrimSpace(s)
	const expect = "probability such as 0.1% or 0.001 (0..1, or 0%..100%)"
	num, unit, ok := splitNumber(t)
	if !ok {
		return 0, parseErr("probability", "number", 0, expect, strconv.Quote(s))
	}
	var v float64
	var err error
	switch unit {
	case "%":
		// Move the decimal exponent instead of dividing, so the result is
		// the correctly rounded float64 of the written value.
		mant, exp := num, 0
		if i := strings.IndexAny(num, "eE"); i >= 0 {
			mant = num[:i]
			exp, err = strconv.Atoi(num[i+1:])
			if err != nil || exp < -400 || exp > 400 {
				return 0, parseErr("probability", "number", 0, expect, strconv.Quote(s))
			}
		}
		v, err = strconv.ParseFloat(mant+"e"+strconv.Itoa(exp-2), 64)
	case "":
		v, err = strconv.ParseFloat(num, 64)
	default:
		return 0, parseErr("probability", "unit", len(num), `"%" or none`, strconv.Quote(unit))
	}
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, parseErr("probability", "number", 0, expect, strconv.Quote(s))
	}
	if v < 0 || v > 1 {
		return 0, parseErr("probability", "value", 0, "0..1 (0%..100%)", strconv.Quote(s))
	}
	return v, nil
}

// FormatPercent writes p as a percentage that ParsePercent reads back to
// exactly p: the shortest decimal digits of p with the point moved two
// places.
func FormatPercent(p float64) string {
	if p == 0 {
		return "0%"
	}
	e := strconv.FormatFloat(p, 'e', -1, 64) // d.ddde±XX
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimPrefix(mant, "-")
	digits := strings.Replace(mant, ".", "", 1)
	// value = 0.digits × 10^(exp+1); as a percentage the point moves two more.
	point := exp + 1 + 2
	var out string
	switch {
	case point < -10 || point > 20:
		out = mant + "e" + strconv.Itoa(exp+2)
	case point <= 0:
		out = "0." + strings.Repeat("0", -point) + digits
	case point >= len(digits):
		out = digits + strings.Repeat("0", point-len(digits))
	default:
		out = digits[:point] + "." + digits[point:]
	}
	if neg {
		out = "-" + out
	}
	return out + "%"
}

// ParseSize parses a byte count: a number with an optional unit B, kB/KB
// (1000), KiB (1024), MB, MiB, GB, GiB (case-insensitive). At most 1 GiB.
func ParseSize(s string) (int, error) {
	if err := tooLong("size", s); err != nil {
		return 0, err
	}
	t := strings.TrimSpace(s)
	const expect = "size such as 1500, 64KiB, 1MiB or 2MB"
	num, unit, ok := splitNumber(t)
	if !ok {
		return 0, parseErr("size", "number", 0, expect, strconv.Quote(s))
	}
	mult := map[string]float64{
		"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 1 << 10, "m": 1e6, "mb": 1e6, "mib": 1 << 20,
		"g": 1e9, "gb": 1e9, "gib": 1 << 30,
	}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, parseErr("size", "unit", len(num), expect, strconv.Quote(unit))
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, parseErr("size", "number", 0, expect, strconv.Quote(s))
	}
	r := math.Round(v * mult)
	if r > maxSize || math.IsNaN(r) {
		return 0, parseErr("size", "value", 0, "at most 1GiB", strconv.Quote(s))
	}
	return int(r), nil
}

// FormatSize writes n in the largest binary unit that divides it exactly.
func FormatSize(n int) string {
	switch {
	case n == 0:
		return "0"
	case n%(1<<30) == 0:
		return strconv.Itoa(n>>30) + "GiB"
	case n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "MiB"
	case n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n)
}

// ParseDuration parses a Go duration ("20ms", "1.5s", "250us") in 0..1h;
// a bare "0" is accepted.
func ParseDuration(s string) (time.Duration, error) {
	if err := tooLong("duration", s); err != nil {
		return 0, err
	}
	t := strings.TrimSpace(s)
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, parseErr("duration", "value", 0, "duration such as 20ms, 1.5s or 250us", strconv.Quote(s))
	}
	if d < 0 || d > MaxDelay {
		return 0, parseErr("duration", "value", 0, "duration in 0..1h", strconv.Quote(s))
	}
	return d, nil
}

func parseInt(field, s string, max int) (int, error) {
	if err := tooLong(field, s); err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < 0 || v > max {
		return 0, parseErr("profile", field, 0, fmt.Sprintf("integer in 0..%d", max), strconv.Quote(s))
	}
	return v, nil
}
