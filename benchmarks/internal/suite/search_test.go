package suite

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/benchmarks/scenarios"
)

// below is a fake step: every rate under the knee meets the objective.
func below(knee float64, tried *[]float64) func(float64) (bool, error) {
	return func(rate float64) (bool, error) {
		*tried = append(*tried, rate)
		return rate < knee, nil
	}
}

func TestPlanRun(t *testing.T) {
	tests := []struct {
		name      string
		plan      plan
		knee      float64 // rates below it pass
		wantBest  float64
		wantTried []float64
	}{
		{"steps up, then bisects to 100 req/s", plan{start: 1000, factor: 2, limit: 100_000, bisect: 3}, 3500,
			3300, []float64{1000, 2000, 4000, 3000, 3500, 3300}},
		{"stops bisecting when 100 req/s apart", plan{start: 1000, factor: 1.3, limit: 100_000, bisect: 10}, 2000,
			1900, []float64{1000, 1300, 1690, 2197, 1900, 2000}},
		{"start misses: nothing to bisect", plan{start: 1000, factor: 2, limit: 100_000, bisect: 3}, 500,
			0, []float64{1000}},
		{"never misses: stops at the cap", plan{start: 1000, factor: 2, limit: 5000, bisect: 3}, 1e9,
			4000, []float64{1000, 2000, 4000}},
		{"max_steps bounds the step up", plan{start: 1000, factor: 2, limit: 1e9, bisect: 3, maxSteps: 4}, 1e9,
			8000, []float64{1000, 2000, 4000, 8000}},
		{"max_steps bounds the bisection", plan{start: 1000, factor: 2, limit: 100_000, bisect: 3, maxSteps: 4}, 3500,
			3000, []float64{1000, 2000, 4000, 3000}},
		{"no bisect", plan{start: 1000, factor: 2, limit: 100_000}, 3500,
			2000, []float64{1000, 2000, 4000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tried []float64
			got, err := tt.plan.run(below(tt.knee, &tried))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.wantBest {
				t.Errorf("best = %v, want %v (tried %v)", got, tt.wantBest, tried)
			}
			if !slices.Equal(tried, tt.wantTried) {
				t.Errorf("tried %v, want %v", tried, tt.wantTried)
			}
		})
	}
}

// TestPlanRunWriteMax runs write-max's own plan, at the reference
// machine's ceiling, against the write path's recorded knee (4,000/s passed
// p99 <= 250 ms, 5,000/s did not): it must land between them within its
// step budget.
func TestPlanRunWriteMax(t *testing.T) {
	s, err := scenarios.Load("write-max")
	if err != nil {
		t.Fatal(err)
	}
	se := s.Search
	start, limit, err := se.Rates(58_000)
	if err != nil {
		t.Fatal(err)
	}
	var tried []float64
	p := plan{start: start, factor: se.Factor, limit: limit, bisect: se.Bisect, maxSteps: se.MaxSteps}
	best, err := p.run(below(4500, &tried))
	if err != nil {
		t.Fatal(err)
	}
	if best < 4000 || best >= 4500 {
		t.Errorf("best = %v, want in [4000, 4500) (tried %v)", best, tried)
	}
	if len(tried) > se.MaxSteps {
		t.Errorf("%d steps (%v), want <= max_steps %d", len(tried), tried, se.MaxSteps)
	}
}

func TestPlanRunError(t *testing.T) {
	boom := errors.New("stack down")
	calls := 0
	_, err := plan{start: 1000, factor: 2, limit: 1e6, bisect: 3}.run(func(float64) (bool, error) {
		calls++
		return calls < 3, map[bool]error{true: boom, false: nil}[calls == 2]
	})
	if !errors.Is(err, boom) || calls != 2 {
		t.Errorf("run = %v after %d calls, want %v after 2", err, calls, boom)
	}
}

