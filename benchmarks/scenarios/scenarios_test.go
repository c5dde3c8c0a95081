package scenarios

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// knownOutcome accepts what a scenario may expect: every outcome the load
// generator reports except not_sent.
func knownOutcome(s string) bool {
	o, ok := load.ParseOutcome(s)
	return ok && o != load.NotSent
}

func mustLoad(t *testing.T, name string) *Scenario {
	t.Helper()
	s, err := Load(name)
	if err != nil {
		t.Fatalf("Load(%q): %v", name, err)
	}
	return s
}

func TestNames(t *testing.T) {
	want := []string{"abuse", "checkout", "hot-item", "max", "write-heavy", "write-max"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}

func TestDefault(t *testing.T) {
	// The flash sale first, the searches last (checkout just before them);
	// every built-in once.
	want := []string{"hot-item", "write-heavy", "abuse", "checkout", "max", "write-max"}
	if got := Default(); !slices.Equal(got, want) {
		t.Errorf("Default() = %v, want %v", got, want)
	}
	got := slices.Sorted(slices.Values(Default()))
	if !slices.Equal(got, Names()) {
		t.Errorf("Default() sorted = %v, want every built-in once: %v", got, Names())
	}
}

// TestBuiltinsRelative keeps the shipped scenarios machine-independent: a
// rate in req/s passes on one machine and fails on a slower one of the same
// kind (hot-item's fixed 4,000/s did), a share of the ceiling does not.
func TestBuiltinsRelative(t *testing.T) {
	for _, name := range Names() {
		s := mustLoad(t, name)
		for i, st := range s.Load {
			if !st.Relative() || st.Rate != 0 || st.From != 0 || st.To != 0 {
				t.Errorf("%s: load stage %d = %+v: give ceiling_ratio or from_ratio/to_ratio, not a rate in req/s", name, i+1, st)
			}
		}
		if se := s.Search; se != nil && (!se.Relative() || se.StartRate != 0 || se.MaxRate != 0) {
			t.Errorf("%s: search = %+v: give start_ratio and max_ratio, not rates in req/s", name, se)
		}
		for _, expr := range s.Thresholds {
			if th, err := results.ParseThreshold(expr); err == nil && th.Metric == "search_best_rps" && th.Want > 0 {
				t.Errorf("%s: threshold %q is a rate in req/s", name, expr)
			}
		}
	}
}

func TestBuiltinsLoadAndValidate(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			s := mustLoad(t, name)
			if s.Name != name {
				t.Errorf("name = %q, want the file name %q", s.Name, name)
			}
			if want := "benchmarks/scenarios/" + name + ".yaml"; s.File != want {
				t.Errorf("File = %q, want %q", s.File, want)
			}
			if err := s.Validate(knownOutcome); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if s.Description == "" {
				t.Errorf("description is empty")
			}
			if len(s.Thresholds) == 0 {
				t.Errorf("no thresholds")
			}
		})
	}
}

func TestBuiltinThresholdsParse(t *testing.T) {
	for _, name := range Names() {
		s := mustLoad(t, name)
		exprs := slices.Clone(s.Thresholds)
		if s.Search != nil {
			exprs = append(exprs, s.Search.Objective...)
		}
		for _, expr := range exprs {
			t.Run(name+"/"+expr, func(t *testing.T) {
				th, err := results.ParseThreshold(expr)
				if err != nil {
					t.Fatalf("ParseThreshold(%q): %v", expr, err)
				}
				if !results.KnownMetric(th.Metric) {
					t.Errorf("threshold %q names unknown metric %q", expr, th.Metric)
				}
				// An outcome.<name> metric must name an outcome the
				// generator can report.
				for _, p := range []string{results.OutcomePrefix, results.OutcomeSharePrefix} {
					if o, ok := strings.CutPrefix(th.Metric, p); ok {
						if _, known := load.ParseOutcome(o); !known {
							t.Errorf("threshold %q names unknown outcome %q", expr, o)
						}
					}
				}
			})
		}
	}
}

