package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/report"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/verify"
	"github.com/blitzbuy/blitzbuy/benchmarks/scenarios"
)

// The gate's two measurements, each repeated and reduced to its median:
//
//   - gate-latency: flash-sale traffic (100 units), open model, at a fixed share of the
//     ceiling calibrated in the same repetition — catches a hot path that got
//     slower (latency) even when it still keeps up;
//   - gate-capacity: the same traffic, closed model (the calibration's
//     connections, as fast as it answers), as a ratio to the same ceiling —
//     catches a hot path that got more expensive (CPU).
//
// Ratios to a ceiling measured seconds earlier, and medians of several short
// repetitions, are what stays stable on a shared, noisy machine.
const (
	gateLatencyShare = 0.05
	gateSeconds      = 4.0
	gateCapacitySecs = 3.0
	gateCalibSecs    = 2.0
)

// gateTolerance is how far a median may move in the bad direction before the
// gate fails. The latency percentiles swing widely run to run on two shared
// cores, so their tolerances are wide; a real hot-path regression (one
// more Redis round trip, a 1 ms sleep) moves them by multiples.
var gateTolerance = results.Tolerance{Default: 0.25, PerMetric: map[string]float64{
	"ceiling_ratio": 0.35,
	"p50_ms":        1.5,
	"p95_ms":        3.0,
}}

// gateMetrics are what each gate scenario is judged on. The closed-model
// run's latency is only its throughput seen from the other side
// (connections ÷ rate), so capacity is judged on its ratio alone. P99 is
// reported, not judged: on two co-located cores it is Kafka's and
// PostgreSQL's background bursts (a fresh CI stack showed medians from 13 to
// 56 ms with the same code), not the hot path.
var gateMetrics = map[string][]string{
	"gate-latency":  {"p50_ms", "p95_ms", "errors", "invariant_violations"},
	"gate-capacity": {"ceiling_ratio", "errors", "invariant_violations"},
}

func cmdGate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gate", flag.ContinueOnError)
	out := fs.String("out", "", "directory for results.json and report.html (default .local/bench/gate-<time>)")
	reps := fs.Int("reps", 7, "repetitions; the gate compares their medians")
	baseline := fs.String("baseline", "benchmarks/baselines/gate.json", "results file to compare with")
	write := fs.Bool("write-baseline", false, "write this run as the new baseline instead of comparing")
	keep := fs.Bool("keep-keys", false, "leave each verified sale's keys in Redis")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *reps < 1 {
		return fmt.Errorf("--reps must be >= 1")
	}
	// The max scenario's sale: 100 units, so that under 1 % of the requests
	// take the accepted path (a Kafka round trip) and the percentiles
	// measure the flash-sale hot path.
	hot, err := scenarios.Load("max")
	if err != nil {
		return err
	}
	b, f, err := start(ctx, fmt.Sprintf("gate --reps %d", *reps), 1, seconds(gateCalibSecs))
	if err != nil {
		return err
	}
	defer b.check.Close()
	b.keep = *keep
	lat := &results.Scenario{Name: "gate-latency", Version: 1, Description: fmt.Sprintf(
		"flash-sale traffic (100 units), open model, %.0f %% of the ceiling calibrated in the same repetition, %.0f s; medians of %d repetitions", 100*gateLatencyShare, gateSeconds, *reps)}
	capa := &results.Scenario{Name: "gate-capacity", Version: 1, Description: fmt.Sprintf(
		"flash-sale traffic (100 units), closed model, %d connections, %.0f s, as a ratio to the ceiling; medians of %d repetitions", calibrationConns, gateCapacitySecs, *reps)}
	for i := range *reps {
		if i > 0 { // every repetition has its own ceiling
			c, err := calibrate(ctx, seconds(gateCalibSecs), b.sign)
			if err != nil {
				return err
			}
			b.ceiling = c.CeilingRPS
		}
		// Capacity first, right after its calibration: the closer the two
		// measurements, the more of the machine's drift the ratio cancels.
		c, err := b.capacity(ctx, hot)
		if err != nil {
			return err
		}
		addRep(capa, c, b.ceiling)
		rate := math.Round(b.ceiling * gateLatencyShare)
		r, _, err := b.once(ctx, hot, []results.Stage{{FromRPS: rate, ToRPS: rate, Seconds: gateSeconds}})
		if err != nil {
			return err
		}
		addRep(lat, r, b.ceiling)
		b.logf("gate %d/%d: ceiling %s req/s; latency run at %s req/s p50 %.2f ms p99 %.2f ms; capacity %s req/s (%.1f %% of the ceiling)",
			i+1, *reps, report.Whole(b.ceiling), report.Whole(rate), r.Latency.P50Ms, r.Latency.P99Ms, report.Whole(c.Load.AchievedRPS), 100*c.CeilingRatio)
	}
	for _, s := range []*results.Scenario{lat, capa} {
		median(s)
		if err := b.judge(s, []string{"errors == 0", "invariant_violations == 0"}); err != nil {
			return err
		}
		f.Scenarios = append(f.Scenarios, *s)
	}
	if *out == "" {
		*out = filepath.Join(".local", "bench", "gate-"+f.StartedAt.Format("20060102-150405"))
	}
	if *write {
		f.FinishedAt = time.Now().UTC()
		f.Pass = lat.Pass && capa.Pass
		if !f.Pass {
			_ = finish(f, *out)
			return fmt.Errorf("not writing %s: this run failed (%s)", *baseline, strings.Join(append(lat.Failures, capa.Failures...), "; "))
		}
		if err := results.Write(*baseline, f); err != nil {
			return err
		}
		fmt.Printf("baseline written to %s\n", *baseline)
	}
	ferr := finish(f, *out)
	if *write {
		return ferr
	}
	base, err := results.Read(*baseline)
	if err != nil {
		return fmt.Errorf("baseline: %w (write one with --write-baseline)", err)
	}
	var ds []results.Delta
	for _, name := range []string{"gate-latency", "gate-capacity"} {
		d, err := results.Compare(only(base, name), only(f, name), gateTolerance, gateMetrics[name])
		if err != nil {
			return err
		}
		ds = append(ds, d...)
	}
	fmt.Printf("\ncompared with %s (commit %.12s, %s):\n", *baseline, base.Git.Commit, base.StartedAt.Format(time.DateOnly))
	results.WriteDeltaTable(os.Stdout, ds)
	if err := regressed(ds); err != nil {
		return err
	}
	return ferr
}

