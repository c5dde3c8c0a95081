package results

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
)

func fileOf(ss ...Scenario) *File {
	return &File{Schema: SchemaVersion, Tool: "blitzbench", Scenarios: ss}
}

// findDelta returns the row for scenario/metric, or fails the test.
func findDelta(t *testing.T, ds []Delta, scenario, metric string) Delta {
	t.Helper()
	for _, d := range ds {
		if d.Scenario == scenario && d.Metric == metric {
			return d
		}
	}
	t.Fatalf("no delta for %s/%s in %+v", scenario, metric, ds)
	return Delta{}
}

func TestCompareMetric(t *testing.T) {
	tol := Tolerance{Default: 0.10, PerMetric: map[string]float64{"p99_ms": 0.25, "errors": 0.5}}
	tests := []struct {
		name   string
		metric string
		edit   func(base, cur *Scenario)
		tol    Tolerance

		wantBase, wantCur, wantChange float64
		wantTol                       float64
		wantRegressed, wantImproved   bool
		wantNote                      string
		wantVerdict                   string
	}{
		{
			name:   "lower better improved",
			metric: "p50_ms",
			edit:   func(b, c *Scenario) { b.Latency.P50Ms, c.Latency.P50Ms = 10, 5 },
			tol:    tol, wantBase: 10, wantCur: 5, wantChange: -0.5, wantTol: 0.10,
			wantImproved: true, wantVerdict: "better",
		},
		{
			name:   "lower better regressed beyond tolerance",
			metric: "p50_ms",
			edit:   func(b, c *Scenario) { b.Latency.P50Ms, c.Latency.P50Ms = 10, 12 },
			tol:    tol, wantBase: 10, wantCur: 12, wantChange: 0.2, wantTol: 0.10,
			wantRegressed: true, wantVerdict: "REGRESSED",
		},
		{
			name:   "lower better within tolerance",
			metric: "p50_ms",
			edit:   func(b, c *Scenario) { b.Latency.P50Ms, c.Latency.P50Ms = 10, 10.5 },
			tol:    tol, wantBase: 10, wantCur: 10.5, wantChange: 0.05, wantTol: 0.10,
			wantVerdict: "ok",
		},
		{
			name:   "lower better exactly at tolerance is ok",
			metric: "p50_ms",
			edit:   func(b, c *Scenario) { b.Latency.P50Ms, c.Latency.P50Ms = 8, 8.5 },
			tol:    Tolerance{Default: 0.0625}, wantBase: 8, wantCur: 8.5, wantChange: 0.0625, wantTol: 0.0625,
			wantVerdict: "ok",
		},
		{
			name:   "lower better small improvement within tolerance is ok",
			metric: "p50_ms",
			edit:   func(b, c *Scenario) { b.Latency.P50Ms, c.Latency.P50Ms = 10, 9.5 },
			tol:    tol, wantBase: 10, wantCur: 9.5, wantChange: -0.05, wantTol: 0.10,
			wantVerdict: "ok",
		},
		{
			name:   "higher better improved",
			metric: "achieved_rps",
			edit:   func(b, c *Scenario) { b.Load.AchievedRPS, c.Load.AchievedRPS = 1000, 1200 },
			tol:    tol, wantBase: 1000, wantCur: 1200, wantChange: 0.2, wantTol: 0.10,
			wantImproved: true, wantVerdict: "better",
		},
		{
			name:   "higher better regressed beyond tolerance",
			metric: "achieved_rps",
			edit:   func(b, c *Scenario) { b.Load.AchievedRPS, c.Load.AchievedRPS = 1000, 850 },
			tol:    tol, wantBase: 1000, wantCur: 850, wantChange: -0.15, wantTol: 0.10,
			wantRegressed: true, wantVerdict: "REGRESSED",
		},
		{
			name:   "higher better within tolerance",
			metric: "achieved_rps",
			edit:   func(b, c *Scenario) { b.Load.AchievedRPS, c.Load.AchievedRPS = 1000, 950 },
			tol:    tol, wantBase: 1000, wantCur: 950, wantChange: -0.05, wantTol: 0.10,
			wantVerdict: "ok",
		},
		{
			name:   "higher better exactly at tolerance is ok",
			metric: "ceiling_ratio",
			edit:   func(b, c *Scenario) { b.CeilingRatio, c.CeilingRatio = 0.5, 0.375 },
			tol:    Tolerance{Default: 0.25}, wantBase: 0.5, wantCur: 0.375, wantChange: -0.25, wantTol: 0.25,
			wantVerdict: "ok",
		},
		{
			name:   "per-metric override loosens",
			metric: "p99_ms",
			edit:   func(b, c *Scenario) { b.Latency.P99Ms, c.Latency.P99Ms = 10, 12 }, // +20 %: over default 10 %, under p99 25 %
			tol:    tol, wantBase: 10, wantCur: 12, wantChange: 0.2, wantTol: 0.25,
			wantVerdict: "ok",
		},
		{
			name:   "per-metric override still regresses beyond it",
			metric: "p99_ms",
			edit:   func(b, c *Scenario) { b.Latency.P99Ms, c.Latency.P99Ms = 10, 13 },
			tol:    tol, wantBase: 10, wantCur: 13, wantChange: 0.3, wantTol: 0.25,
			wantRegressed: true, wantVerdict: "REGRESSED",
		},
		{
			name:   "per-metric override tightens",
			metric: "p95_ms",
			edit:   func(b, c *Scenario) { b.Latency.P95Ms, c.Latency.P95Ms = 10, 10.5 },
			tol:    Tolerance{Default: 0.10, PerMetric: map[string]float64{"p95_ms": 0}}, wantBase: 10, wantCur: 10.5, wantChange: 0.05, wantTol: 0,
			wantRegressed: true, wantVerdict: "REGRESSED",
		},
		{
			name:   "zero baseline lower better regresses on any increase",
			metric: "errors",
			edit:   func(b, c *Scenario) { b.Errors, c.Errors = 0, 1 },
			tol:    tol, wantBase: 0, wantCur: 1, wantChange: 1, wantTol: 0.5,
			wantRegressed: true, wantNote: NoteZeroBaseline, wantVerdict: "REGRESSED",
		},
		{
			name:   "zero baseline lower better stays zero",
			metric: "errors",
			edit:   func(b, c *Scenario) { b.Errors, c.Errors = 0, 0 },
			tol:    tol, wantBase: 0, wantCur: 0, wantChange: 0, wantTol: 0.5,
			wantNote: NoteZeroBaseline, wantVerdict: "ok",
		},
		{
			name:   "zero baseline higher better improves",
			metric: "accepted_rps",
			edit:   func(b, c *Scenario) { b.AcceptedRPS, c.AcceptedRPS = 0, 40 },
			tol:    tol, wantBase: 0, wantCur: 40, wantChange: 40, wantTol: 0.10,
			wantImproved: true, wantNote: NoteZeroBaseline, wantVerdict: "better",
		},
		{
			name:   "errors to zero is better",
			metric: "errors",
			edit:   func(b, c *Scenario) { b.Errors, c.Errors = 4, 0 },
			tol:    tol, wantBase: 4, wantCur: 0, wantChange: -1, wantTol: 0.5,
			wantImproved: true, wantVerdict: "better",
		},
		{
			name:   "informational never regresses",
			metric: "requests",
			edit:   func(b, c *Scenario) { b.Load.Requests, c.Load.Requests = 1000, 1 },
			tol:    Tolerance{}, wantBase: 1000, wantCur: 1, wantChange: -0.999, wantTol: 0,
			wantVerdict: "ok",
		},
		{
			name:   "informational outcome never regresses",
			metric: "outcome.sold_out",
			edit: func(b, c *Scenario) {
				b.Outcomes = map[string]int64{"sold_out": 0}
				c.Outcomes = map[string]int64{"sold_out": 1_000_000}
			},
			tol: Tolerance{}, wantBase: 0, wantCur: 1_000_000, wantChange: 1_000_000, wantTol: 0,
			wantNote: NoteZeroBaseline, wantVerdict: "ok",
		},
		{
			name:   "metric lost in current regresses",
			metric: "drain_seconds",
			edit:   func(b, c *Scenario) { b.Drain, c.Drain = &Drain{Seconds: 2}, nil },
			tol:    tol, wantBase: 2, wantCur: 0, wantChange: 0, wantTol: 0.10,
			wantRegressed: true, wantNote: NoteMetricMissing, wantVerdict: "REGRESSED",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, c := Scenario{Name: "s"}, Scenario{Name: "s"}
			tt.edit(&b, &c)
			ds, err := Compare(fileOf(b), fileOf(c), tt.tol, []string{tt.metric})
			if err != nil {
				t.Fatalf("Compare error: %v", err)
			}
			if len(ds) != 1 {
				t.Fatalf("Compare returned %d deltas, want 1: %+v", len(ds), ds)
			}
			d := ds[0]
			if d.Scenario != "s" || d.Metric != tt.metric {
				t.Errorf("delta is %s/%s, want s/%s", d.Scenario, d.Metric, tt.metric)
			}
			if d.Baseline != tt.wantBase || d.Current != tt.wantCur {
				t.Errorf("baseline, current = %v, %v; want %v, %v", d.Baseline, d.Current, tt.wantBase, tt.wantCur)
			}
			if math.Abs(d.Change-tt.wantChange) > 1e-9 {
				t.Errorf("change = %v, want %v", d.Change, tt.wantChange)
			}
			if d.Tolerance != tt.wantTol {
				t.Errorf("tolerance = %v, want %v", d.Tolerance, tt.wantTol)
			}
			if d.Direction != Direction(tt.metric) {
				t.Errorf("direction = %d, want %d", d.Direction, Direction(tt.metric))
			}
			if d.Regressed != tt.wantRegressed || d.Improved != tt.wantImproved {
				t.Errorf("regressed, improved = %v, %v; want %v, %v", d.Regressed, d.Improved, tt.wantRegressed, tt.wantImproved)
			}
			if d.Note != tt.wantNote {
				t.Errorf("note = %q, want %q", d.Note, tt.wantNote)
			}
			if got := d.Verdict(); got != tt.wantVerdict {
				t.Errorf("verdict = %q, want %q", got, tt.wantVerdict)
			}
		})
	}
}

