package results

import (
	"sort"
	"strings"
)

// Prefixes of the per-outcome metrics: "outcome.<name>" is the count of
// answers with that outcome, "outcome_share.<name>" its share of all answers.
const (
	OutcomePrefix      = "outcome."
	OutcomeSharePrefix = "outcome_share."
)

// metricDirections lists every fixed metric name Metrics can report and which
// way is better. It is the single source for Direction and KnownMetric, so a
// metric added to Metrics must be added here too (a test checks it).
var metricDirections = map[string]int{
	"offered_rps":            0,
	"achieved_rps":           +1,
	"achieved_ratio":         +1,
	"ceiling_ratio":          +1,
	"accepted_rps":           +1,
	"requests":               0,
	"p50_ms":                 -1,
	"p90_ms":                 -1,
	"p95_ms":                 -1,
	"p99_ms":                 -1,
	"p999_ms":                -1,
	"max_ms":                 -1,
	"mean_ms":                -1,
	"errors":                 -1,
	"error_rate":             -1,
	"drain_seconds":          -1,
	"max_writer_lag":         -1,
	"max_writer_lag_seconds": -1,
	"persist_p50_ms":         -1,
	"persist_p95_ms":         -1,
	"persist_p99_ms":         -1,
	"persist_max_ms":         -1,
	"generator_cpu_share":    -1,
	"generator_late_p99_ms":  -1,
	"search_best_rps":        +1,
	"invariant_violations":   -1,
	// The checkout window's (Scenario.Checkout): counts are the scenario's
	// shape, not better or worse.
	"checkout_paid":          0,
	"checkout_expired":       0,
	"checkout_cancelled":     0,
	"checkout_pay_expired":   0,
	"checkout_resold_units":  0,
	"checkout_errors":        -1,
	"checkout_action_p99_ms": -1,
	"expiry_lateness_p50_ms": -1,
	"expiry_lateness_p99_ms": -1,
	"expiry_lateness_max_ms": -1,
	"ledger_samples":         0,
}

// Metrics flattens a scenario into named numbers: the names thresholds and
// the comparison use. Metrics that the scenario did not measure are absent,
// not zero: drain_seconds and max_writer_lag only with a Drain (and
// max_writer_lag_seconds only with an offered rate too),
// persist_*_ms only with Persist, search_best_rps only with a Search, the
// checkout_*, expiry_lateness_* and ledger_samples only with a Checkout.
//
// Derived ratios never divide by zero: achieved_ratio is 0 when nothing was
// offered (a closed-model scenario), outcome_share.* is 0 when there were no
// outcomes, and error_rate is 0 without requests and errors but 1 when there
// were errors and no counted requests (so "error_rate < 0.01" cannot pass on
// a run where everything failed).
func Metrics(s *Scenario) map[string]float64 {
	m := map[string]float64{
		"offered_rps":           s.Load.OfferedRPS,
		"achieved_rps":          s.Load.AchievedRPS,
		"achieved_ratio":        ratio(s.Load.AchievedRPS, s.Load.OfferedRPS),
		"ceiling_ratio":         s.CeilingRatio,
		"accepted_rps":          s.AcceptedRPS,
		"requests":              float64(s.Load.Requests),
		"p50_ms":                s.Latency.P50Ms,
		"p90_ms":                s.Latency.P90Ms,
		"p95_ms":                s.Latency.P95Ms,
		"p99_ms":                s.Latency.P99Ms,
		"p999_ms":               s.Latency.P999Ms,
		"max_ms":                s.Latency.MaxMs,
		"mean_ms":               s.Latency.MeanMs,
		"errors":                float64(s.Errors),
		"error_rate":            errorRate(s.Errors, s.Load.Requests),
		"generator_cpu_share":   s.Generator.CPUShare,
		"generator_late_p99_ms": s.Generator.LateP99Ms,
	}
	if s.Drain != nil {
		m["drain_seconds"] = s.Drain.Seconds
		m["max_writer_lag"] = float64(s.Drain.MaxLag)
		// The lag in time, which a relative rate needs (4,000 records are
		// 2 s at 2,000/s, 0.5 s at 8,000/s): records behind ÷ the offered
		// rate, the seconds of arrivals the writer was behind. Exact where
		// every order is accepted (write-heavy, write-max); it reads low
		// where most buyers are sold out and publish no record.
		if s.Load.OfferedRPS > 0 {
			m["max_writer_lag_seconds"] = float64(s.Drain.MaxLag) / s.Load.OfferedRPS
		}
	}
	if s.Persist != nil {
		m["persist_p50_ms"] = s.Persist.P50Ms
		m["persist_p95_ms"] = s.Persist.P95Ms
		m["persist_p99_ms"] = s.Persist.P99Ms
		m["persist_max_ms"] = s.Persist.MaxMs
	}
	if s.Search != nil {
		m["search_best_rps"] = s.Search.BestRPS
	}
	if c := s.Checkout; c != nil {
		m["checkout_paid"] = float64(c.Paid)
		m["checkout_expired"] = float64(c.Expired)
		m["checkout_cancelled"] = float64(c.Cancelled)
		m["checkout_pay_expired"] = float64(c.Payments["order_expired"])
		m["checkout_resold_units"] = float64(c.ResoldUnits)
		m["checkout_errors"] = float64(c.Errors)
		m["checkout_action_p99_ms"] = c.Actions.P99Ms
		m["expiry_lateness_p50_ms"] = c.ExpiryLateness.P50Ms
		m["expiry_lateness_p99_ms"] = c.ExpiryLateness.P99Ms
		m["expiry_lateness_max_ms"] = c.ExpiryLateness.MaxMs
		m["ledger_samples"] = float64(c.Samples)
	}
	violations := 0
	for _, inv := range s.Invariants {
		if !inv.Pass {
			violations++
		}
	}
	m["invariant_violations"] = float64(violations)

	var total int64
	for _, n := range s.Outcomes {
		total += n
	}
	for name, n := range s.Outcomes {
		m[OutcomePrefix+name] = float64(n)
		m[OutcomeSharePrefix+name] = ratio(float64(n), float64(total))
	}
	return m
}

// Direction tells which way a metric is better: +1 higher is better, -1 lower
// is better, 0 informational (the load's shape, per-outcome counts and shares,
// and any name Metrics does not produce). Compare never flags a 0 metric.
func Direction(metric string) int {
	return metricDirections[metric]
}

// KnownMetric reports whether Metrics can produce the name for some scenario:
// one of the fixed names, or "outcome.<name>" / "outcome_share.<name>" with a
// non-empty outcome name. Whether a given scenario has it is another matter
// (see Metrics).
func KnownMetric(metric string) bool {
	if _, ok := metricDirections[metric]; ok {
		return true
	}
	for _, p := range []string{OutcomePrefix, OutcomeSharePrefix} {
		if rest, ok := strings.CutPrefix(metric, p); ok && rest != "" {
			return true
		}
	}
	return false
}

// MetricNames returns the keys of m, sorted.
func MetricNames(m map[string]float64) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func ratio(num, den float64) float64 {
	if den == 0 {
		return 0
	}
	return num / den
}

func errorRate(errors, requests int64) float64 {
	if requests == 0 {
		if errors > 0 {
			return 1
		}
		return 0
	}
	return float64(errors) / float64(requests)
}
