// Package suite runs blitzbench's scenarios against the stack: it calibrates
// the ceiling, warms the stack up, and for every scenario creates a fresh
// sale, sends the scenario's traffic, waits for the pipeline to drain,
// verifies I1–I5 (I6 too for a sale with a checkout window, whose winners
// it pays for and cancels through the API) and applies the thresholds. The
// commands (run, gate) are built on its Bench; what they print and write at
// the end is Finish.
package suite

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/calibrate"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/cpu"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/machine"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/report"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/requests"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/verify"
	"github.com/blitzbuy/blitzbuy/benchmarks/scenarios"
)

// ErrFailed marks a run that completed but did not pass: the command exits 1
// without a second error line.
var ErrFailed = errors.New("failed")

// Settings is the stack blitzbench talks to (read from the environment by
// the command, which also refuses any API not on this machine).
type Settings struct {
	API        *url.URL
	APIAddr    string
	Secret     []byte
	AdminToken string
	Verify     verify.Config
	// RunDir is the stack's directory of pid files (.local/run), where the
	// processes whose CPU is measured are found.
	RunDir string
	// RateFactor multiplies every scenario's share of the ceiling (0 means
	// 1). The cluster profile sets ClusterRateFactor.
	RateFactor float64
}

// ClusterRateFactor scales the shipped scenarios' rates (and stretches their
// stages by its inverse) on the cluster
// profile (BLITZBUY_PROFILE=cluster): its three Kafka brokers, three Redis
// servers and Sentinels, load balancer and two instances of each service
// share the machine's cores, and an accepted order costs about three times
// the CPU it costs on the default profile (1,450 against 450–500 µs,
// docs/benchmarks.md). At a third of the rate the cluster carries about the
// load per core the thresholds were set for. A real cluster spreads those
// processes over machines; this one measures that they work, not how fast.
const ClusterRateFactor = 1.0 / 3

// Bench is one blitzbench invocation against the stack.
type Bench struct {
	st      *Settings
	check   *verify.Checker
	sign    requests.Signer
	ceiling float64
	scale   float64
	tty     bool
	seed    uint64
	cpu     *cpu.Meter
	// DrainTimeout bounds the wait for the pipeline to empty after the load.
	DrainTimeout time.Duration
	// KeepKeys leaves a verified sale's keys in Redis (see verify.Cleanup).
	KeepKeys bool
}

// Load reads the named (or file) scenarios and refuses one that expects an
// outcome blitzbench does not know.
func Load(names []string) ([]*scenarios.Scenario, error) {
	var scs []*scenarios.Scenario
	for _, n := range names {
		s, err := scenarios.Load(n)
		if err != nil {
			return nil, err
		}
		if err := s.Validate(knownOutcome); err != nil {
			return nil, err
		}
		scs = append(scs, s)
	}
	return scs, nil
}

func knownOutcome(s string) bool { _, ok := load.ParseOutcome(s); return ok && s != "not_sent" }

// Start connects the verifier, waits for a quiet pipeline, warms the stack up
// and calibrates. scale multiplies every stage's duration; command is what
// results.json records as the invocation.
func Start(ctx context.Context, st *Settings, command string, scale float64, calib time.Duration) (*Bench, *results.File, error) {
	check, err := verify.New(ctx, st.Verify)
	if err != nil {
		return nil, nil, err
	}
	b := &Bench{st: st, check: check, sign: requests.NewSigner(st.Secret, time.Hour), scale: scale, DrainTimeout: 90 * time.Second,
		tty: term.IsTerminal(int(os.Stderr.Fd())), seed: uint64(time.Now().UnixNano())}
	b.cpu = cpu.NewMeter(st.RunDir, b.Logf)
	f := &results.File{Schema: results.SchemaVersion, Tool: "blitzbench", Command: command,
		StartedAt: time.Now().UTC(), Machine: machine.Info(), Git: machine.Git()}
	b.settle(ctx)
	if err := b.warmUp(ctx); err != nil {
		check.Close()
		return nil, nil, err
	}
	b.Logf("calibrating: reference server, %d connections, %s", calibrate.Conns, calib)
	if f.Calibration, err = calibrate.Run(ctx, calib, b.sign); err != nil {
		check.Close()
		return nil, nil, err
	}
	b.ceiling = f.Calibration.CeilingRPS
	b.Logf("ceiling %s req/s (p50 %.2f ms, generator CPU %.0f %%)", report.Whole(b.ceiling), f.Calibration.Latency.P50Ms, 100*f.Calibration.GeneratorCPUShare)
	if k := b.rateFactor(); k != 1 {
		b.Logf("every scenario's share of the ceiling is multiplied by %.2f (BLITZBUY_PROFILE=cluster: the cluster's processes share this machine)", k)
	}
	f.RateFactor = st.RateFactor
	return b, f, nil
}

