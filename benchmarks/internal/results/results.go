// Package results is blitzbench's output: the versioned results.json schema,
// threshold checks declared by scenarios, and the comparison of two result
// files (the CI regression gate). It has no I/O beyond encoding/json so the
// report, the gate and the tests can all read the same types.
package results

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// SchemaVersion is bumped on any change a reader of results.json would notice
// (a renamed or re-meant field). Adding a field does not bump it.
const SchemaVersion = 1

// File is one blitzbench invocation: the machine, the calibration and every
// scenario it ran.
type File struct {
	Schema      int          `json:"schema"`
	Tool        string       `json:"tool"` // "blitzbench"
	Command     string       `json:"command"`
	StartedAt   time.Time    `json:"started_at"`
	FinishedAt  time.Time    `json:"finished_at"`
	Machine     Machine      `json:"machine"`
	Git         Git          `json:"git"`
	Calibration *Calibration `json:"calibration,omitempty"`
	// RateFactor multiplied every scenario's share of the ceiling (absent:
	// 1; the cluster profile runs at suite.ClusterRateFactor).
	RateFactor float64    `json:"rate_factor,omitempty"`
	Scenarios  []Scenario `json:"scenarios"`
	// Pass is true when every scenario passed (invariants and thresholds).
	Pass bool `json:"pass"`
}

// Machine describes where the numbers were measured.
type Machine struct {
	Hostname  string  `json:"hostname"`
	OS        string  `json:"os"`
	Arch      string  `json:"arch"`
	CPUs      int     `json:"cpus"`
	CPUModel  string  `json:"cpu_model"`
	MemoryGiB float64 `json:"memory_gib"`
	Kernel    string  `json:"kernel"`
	GoVersion string  `json:"go_version"`
}

// Git identifies the code that was measured.
type Git struct {
	Commit string `json:"commit"`
	Dirty  bool   `json:"dirty"`
}

// Calibration is the bare ceiling of the same HTTP stack on this machine: a
// chi router with a no-op order route in its own process, driven by the same
// generator with the same connection settings, closed loop (as fast as it
// answers). Scenario rates are reported as a ratio of it.
type Calibration struct {
	Server      string  `json:"server"`
	Connections int     `json:"connections"`
	Seconds     float64 `json:"seconds"`
	Requests    int64   `json:"requests"`
	CeilingRPS  float64 `json:"ceiling_rps"`
	Latency     Latency `json:"latency"`
	// GeneratorCPUShare is the generator's share of the machine's CPU
	// (process CPU time / (wall time × CPUs)) while it ran.
	GeneratorCPUShare float64 `json:"generator_cpu_share"`
}

// Scenario is one scenario's run: load, answers, drain, invariants.
type Scenario struct {
	Name        string `json:"name"`
	Version     int    `json:"version"`
	Description string `json:"description"`
	File        string `json:"file,omitempty"`
	SaleID      string `json:"sale_id,omitempty"`
	Pass        bool   `json:"pass"`
	// Failures lists, in words, every reason Pass is false.
	Failures []string `json:"failures,omitempty"`

	Load     Load             `json:"load"`
	Latency  Latency          `json:"latency"`
	Outcomes map[string]int64 `json:"outcomes"`
	// Errors counts transport errors, timeouts, 5xx and answers the scenario
	// did not expect (a 400 to a well-formed request, a 401 …).
	Errors int64 `json:"errors"`
	// AcceptedRPS is 202 answers per second of the load window.
	AcceptedRPS float64 `json:"accepted_rps"`
	// CeilingRatio is Load.AchievedRPS / Calibration.CeilingRPS.
	CeilingRatio float64 `json:"ceiling_ratio"`

	Generator Generator `json:"generator"`
	// CPU is where the CPU went during the load (absent in files written
	// before it was measured).
	CPU   *CPU   `json:"cpu,omitempty"`
	Drain *Drain `json:"drain,omitempty"`
	// Persist is the end-to-end latency from reservation (reserved_at) to the
	// committed PostgreSQL row (persisted_at) of every accepted order.
	Persist    *Latency    `json:"persist,omitempty"`
	Invariants []Invariant `json:"invariants,omitempty"`
	Thresholds []Threshold `json:"thresholds,omitempty"`
	Timeline   []Point     `json:"timeline,omitempty"`
	Search     *Search     `json:"search,omitempty"`
	// Checkout is the checkout window's figures, for a sale with one.
	Checkout *Checkout `json:"checkout,omitempty"`
	// Repetitions holds the individual runs when the scenario was repeated
	// (the gate); the scenario's own figures are then their medians.
	Repetitions []Repetition `json:"repetitions,omitempty"`
}