func TestCompareScenarios(t *testing.T) {
	a, b, c := fullScenario("a"), fullScenario("b"), fullScenario("c")
	tests := []struct {
		name    string
		base    *File
		cur     *File
		metrics []string // nil: p99_ms
		want    []Delta  // Scenario, Metric, Regressed, Note only
	}{
		{
			name: "missing scenario is a regression",
			base: fileOf(a, b),
			cur:  fileOf(a),
			want: []Delta{
				{Scenario: "a", Metric: "p99_ms"},
				{Scenario: "b", Regressed: true, Note: NoteMissing},
			},
		},
		{
			name: "new scenario in current is not compared",
			base: fileOf(a),
			cur:  fileOf(c, a),
			want: []Delta{{Scenario: "a", Metric: "p99_ms"}},
		},
		{
			name: "matched by name in base order",
			base: fileOf(b, a),
			cur:  fileOf(a, b),
			want: []Delta{{Scenario: "b", Metric: "p99_ms"}, {Scenario: "a", Metric: "p99_ms"}},
		},
		{
			name:    "metric absent from baseline is skipped",
			base:    fileOf(Scenario{Name: "x"}),
			cur:     fileOf(fullScenario("x")),
			metrics: []string{"drain_seconds"},
			want:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			metrics := tt.metrics
			if metrics == nil {
				metrics = []string{"p99_ms"}
			}
			ds, err := Compare(tt.base, tt.cur, Tolerance{Default: 0.1}, metrics)
			if err != nil {
				t.Fatalf("Compare error: %v", err)
			}
			if len(ds) != len(tt.want) {
				t.Fatalf("Compare returned %d deltas, want %d: %+v", len(ds), len(tt.want), ds)
			}
			for i, w := range tt.want {
				g := ds[i]
				if g.Scenario != w.Scenario || g.Metric != w.Metric || g.Regressed != w.Regressed || g.Note != w.Note {
					t.Errorf("delta %d = {%s %s regressed=%v note=%q}, want {%s %s regressed=%v note=%q}",
						i, g.Scenario, g.Metric, g.Regressed, g.Note, w.Scenario, w.Metric, w.Regressed, w.Note)
				}
			}
		})
	}
}