// rateFactor is Settings.RateFactor, 1 when unset.
func (b *Bench) rateFactor() float64 {
	if b.st.RateFactor <= 0 {
		return 1
	}
	return b.st.RateFactor
}

// Close releases the verifier's connections.
func (b *Bench) Close() { b.check.Close() }

// Ceiling is the calibrated ceiling, in requests per second.
func (b *Bench) Ceiling() float64 { return b.ceiling }

// Recalibrate measures the ceiling again for d (the gate gives every
// repetition its own) without logging it.
func (b *Bench) Recalibrate(ctx context.Context, d time.Duration) error {
	c, err := calibrate.Run(ctx, d, b.sign)
	if err != nil {
		return err
	}
	b.ceiling = c.CeilingRPS
	return nil
}

// settleTimeout bounds the wait for a quiet pipeline before measuring.
const settleTimeout = 2 * time.Minute

// settle waits until the writer has caught up with the orders topic: a
// writer that just started (a fresh group replays the topic from the start)
// or is still persisting a previous run would otherwise be measured as
// noise. It gives up after settleTimeout with a warning, not an error.
func (b *Bench) settle(ctx context.Context) {
	deadline := time.Now().Add(settleTimeout)
	for first := true; ; first = false {
		lag, err := b.check.Lag(ctx)
		if err == nil && lag == 0 {
			if !first {
				b.Logf("the writer has caught up")
			}
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			b.Logf("warning: the writer has not caught up within %s (lag %d, %v); measuring anyway", settleTimeout, lag, err)
			return
		}
		if first {
			b.Logf("waiting for the writer to catch up with the orders topic (lag %d, %v)", lag, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Warm-up rounds: a cold stack (a fresh clone's first run: Kafka's JIT and
// page cache, the writer's first batches, PostgreSQL's buffers) needs more
// than one; a warm one is done after the first.
const (
	warmUpRounds    = 4
	warmUpP99Target = 50.0 // ms: below it the stack is warm enough to measure
)

// warmUp sends short ramps of accepted orders (500 → 3,000/s over 4 s) on a
// throwaway sale before anything is measured, so the first scenario does not
// pay for a cold stack — round after round until one answers within
// warmUpP99Target (at most warmUpRounds: on a slow machine it may never, and
// the run goes on). On 2026-12-01 a fresh clone's first round had p99 230 ms
// and its hot-item then failed p99 on the first second's 1,000 acceptances;
// a warm stack's first round had 19 ms. Each round is drained and verified
// like a run (a broken invariant is an error) but not reported.
func (b *Bench) warmUp(ctx context.Context) error {
	s := &scenarios.Scenario{Name: "warm-up", Version: 1, Sale: scenarios.Sale{Stock: 1_000_000, PerUserLimit: 1},
		Traffic: scenarios.Traffic{Quantity: 1}, Expect: []string{"accepted"}}
	// The rate factor applies here too: 3,000/s overloads the cluster
	// profile, whose warm-up then never reaches its target.
	k := b.rateFactor()
	for round := 1; round <= warmUpRounds; round++ {
		r, _, err := b.Once(ctx, s, []results.Stage{{FromRPS: 500 * k, ToRPS: 3000 * k, Seconds: 4}})
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		if len(r.Failures) > 0 {
			return fmt.Errorf("warm-up: %s", strings.Join(r.Failures, "; "))
		}
		b.Logf("warm-up %d/%d: %s orders at up to %s/s, p99 %.1f ms (not reported)", round, warmUpRounds,
			report.Whole(float64(r.Load.Requests)), report.Whole(3000*k), r.Latency.P99Ms)
		if r.Latency.P99Ms <= warmUpP99Target {
			return nil
		}
	}
	b.Logf("warm-up: p99 still above %.0f ms after %d rounds; measuring anyway", warmUpP99Target, warmUpRounds)
	return nil
}

// Logf prints one line of progress to stderr.
func (b *Bench) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "blitzbench: "+format+"\n", args...)
}

// Run runs the scenarios in order and adds their results to f.
func (b *Bench) Run(ctx context.Context, scs []*scenarios.Scenario, f *results.File) error {
	for _, s := range scs {
		r, err := b.Scenario(ctx, s)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		f.Scenarios = append(f.Scenarios, *r)
	}
	return nil
}

// Scenario runs one scenario: a load profile, or a search. Shares of the
// ceiling become rates against the ceiling calibrated at Start.
func (b *Bench) Scenario(ctx context.Context, s *scenarios.Scenario) (*results.Scenario, error) {
	if s.Search != nil {
		return b.search(ctx, s)
	}
	stages, err := s.Stages(b.ceiling * b.rateFactor())
	if err != nil {
		return nil, err
	}
	for i := range stages {
		// A rate factor k sends the same requests k times as fast: a
		// stage lasts 1/k as long, so a sale meets the same crowd (the
		// hot item's sold-out share, its p99, depend on it). The shares
		// recorded are the ones run: the file's times k.
		// Absolute rates (the drills' files) are run as written.
		k := b.rateFactor()
		if stages[i].FromRatio == 0 && stages[i].ToRatio == 0 {
			k = 1
		}
		stages[i].Seconds *= b.scale / k
		stages[i].FromRatio *= k
		stages[i].ToRatio *= k
	}
	b.Logf("%s v%d: %s", s.Name, s.Version, s.Description)
	b.Logf("%s: %s", s.Name, describe(stages))
	r, _, err := b.Once(ctx, s, stages)
	if err != nil {
		return nil, err
	}
	if err := Judge(r, s.Thresholds); err != nil {
		return nil, err
	}
	b.Logf("%s: %s", s.Name, verdict(r))
	return r, nil
}

// describe is a resolved load profile for the log, each share of the
// ceiling beside the rate it became: "2,320 req/s (4.0 % of the ceiling)
// for 50 s".
func describe(stages []results.Stage) string {
	parts := make([]string, len(stages))
	for i, st := range stages {
		rate := report.Whole(st.FromRPS) + " req/s"
		if st.FromRPS != st.ToRPS {
			rate = report.Whole(st.FromRPS) + " → " + report.Whole(st.ToRPS) + " req/s"
		}
		switch {
		case st.FromRatio == 0 && st.ToRatio == 0:
		case st.FromRatio == st.ToRatio:
			rate += fmt.Sprintf(" (%.1f %% of the ceiling)", 100*st.FromRatio)
		default:
			rate += fmt.Sprintf(" (%.1f → %.1f %% of the ceiling)", 100*st.FromRatio, 100*st.ToRatio)
		}
		parts[i] = fmt.Sprintf("%s for %g s", rate, st.Seconds)
	}
	return strings.Join(parts, ", then ")
}

func verdict(r *results.Scenario) string {
	if r.Pass {
		return "PASS"
	}
	return "FAIL: " + strings.Join(r.Failures, "; ")
}

// Judge applies thresholds and sets Pass.
func Judge(r *results.Scenario, exprs []string) error {
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