// only is f with just the named scenario (none if f lacks it, which Compare
// then reports as missing from the current run).
func only(f *results.File, name string) *results.File {
	g := *f
	g.Scenarios = nil
	if s := f.Scenario(name); s != nil {
		g.Scenarios = []results.Scenario{*s}
	}
	return &g
}

// capacity drives the API closed-loop with hot-item traffic on a fresh sale.
func (b *bench) capacity(ctx context.Context, s *scenarios.Scenario) (*results.Scenario, error) {
	sale := verify.Sale{ID: fmt.Sprintf("bench-gate-cap-%d", time.Now().UnixMilli()), Stock: s.Sale.Stock, Limit: s.Sale.PerUserLimit}
	if err := b.createSale(ctx, sale); err != nil {
		return nil, err
	}
	// Enough buyers for the machine's ceiling, which the API cannot exceed.
	reqs, err := honestRequests(b.sign, sale.ID, int(b.ceiling*gateCapacitySecs), s.Traffic.Quantity)
	if err != nil {
		return nil, err
	}
	cfg := load.Config{Addr: b.st.apiAddr, Path: "/v1/sales/" + sale.ID + "/orders", Timeout: 10 * time.Second}
	run, err := load.Closed(ctx, cfg, calibrationConns, seconds(gateCapacitySecs), reqs)
	if err != nil {
		return nil, err
	}
	sum := load.Summarize(run, "closed")
	sum.Load.Connections = calibrationConns
	r := &results.Scenario{Name: "gate-capacity", SaleID: sale.ID, Load: sum.Load, Latency: sum.Latency, Outcomes: sum.Outcomes, Generator: sum.Generator}
	for o, n := range sum.Outcomes {
		if o != load.Accepted.String() && o != load.SoldOut.String() {
			r.Errors += n
		}
	}
	r.CeilingRatio = r.Load.AchievedRPS / b.ceiling
	accepted := sum.Count(load.Accepted)
	d, err := b.check.Drain(ctx, sale.ID, accepted, b.drain, 0)
	if err != nil {
		return nil, err
	}
	r.Drain = &d
	if r.Invariants, err = b.check.Check(ctx, sale, reqs[:len(run.Results)], run.Results); err != nil {
		return nil, err
	}
	return r, b.cleanup(ctx, sale.ID, reqs[:len(run.Results)], run.Results)
}

// addRep folds one repetition into a gate scenario, keeping the last run's
// details (outcomes, invariants) and accumulating errors and violations.
func addRep(dst, r *results.Scenario, ceiling float64) {
	dst.Repetitions = append(dst.Repetitions, results.Repetition{
		CeilingRPS: ceiling, AchievedRPS: r.Load.AchievedRPS, CeilingRatio: r.Load.AchievedRPS / ceiling,
		P50Ms: r.Latency.P50Ms, P95Ms: r.Latency.P95Ms, P99Ms: r.Latency.P99Ms, Errors: r.Errors,
	})
	dst.Errors += r.Errors
	dst.AcceptedRPS = r.AcceptedRPS
	dst.Load, dst.Outcomes, dst.Generator, dst.SaleID, dst.Drain, dst.Timeline = r.Load, r.Outcomes, r.Generator, r.SaleID, r.Drain, r.Timeline
	for _, inv := range r.Invariants {
		if !inv.Pass {
			dst.Failures = append(dst.Failures, fmt.Sprintf("%s %s: %s %v", inv.ID, inv.Name, inv.Detail, inv.Offending))
		}
	}
	if len(dst.Invariants) == 0 || !allPass(r.Invariants) {
		dst.Invariants = r.Invariants
	}
}

func allPass(invs []results.Invariant) bool {
	for _, i := range invs {
		if !i.Pass {
			return false
		}
	}
	return true
}

// median sets a gate scenario's headline figures to the medians of its
// repetitions.
func median(s *results.Scenario) {
	pick := func(f func(results.Repetition) float64) float64 {
		xs := make([]float64, len(s.Repetitions))
		for i, r := range s.Repetitions {
			xs[i] = f(r)
		}
		return results.Median(xs)
	}
	s.Load.AchievedRPS = pick(func(r results.Repetition) float64 { return r.AchievedRPS })
	// The median of the per-repetition ratios: a disturbance of the shared
	// machine tends to hit a repetition's calibration and its measurement
	// alike, which the ratio cancels and the median then discards.
	s.CeilingRatio = math.Round(pick(func(r results.Repetition) float64 { return r.CeilingRatio })*1000) / 1000
	// Only the percentiles every repetition reports have a median; the rest
	// of the distribution is left out rather than taken from one run.
	s.Latency = results.Latency{
		P50Ms: pick(func(r results.Repetition) float64 { return r.P50Ms }),
		P95Ms: pick(func(r results.Repetition) float64 { return r.P95Ms }),
		P99Ms: pick(func(r results.Repetition) float64 { return r.P99Ms }),
	}
}