func TestBuiltinsShape(t *testing.T) {
	t.Run("every load stage schedules requests", func(t *testing.T) {
		for _, name := range Names() {
			s := mustLoad(t, name)
			if s.Search != nil {
				continue
			}
			stages := mustStages(t, s, slowCeiling)
			sched, err := load.NewSchedule(stages)
			if err != nil {
				t.Errorf("%s: NewSchedule(%+v): %v", name, stages, err)
				continue
			}
			if want := plannedRequests(stages); float64(len(sched)) != want {
				t.Errorf("%s: schedule has %d requests, want %v", name, len(sched), want)
			}
		}
	})
	t.Run("hot-item: far more buyers than units, even on a slow day", func(t *testing.T) {
		s := mustLoad(t, "hot-item")
		// outcome.accepted == 1000 and outcome_share.sold_out >= 0.8 need
		// a crowd of at least 5 buyers per unit; ask for 20 at the slowest
		// ceiling docs/benchmarks.md records.
		if got := plannedRequests(mustStages(t, s, slowCeiling)); got < 20*float64(s.Sale.Stock) {
			t.Errorf("hot-item plans %v requests at a %v req/s ceiling, want >= 20 × the stock %d", got, slowCeiling, s.Sale.Stock)
		}
		if s.Sale.Stock != 1000 {
			t.Errorf("hot-item stock = %d, want 1000", s.Sale.Stock)
		}
		if s.Traffic.RetrySameKey+s.Traffic.OverLimit+s.Traffic.RateBurst != 0 {
			t.Errorf("hot-item traffic = %+v, want distinct honest buyers only", s.Traffic)
		}
	})
	t.Run("abuse: >= 10 % same-key retries", func(t *testing.T) {
		s := mustLoad(t, "abuse")
		if s.Traffic.RetrySameKey < 0.10 {
			t.Errorf("abuse retry_same_key = %v, want >= 0.10", s.Traffic.RetrySameKey)
		}
		if s.Traffic.OverLimit <= 0 || s.Traffic.RateBurst <= 0 {
			t.Errorf("abuse traffic = %+v, want over_limit and rate_burst > 0", s.Traffic)
		}
	})
	t.Run("checkout: a short window, returns resold, bounded", func(t *testing.T) {
		s := mustLoad(t, "checkout")
		c := s.Checkout
		if c == nil || s.Sale.HoldSeconds < 1 {
			t.Fatalf("checkout: hold_seconds %d, checkout %+v; want a window and a plan", s.Sale.HoldSeconds, c)
		}
		if c.Pay <= 0 || c.Cancel <= 0 || c.Expire() <= 0 || c.LatePay <= 0 {
			t.Errorf("checkout plan %+v: want payers, cancellers, expiring and late payers", *c)
		}
		var secs float64
		for _, st := range s.Load {
			secs += st.Seconds
		}
		// The crowd outlasts the window many times over, so returned units
		// meet buyers; and the run stays about a minute.
		if secs < 10*float64(s.Sale.HoldSeconds) || secs > 45 {
			t.Errorf("checkout load lasts %v s for a %d s window, want >= 10 windows and <= 45 s", secs, s.Sale.HoldSeconds)
		}
		if got := plannedRequests(mustStages(t, s, slowCeiling)); got < 20*float64(s.Sale.Stock) {
			t.Errorf("checkout plans %v requests at a %v req/s ceiling, want >= 20 × the stock %d", got, slowCeiling, s.Sale.Stock)
		}
		for _, th := range []string{"checkout_resold_units > 0", "expiry_lateness_p99_ms <= 1000", "errors == 0"} {
			if !slices.Contains(s.Thresholds, th) {
				t.Errorf("checkout thresholds %v lack %q", s.Thresholds, th)
			}
		}
	})
	for _, name := range []string{"max", "write-max"} {
		t.Run(name+" searches", func(t *testing.T) {
			s := mustLoad(t, name)
			if s.Search == nil || len(s.Load) != 0 {
				t.Fatalf("%s: search %v, %d load stages; want a search only", name, s.Search, len(s.Load))
			}
			if s.Search.MaxSteps < 1 {
				t.Errorf("%s: max_steps = %d, want a bound", name, s.Search.MaxSteps)
			}
		})
	}
	t.Run("write-max: every order accepted, the issue's objective", func(t *testing.T) {
		s := mustLoad(t, "write-max")
		if !slices.Equal(s.Expect, []string{"accepted"}) {
			t.Errorf("write-max expects %v, want [accepted] only", s.Expect)
		}
		for _, o := range []string{"p99_ms <= 250", "max_writer_lag_seconds < 2", "drain_seconds < 5", "errors == 0"} {
			if !slices.Contains(s.Search.Objective, o) {
				t.Errorf("write-max objective %v lacks %q", s.Search.Objective, o)
			}
		}
		// Stock above any step's demand: a step at the cap for its length.
		_, limit, err := s.Search.Rates(fastCeiling)
		if err != nil {
			t.Fatal(err)
		}
		if demand := limit * s.Search.StepSeconds; float64(s.Sale.Stock) <= demand {
			t.Errorf("write-max stock %d <= a step's demand at the cap, %v", s.Sale.Stock, demand)
		}
		// The default run stays short: ~10–15 s steps, <= ~8 of them.
		if se := s.Search; se.MaxSteps > 8 || se.StepSeconds > 15 {
			t.Errorf("write-max: %d steps of %v s, want <= 8 of <= 15 s", se.MaxSteps, se.StepSeconds)
		}
	})
}

