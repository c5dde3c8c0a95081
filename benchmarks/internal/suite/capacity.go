package suite

import (
	"context"
	"fmt"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/calibrate"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/cpu"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/requests"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/verify"
	"github.com/blitzbuy/blitzbuy/benchmarks/scenarios"
)

// Capacity is the gate's capacity measurement: it drives the API
// closed-loop for d, with the calibration's connections and the scenario's
// honest buyers, on a fresh sale, then drains and verifies. Its ceiling
// ratio is throughput per unit of the machine, which a hot path that got
// more expensive lowers even when it still keeps up with open load.
func (b *Bench) Capacity(ctx context.Context, s *scenarios.Scenario, d time.Duration) (*results.Scenario, error) {
	sale := verify.Sale{ID: fmt.Sprintf("bench-gate-cap-%d", time.Now().UnixMilli()), Stock: s.Sale.Stock, Limit: s.Sale.PerUserLimit}
	if err := b.createSale(ctx, sale); err != nil {
		return nil, err
	}
	// Enough buyers for the machine's ceiling, which the API cannot exceed.
	reqs, err := requests.Honest(b.sign, sale.ID, int(b.ceiling*d.Seconds()), s.Traffic.Quantity)
	if err != nil {
		return nil, err
	}
	span := b.cpu.Start()
	run, err := load.Closed(ctx, b.target(sale.ID), calibrate.Conns, d, reqs)
	secs := span.Stop()
	if err != nil {
		return nil, err
	}
	sum := load.Summarize(run, "closed")
	sum.Load.Connections = calibrate.Conns
	r := &results.Scenario{Name: "gate-capacity", SaleID: sale.ID, Load: sum.Load, Latency: sum.Latency, Outcomes: sum.Outcomes, Generator: sum.Generator,
		CPU: cpu.Report(secs, sum.Answered())}
	for o, n := range sum.Outcomes {
		if o != load.Accepted.String() && o != load.SoldOut.String() {
			r.Errors += n
		}
	}
	r.CeilingRatio = r.Load.AchievedRPS / b.ceiling
	accepted := sum.Count(load.Accepted)
	dr, err := b.check.Drain(ctx, sale.ID, accepted, b.DrainTimeout, 0)
	if err != nil {
		return nil, err
	}
	r.Drain = &dr
	if r.Invariants, _, err = b.check.Check(ctx, sale, reqs[:len(run.Results)], run.Results, nil); err != nil {
		return nil, err
	}
	return r, b.cleanup(ctx, sale.ID, reqs[:len(run.Results)], run.Results)
}
