package suite

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/checkout"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/cpu"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/requests"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/verify"
	"github.com/blitzbuy/blitzbuy/benchmarks/scenarios"
)

// Once creates a fresh sale, sends the scenario's traffic on the given
// stages, drains, verifies, and returns the scenario's figures (thresholds
// not yet applied) plus the run itself.
func (b *Bench) Once(ctx context.Context, s *scenarios.Scenario, stages []results.Stage) (*results.Scenario, *load.Run, error) {
	sched, err := load.NewSchedule(stages)
	if err != nil {
		return nil, nil, err
	}
	sale := verify.Sale{ID: fmt.Sprintf("bench-%s-%d", s.Name, time.Now().UnixMilli()), Stock: s.Sale.Stock, Limit: s.Sale.PerUserLimit,
		HoldSeconds: s.Sale.HoldSeconds}
	if err := b.createSale(ctx, sale); err != nil {
		return nil, nil, err
	}
	b.seed++
	reqs, err := requests.Mixed(b.sign, sale.ID, len(sched), s.Traffic, int(sale.Limit), b.seed)
	if err != nil {
		return nil, nil, err
	}
	smp := b.sample(ctx, sale.ID)
	cfg := b.target(sale.ID)
	var win *window
	if sale.HoldSeconds > 0 {
		plan := scenarios.Checkout{} // no plan: every hold expires
		if s.Checkout != nil {
			plan = *s.Checkout
		}
		win = b.watchWindow(ctx, sale, plan, reqs)
		cfg.OnAccepted = win.actor.Accepted
	}
	// The CPU is measured over the load alone: the drain and the
	// verification are the harness's work, not the requests'.
	span := b.cpu.Start()
	run, err := b.open(ctx, s.Name, cfg, sched, reqs)
	secs := span.Stop()
	if err != nil {
		smp.stop()
		if win != nil {
			win.stop()
		}
		return nil, nil, err
	}
	sum := load.Summarize(run, "open")
	sum.Load.Stages, sum.Load.OfferedRPS = stages, offered(len(sched), stages)
	v, err := b.verify(ctx, sale, reqs, run, smp, win)
	if err != nil {
		return nil, nil, err
	}
	r := b.score(s, sale.ID, sum, run, v)
	r.CPU = cpu.Report(secs, sum.Answered())
	return r, run, nil
}

// open sends reqs on sched to cfg's target, with a live line on a terminal.
func (b *Bench) open(ctx context.Context, name string, cfg load.Config, sched load.Schedule, reqs []load.Request) (*load.Run, error) {
	if b.tty {
		cfg.Progress = progress(name)
	}
	run, err := load.Open(ctx, cfg, sched, reqs)
	if b.tty {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	return run, err
}

// offered is the schedule's mean arrival rate over the stages.
func offered(requests int, stages []results.Stage) float64 {
	total := 0.0
	for _, st := range stages {
		total += st.Seconds
	}
	return math.Round(float64(requests) / total)
}

// verified is what the stores said after a run.
type verified struct {
	drain    results.Drain
	invs     []results.Invariant
	persist  results.Latency
	samples  []sample
	checkout *results.Checkout
	ledger   []verify.Ledger
}

// verify waits for the run's accepted orders to be persisted (and, with a
// checkout window, for the harness's last payments and every hold's end),
// checks I1–I5 (and I6), measures the persistence latency and removes the
// sale's keys.
func (b *Bench) verify(ctx context.Context, sale verify.Sale, reqs []load.Request, run *load.Run, smp *sampler, win *window) (verified, error) {
	var v verified
	accepted := map[string]bool{}
	for i := range run.Results {
		if id := run.Results[i].OrderID; id != "" {
			accepted[id] = true
		}
	}
	var orders []checkout.Order
	if win != nil {
		// The last winners act up to a window (and a late payment) after
		// the load: their answers belong to the run.
		orders = win.actor.Wait()
	}
	drain, err := b.check.Drain(ctx, sale.ID, int64(len(accepted)), b.DrainTimeout, smp.maxLag())
	v.drain, v.samples = drain, smp.stop()
	var w *verify.Window
	if win != nil {
		w = win.stop()
		w.Start, w.Orders = run.Start, orders
		v.ledger = w.Samples
	}
	if err != nil {
		return v, err
	}
	if v.invs, v.checkout, err = b.check.Check(ctx, sale, reqs, run.Results, w); err != nil {
		return v, err
	}
	if v.persist, err = b.check.PersistLatency(ctx, sale.ID); err != nil {
		return v, err
	}
	if err := b.cleanup(ctx, sale.ID, reqs, run.Results); err != nil {
		return v, err
	}
	if len(orders) > 0 && !b.KeepKeys {
		return v, b.check.CleanupPayments(ctx, sale.ID, orders)
	}
	return v, nil
}

// score is the scenario's figures: the summary, the drain and the
// invariants, the answers it did not expect counted as errors, the rates as
// ratios, and a failure for everything that went wrong.
func (b *Bench) score(s *scenarios.Scenario, sale string, sum load.Summary, run *load.Run, v verified) *results.Scenario {
	r := &results.Scenario{
		Name: s.Name, Version: s.Version, Description: s.Description, File: s.File, SaleID: sale,
		Load: sum.Load, Latency: sum.Latency, Outcomes: sum.Outcomes, Generator: sum.Generator,
		Drain: &v.drain, Invariants: v.invs, Checkout: v.checkout,
		Timeline: ledgerTimeline(timeline(sum.Timeline, run, v.samples), run, v.ledger),
	}
	if v.persist.Count > 0 {
		r.Persist = &v.persist
	}
	expected := map[string]bool{}
	for _, o := range s.Expect {
		expected[o] = true
	}
	for o, n := range sum.Outcomes {
		if !expected[o] && o != load.NotSent.String() {
			r.Errors += n
		}
	}
	if v.checkout != nil {
		// A payment or cancellation answered what its plan does not allow
		// is an error of the run like an unexpected order answer.
		r.Errors += v.checkout.Errors
	}
	if wall := run.Wall.Seconds(); wall > 0 {
		r.AcceptedRPS = math.Round(float64(sum.Count(load.Accepted)) / wall)
	}
	if b.ceiling > 0 {
		r.CeilingRatio = math.Round(r.Load.AchievedRPS/b.ceiling*1000) / 1000
	}
	r.Failures = append(r.Failures, b.failures(sum, v)...)
	return r
}

// failures names what makes a run fail before its thresholds: requests
// never sent, a pipeline that did not drain, broken invariants.
func (b *Bench) failures(sum load.Summary, v verified) []string {
	var fs []string
	if n := sum.Count(load.NotSent); n > 0 {
		fs = append(fs, fmt.Sprintf("%d requests never sent (interrupted)", n))
	}
	if v.drain.TimedOut {
		fs = append(fs, fmt.Sprintf("the pipeline did not drain within %s", b.DrainTimeout))
	}
	for _, inv := range v.invs {
		if !inv.Pass {
			f := fmt.Sprintf("%s %s: %s", inv.ID, inv.Name, inv.Detail)
			if len(inv.Offending) > 0 {
				f += " [" + strings.Join(inv.Offending[:min(5, len(inv.Offending))], ", ") + "]"
			}
			fs = append(fs, f)
		}
	}
	return fs
}

// cleanup removes a verified sale's keys from Redis unless KeepKeys.
func (b *Bench) cleanup(ctx context.Context, sale string, reqs []load.Request, res []load.Result) error {
	if b.KeepKeys {
		return nil
	}
	return b.check.Cleanup(ctx, sale, reqs, res)
}