// The slowest and fastest ceilings docs/benchmarks.md records for the
// reference machine kind.
const (
	slowCeiling = 23_600
	fastCeiling = 75_000
)

func mustStages(t *testing.T, s *Scenario, ceiling float64) []results.Stage {
	t.Helper()
	stages, err := s.Stages(ceiling)
	if err != nil {
		t.Fatalf("%s: Stages(%v): %v", s.Name, ceiling, err)
	}
	return stages
}

// plannedRequests is the sum of rate × seconds over the stages.
func plannedRequests(stages []results.Stage) float64 {
	var n float64
	for _, st := range stages {
		n += (st.FromRPS + st.ToRPS) / 2 * st.Seconds
	}
	return n
}

func TestStages(t *testing.T) {
	tests := []struct {
		name    string
		load    []Stage
		ceiling float64
		want    []results.Stage
		wantErr bool
	}{
		{"absolute, no ceiling needed", []Stage{{Rate: 100, Seconds: 2}, {From: 10, To: 50, Seconds: 3}, {From: 50, Seconds: 1}}, 0,
			[]results.Stage{{FromRPS: 100, ToRPS: 100, Seconds: 2}, {FromRPS: 10, ToRPS: 50, Seconds: 3}, {FromRPS: 50, ToRPS: 0, Seconds: 1}}, false},
		{"absolute ignores the ceiling", []Stage{{Rate: 100, Seconds: 2}}, 50_000,
			[]results.Stage{{FromRPS: 100, ToRPS: 100, Seconds: 2}}, false},
		{"constant share", []Stage{{CeilingRatio: 0.04, Seconds: 50}}, 58_000,
			[]results.Stage{{FromRPS: 2320, ToRPS: 2320, Seconds: 50, FromRatio: 0.04, ToRatio: 0.04}}, false},
		{"share rounds to whole req/s", []Stage{{CeilingRatio: 0.025, Seconds: 1}}, 23_613,
			[]results.Stage{{FromRPS: 590, ToRPS: 590, Seconds: 1, FromRatio: 0.025, ToRatio: 0.025}}, false},
		{"relative ramp", []Stage{{FromRatio: 0.01, ToRatio: 0.05, Seconds: 10}}, 60_000,
			[]results.Stage{{FromRPS: 600, ToRPS: 3000, Seconds: 10, FromRatio: 0.01, ToRatio: 0.05}}, false},
		{"relative ramp down to zero", []Stage{{FromRatio: 0.05, Seconds: 10}}, 60_000,
			[]results.Stage{{FromRPS: 3000, ToRPS: 0, Seconds: 10, FromRatio: 0.05}}, false},
		{"mixed", []Stage{{Rate: 100, Seconds: 1}, {CeilingRatio: 0.1, Seconds: 1}}, 10_000,
			[]results.Stage{{FromRPS: 100, ToRPS: 100, Seconds: 1}, {FromRPS: 1000, ToRPS: 1000, Seconds: 1, FromRatio: 0.1, ToRatio: 0.1}}, false},
		{"share without a ceiling", []Stage{{CeilingRatio: 0.04, Seconds: 1}}, 0, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := (&Scenario{Name: "t", Load: tt.load}).Stages(tt.ceiling)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Stages(%v) error = %v, want error %v", tt.ceiling, err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Stages(%v) = %+v, want %+v", tt.ceiling, got, tt.want)
			}
		})
	}
}

