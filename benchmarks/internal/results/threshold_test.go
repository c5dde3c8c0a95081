package results

import (
	"strings"
	"testing"
)

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want Threshold
	}{
		{"less than", "p99_ms < 10", Threshold{Expr: "p99_ms < 10", Metric: "p99_ms", Op: "<", Want: 10}},
		{"equal zero", "errors == 0", Threshold{Expr: "errors == 0", Metric: "errors", Op: "==", Want: 0}},
		{"ratio float", "achieved_ratio >= 0.95", Threshold{Expr: "achieved_ratio >= 0.95", Metric: "achieved_ratio", Op: ">=", Want: 0.95}},
		{"no spaces", "ceiling_ratio>=0.5", Threshold{Expr: "ceiling_ratio>=0.5", Metric: "ceiling_ratio", Op: ">=", Want: 0.5}},
		{"outcome", "outcome.sold_out > 0", Threshold{Expr: "outcome.sold_out > 0", Metric: "outcome.sold_out", Op: ">", Want: 0}},
		{"outcome share", "outcome_share.accepted<=0.5", Threshold{Expr: "outcome_share.accepted<=0.5", Metric: "outcome_share.accepted", Op: "<=", Want: 0.5}},
		{"less or equal", "drain_seconds <= 5", Threshold{Expr: "drain_seconds <= 5", Metric: "drain_seconds", Op: "<=", Want: 5}},
		{"not equal", "invariant_violations != 1", Threshold{Expr: "invariant_violations != 1", Metric: "invariant_violations", Op: "!=", Want: 1}},
		{"underscores", "achieved_rps >= 15_000", Threshold{Expr: "achieved_rps >= 15_000", Metric: "achieved_rps", Op: ">=", Want: 15000}},
		{"underscores and fraction", "offered_rps == 1_000.25", Threshold{Expr: "offered_rps == 1_000.25", Metric: "offered_rps", Op: "==", Want: 1000.25}},
		{"exponent", "requests > 1e3", Threshold{Expr: "requests > 1e3", Metric: "requests", Op: ">", Want: 1000}},
		{"leading dot", "error_rate < .01", Threshold{Expr: "error_rate < .01", Metric: "error_rate", Op: "<", Want: 0.01}},
		{"negative no space", "p50_ms>-1", Threshold{Expr: "p50_ms>-1", Metric: "p50_ms", Op: ">", Want: -1}},
		{"surrounding space trimmed", "  \tmax_ms   <   100 \n", Threshold{Expr: "max_ms   <   100", Metric: "max_ms", Op: "<", Want: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseThreshold(tt.expr)
			if err != nil {
				t.Fatalf("ParseThreshold(%q) error: %v", tt.expr, err)
			}
			if got != tt.want {
				t.Errorf("ParseThreshold(%q) = %+v, want %+v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestParseThresholdErrors(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		wantErr string // substring of the error
	}{
		{"empty", "", "empty"},
		{"blank", "   ", "empty"},
		{"metric only", "p99_ms", "no comparison operator"},
		{"metric and space", "p99_ms   ", "no comparison operator"},
		{"no operator", "p99_ms 10", `expected a comparison operator after "p99_ms"`},
		{"word operator", "p99_ms lt 10", "expected a comparison operator"},
		{"single equals", "errors = 0", `unknown operator "="`},
		{"arrow", "p99_ms => 10", `unknown operator "=>"`},
		{"reversed le", "p99_ms =< 10", `unknown operator "=<"`},
		{"diamond", "p99_ms <> 10", `unknown operator "<>"`},
		{"tilde", "p99_ms ~ 10", `unknown operator "~"`},
		{"triple equals", "errors === 0", `unknown operator "==="`},
		{"bang", "errors ! 0", `unknown operator "!"`},
		{"missing metric", "< 10", "missing metric"},
		{"missing metric no space", ">=0.5", "missing metric"},
		{"junk before metric", "$p99_ms < 10", "metric name must start"},
		{"unknown metric", "p99ms < 10", `unknown metric "p99ms"`},
		{"reversed operands", "10 > p99_ms", `unknown metric "10"`},
		{"outcome without name", "outcome. > 0", `unknown metric "outcome."`},
		{"missing number", "p99_ms <", "missing number"},
		{"missing number space", "p99_ms <=   ", "missing number"},
		{"word number", "p99_ms < ten", `"ten" is not a number`},
		{"unit", "p99_ms < 10ms", `"10ms" is not a number`},
		{"duration", "drain_seconds < 5s", `"5s" is not a number`},
		{"percent", "error_rate < 1%", `"1%" is not a number`},
		{"two numbers", "p99_ms < 10 20", `"10 20" is not a number`},
		{"chained", "p99_ms < 10 < 20", `"10 < 20" is not a number`},
		{"bad underscore leading", "requests > _1000", "is not a number"},
		{"bad underscore trailing", "requests > 1000_", "is not a number"},
		{"double underscore", "requests > 1__000", "is not a number"},
		{"nan", "p99_ms < NaN", "not a finite number"},
		{"inf", "p99_ms < inf", "not a finite number"},
		{"space in metric", "p99 ms < 10", `expected a comparison operator after "p99"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseThreshold(tt.expr)
			if err == nil {
				t.Fatalf("ParseThreshold(%q) = %+v, want error containing %q", tt.expr, got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseThreshold(%q) error = %q, want it to contain %q", tt.expr, err, tt.wantErr)
			}
			if got != (Threshold{}) {
				t.Errorf("ParseThreshold(%q) = %+v on error, want zero Threshold", tt.expr, got)
			}
		})
	}
}

func TestEvaluateThresholds(t *testing.T) {
	s := fullScenario("flash") // p99 8, errors 50, achieved_ratio 0.95, drain 1.5
	tests := []struct {
		expr       string
		wantActual float64
		wantPass   bool
	}{
		{"p99_ms < 8", 8, false}, // boundary: strict
		{"p99_ms <= 8", 8, true}, // boundary: inclusive
		{"p99_ms < 8.001", 8, true},
		{"p99_ms <= 7.999", 8, false},
		{"p99_ms > 8", 8, false},
		{"p99_ms >= 8", 8, true},
		{"p99_ms > 7.999", 8, true},
		{"p99_ms >= 8.001", 8, false},
		{"errors == 50", 50, true},
		{"errors == 0", 50, false},
		{"errors != 0", 50, true},
		{"errors != 50", 50, false},
		{"achieved_ratio >= 0.95", 0.95, true},
		{"drain_seconds <= 1.5", 1.5, true},
		{"drain_seconds < 1.5", 1.5, false},
		{"outcome.sold_out > 0", 300, true},
		{"outcome_share.sold_out < 0.25", 0.3, false},
		{"invariant_violations == 0", 2, false},
		{"search_best_rps >= 12_000", 12000, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := EvaluateThresholds(&s, []string{tt.expr})
			if err != nil {
				t.Fatalf("EvaluateThresholds(%q) error: %v", tt.expr, err)
			}
			if len(got) != 1 {
				t.Fatalf("EvaluateThresholds(%q) returned %d thresholds, want 1", tt.expr, len(got))
			}
			if got[0].Actual != tt.wantActual || got[0].Pass != tt.wantPass {
				t.Errorf("EvaluateThresholds(%q) = actual %v pass %v, want actual %v pass %v",
					tt.expr, got[0].Actual, got[0].Pass, tt.wantActual, tt.wantPass)
			}
			if got[0].Expr != tt.expr {
				t.Errorf("EvaluateThresholds(%q).Expr = %q, want %q", tt.expr, got[0].Expr, tt.expr)
			}
		})
	}
}

func TestEvaluateThresholdsOrder(t *testing.T) {
	s := fullScenario("flash")
	exprs := []string{"errors == 0", "p99_ms < 10", "achieved_ratio >= 0.95"}
	got, err := EvaluateThresholds(&s, exprs)
	if err != nil {
		t.Fatalf("EvaluateThresholds error: %v", err)
	}
	wantPass := []bool{false, true, true}
	if len(got) != len(exprs) {
		t.Fatalf("got %d thresholds, want %d", len(got), len(exprs))
	}
	for i := range exprs {
		if got[i].Expr != exprs[i] || got[i].Pass != wantPass[i] {
			t.Errorf("threshold %d = %q pass %v, want %q pass %v", i, got[i].Expr, got[i].Pass, exprs[i], wantPass[i])
		}
	}
}

func TestEvaluateThresholdsErrors(t *testing.T) {
	bare := Scenario{Name: "bare", Outcomes: map[string]int64{"accepted": 1}}
	tests := []struct {
		name     string
		exprs    []string
		wantErrs []string // substrings, all must appear
	}{
		{
			name:  "metric not reported by scenario",
			exprs: []string{"p99_ms < 10", "drain_seconds <= 5"},
			wantErrs: []string{
				`scenario "bare"`,
				`metric "drain_seconds" not reported`,
				// the available names, sorted
				"available: accepted_rps, achieved_ratio, achieved_rps, ceiling_ratio, error_rate, errors, generator_cpu_share, generator_late_p99_ms, invariant_violations, max_ms, mean_ms, offered_rps, outcome.accepted, outcome_share.accepted, p50_ms, p90_ms, p95_ms, p999_ms, p99_ms, requests",
			},
		},
		{
			name:     "outcome that never happened",
			exprs:    []string{"outcome.sold_out > 0"},
			wantErrs: []string{`metric "outcome.sold_out" not reported`},
		},
		{
			name:     "parse error",
			exprs:    []string{"p99_ms = 10"},
			wantErrs: []string{`scenario "bare"`, `unknown operator "="`},
		},
		{
			name:     "all problems reported",
			exprs:    []string{"persist_p99_ms < 100", "errors == 0", "p99_ms < 10ms"},
			wantErrs: []string{`"persist_p99_ms" not reported`, `"10ms" is not a number`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EvaluateThresholds(&bare, tt.exprs)
			if err == nil {
				t.Fatalf("EvaluateThresholds(%q) = %+v, want error", tt.exprs, got)
			}
			if got != nil {
				t.Errorf("EvaluateThresholds(%q) returned %+v with the error, want nil", tt.exprs, got)
			}
			for _, w := range tt.wantErrs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("EvaluateThresholds(%q) error = %q, want it to contain %q", tt.exprs, err, w)
				}
			}
		})
	}
}

func TestEvaluateThresholdsEmpty(t *testing.T) {
	s := fullScenario("flash")
	got, err := EvaluateThresholds(&s, nil)
	if err != nil || len(got) != 0 {
		t.Errorf("EvaluateThresholds(nil) = %v, %v; want empty, nil", got, err)
	}
}
