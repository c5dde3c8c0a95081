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
	step := se.StepSeconds * b.scale
	b.Logf("%s v%d: %s", s.Name, s.Version, s.Description)
	var (
		steps    []results.Step
		best     *results.Scenario
		last     *results.Scenario
		failures []string
	)
	try := func(rate float64) (bool, error) {
		r, _, err := b.Once(ctx, s, []results.Stage{{FromRPS: rate, ToRPS: rate, Seconds: step}})
		if err != nil {
			return false, err
		}
		last = r
		ths, err := results.EvaluateThresholds(r, se.Objective)
		if err != nil {
			return false, err
		}
		ok := len(r.Failures) == 0
		for _, t := range ths {
			ok = ok && t.Pass
		}
		for _, f := range r.Failures {
			failures = append(failures, fmt.Sprintf("at %s req/s: %s", report.Whole(rate), f))
		}
		steps = append(steps, results.Step{OfferedRPS: rate, AchievedRPS: r.Load.AchievedRPS, P99Ms: r.Latency.P99Ms, Errors: r.Errors, Pass: ok})
		b.Logf("  %s req/s: achieved %s, p99 %.2f ms, errors %d → %s", report.Whole(rate), report.Whole(r.Load.AchievedRPS), r.Latency.P99Ms, r.Errors, map[bool]string{true: "meets the objective", false: "misses it"}[ok])
		if ok {
			best = r
		}
		// Let the writer and Kafka settle so steps do not overlap.
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
		return ok, ctx.Err()
	}

	lo, hi := 0.0, 0.0
	for rate := se.StartRate; rate <= se.MaxRate; rate = math.Round(rate * se.Factor) {
		ok, err := try(rate)
		if err != nil {
			return nil, err
		}
		if !ok {
			hi = rate
			break
		}
		lo = rate
	}
	for i := 0; i < se.Bisect && lo > 0 && hi > 0; i++ {
		mid := math.Round((lo+hi)/2/100) * 100
		if mid <= lo || mid >= hi {
			break
		}
		ok, err := try(mid)
		if err != nil {
			return nil, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	r := best
	if r == nil {
		r = last
		failures = append(failures, fmt.Sprintf("even the start rate %s req/s misses the objective", report.Whole(se.StartRate)))
	}
	r.Failures = failures
	r.Search = &results.Search{Objective: strings.Join(se.Objective, ", "), Steps: steps, BestRPS: lo}
	if err := Judge(r, s.Thresholds); err != nil {
		return nil, err
	}
	b.Logf("%s: best %s req/s (%.0f %% of the ceiling): %s", s.Name, report.Whole(lo), 100*lo/max(b.ceiling, 1), verdict(r))
	return r, nil
}