func TestSearchRates(t *testing.T) {
	tests := []struct {
		name                 string
		search               Search
		ceiling              float64
		wantStart, wantLimit float64
		wantErr              bool
	}{
		{"absolute", Search{StartRate: 1500, MaxRate: 60000}, 0, 1500, 60000, false},
		{"relative", Search{StartRatio: 0.025, MaxRatio: 0.5}, 58_000, 1450, 29000, false},
		{"relative without a ceiling", Search{StartRatio: 0.025, MaxRatio: 0.5}, 0, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, limit, err := tt.search.Rates(tt.ceiling)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Rates(%v) error = %v, want error %v", tt.ceiling, err, tt.wantErr)
			}
			if start != tt.wantStart || limit != tt.wantLimit {
				t.Errorf("Rates(%v) = %v, %v, want %v, %v", tt.ceiling, start, limit, tt.wantStart, tt.wantLimit)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	t.Run("unknown built-in", func(t *testing.T) {
		_, err := Load("nope")
		if err == nil || !strings.Contains(err.Error(), "hot-item") {
			t.Errorf("Load(nope) error = %v, want one listing the built-ins", err)
		}
	})
	t.Run("file", func(t *testing.T) {
		b, err := files.ReadFile("abuse.yaml")
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "mine.yml")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Load(p)
		if err != nil {
			t.Fatalf("Load(%q): %v", p, err)
		}
		if s.Name != "abuse" || s.File != p {
			t.Errorf("Load(%q) = name %q file %q, want abuse and %q", p, s.Name, s.File, p)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); err == nil {
			t.Errorf("Load of a missing file: no error")
		}
	})
}

const validYAML = `name: t
version: 1
description: d
sale: {stock: 10, per_user_limit: 1}
load:
  - {rate: 100, seconds: 1}
traffic: {quantity: 1}
expect: [accepted]
thresholds: [errors == 0]
`

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string // "" = parses
	}{
		{"valid", validYAML, ""},
		{"unknown top-level field", validYAML + "colour: red\n", "colour"},
		{"unknown nested field", strings.Replace(validYAML, "per_user_limit: 1", "per_user_limit: 1, discount: 5", 1), "discount"},
		{"unknown stage field", strings.Replace(validYAML, "rate: 100", "rps: 100", 1), "rps"},
		{"unknown traffic field", strings.Replace(validYAML, "quantity: 1", "quantity: 1, retries: 0.5", 1), "retries"},
		{"wrong type", strings.Replace(validYAML, "version: 1", "version: one", 1), "cannot unmarshal"},
		{"not yaml", "name: [", "t.yaml"},
		{"unknown ratio field", strings.Replace(validYAML, "rate: 100", "ratio: 0.04", 1), "ratio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("t.yaml", []byte(tt.yaml))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if s.Name != "t" || s.File != "t.yaml" || s.Sale.Stock != 10 || len(s.Load) != 1 || s.Load[0].Rate != 100 {
					t.Errorf("Parse = %+v, want the fields of validYAML", s)
				}
				if err := s.Validate(knownOutcome); err != nil {
					t.Errorf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse: no error, want one mentioning %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse error = %q, want it to mention %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "t.yaml: ") {
				t.Errorf("Parse error = %q, want it prefixed with the file name", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	valid := func() *Scenario {
		return &Scenario{
			Name: "t", Version: 1,
			Sale:    Sale{Stock: 10, PerUserLimit: 1},
			Load:    []Stage{{Rate: 100, Seconds: 1}},
			Traffic: Traffic{Quantity: 1},
			Expect:  []string{"accepted", "sold_out"},
		}
	}
	search := &Search{Objective: []string{"p99_ms <= 10"}, StartRate: 100, Factor: 2, MaxRate: 1000, StepSeconds: 1}
	tests := []struct {
		name    string
		edit    func(s *Scenario)
		wantErr string // "" = valid
	}{
		{"valid", func(*Scenario) {}, ""},
		{"valid ramp", func(s *Scenario) { s.Load = []Stage{{From: 10, To: 100, Seconds: 1}} }, ""},
		{"valid ramp down to zero", func(s *Scenario) { s.Load = []Stage{{From: 100, Seconds: 1}} }, ""},
		{"valid search", func(s *Scenario) { s.Load, s.Search = nil, search }, ""},
		{"valid shares at 0.9", func(s *Scenario) { s.Traffic = Traffic{Quantity: 1, RetrySameKey: 0.2, OverLimit: 0.3, RateBurst: 0.2} }, ""},
		{"retries count twice", func(s *Scenario) { s.Traffic = Traffic{Quantity: 1, RetrySameKey: 0.4, OverLimit: 0.3, RateBurst: 0.2} }, "honest"},
		{"missing name", func(s *Scenario) { s.Name = "" }, "name is required"},
		{"version 0", func(s *Scenario) { s.Version = 0 }, "version"},
		{"negative version", func(s *Scenario) { s.Version = -1 }, "version"},
		{"zero stock", func(s *Scenario) { s.Sale.Stock = 0 }, "sale.stock"},
		{"zero per-user limit", func(s *Scenario) { s.Sale.PerUserLimit = 0 }, "per_user_limit"},
		{"both load and search", func(s *Scenario) { s.Search = search }, "either load stages or a search"},
		{"neither load nor search", func(s *Scenario) { s.Load = nil }, "either load stages or a search"},
		{"zero quantity", func(s *Scenario) { s.Traffic.Quantity = 0 }, "quantity"},
		{"stage with zero seconds", func(s *Scenario) { s.Load = []Stage{{Rate: 100}} }, "load stage 1"},
		{"stage with no rate", func(s *Scenario) { s.Load = []Stage{{Seconds: 1}} }, "load stage 1"},
		{"stage with rate and ramp", func(s *Scenario) { s.Load = []Stage{{Rate: 100, From: 1, To: 2, Seconds: 1}} }, "load stage 1"},
		{"second stage bad", func(s *Scenario) { s.Load = append(s.Load, Stage{Rate: 100, Seconds: -1}) }, "load stage 2"},
		{"shares over 0.9", func(s *Scenario) { s.Traffic = Traffic{Quantity: 1, RetrySameKey: 0.5, OverLimit: 0.3, RateBurst: 0.2} }, "traffic shares"},
		{"negative share", func(s *Scenario) { s.Traffic.OverLimit = -0.1 }, "traffic shares"},
		{"no expect", func(s *Scenario) { s.Expect = nil }, "expect lists no outcome"},
		{"unknown expect outcome", func(s *Scenario) { s.Expect = []string{"accepted", "teapot"} }, `unknown outcome "teapot"`},
		{"not_sent is not expectable", func(s *Scenario) { s.Expect = []string{"not_sent"} }, `unknown outcome "not_sent"`},
		{"search without objective", func(s *Scenario) {
			se := *search
			se.Objective = nil
			s.Load, s.Search = nil, &se
		}, "search needs"},
		{"search start rate 0", func(s *Scenario) {
			se := *search
			se.StartRate = 0
			s.Load, s.Search = nil, &se
		}, "search needs"},
		{"search factor 1", func(s *Scenario) {
			se := *search
			se.Factor = 1
			s.Load, s.Search = nil, &se
		}, "search needs"},
		{"search max below start", func(s *Scenario) {
			se := *search
			se.MaxRate = 50
			s.Load, s.Search = nil, &se
		}, "search needs"},
		{"valid checkout", func(s *Scenario) {
			s.Sale.HoldSeconds = 2
			s.Checkout = &Checkout{Pay: 0.5, Cancel: 0.2, LatePay: 0.5, ActFrom: 0.1, ActTo: 0.6}
		}, ""},
		{"valid window without checkout: every hold expires", func(s *Scenario) { s.Sale.HoldSeconds = 2 }, ""},
		{"checkout without a window", func(s *Scenario) { s.Checkout = &Checkout{Pay: 1} }, "needs a sale with a checkout window"},
		{"negative window", func(s *Scenario) { s.Sale.HoldSeconds = -1 }, "hold_seconds"},
		{"window over a day", func(s *Scenario) { s.Sale.HoldSeconds = 86401 }, "hold_seconds"},
		{"checkout pay + cancel over 1", func(s *Scenario) {
			s.Sale.HoldSeconds = 2
			s.Checkout = &Checkout{Pay: 0.7, Cancel: 0.4}
		}, "pay + cancel <= 1"},
		{"checkout late_pay over 1", func(s *Scenario) {
			s.Sale.HoldSeconds = 2
			s.Checkout = &Checkout{Pay: 0.5, LatePay: 1.5}
		}, "late_pay"},
		{"checkout acting at the window's end", func(s *Scenario) {
			s.Sale.HoldSeconds = 2
			s.Checkout = &Checkout{Pay: 0.5, ActFrom: 0.5, ActTo: 1}
		}, "act_to < 1"},
		{"checkout acting backwards", func(s *Scenario) {
			s.Sale.HoldSeconds = 2
			s.Checkout = &Checkout{Pay: 0.5, ActFrom: 0.5, ActTo: 0.2}
		}, "act_from <= act_to"},
		{"checkout with a search", func(s *Scenario) {
			s.Load, s.Search, s.Sale.HoldSeconds = nil, search, 2
			s.Checkout = &Checkout{Pay: 0.5}
		}, "not a search"},
		{"search zero step", func(s *Scenario) {
			se := *search
			se.StepSeconds = 0
			s.Load, s.Search = nil, &se
		}, "search needs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid()
			tt.edit(s)
			err := s.Validate(knownOutcome)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Validate: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestParseRelative reads stages and searches as a scenario file gives them
// and validates them: shares of the ceiling, exactly one form per stage.
func TestParseRelative(t *testing.T) {
	withLoad := func(stage string) string {
		return strings.Replace(validYAML, "{rate: 100, seconds: 1}", stage, 1)
	}
	withSearch := func(search string) string {
		return strings.Replace(validYAML, "load:\n  - {rate: 100, seconds: 1}\n", "search: {objective: [p99_ms <= 10], factor: 1.3, step_seconds: 1, "+search+"}\n", 1)
	}
	tests := []struct {
		name    string
		yaml    string
		wantErr string // "" = valid
	}{
		{"share of the ceiling", withLoad("{ceiling_ratio: 0.04, seconds: 50}"), ""},
		{"share of 1", withLoad("{ceiling_ratio: 1, seconds: 1}"), ""},
		{"relative ramp", withLoad("{from_ratio: 0.01, to_ratio: 0.04, seconds: 10}"), ""},
		{"relative ramp down to zero", withLoad("{from_ratio: 0.04, seconds: 10}"), ""},
		{"absolute still accepted", validYAML, ""},
		{"rate and ceiling_ratio", withLoad("{rate: 100, ceiling_ratio: 0.04, seconds: 1}"), "exactly one of"},
		{"neither rate nor ceiling_ratio", withLoad("{seconds: 1}"), "exactly one of"},
		{"ratio 0", withLoad("{ceiling_ratio: 0, seconds: 1}"), "exactly one of"},
		{"ratio over 1", withLoad("{ceiling_ratio: 1.5, seconds: 1}"), "(0, 1]"},
		{"ratio negative", withLoad("{ceiling_ratio: -0.1, seconds: 1}"), "(0, 1]"},
		{"percent, not a ratio", withLoad("{ceiling_ratio: 4, seconds: 1}"), "(0, 1]"},
		{"ceiling_ratio and a relative ramp", withLoad("{ceiling_ratio: 0.04, to_ratio: 0.05, seconds: 1}"), "exactly one of"},
		{"absolute and relative ramp ends", withLoad("{from: 100, to_ratio: 0.05, seconds: 1}"), "exactly one of"},
		{"ramp end over 1", withLoad("{from_ratio: 0.1, to_ratio: 2, seconds: 1}"), "[0, 1]"},
		{"ramp end negative", withLoad("{from_ratio: -0.1, to_ratio: 0.1, seconds: 1}"), "[0, 1]"},
		{"share without seconds", withLoad("{ceiling_ratio: 0.04}"), "seconds"},
		{"relative search", withSearch("start_ratio: 0.025, max_ratio: 0.5, max_steps: 8"), ""},
		{"absolute search", withSearch("start_rate: 1500, max_rate: 60000"), ""},
		{"search mixing rate and ratio", withSearch("start_rate: 1500, max_ratio: 0.5"), "search needs"},
		{"search with both starts", withSearch("start_rate: 1500, start_ratio: 0.025, max_ratio: 0.5"), "search needs"},
		{"search cap over 1", withSearch("start_ratio: 0.025, max_ratio: 1.5"), "search needs"},
		{"search cap below start", withSearch("start_ratio: 0.1, max_ratio: 0.05"), "search needs"},
		{"search negative max_steps", withSearch("start_ratio: 0.025, max_ratio: 0.5, max_steps: -1"), "search needs"},
		{"search negative pause", withSearch("start_ratio: 0.025, max_ratio: 0.5, pause_seconds: -1"), "search needs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("t.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			err = s.Validate(knownOutcome)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Validate: %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
