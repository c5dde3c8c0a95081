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

// search is a search scenario (max, write-max): step the arrival rate up by
// a factor until the objective fails (or the cap is reached), then bisect
// between the last rate that passed and the first that failed. Every step
// is a fresh sale with fresh buyers, drained and verified like any run: an
// invariant broken at any rate fails the scenario.
func (b *Bench) search(ctx context.Context, s *scenarios.Scenario) (*results.Scenario, error) {
	se := s.Search
	start, limit, err := se.Rates(b.ceiling * b.rateFactor())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	pause := time.Second
	if se.PauseSeconds > 0 {
		pause = time.Duration(se.PauseSeconds * float64(time.Second))
	}
	sr := &searchRun{b: b, s: s, step: se.StepSeconds * b.scale, pause: pause}
	b.Logf("%s v%d: %s", s.Name, s.Version, s.Description)
	p := plan{start: start, factor: se.Factor, limit: limit, bisect: se.Bisect, maxSteps: se.MaxSteps}
	best, err := p.run(func(rate float64) (bool, error) { return sr.try(ctx, rate) })
	if err != nil {
		return nil, err
	}
	r := sr.best
	if r == nil {
		r = sr.last
		sr.failures = append(sr.failures, fmt.Sprintf("even the start rate %s req/s misses the objective", report.Whole(start)))
	}
	r.Failures = sr.failures
	r.Search = &results.Search{Objective: strings.Join(se.Objective, ", "), Steps: sr.steps, BestRPS: best}
	if err := Judge(r, s.Thresholds); err != nil {
		return nil, err
	}
	b.Logf("%s: best %s req/s (%.1f %% of the ceiling): %s", s.Name, report.Whole(best), 100*best/max(b.ceiling, 1), verdict(r))
	return r, nil
}

// plan is a search's rates, resolved to req/s.
type plan struct {
	start, factor, limit float64
	bisect, maxSteps     int // maxSteps 0: no bound beyond limit and bisect
}

// run is the search's decisions, apart from what a step is: it multiplies
// the rate from start by factor while try says the rate met the objective
// and the rate is at most limit, then bisects between the last pass and the
// first miss to the nearest 100 req/s, at most bisect times; never more
// than maxSteps tries in all. It returns the highest rate that passed (0 if
// none did). Every loop is bounded: factor > 1 reaches limit, and bisect
// and maxSteps count.
func (p plan) run(try func(rate float64) (bool, error)) (float64, error) {
	tries := 0
	budget := func() bool { return p.maxSteps == 0 || tries < p.maxSteps }
	attempt := func(rate float64) (bool, error) {
		tries++
		return try(rate)
	}
	// Step up: lo is the last rate that met the objective, hi the first
	// that did not (0 while none has).
	var lo, hi float64
	for rate := p.start; rate <= p.limit && budget(); rate = math.Round(rate * p.factor) {
		ok, err := attempt(rate)
		if err != nil {
			return 0, err
		}
		if !ok {
			hi = rate
			break
		}
		lo = rate
	}
	for i := 0; i < p.bisect && lo > 0 && hi > 0 && budget(); i++ {
		mid := math.Round((lo+hi)/2/100) * 100
		if mid <= lo || mid >= hi {
			break
		}
		ok, err := attempt(mid)
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

// meets says whether a step met the objective: every expression holds and
// the run has no failure of its own (an invariant, the drain, requests
// never sent).
func meets(r *results.Scenario, objective []string) (bool, error) {
	ths, err := results.EvaluateThresholds(r, objective)
	if err != nil {
		return false, err
	}
	ok := len(r.Failures) == 0
	for _, t := range ths {
		ok = ok && t.Pass
	}
	return ok, nil
}

// searchRun is one search in progress: every rate tried, the best run that
// met the objective, the last run, and the failures seen at any rate.
type searchRun struct {
	b        *Bench
	s        *scenarios.Scenario
	step     float64 // seconds at each rate
	pause    time.Duration
	steps    []results.Step
	best     *results.Scenario
	last     *results.Scenario
	failures []string
}

// try runs one step at rate and says whether it met the objective.
func (sr *searchRun) try(ctx context.Context, rate float64) (bool, error) {
	b := sr.b
	r, _, err := b.Once(ctx, sr.s, []results.Stage{{FromRPS: rate, ToRPS: rate, Seconds: sr.step}})
	if err != nil {
		return false, err
	}
	sr.last = r
	ok, err := meets(r, sr.s.Search.Objective)
	if err != nil {
		return false, err
	}
	for _, f := range r.Failures {
		sr.failures = append(sr.failures, fmt.Sprintf("at %s req/s: %s", report.Whole(rate), f))
	}
	m := results.Metrics(r)
	st := results.Step{OfferedRPS: rate, AchievedRPS: r.Load.AchievedRPS, P99Ms: r.Latency.P99Ms, Errors: r.Errors,
		DrainSeconds: m["drain_seconds"], WriterLagSeconds: m["max_writer_lag_seconds"], Pass: ok}
	sr.steps = append(sr.steps, st)
	b.Logf("  %s req/s: achieved %s, accepted %s/s, p99 %.2f ms, writer lag %.2f s, drain %.1f s, errors %d → %s",
		report.Whole(rate), report.Whole(r.Load.AchievedRPS), report.Whole(r.AcceptedRPS), r.Latency.P99Ms,
		st.WriterLagSeconds, st.DrainSeconds, r.Errors, map[bool]string{true: "meets the objective", false: "misses it"}[ok])
	if ok {
		sr.best = r
	}
	// Let the writer and Kafka settle so steps do not overlap.
	select {
	case <-time.After(sr.pause):
	case <-ctx.Done():
	}
	return ok, ctx.Err()
}
