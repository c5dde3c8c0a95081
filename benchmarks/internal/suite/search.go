package suite

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/report"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/benchmarks/scenarios"
)

// search is the max scenario: step the arrival rate up by a factor until the
// objective fails (or the cap is reached), then bisect between the last rate
// that passed and the first that failed. Every step is a fresh sale with
// fresh buyers, drained and verified like any run: an invariant broken at
// any rate fails the scenario.
func (b *Bench) search(ctx context.Context, s *scenarios.Scenario) (*results.Scenario, error) {
	se := s.Search
	sr := &searchRun{b: b, s: s, step: se.StepSeconds * b.scale}
	b.Logf("%s v%d: %s", s.Name, s.Version, s.Description)
	lo, hi, err := sr.stepUp(ctx)
	if err != nil {
		return nil, err
	}
	if lo, err = sr.bisect(ctx, lo, hi); err != nil {
		return nil, err
	}
	r := sr.best
	if r == nil {
		r = sr.last
		sr.failures = append(sr.failures, fmt.Sprintf("even the start rate %s req/s misses the objective", report.Whole(se.StartRate)))
	}
	r.Failures = sr.failures
	r.Search = &results.Search{Objective: strings.Join(se.Objective, ", "), Steps: sr.steps, BestRPS: lo}
	if err := Judge(r, s.Thresholds); err != nil {
		return nil, err
	}
	b.Logf("%s: best %s req/s (%.0f %% of the ceiling): %s", s.Name, report.Whole(lo), 100*lo/max(b.ceiling, 1), verdict(r))
	return r, nil
}

// searchRun is one max search in progress: every rate tried, the best run
// that met the objective, the last run, and the failures seen at any rate.
type searchRun struct {
	b        *Bench
	s        *scenarios.Scenario
	step     float64 // seconds at each rate
	steps    []results.Step
	best     *results.Scenario
	last     *results.Scenario
	failures []string
}

// stepUp multiplies the rate from the start rate until it misses the
// objective or passes the cap: lo is the last rate that met it (0 if none),
// hi the first that did not (0 if none did not).
func (sr *searchRun) stepUp(ctx context.Context) (lo, hi float64, err error) {
	se := sr.s.Search
	for rate := se.StartRate; rate <= se.MaxRate; rate = math.Round(rate * se.Factor) {
		ok, err := sr.try(ctx, rate)
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			return lo, rate, nil
		}
		lo = rate
	}
	return lo, 0, nil
}

// bisect narrows [lo, hi] to the nearest 100 req/s, at most Bisect times,
// and returns the highest rate that met the objective.
func (sr *searchRun) bisect(ctx context.Context, lo, hi float64) (float64, error) {
	for i := 0; i < sr.s.Search.Bisect && lo > 0 && hi > 0; i++ {
		mid := math.Round((lo+hi)/2/100) * 100
		if mid <= lo || mid >= hi {
			break
		}
		ok, err := sr.try(ctx, mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// try runs one step at rate and says whether it met the objective with no
// failure.
func (sr *searchRun) try(ctx context.Context, rate float64) (bool, error) {
	b := sr.b
	r, _, err := b.Once(ctx, sr.s, []results.Stage{{FromRPS: rate, ToRPS: rate, Seconds: sr.step}})
	if err != nil {
		return false, err
	}
	sr.last = r
	ths, err := results.EvaluateThresholds(r, sr.s.Search.Objective)
	if err != nil {
		return false, err
	}
	ok := len(r.Failures) == 0
	for _, t := range ths {
		ok = ok && t.Pass
	}
	for _, f := range r.Failures {
		sr.failures = append(sr.failures, fmt.Sprintf("at %s req/s: %s", report.Whole(rate), f))
	}
	sr.steps = append(sr.steps, results.Step{OfferedRPS: rate, AchievedRPS: r.Load.AchievedRPS, P99Ms: r.Latency.P99Ms, Errors: r.Errors, Pass: ok})
	b.Logf("  %s req/s: achieved %s, p99 %.2f ms, errors %d → %s", report.Whole(rate), report.Whole(r.Load.AchievedRPS), r.Latency.P99Ms, r.Errors, map[bool]string{true: "meets the objective", false: "misses it"}[ok])
	if ok {
		sr.best = r
	}
	// Let the writer and Kafka settle so steps do not overlap.
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	return ok, ctx.Err()
}