// Load is what was offered and what was achieved.
type Load struct {
	// Model is "open" (arrival rate fixed in advance, latency measured from
	// each request's scheduled send time) or "closed" (N connections, each
	// sends when the previous answer arrives).
	Model       string  `json:"model"`
	Stages      []Stage `json:"stages,omitempty"`
	Connections int     `json:"connections,omitempty"`
	Requests    int64   `json:"requests"`
	Seconds     float64 `json:"seconds"`
	OfferedRPS  float64 `json:"offered_rps"`
	AchievedRPS float64 `json:"achieved_rps"`
}

// Stage is one piece of an open-model load profile: a constant rate, or a
// linear ramp from From to To requests per second.
type Stage struct {
	FromRPS float64 `json:"from_rps"`
	ToRPS   float64 `json:"to_rps"`
	Seconds float64 `json:"seconds"`
	// FromRatio and ToRatio are the shares of the calibrated ceiling the
	// scenario asked for, when it gave the stage relative to the ceiling:
	// FromRPS and ToRPS are then what they resolved to in this run.
	FromRatio float64 `json:"from_ratio,omitempty"`
	ToRatio   float64 `json:"to_ratio,omitempty"`
}

// Latency is a distribution read from an HDR histogram, in milliseconds.
type Latency struct {
	Count  int64   `json:"count"`
	MinMs  float64 `json:"min_ms"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P95Ms  float64 `json:"p95_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// Generator is what the load generator itself cost and how well it kept its
// schedule: on a small machine it competes with the system it measures.
type Generator struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUShare is the generator's process CPU time over (wall time × CPUs).
	CPUShare float64 `json:"cpu_share"`
	// MaxInFlight is the most requests outstanding at once.
	MaxInFlight int64 `json:"max_in_flight"`
	// LateP99Ms is the 99th percentile of how late requests left compared
	// with their schedule (the generator's own lag, not the server's).
	LateP99Ms float64 `json:"late_p99_ms"`
}

// CPU is the CPU time of each stack process (with all its descendants:
// PostgreSQL's backends, …) and of the generator, from just before the load
// to its last answer — not the drain nor the verification — keyed by
// process: order-api, order-writer, redis, kafka, postgres, jaeger,
// prometheus, generator. A process that was not measured (no pid file, not
// running) is absent, not 0. For a search it is the reported step's; for a
// repeated scenario the sum over the repetitions.
type CPU struct {
	// USPerRequest is Seconds × 10⁶ / Requests: CPU microseconds per
	// request answered.
	USPerRequest map[string]float64 `json:"us_per_request"`
	Seconds      map[string]float64 `json:"seconds"`
	// Requests is the requests answered (any HTTP status; not the ones
	// never sent or that got no answer).
	Requests int64 `json:"requests"`
}

// Drain is the wait, after the last answer, until the pipeline was empty:
// the sale's outbox empty, the writer's consumer lag 0 and every accepted
// order persisted.
type Drain struct {
	Seconds  float64 `json:"seconds"`
	TimedOut bool    `json:"timed_out"`
	// MaxLag is the largest consumer lag of the writer's group seen during
	// the load and the drain, in records.
	MaxLag int64 `json:"max_lag"`
}

// Invariant is one of DESIGN.md's I1–I6 (or a harness check), checked after
// the drain against PostgreSQL, Redis and the API's own answers.
type Invariant struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
	// Offending lists up to 20 of the ids (orders, users, keys) that break it.
	Offending []string `json:"offending,omitempty"`
}

// Threshold is one of a scenario's declared assertions, e.g. "p99_ms < 10".
type Threshold struct {
	Expr   string  `json:"expr"`
	Metric string  `json:"metric"`
	Op     string  `json:"op"`
	Want   float64 `json:"want"`
	Actual float64 `json:"actual"`
	Pass   bool    `json:"pass"`
}

// Point is one second (or one search step) of a scenario's timeline.
type Point struct {
	// T is seconds since the scenario's first scheduled request.
	T           float64          `json:"t"`
	OfferedRPS  float64          `json:"offered_rps"`
	AchievedRPS float64          `json:"achieved_rps"`
	P50Ms       float64          `json:"p50_ms"`
	P95Ms       float64          `json:"p95_ms"`
	P99Ms       float64          `json:"p99_ms"`
	Outcomes    map[string]int64 `json:"outcomes,omitempty"`
	// Persisted is the number of the scenario's orders in PostgreSQL at T;
	// Unpersisted is accepted (202) so far minus Persisted.
	Persisted   int64 `json:"persisted"`
	Unpersisted int64 `json:"unpersisted"`
	// WriterLag is the writer group's consumer lag at T, in records.
	WriterLag int64 `json:"writer_lag"`
	// Remaining, Held and Paid are the sale's units by state at T (the
	// last read of the sale hash in that second), when Ledger: for a sale
	// with a checkout window.
	Ledger    bool  `json:"ledger,omitempty"`
	Remaining int64 `json:"remaining,omitempty"`
	Held      int64 `json:"held,omitempty"`
	Paid      int64 `json:"paid,omitempty"`
}

