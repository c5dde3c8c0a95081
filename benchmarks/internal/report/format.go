package report

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// missing stands for a value that is absent or not a number (NaN, ±Inf):
// neither ever reaches the output as such.
const missing = "—"

// fmtFixed formats v with dec decimals and thousands separators.
func fmtFixed(v float64, dec int) string {
	if !finite(v) {
		return missing
	}
	s := strconv.FormatFloat(v, 'f', dec, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	if neg && strings.Trim(s, "0.") != "" {
		b.WriteByte('-')
	}
	b.WriteString(group(intPart))
	if hasFrac {
		b.WriteString("." + frac)
	}
	return b.String()
}

// group inserts thousands separators into a string of digits.
func group(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	pre := len(digits) % 3
	if pre > 0 {
		b.WriteString(digits[:pre])
	}
	for i := pre; i < len(digits); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}

// fmtCount formats a count with thousands separators.
func fmtCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	if strings.HasPrefix(s, "-") {
		return "-" + group(s[1:])
	}
	return group(s)
}

// fmtNum formats a measurement with about three significant digits:
// 1,234 · 123 · 12.3 · 1.23 · 0.12 · 0.012.
func fmtNum(v float64) string {
	if !finite(v) {
		return missing
	}
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return fmtFixed(v, 0)
	case a >= 10:
		return fmtFixed(v, 1)
	case a >= 1:
		return fmtFixed(v, 2)
	}
	return fmtFixed(v, min(6, 1-int(math.Floor(math.Log10(a)))))
}

// fmtMs formats milliseconds.
func fmtMs(v float64) string { return fmtNum(v) }

// fmtRPS formats a rate like fmtNum (whole requests per second from 100
// up), but with two decimals at most below 1.
func fmtRPS(v float64) string {
	if finite(v) && v != 0 && math.Abs(v) < 1 {
		return fmtFixed(v, 2)
	}
	return fmtNum(v)
}

// Whole formats a rate or a count rounded to a whole number, with thousands
// separators (1,234,567), for log lines beside the report.
func Whole(v float64) string { return fmtFixed(v, 0) }

// fmtPct formats a ratio (0.873) as a percentage (87.3%).
func fmtPct(ratio float64) string {
	if !finite(ratio) {
		return missing
	}
	if p := ratio * 100; p > 0 && p < 0.05 {
		return "<0.1%"
	}
	return fmtFixed(ratio*100, 1) + "%"
}

// fmtSecs formats seconds.
func fmtSecs(v float64) string {
	if !finite(v) {
		return missing
	}
	if math.Abs(v) >= 100 {
		return fmtFixed(v, 0)
	}
	return fmtFixed(v, 1)
}

// fmtGiB formats a memory size.
func fmtGiB(v float64) string {
	if !finite(v) || v <= 0 {
		return missing
	}
	return fmtFixed(v, 1) + " GiB"
}

// withUnit appends a unit to a formatted value, but not to a missing one.
func withUnit(v, unit string) string {
	if v == missing {
		return v
	}
	return v + " " + unit
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return missing
	}
	return t.Format("2006-01-02 15:04:05 MST")
}

func fmtElapsed(from, to time.Time) string {
	if from.IsZero() || to.IsZero() || to.Before(from) {
		return missing
	}
	return to.Sub(from).Round(time.Second).String()
}

// shortCommit is the first 12 characters of a commit hash.
func shortCommit(c string) string {
	if c == "" {
		return "unknown"
	}
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// stagesText describes an open-model load profile in words.
func stagesText(l results.Load) string {
	var parts []string
	for _, s := range l.Stages {
		if s.FromRPS == s.ToRPS {
			parts = append(parts, fmtRPS(s.ToRPS)+"/s for "+fmtSecs(s.Seconds)+" s")
		} else {
			parts = append(parts, fmtRPS(s.FromRPS)+"→"+fmtRPS(s.ToRPS)+"/s over "+fmtSecs(s.Seconds)+" s")
		}
	}
	return strings.Join(parts, ", ")
}

// loadText is a one-line description of a scenario's load model.
func loadText(l results.Load) string {
	var parts []string
	if l.Model != "" {
		parts = append(parts, l.Model+" model")
	}
	if l.Connections > 0 {
		parts = append(parts, fmtCount(int64(l.Connections))+" connections")
	}
	if st := stagesText(l); st != "" {
		parts = append(parts, st)
	}
	if len(parts) == 0 {
		return missing
	}
	return strings.Join(parts, "; ")
}

// slug makes an HTML id from a scenario's position and name.
func slug(i int, name string) string {
	var b strings.Builder
	b.WriteString("scenario-" + strconv.Itoa(i))
	dash := true
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	return b.String()
}