// TestMeetsWriteMax judges fake steps against write-max's objective.
func TestMeetsWriteMax(t *testing.T) {
	s, err := scenarios.Load("write-max")
	if err != nil {
		t.Fatal(err)
	}
	step := func(edit func(r *results.Scenario)) *results.Scenario {
		r := &results.Scenario{
			Name:     "write-max",
			Load:     results.Load{Requests: 40_000, OfferedRPS: 4000, AchievedRPS: 4000},
			Latency:  results.Latency{P99Ms: 172},
			Outcomes: map[string]int64{"accepted": 40_000},
			Drain:    &results.Drain{Seconds: 0.5, MaxLag: 774}, // 0.19 s of arrivals
		}
		edit(r)
		return r
	}
	tests := []struct {
		name string
		r    *results.Scenario
		want bool
	}{
		{"within every bound", step(func(*results.Scenario) {}), true},
		{"p99 at the bound", step(func(r *results.Scenario) { r.Latency.P99Ms = 250 }), true},
		{"p99 over", step(func(r *results.Scenario) { r.Latency.P99Ms = 789 }), false},
		{"writer 1.9 s behind", step(func(r *results.Scenario) { r.Drain.MaxLag = 7600 }), true},
		{"writer 2 s behind", step(func(r *results.Scenario) { r.Drain.MaxLag = 8000 }), false},
		{"drain 4.9 s", step(func(r *results.Scenario) { r.Drain.Seconds = 4.9 }), true},
		{"drain 5 s", step(func(r *results.Scenario) { r.Drain.Seconds = 5 }), false},
		{"an error", step(func(r *results.Scenario) { r.Errors = 1 }), false},
		{"fell behind the schedule", step(func(r *results.Scenario) { r.Load.AchievedRPS = 3800 }), false},
		{"not every order accepted", step(func(r *results.Scenario) { r.Outcomes["sold_out"] = 1 }), false},
		{"an invariant broken", step(func(r *results.Scenario) { r.Failures = []string{"I2 no lost order: …"} }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := meets(tt.r, s.Search.Objective)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("meets = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("no drain measured is an error, not a pass", func(t *testing.T) {
		r := step(func(r *results.Scenario) { r.Drain = nil })
		if _, err := meets(r, s.Search.Objective); err == nil {
			t.Errorf("meets without a drain: nil error")
		}
	})
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		name   string
		stages []results.Stage
		want   string
	}{
		{"absolute", []results.Stage{{FromRPS: 4000, ToRPS: 4000, Seconds: 50}}, "4,000 req/s for 50 s"},
		{"share", []results.Stage{{FromRPS: 2320, ToRPS: 2320, Seconds: 50, FromRatio: 0.04, ToRatio: 0.04}},
			"2,320 req/s (4.0 % of the ceiling) for 50 s"},
		{"relative ramp, then absolute", []results.Stage{{FromRPS: 600, ToRPS: 3000, Seconds: 10, FromRatio: 0.01, ToRatio: 0.05}, {FromRPS: 10, ToRPS: 10, Seconds: 1}},
			"600 → 3,000 req/s (1.0 → 5.0 % of the ceiling) for 10 s, then 10 req/s for 1 s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describe(tt.stages); got != tt.want {
				t.Errorf("describe = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSearchBests(t *testing.T) {
	f := &results.File{
		Calibration: &results.Calibration{CeilingRPS: 58_000},
		Scenarios: []results.Scenario{
			{Name: "hot-item"},
			{Name: "max", AcceptedRPS: 17, Search: &results.Search{Objective: "p99_ms <= 10", BestRPS: 7250}},
			{Name: "write-max", AcceptedRPS: 3998, Search: &results.Search{Objective: "p99_ms <= 250", BestRPS: 4000}},
			{Name: "write-max-none", Search: &results.Search{Objective: "p99_ms <= 250"}},
		},
	}
	var b strings.Builder
	searchBests(&b, f)
	want := "max: best 7,250 req/s (12.5 % of the ceiling, 17 accepted/s) meeting p99_ms <= 10\n" +
		"write-max: best 4,000 req/s (6.9 % of the ceiling, 3,998 accepted/s) meeting p99_ms <= 250\n" +
		"write-max-none: no rate tried meets p99_ms <= 250\n"
	if got := b.String(); got != want {
		t.Errorf("searchBests wrote\n%s\nwant\n%s", got, want)
	}
}
