package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/report"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/verify"
	"github.com/blitzbuy/blitzbuy/benchmarks/scenarios"
)

// bench is one blitzbench invocation against the stack.
type bench struct {
	st      *settings
	check   *verify.Checker
	sign    signer
	ceiling float64
	scale   float64
	tty     bool
	seed    uint64
	// drain bounds the wait for the pipeline to empty after the load.
	drain time.Duration
	// keep leaves a verified sale's keys in Redis (see verify.Cleanup).
	keep bool
}

func cmdRun(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	out := fs.String("out", "", "directory for results.json and report.html (default .local/bench/<time>)")
	scale := fs.Float64("scale", 1, "multiply every stage's (and search step's) duration: 0.25 for a quick look")
	calSecs := fs.Float64("calibrate-seconds", 3, "length of the calibration run")
	drain := fs.Duration("drain-timeout", 90*time.Second, "longest wait, after the load, for the outbox, Kafka and PostgreSQL to catch up")
	keep := fs.Bool("keep-keys", false, "leave each verified sale's keys in Redis (idempotency records live 24 h) instead of removing them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	names := fs.Args()
	if len(names) == 0 {
		names = []string{"hot-item", "write-heavy", "abuse", "max"}
	}
	var scs []*scenarios.Scenario
	for _, n := range names {
		s, err := scenarios.Load(n)
		if err != nil {
			return err
		}
		if err := s.Validate(knownOutcome); err != nil {
			return err
		}
		scs = append(scs, s)
	}
	b, f, err := start(ctx, "run "+strings.Join(names, " "), *scale, seconds(*calSecs))
	if err != nil {
		return err
	}
	defer b.check.Close()
	b.drain, b.keep = *drain, *keep
	for _, s := range scs {
		r, err := b.scenario(ctx, s)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		f.Scenarios = append(f.Scenarios, *r)
	}
	return finish(f, *out)
}

// start reads the settings, connects the verifier and calibrates.
func start(ctx context.Context, command string, scale float64, calib time.Duration) (*bench, *results.File, error) {
	st, err := loadSettings()
	if err != nil {
		return nil, nil, err
	}
	check, err := verify.New(ctx, st.verify)
	if err != nil {
		return nil, nil, err
	}
	b := &bench{st: st, check: check, sign: newSigner(st.secret, time.Hour), scale: scale, drain: 90 * time.Second,
		tty: term.IsTerminal(int(os.Stderr.Fd())), seed: uint64(time.Now().UnixNano())}
	f := &results.File{Schema: results.SchemaVersion, Tool: "blitzbench", Command: command,
		StartedAt: time.Now().UTC(), Machine: machine(), Git: gitInfo()}
	b.settle(ctx)
	if err := b.warmUp(ctx); err != nil {
		check.Close()
		return nil, nil, err
	}
	b.logf("calibrating: reference server, %d connections, %s", calibrationConns, calib)
	if f.Calibration, err = calibrate(ctx, calib, b.sign); err != nil {
		check.Close()
		return nil, nil, err
	}
	b.ceiling = f.Calibration.CeilingRPS
	b.logf("ceiling %s req/s (p50 %.2f ms, generator CPU %.0f %%)", report.Whole(b.ceiling), f.Calibration.Latency.P50Ms, 100*f.Calibration.GeneratorCPUShare)
	return b, f, nil
}

// settleTimeout bounds the wait for a quiet pipeline before measuring.
const settleTimeout = 2 * time.Minute

// settle waits until the writer has caught up with the orders topic: a
// writer that just started (a fresh group replays the topic from the start)
// or is still persisting a previous run would otherwise be measured as
// noise. It gives up after settleTimeout with a warning, not an error.
func (b *bench) settle(ctx context.Context) {
	deadline := time.Now().Add(settleTimeout)
	for first := true; ; first = false {
		lag, err := b.check.Lag(ctx)
		if err == nil && lag == 0 {
			if !first {
				b.logf("the writer has caught up")
			}
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			b.logf("warning: the writer has not caught up within %s (lag %d, %v); measuring anyway", settleTimeout, lag, err)
			return
		}
		if first {
			b.logf("waiting for the writer to catch up with the orders topic (lag %d, %v)", lag, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// warmUp sends a short ramp of accepted orders (500 → 3,000/s over 4 s) on a
// throwaway sale before anything is measured, so the first scenario does not
// pay for a cold stack: Kafka's JIT and page cache, the writer's first
// batches, PostgreSQL's buffers. It is drained and verified like a run (a
// broken invariant is an error) but not reported.
func (b *bench) warmUp(ctx context.Context) error {
	s := &scenarios.Scenario{Name: "warm-up", Version: 1, Sale: scenarios.Sale{Stock: 1_000_000, PerUserLimit: 1},
		Traffic: scenarios.Traffic{Quantity: 1}, Expect: []string{"accepted"}}
	r, _, err := b.once(ctx, s, []results.Stage{{FromRPS: 500, ToRPS: 3000, Seconds: 4}})
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if len(r.Failures) > 0 {
		return fmt.Errorf("warm-up: %s", strings.Join(r.Failures, "; "))
	}
	b.logf("warm-up: %s orders at up to 3,000/s, p99 %.1f ms (not reported)", report.Whole(float64(r.Load.Requests)), r.Latency.P99Ms)
	return nil
}

// finish writes results.json and report.html, prints the table, and fails
// unless every scenario passed.
func finish(f *results.File, out string) error {
	f.FinishedAt = time.Now().UTC()
	f.Pass = len(f.Scenarios) > 0
	for _, s := range f.Scenarios {
		f.Pass = f.Pass && s.Pass
	}
	if out == "" {
		out = filepath.Join(".local", "bench", f.StartedAt.Format("20060102-150405"))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := results.Write(filepath.Join(out, "results.json"), f); err != nil {
		return err
	}
	var html bytes.Buffer
	if err := report.HTML(&html, f); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "report.html"), html.Bytes(), 0o644); err != nil {
		return err
	}
	// .local/bench/latest always points at the newest run.
	if abs, err := filepath.Abs(out); err == nil {
		latest := filepath.Join(filepath.Dir(abs), "latest")
		if fi, err := os.Lstat(latest); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			_ = os.Remove(latest)
		}
		_ = os.Symlink(filepath.Base(abs), latest)
	}
	fmt.Println()
	report.Table(os.Stdout, f)
	fmt.Printf("\nresults: %s\nreport:  %s\n", filepath.Join(out, "results.json"), filepath.Join(out, "report.html"))
	if !f.Pass {
		fmt.Println("FAIL")
		return errFailed
	}
	fmt.Println("PASS")
	return nil
}

func knownOutcome(s string) bool { _, ok := load.ParseOutcome(s); return ok && s != "not_sent" }

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "blitzbench: "+format+"\n", args...)
}

// scenario runs one scenario: a load profile, or the max search.
func (b *bench) scenario(ctx context.Context, s *scenarios.Scenario) (*results.Scenario, error) {
	if s.Search != nil {
		return b.search(ctx, s)
	}
	stages := s.Stages()
	for i := range stages {
		stages[i].Seconds *= b.scale
	}
	b.logf("%s v%d: %s", s.Name, s.Version, s.Description)
	r, _, err := b.once(ctx, s, stages)
	if err != nil {
		return nil, err
	}
	if err := b.judge(r, s.Thresholds); err != nil {
		return nil, err
	}
	b.logf("%s: %s", s.Name, verdict(r))
	return r, nil
}

func verdict(r *results.Scenario) string {
	if r.Pass {
		return "PASS"
	}
	return "FAIL: " + strings.Join(r.Failures, "; ")
}

// once creates a fresh sale, sends the scenario's traffic on the given
// stages, drains, verifies, and returns the scenario's figures (thresholds
// not yet applied) plus the run itself.
func (b *bench) once(ctx context.Context, s *scenarios.Scenario, stages []results.Stage) (*results.Scenario, *load.Run, error) {
	sched, err := load.NewSchedule(stages)
	if err != nil {
		return nil, nil, err
	}
	sale := verify.Sale{ID: fmt.Sprintf("bench-%s-%d", s.Name, time.Now().UnixMilli()), Stock: s.Sale.Stock, Limit: s.Sale.PerUserLimit}
	if err := b.createSale(ctx, sale); err != nil {
		return nil, nil, err
	}
	b.seed++
	reqs, err := mixedRequests(b.sign, sale.ID, len(sched), s.Traffic, int(sale.Limit), b.seed)
	if err != nil {
		return nil, nil, err
	}
	cfg := load.Config{Addr: b.st.apiAddr, Path: "/v1/sales/" + sale.ID + "/orders", Timeout: 10 * time.Second}
	if b.tty {
		cfg.Progress = b.progress(s.Name)
	}
	smp := b.sample(ctx, sale.ID)
	run, err := load.Open(ctx, cfg, sched, reqs)
	if b.tty {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	if err != nil {
		smp.stop()
		return nil, nil, err
	}
	sum := load.Summarize(run, "open")
	total := 0.0
	for _, st := range stages {
		total += st.Seconds
	}
	sum.Load.Stages, sum.Load.OfferedRPS = stages, math.Round(float64(len(sched))/total)

	accepted := map[string]bool{}
	for i := range run.Results {
		if id := run.Results[i].OrderID; id != "" {
			accepted[id] = true
		}
	}
	drain, err := b.check.Drain(ctx, sale.ID, int64(len(accepted)), b.drain, smp.maxLag())
	samples := smp.stop()
	if err != nil {
		return nil, nil, err
	}
	invs, err := b.check.Check(ctx, sale, reqs, run.Results)
	if err != nil {
		return nil, nil, err
	}
	persist, err := b.check.PersistLatency(ctx, sale.ID)
	if err != nil {
		return nil, nil, err
	}
	if err := b.cleanup(ctx, sale.ID, reqs, run.Results); err != nil {
		return nil, nil, err
	}
	r := &results.Scenario{
		Name: s.Name, Version: s.Version, Description: s.Description, File: s.File, SaleID: sale.ID,
		Load: sum.Load, Latency: sum.Latency, Outcomes: sum.Outcomes, Generator: sum.Generator,
		Drain: &drain, Invariants: invs,
		Timeline: timeline(sum.Timeline, run, samples),
	}
	if persist.Count > 0 {
		r.Persist = &persist
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
	if wall := run.Wall.Seconds(); wall > 0 {
		r.AcceptedRPS = math.Round(float64(sum.Count(load.Accepted)) / wall)
	}
	if b.ceiling > 0 {
		r.CeilingRatio = math.Round(r.Load.AchievedRPS/b.ceiling*1000) / 1000
	}
	if n := sum.Count(load.NotSent); n > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d requests never sent (interrupted)", n))
	}
	if drain.TimedOut {
		r.Failures = append(r.Failures, fmt.Sprintf("the pipeline did not drain within %s", b.drain))
	}
	for _, inv := range invs {
		if !inv.Pass {
			f := fmt.Sprintf("%s %s: %s", inv.ID, inv.Name, inv.Detail)
			if len(inv.Offending) > 0 {
				f += " [" + strings.Join(inv.Offending[:min(5, len(inv.Offending))], ", ") + "]"
			}
			r.Failures = append(r.Failures, f)
		}
	}
	return r, run, nil
}

// cleanup removes a verified sale's keys from Redis unless --keep-keys.
func (b *bench) cleanup(ctx context.Context, sale string, reqs []load.Request, res []load.Result) error {
	if b.keep {
		return nil
	}
	return b.check.Cleanup(ctx, sale, reqs, res)
}

// judge applies thresholds and sets Pass.
func (b *bench) judge(r *results.Scenario, exprs []string) error {
	ths, err := results.EvaluateThresholds(r, exprs)
	if err != nil {
		return err
	}
	r.Thresholds = ths
	for _, t := range ths {
		if !t.Pass {
			r.Failures = append(r.Failures, fmt.Sprintf("threshold %s: got %g", t.Expr, t.Actual))
		}
	}
	r.Pass = len(r.Failures) == 0
	return nil
}

func (b *bench) createSale(ctx context.Context, s verify.Sale) error {
	body, _ := json.Marshal(map[string]any{"name": "blitzbench " + s.ID, "stock": s.Stock, "per_user_limit": s.Limit})
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, b.st.api.JoinPath("/v1/admin/sales", s.ID).String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.st.adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("create sale: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create sale %s: %s %s", s.ID, resp.Status, msg)
	}
	return nil
}

// progress prints one live line to the terminal.
func (b *bench) progress(name string) func(load.Progress) {
	return func(p load.Progress) {
		rate := float64(p.Done) / p.Elapsed.Seconds()
		var errs int64
		for o, n := range p.Outcomes {
			switch load.Outcome(o) {
			case load.Unavailable, load.HTTPError, load.TransportError:
				errs += n
			}
		}
		left := max(0, p.Total-p.Elapsed).Round(time.Second)
		fmt.Fprintf(os.Stderr, "\r\033[K%s  %5.1fs  %s left  %s req/s  p50 %.2f ms  p99 %.2f ms  accepted %s  sold out %s  429 %s  errors %s",
			name, p.Elapsed.Seconds(), left, report.Whole(rate),
			float64(p.P50.Microseconds())/1000, float64(p.P99.Microseconds())/1000,
			report.Whole(float64(p.Outcomes[load.Accepted]+p.Outcomes[load.AcceptedReplay])),
			report.Whole(float64(p.Outcomes[load.SoldOut])), report.Whole(float64(p.Outcomes[load.RateLimited])), report.Whole(float64(errs)))
	}
}

// sample is a background poll, once a second, of the sale's persisted
// orders and the writer's lag, during the load and the drain.
type sample struct {
	at             time.Time
	persisted, lag int64
	ok             bool
}

type sampler struct {
	mu      sync.Mutex
	samples []sample
	quit    chan struct{}
	done    chan struct{}
}

func (b *bench) sample(ctx context.Context, sale string) *sampler {
	s := &sampler{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			p, _, err1 := b.check.Persisted(ctx, sale)
			lag, err2 := b.check.Lag(ctx)
			s.mu.Lock()
			s.samples = append(s.samples, sample{at: time.Now(), persisted: p, lag: lag, ok: err1 == nil && err2 == nil})
			s.mu.Unlock()
			select {
			case <-s.quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) maxLag() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m int64
	for _, x := range s.samples {
		m = max(m, x.lag)
	}
	return m
}

func (s *sampler) stop() []sample {
	close(s.quit)
	<-s.done
	return s.samples
}

// timeline joins the client's per-second points with the persistence
// samples: persisted orders, accepted-but-not-persisted, writer lag. Points
// continue past the load while the drain went on.
func timeline(points []results.Point, run *load.Run, samples []sample) []results.Point {
	var acceptedAt []time.Duration
	for i := range run.Results {
		if run.Results[i].Outcome == load.Accepted {
			acceptedAt = append(acceptedAt, run.Results[i].Done)
		}
	}
	sort.Slice(acceptedAt, func(i, j int) bool { return acceptedAt[i] < acceptedAt[j] })
	sampled := map[int]bool{}
	for _, s := range samples {
		if !s.ok {
			continue
		}
		t := s.at.Sub(run.Start)
		if t < 0 {
			continue
		}
		i := int(t / time.Second)
		for len(points) <= i {
			points = append(points, results.Point{T: float64(len(points))})
		}
		acc := int64(sort.Search(len(acceptedAt), func(k int) bool { return acceptedAt[k] > t }))
		points[i].Persisted, points[i].WriterLag = s.persisted, s.lag
		points[i].Unpersisted = max(0, acc-s.persisted)
		sampled[i] = true
	}
	// A second that got no sample (the poll drifts against the clock) shows
	// the previous second's values rather than a false drop to zero.
	for i := 1; i < len(points); i++ {
		if !sampled[i] && sampled[i-1] {
			points[i].Persisted, points[i].WriterLag, points[i].Unpersisted = points[i-1].Persisted, points[i-1].WriterLag, points[i-1].Unpersisted
			sampled[i] = true
		}
	}
	return points
}
