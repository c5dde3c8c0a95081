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
	want := []string{"abuse", "hot-item", "max", "write-heavy"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
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
			sched, err := load.NewSchedule(s.Stages())
			if err != nil {
				t.Errorf("%s: NewSchedule(%+v): %v", name, s.Stages(), err)
				continue
			}
			if want := plannedRequests(s); float64(len(sched)) != want {
				t.Errorf("%s: schedule has %d requests, want %v", name, len(sched), want)
			}
		}
	})
	t.Run("hot-item: 200,000 buyers, small stock", func(t *testing.T) {
		s := mustLoad(t, "hot-item")
		if got := plannedRequests(s); got < 200000 {
			t.Errorf("hot-item plans %v requests, want >= 200000", got)
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
	t.Run("max searches", func(t *testing.T) {
		s := mustLoad(t, "max")
		if s.Search == nil || len(s.Load) != 0 {
			t.Errorf("max: search %v, %d load stages; want a search only", s.Search, len(s.Load))
		}
	})
}

// plannedRequests is the sum of rate × seconds over the load stages.
func plannedRequests(s *Scenario) float64 {
	var n float64
	for _, st := range s.Stages() {
		n += (st.FromRPS + st.ToRPS) / 2 * st.Seconds
	}
	return n
}

func TestStages(t *testing.T) {
	s := &Scenario{Load: []Stage{{Rate: 100, Seconds: 2}, {From: 10, To: 50, Seconds: 3}, {From: 50, Seconds: 1}}}
	want := []results.Stage{{FromRPS: 100, ToRPS: 100, Seconds: 2}, {FromRPS: 10, ToRPS: 50, Seconds: 3}, {FromRPS: 50, ToRPS: 0, Seconds: 1}}
	if got := s.Stages(); !slices.Equal(got, want) {
		t.Errorf("Stages() = %+v, want %+v", got, want)
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