// Checkout is what happened in a sale's checkout window (issue #14): what
// the winners were told to do, what the API answered their payments and
// cancellations, how every hold ended in PostgreSQL, how many units were
// sold again, and how late the holds expired.
type Checkout struct {
	HoldSeconds int64 `json:"hold_seconds"`
	// Seed decided each winner's fate (package checkout's Decide).
	Seed uint64 `json:"seed"`
	// Winners is the orders answered 202; Planned how many of them were
	// to pay, cancel, expire, or expire and then pay (late_pay).
	Winners int64            `json:"winners"`
	Planned map[string]int64 `json:"planned"`
	// Payments and Cancels count the API's answers by name: paid,
	// cancelled, order_expired …, and transport_error, http_error.
	Payments map[string]int64 `json:"payments"`
	Cancels  map[string]int64 `json:"cancels"`
	// Errors is the actions answered what their plan does not allow and
	// the 202s without an expires_at (also counted in Scenario.Errors).
	Errors int64 `json:"errors"`
	// InDoubt is the actions without an answer the buyer can act on (no
	// answer, a 5xx).
	InDoubt int64 `json:"in_doubt"`
	// Paid, Expired, Cancelled and Held are orders by their final hold in
	// PostgreSQL; the *Units fields the same in units.
	Paid           int64 `json:"paid"`
	Expired        int64 `json:"expired"`
	Cancelled      int64 `json:"cancelled"`
	Held           int64 `json:"held"`
	PaidUnits      int64 `json:"paid_units"`
	ExpiredUnits   int64 `json:"expired_units"`
	CancelledUnits int64 `json:"cancelled_units"`
	// ResoldUnits is the units accepted beyond the stock: each one a unit
	// that came back (expired or cancelled) and was sold again. A lower
	// bound on resales, exact when every unit sold at least once.
	ResoldUnits int64 `json:"resold_units"`
	// ExpiryLateness is ended_at − expires_at of every expired order, both
	// by the ledger's clock (PostgreSQL keeps them from Redis): how long a
	// hold outlived its window.
	ExpiryLateness Latency `json:"expiry_lateness"`
	// Actions is the latency of the payments and cancellations, from when
	// each was due.
	Actions Latency `json:"actions"`
	// Samples is the reads of the sale hash during the run (every 100 ms),
	// each checked for stock = remaining + held + paid; Unread the ones that
	// found no sale (being rebuilt) or failed.
	Samples int64 `json:"samples"`
	Unread  int64 `json:"unread"`
}

// Search is a search scenario's (max, write-max) hunt for the highest
// arrival rate that still meets its objective.
type Search struct {
	Objective string  `json:"objective"`
	Steps     []Step  `json:"steps"`
	BestRPS   float64 `json:"best_rps"`
}

// Step is one rate tried by the search.
type Step struct {
	OfferedRPS  float64 `json:"offered_rps"`
	AchievedRPS float64 `json:"achieved_rps"`
	P99Ms       float64 `json:"p99_ms"`
	Errors      int64   `json:"errors"`
	// DrainSeconds and WriterLagSeconds (max_writer_lag_seconds) are the
	// step's, for searches whose objective is the write path's.
	DrainSeconds     float64 `json:"drain_seconds,omitempty"`
	WriterLagSeconds float64 `json:"writer_lag_seconds,omitempty"`
	Pass             bool    `json:"pass"`
}

// Repetition is one short run of a repeated scenario.
type Repetition struct {
	CeilingRPS   float64 `json:"ceiling_rps"`
	AchievedRPS  float64 `json:"achieved_rps"`
	CeilingRatio float64 `json:"ceiling_ratio"`
	P50Ms        float64 `json:"p50_ms"`
	P95Ms        float64 `json:"p95_ms"`
	P99Ms        float64 `json:"p99_ms"`
	Errors       int64   `json:"errors"`
}

// Write stores f as indented JSON at path.
func Write(path string, f *File) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Read loads a results file and refuses one of another schema version.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Schema != SchemaVersion {
		return nil, fmt.Errorf("%s: results schema %d, this blitzbench reads %d", path, f.Schema, SchemaVersion)
	}
	return &f, nil
}

// Scenario returns the named scenario, or nil.
func (f *File) Scenario(name string) *Scenario {
	for i := range f.Scenarios {
		if f.Scenarios[i].Name == name {
			return &f.Scenarios[i]
		}
	}
	return nil
}
