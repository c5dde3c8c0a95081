package results

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"text/tabwriter"
)

// Tolerance is how much worse a metric may get before Compare calls it a
// regression, relative to the baseline: 0.10 allows 10 %. PerMetric overrides
// Default for the metrics it names (exact names, e.g. "p99_ms").
type Tolerance struct {
	Default   float64
	PerMetric map[string]float64
}

// For returns the tolerance that applies to metric.
func (t Tolerance) For(metric string) float64 {
	if v, ok := t.PerMetric[metric]; ok {
		return v
	}
	return t.Default
}

func (t Tolerance) validate() error {
	check := func(name string, v float64) error {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("tolerance %s = %v: want a finite number >= 0", name, v)
		}
		return nil
	}
	if err := check("default", t.Default); err != nil {
		return err
	}
	for k, v := range t.PerMetric {
		if err := check(strconv.Quote(k), v); err != nil {
			return err
		}
	}
	return nil
}

// Notes Compare puts on a Delta.
const (
	// NoteMissing: a baseline scenario is absent from the current file.
	NoteMissing = "missing"
	// NoteMetricMissing: the baseline scenario reported the metric, the
	// current one did not (its drain, persist or search was not measured).
	NoteMetricMissing = "metric missing"
	// NoteZeroBaseline: the baseline was 0, so Change is the absolute
	// difference (cur - base), not a ratio.
	NoteZeroBaseline = "zero baseline: absolute change"
)

// Delta is one metric of one scenario, baseline against current.
type Delta struct {
	Scenario string
	Metric   string // empty on a NoteMissing row
	Baseline float64
	Current  float64
	// Change is (Current-Baseline)/|Baseline|; when Baseline is 0 it is the
	// absolute difference Current-Baseline and Note says so.
	Change float64
	// Direction is Direction(Metric): +1 higher is better, -1 lower is better.
	Direction int
	// Tolerance is the relative tolerance that was applied.
	Tolerance float64
	// Regressed: worse than the baseline by more than Tolerance, or missing.
	Regressed bool
	// Improved: better than the baseline by more than Tolerance.
	Improved bool
	Note     string
}

// Verdict is "REGRESSED", "better" or "ok".
func (d Delta) Verdict() string {
	switch {
	case d.Regressed:
		return "REGRESSED"
	case d.Improved:
		return "better"
	default:
		return "ok"
	}
}

// Compare compares cur against base, the CI regression gate. For every
// scenario of base (in base's order) it looks up the scenario of the same
// Name in cur; one that is absent is a regressed row with Note "missing".
// Scenarios only in cur are new and not compared.
//
// metrics names the metrics to compare, in that order; nil means every
// metric with Direction != 0 that the baseline scenario reports, sorted. A
// name Metrics can never produce is an error (a typo would otherwise compare
// nothing). A metric the baseline scenario lacks is skipped (nothing to
// compare against); one the baseline has and the current lacks is a regressed
// row with Note "metric missing": losing a measurement must not pass the gate.
//
// A metric regresses when it moves the wrong way by more than its tolerance:
// lower-is-better when cur > base×(1+tol), higher-is-better when
// cur < base×(1−tol). With a zero baseline, a lower-is-better metric regresses
// on any cur > 0 (errors 0 → 1) and a higher-is-better one cannot. Improved
// is the mirror image. Informational metrics (Direction 0) never regress.
func Compare(base, cur *File, tol Tolerance, metrics []string) ([]Delta, error) {
	if base == nil || cur == nil {
		return nil, errors.New("compare: nil results file")
	}
	if err := tol.validate(); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	for _, name := range metrics {
		if !KnownMetric(name) {
			return nil, fmt.Errorf("compare: unknown metric %q", name)
		}
	}

	var out []Delta
	for i := range base.Scenarios {
		bs := &base.Scenarios[i]
		cs := cur.Scenario(bs.Name)
		if cs == nil {
			out = append(out, Delta{Scenario: bs.Name, Regressed: true, Note: NoteMissing})
			continue
		}
		bm, cm := Metrics(bs), Metrics(cs)
		names := metrics
		if names == nil {
			for _, name := range MetricNames(bm) {
				if Direction(name) != 0 {
					names = append(names, name)
				}
			}
		}
		for _, name := range names {
			b, ok := bm[name]
			if !ok {
				continue
			}
			d := Delta{Scenario: bs.Name, Metric: name, Baseline: b, Direction: Direction(name), Tolerance: tol.For(name)}
			c, ok := cm[name]
			if !ok {
				d.Regressed = true
				d.Note = NoteMetricMissing
				out = append(out, d)
				continue
			}
			d.Current = c
			judge(&d)
			out = append(out, d)
		}
	}
	return out, nil
}

// judge fills Change, Regressed, Improved and Note from Baseline, Current,
// Direction and Tolerance.
func judge(d *Delta) {
	b, c, t := d.Baseline, d.Current, d.Tolerance
	if b == 0 {
		d.Change = c - b
		d.Note = NoteZeroBaseline
	} else {
		d.Change = (c - b) / math.Abs(b)
	}
	// Scale by |b| so the bounds stay on the right side of a negative
	// baseline; for b == 0 both bounds are 0, so any move counts.
	lo, hi := b-math.Abs(b)*t, b+math.Abs(b)*t
	switch d.Direction {
	case -1:
		d.Regressed, d.Improved = c > hi, c < lo
	case +1:
		d.Regressed, d.Improved = c < lo, c > hi
	}
}

// WriteDeltaTable prints ds as an aligned table: scenario, metric, baseline,
// current, signed change (percent, or absolute for a zero baseline), verdict
// and note. Write errors are ignored; it is meant for a terminal or CI log.
func WriteDeltaTable(w io.Writer, ds []Delta) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tMETRIC\tBASELINE\tCURRENT\tCHANGE\tVERDICT\tNOTE")
	for _, d := range ds {
		metric, base, cur, change := d.Metric, formatNumber(d.Baseline), formatNumber(d.Current), ""
		switch d.Note {
		case NoteMissing:
			metric, base, cur, change = "-", "-", "-", "-"
		case NoteMetricMissing:
			cur, change = "-", "-"
		case NoteZeroBaseline:
			change = signed(formatNumber(d.Change))
		default:
			change = fmt.Sprintf("%+.1f%%", d.Change*100)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Scenario, metric, base, cur, change, d.Verdict(), d.Note)
	}
	tw.Flush()
}

// formatNumber prints whole numbers without decimals (requests, errors,
// rates like 15000) and others with three significant digits at most.
func formatNumber(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func signed(s string) string {
	if s != "" && s[0] != '-' {
		return "+" + s
	}
	return s
}

// Median returns the median of xs without modifying it: the middle value, or
// the mean of the two middle values for an even count; 0 for no values.
func Median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