func TestCompareDefaultMetrics(t *testing.T) {
	base := fullScenario("s")
	cur := fullScenario("s")
	cur.Persist = nil                       // lost a measurement
	cur.Load.Requests = 1                   // informational: must not appear
	cur.Outcomes = map[string]int64{"x": 1} // informational: must not appear

	ds, err := Compare(fileOf(base), fileOf(cur), Tolerance{Default: 0.1}, nil)
	if err != nil {
		t.Fatalf("Compare error: %v", err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.Metric)
		if Direction(d.Metric) == 0 {
			t.Errorf("default metrics include informational %q", d.Metric)
		}
	}
	var want []string
	for _, name := range MetricNames(Metrics(&base)) {
		if Direction(name) != 0 {
			want = append(want, name)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("default metrics = %v, want %v", got, want)
	}
	for _, m := range []string{"persist_p50_ms", "persist_p95_ms", "persist_p99_ms", "persist_max_ms"} {
		d := findDelta(t, ds, "s", m)
		if !d.Regressed || d.Note != NoteMetricMissing {
			t.Errorf("%s: regressed=%v note=%q, want regressed with note %q", m, d.Regressed, d.Note, NoteMetricMissing)
		}
	}
	// Everything else is unchanged (requests is informational, so its drop
	// does not count), except error_rate, which is derived from requests.
	for _, d := range ds {
		if d.Note == NoteMetricMissing || d.Metric == "error_rate" {
			continue
		}
		if d.Regressed || d.Improved || d.Change != 0 {
			t.Errorf("%s: change %v regressed=%v improved=%v, want unchanged", d.Metric, d.Change, d.Regressed, d.Improved)
		}
	}
	if d := findDelta(t, ds, "s", "error_rate"); !d.Regressed {
		t.Errorf("error_rate %v -> %v not regressed", d.Baseline, d.Current)
	}
}

func TestCompareErrors(t *testing.T) {
	f := fileOf(fullScenario("s"))
	tests := []struct {
		name    string
		base    *File
		cur     *File
		tol     Tolerance
		metrics []string
		wantErr string
	}{
		{"nil base", nil, f, Tolerance{}, nil, "nil results file"},
		{"nil current", f, nil, Tolerance{}, nil, "nil results file"},
		{"unknown metric", f, f, Tolerance{}, []string{"p99_ms", "p99ms"}, `unknown metric "p99ms"`},
		{"negative default", f, f, Tolerance{Default: -0.1}, nil, "tolerance default"},
		{"negative per-metric", f, f, Tolerance{PerMetric: map[string]float64{"p99_ms": -1}}, nil, `tolerance "p99_ms"`},
		{"nan tolerance", f, f, Tolerance{Default: math.NaN()}, nil, "finite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := Compare(tt.base, tt.cur, tt.tol, tt.metrics)
			if err == nil {
				t.Fatalf("Compare = %+v, want error containing %q", ds, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Compare error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestWriteDeltaTable(t *testing.T) {
	ds := []Delta{
		{Scenario: "flash-sale", Metric: "p99_ms", Baseline: 10, Current: 12.5, Change: 0.25, Direction: -1, Regressed: true},
		{Scenario: "flash-sale", Metric: "achieved_rps", Baseline: 15000, Current: 16500, Change: 0.1, Direction: +1, Improved: true},
		{Scenario: "flash-sale", Metric: "errors", Baseline: 0, Current: 0, Change: 0, Direction: -1, Note: NoteZeroBaseline},
		{Scenario: "max", Regressed: true, Note: NoteMissing},
		{Scenario: "flash-sale", Metric: "p50_ms", Baseline: 2, Current: 1.9, Change: -0.05, Direction: -1},
	}
	var buf bytes.Buffer
	WriteDeltaTable(&buf, ds)
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	want := [][]string{
		{"SCENARIO", "METRIC", "BASELINE", "CURRENT", "CHANGE", "VERDICT", "NOTE"},
		{"flash-sale", "p99_ms", "10", "12.5", "+25.0%", "REGRESSED"},
		{"flash-sale", "achieved_rps", "15000", "16500", "+10.0%", "better"},
		{"flash-sale", "errors", "0", "0", "+0", "ok", "zero", "baseline:", "absolute", "change"},
		{"max", "-", "-", "-", "-", "REGRESSED", "missing"},
		{"flash-sale", "p50_ms", "2", "1.9", "-5.0%", "ok"},
	}
	if len(lines) != len(want) {
		t.Fatalf("table has %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if got := strings.Fields(lines[i]); !slices.Equal(got, w) {
			t.Errorf("line %d fields = %q, want %q", i, got, w)
		}
	}
	// Aligned: every row's VERDICT column starts where the header's does.
	col := strings.Index(lines[0], "VERDICT")
	for i, line := range lines[1:] {
		v := ds[i].Verdict()
		if got := strings.Index(line, v); got != col {
			t.Errorf("line %d: verdict %q at column %d, want %d:\n%s", i+1, v, got, col, buf.String())
		}
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"empty", nil, 0},
		{"empty non-nil", []float64{}, 0},
		{"one", []float64{7}, 7},
		{"odd unsorted", []float64{9, 1, 5}, 5},
		{"even unsorted mean of middle two", []float64{4, 1, 3, 2}, 2.5},
		{"two", []float64{10, 20}, 15},
		{"duplicates", []float64{3, 3, 1, 3}, 3},
		{"negative", []float64{-5, -1, -3}, -3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.xs)
			if got := Median(in); got != tt.want {
				t.Errorf("Median(%v) = %v, want %v", tt.xs, got, tt.want)
			}
			if !slices.Equal(in, tt.xs) {
				t.Errorf("Median mutated its input: %v, was %v", in, tt.xs)
			}
		})
	}
}
