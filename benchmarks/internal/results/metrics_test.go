package results

import (
	"math"
	"testing"
)

// fullScenario returns a scenario with every optional part present, so that
// Metrics reports every metric it can.
func fullScenario(name string) Scenario {
	return Scenario{
		Name: name,
		Load: Load{
			Model:       "open",
			Requests:    10_000,
			Seconds:     10,
			OfferedRPS:  1000,
			AchievedRPS: 950,
		},
		Latency: Latency{
			Count: 10_000, MinMs: 0.5, MeanMs: 2.5,
			P50Ms: 2, P90Ms: 4, P95Ms: 5, P99Ms: 8, P999Ms: 12, MaxMs: 30,
		},
		Outcomes:     map[string]int64{"accepted": 600, "sold_out": 300, "duplicate": 100},
		Errors:       50,
		AcceptedRPS:  60,
		CeilingRatio: 0.4,
		Generator:    Generator{CPUShare: 0.2, LateP99Ms: 0.3},
		Drain:        &Drain{Seconds: 1.5, MaxLag: 420},
		Persist:      &Latency{P50Ms: 20, P95Ms: 40, P99Ms: 60, MaxMs: 90},
		Invariants: []Invariant{
			{ID: "I1", Pass: true},
			{ID: "I2", Pass: false},
			{ID: "I3", Pass: false},
		},
		Search: &Search{BestRPS: 12_000},
		Checkout: &Checkout{Paid: 100, Expired: 60, Cancelled: 40, ResoldUnits: 95, Errors: 1,
			Payments:       map[string]int64{"paid": 100, "order_expired": 30},
			Actions:        Latency{P99Ms: 7},
			ExpiryLateness: Latency{P50Ms: 120, P99Ms: 230, MaxMs: 260}, Samples: 310},
	}
}

func TestMetrics(t *testing.T) {
	s := fullScenario("full")
	got := Metrics(&s)
	want := map[string]float64{
		"offered_rps":             1000,
		"achieved_rps":            950,
		"achieved_ratio":          0.95,
		"ceiling_ratio":           0.4,
		"accepted_rps":            60,
		"requests":                10_000,
		"p50_ms":                  2,
		"p90_ms":                  4,
		"p95_ms":                  5,
		"p99_ms":                  8,
		"p999_ms":                 12,
		"max_ms":                  30,
		"mean_ms":                 2.5,
		"errors":                  50,
		"error_rate":              0.005,
		"drain_seconds":           1.5,
		"max_writer_lag":          420,
		"max_writer_lag_seconds":  0.42,
		"persist_p50_ms":          20,
		"persist_p95_ms":          40,
		"persist_p99_ms":          60,
		"persist_max_ms":          90,
		"generator_cpu_share":     0.2,
		"generator_late_p99_ms":   0.3,
		"search_best_rps":         12_000,
		"invariant_violations":    2,
		"checkout_paid":           100,
		"checkout_expired":        60,
		"checkout_cancelled":      40,
		"checkout_pay_expired":    30,
		"checkout_resold_units":   95,
		"checkout_errors":         1,
		"checkout_action_p99_ms":  7,
		"expiry_lateness_p50_ms":  120,
		"expiry_lateness_p99_ms":  230,
		"expiry_lateness_max_ms":  260,
		"ledger_samples":          310,
		"outcome.accepted":        600,
		"outcome.sold_out":        300,
		"outcome.duplicate":       100,
		"outcome_share.accepted":  0.6,
		"outcome_share.sold_out":  0.3,
		"outcome_share.duplicate": 0.1,
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("Metrics()[%q] missing, want %v", name, w)
			continue
		}
		if math.Abs(g-w) > 1e-12 {
			t.Errorf("Metrics()[%q] = %v, want %v", name, g, w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("Metrics() has unexpected metric %q = %v", name, got[name])
		}
	}
}

