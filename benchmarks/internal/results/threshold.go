package results

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// thresholdOps are the comparison operators a threshold may use.
var thresholdOps = []string{"<", "<=", ">", ">=", "==", "!="}

// ParseThreshold parses a k6-style threshold "<metric> <op> <number>", e.g.
// "p99_ms < 10", "errors == 0" or "ceiling_ratio>=0.5", and fills Expr,
// Metric, Op and Want. Spaces around the operator are optional.
//
//   - metric: a name Metrics can produce (see KnownMetric), made of letters,
//     digits, '_', '.' and '-'; "outcome.<name>" and "outcome_share.<name>"
//     are accepted for any outcome name.
//   - op: one of < <= > >= == !=.
//   - number: a finite decimal float, Go-style underscores allowed between
//     digits ("15_000"); no unit (the unit is in the metric's name).
func ParseThreshold(expr string) (Threshold, error) {
	s := strings.TrimSpace(expr)
	if s == "" {
		return Threshold{}, errors.New("threshold: empty expression")
	}
	fail := func(format string, args ...any) (Threshold, error) {
		return Threshold{}, fmt.Errorf("threshold %q: %s", s, fmt.Sprintf(format, args...))
	}

	i := strings.IndexFunc(s, func(r rune) bool { return !isMetricRune(r) })
	if i < 0 {
		return fail("no comparison operator (want <metric> <op> <number>, op one of %s)", strings.Join(thresholdOps, " "))
	}
	metric, rest := s[:i], strings.TrimLeft(s[i:], " \t")
	if metric == "" {
		if rest != "" && isOpRune(rune(rest[0])) {
			return fail("missing metric name before %q", rest)
		}
		return fail("metric name must start the expression (letters, digits, '_', '.', '-'), got %q", rest)
	}

	j := strings.IndexFunc(rest, func(r rune) bool { return !isOpRune(r) })
	if j < 0 {
		j = len(rest)
	}
	op, value := rest[:j], strings.TrimSpace(rest[j:])
	switch {
	case op == "" && rest == "":
		return fail("no comparison operator after %q (want one of %s)", metric, strings.Join(thresholdOps, " "))
	case op == "":
		return fail("expected a comparison operator after %q, got %q (want one of %s)", metric, rest, strings.Join(thresholdOps, " "))
	case !validOp(op):
		return fail("unknown operator %q (want one of %s)", op, strings.Join(thresholdOps, " "))
	}
	if !KnownMetric(metric) {
		return fail("unknown metric %q", metric)
	}

	if value == "" {
		return fail("missing number after %q", op)
	}
	want, err := strconv.ParseFloat(value, 64)
	if err != nil {
		return fail("%q is not a number (plain decimal, underscores allowed, no unit: the unit is in the metric name)", value)
	}
	if math.IsNaN(want) || math.IsInf(want, 0) {
		return fail("%q is not a finite number", value)
	}
	return Threshold{Expr: s, Metric: metric, Op: op, Want: want}, nil
}

// EvaluateThresholds parses every expression and checks it against
// Metrics(s), returning one Threshold per expression, in order, with Actual
// and Pass filled. Any expression that does not parse, or names a metric this
// scenario did not report (drain_seconds on a scenario without a drain, an
// outcome that never happened …), is an error and no thresholds are returned:
// a threshold that cannot be checked never passes silently. All problems are
// reported at once.
//
// == and != compare exactly; use them for counts (errors == 0), not for
// derived ratios.
func EvaluateThresholds(s *Scenario, exprs []string) ([]Threshold, error) {
	m := Metrics(s)
	out := make([]Threshold, 0, len(exprs))
	var errs []error
	for _, expr := range exprs {
		t, err := ParseThreshold(expr)
		if err != nil {
			errs = append(errs, fmt.Errorf("scenario %q: %w", s.Name, err))
			continue
		}
		actual, ok := m[t.Metric]
		if !ok {
			errs = append(errs, fmt.Errorf("scenario %q: threshold %q: metric %q not reported by this scenario; available: %s",
				s.Name, t.Expr, t.Metric, strings.Join(MetricNames(m), ", ")))
			continue
		}
		t.Actual = actual
		t.Pass = compareOp(actual, t.Op, t.Want)
		out = append(out, t)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func compareOp(actual float64, op string, want float64) bool {
	switch op {
	case "<":
		return actual < want
	case "<=":
		return actual <= want
	case ">":
		return actual > want
	case ">=":
		return actual >= want
	case "==":
		return actual == want
	case "!=":
		return actual != want
	}
	return false // unreachable: ParseThreshold only lets thresholdOps through
}

func validOp(op string) bool {
	for _, o := range thresholdOps {
		if op == o {
			return true
		}
	}
	return false
}

func isMetricRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '_' || r == '.' || r == '-'
}

// isOpRune reports whether r can be part of an operator as written: the
// valid ones and the look-alikes people type (=<, =>, <>, ~, =), so those get
// "unknown operator" rather than "not a number".
func isOpRune(r rune) bool {
	return strings.ContainsRune("<>=!~", r)
}