func TestMetricsOptionalAndZero(t *testing.T) {
	tests := []struct {
		name   string
		s      Scenario
		absent []string
		want   map[string]float64
	}{
		{
			name:   "no drain persist search",
			s:      Scenario{Name: "bare", Load: Load{Requests: 10}},
			absent: []string{"drain_seconds", "max_writer_lag", "max_writer_lag_seconds", "persist_p50_ms", "persist_p95_ms", "persist_p99_ms", "persist_max_ms", "search_best_rps"},
			want:   map[string]float64{"invariant_violations": 0, "errors": 0, "error_rate": 0},
		},
		{
			name: "closed model offered zero",
			s:    Scenario{Load: Load{Model: "closed", AchievedRPS: 500}},
			want: map[string]float64{"achieved_ratio": 0, "offered_rps": 0, "achieved_rps": 500},
		},
		{
			name: "errors without requests",
			s:    Scenario{Errors: 3},
			want: map[string]float64{"error_rate": 1},
		},
		{
			name: "no requests no errors",
			s:    Scenario{},
			want: map[string]float64{"error_rate": 0},
		},
		{
			name: "outcomes all zero",
			s:    Scenario{Outcomes: map[string]int64{"accepted": 0}},
			want: map[string]float64{"outcome.accepted": 0, "outcome_share.accepted": 0},
		},
		{
			name:   "zero drain still reported",
			s:      Scenario{Drain: &Drain{}},
			absent: []string{"max_writer_lag_seconds"}, // nothing offered: no seconds of arrivals
			want:   map[string]float64{"drain_seconds": 0, "max_writer_lag": 0},
		},
		{
			name: "writer lag in seconds of arrivals",
			s:    Scenario{Load: Load{OfferedRPS: 2000}, Drain: &Drain{MaxLag: 4000}},
			want: map[string]float64{"max_writer_lag": 4000, "max_writer_lag_seconds": 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Metrics(&tt.s)
			for _, name := range tt.absent {
				if v, ok := got[name]; ok {
					t.Errorf("Metrics()[%q] = %v, want absent", name, v)
				}
			}
			for name, w := range tt.want {
				g, ok := got[name]
				if !ok {
					t.Errorf("Metrics()[%q] missing, want %v", name, w)
				} else if g != w {
					t.Errorf("Metrics()[%q] = %v, want %v", name, g, w)
				}
			}
			for name, v := range got {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("Metrics()[%q] = %v, want a finite number", name, v)
				}
			}
		})
	}
}

// TestMetricTableInSync keeps metricDirections (Direction, KnownMetric) and
// Metrics in step: a metric added to one and not the other fails here.
func TestMetricTableInSync(t *testing.T) {
	s := fullScenario("full")
	got := Metrics(&s)
	for name := range got {
		if !KnownMetric(name) {
			t.Errorf("Metrics() reports %q but KnownMetric(%q) = false", name, name)
		}
	}
	for name := range metricDirections {
		if _, ok := got[name]; !ok {
			t.Errorf("metricDirections has %q but Metrics(full scenario) does not report it", name)
		}
	}
}

func TestDirection(t *testing.T) {
	tests := []struct {
		metric string
		want   int
	}{
		{"achieved_rps", +1},
		{"achieved_ratio", +1},
		{"ceiling_ratio", +1},
		{"accepted_rps", +1},
		{"search_best_rps", +1},
		{"p50_ms", -1},
		{"p99_ms", -1},
		{"p999_ms", -1},
		{"max_ms", -1},
		{"mean_ms", -1},
		{"errors", -1},
		{"error_rate", -1},
		{"drain_seconds", -1},
		{"max_writer_lag", -1},
		{"persist_p99_ms", -1},
		{"invariant_violations", -1},
		{"generator_cpu_share", -1},
		{"generator_late_p99_ms", -1},
		{"requests", 0},
		{"offered_rps", 0},
		{"outcome.sold_out", 0},
		{"outcome_share.sold_out", 0},
		{"no_such_metric", 0},
	}
	for _, tt := range tests {
		t.Run(tt.metric, func(t *testing.T) {
			if got := Direction(tt.metric); got != tt.want {
				t.Errorf("Direction(%q) = %d, want %d", tt.metric, got, tt.want)
			}
		})
	}
}

func TestKnownMetric(t *testing.T) {
	tests := []struct {
		metric string
		want   bool
	}{
		{"p99_ms", true},
		{"outcome.sold_out", true},
		{"outcome_share.409", true},
		{"outcome.", false},
		{"outcome_share.", false},
		{"p99ms", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.metric, func(t *testing.T) {
			if got := KnownMetric(tt.metric); got != tt.want {
				t.Errorf("KnownMetric(%q) = %v, want %v", tt.metric, got, tt.want)
			}
		})
	}
}
