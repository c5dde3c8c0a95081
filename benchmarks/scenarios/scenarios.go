// Package scenarios holds blitzbench's named, versioned scenarios (the YAML
// files beside this one, embedded in the binary) and their validation. A
// scenario says what is on sale, how requests arrive (open-model stages, or a
// search for the highest rate), what each request is, which answers are
// expected, and the thresholds the run must meet.
package scenarios

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

//go:embed *.yaml
var files embed.FS

// Scenario is one YAML file.
type Scenario struct {
	Name        string   `yaml:"name"`
	Version     int      `yaml:"version"`
	Description string   `yaml:"description"`
	Sale        Sale     `yaml:"sale"`
	Load        []Stage  `yaml:"load"`
	Search      *Search  `yaml:"search"`
	Traffic     Traffic  `yaml:"traffic"`
	Expect      []string `yaml:"expect"`
	Thresholds  []string `yaml:"thresholds"`
	// File is where it was read from (set by the loader).
	File string `yaml:"-"`
}

// Sale is the sale the scenario creates (a fresh one per run).
type Sale struct {
	Stock        int64 `yaml:"stock"`
	PerUserLimit int64 `yaml:"per_user_limit"`
}

// Stage is a constant rate (Rate) or a ramp (From → To) for Seconds.
type Stage struct {
	Rate    float64 `yaml:"rate"`
	From    float64 `yaml:"from"`
	To      float64 `yaml:"to"`
	Seconds float64 `yaml:"seconds"`
}

// Search drives the max scenario.
type Search struct {
	Objective   []string `yaml:"objective"`
	StartRate   float64  `yaml:"start_rate"`
	Factor      float64  `yaml:"factor"`
	MaxRate     float64  `yaml:"max_rate"`
	StepSeconds float64  `yaml:"step_seconds"`
	Bisect      int      `yaml:"bisect"`
}

// Traffic is what each request is. The shares are of all requests; the rest
// are honest buyers with one order each.
type Traffic struct {
	Quantity     int     `yaml:"quantity"`
	RetrySameKey float64 `yaml:"retry_same_key"`
	OverLimit    float64 `yaml:"over_limit"`
	RateBurst    float64 `yaml:"rate_burst"`
}

// Stages converts the load profile into the results form.
func (s *Scenario) Stages() []results.Stage {
	out := make([]results.Stage, len(s.Load))
	for i, st := range s.Load {
		if st.Rate > 0 {
			out[i] = results.Stage{FromRPS: st.Rate, ToRPS: st.Rate, Seconds: st.Seconds}
		} else {
			out[i] = results.Stage{FromRPS: st.From, ToRPS: st.To, Seconds: st.Seconds}
		}
	}
	return out
}

// Validate names the first thing wrong with a scenario.
func (s *Scenario) Validate(outcomeKnown func(string) bool) error {
	switch {
	case s.Name == "":
		return fmt.Errorf("name is required")
	case s.Version < 1:
		return fmt.Errorf("%s: version must be >= 1", s.Name)
	case s.Sale.Stock < 1 || s.Sale.PerUserLimit < 1:
		return fmt.Errorf("%s: sale.stock and sale.per_user_limit must be >= 1", s.Name)
	case (len(s.Load) == 0) == (s.Search == nil):
		return fmt.Errorf("%s: give either load stages or a search, not both", s.Name)
	case s.Traffic.Quantity < 1:
		return fmt.Errorf("%s: traffic.quantity must be >= 1", s.Name)
	case s.Traffic.RetrySameKey < 0 || s.Traffic.OverLimit < 0 || s.Traffic.RateBurst < 0 ||
		2*s.Traffic.RetrySameKey+s.Traffic.OverLimit+s.Traffic.RateBurst > 0.9:
		// A retry comes with its original request: it takes two slots.
		return fmt.Errorf("%s: traffic shares must be >= 0 and leave >= 10 %% honest buyers (2·retry_same_key + over_limit + rate_burst <= 0.9)", s.Name)
	case len(s.Expect) == 0:
		return fmt.Errorf("%s: expect lists no outcome", s.Name)
	}
	for i, st := range s.Load {
		constant := st.Rate > 0
		ramp := st.From > 0 || st.To > 0
		if constant == ramp || st.Seconds <= 0 || st.Rate < 0 || st.From < 0 || st.To < 0 {
			return fmt.Errorf("%s: load stage %d: need seconds > 0 and either rate or from/to", s.Name, i+1)
		}
	}
	if se := s.Search; se != nil {
		if se.StartRate <= 0 || se.Factor <= 1 || se.MaxRate < se.StartRate || se.StepSeconds <= 0 || len(se.Objective) == 0 {
			return fmt.Errorf("%s: search needs objective, start_rate > 0, factor > 1, max_rate >= start_rate, step_seconds > 0", s.Name)
		}
	}
	for _, o := range s.Expect {
		if !outcomeKnown(o) {
			return fmt.Errorf("%s: expect: unknown outcome %q", s.Name, o)
		}
	}
	return nil
}

// Parse reads one scenario, refusing unknown fields.
func Parse(name string, b []byte) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.File = name
	return &s, nil
}

// Names lists the built-in scenarios in a stable order.
func Names() []string {
	entries, _ := fs.Glob(files, "*.yaml")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e, ".yaml"))
	}
	sort.Strings(names)
	return names
}

// Load returns a built-in scenario by name, or reads a file when ref ends in
// .yaml or .yml.
func Load(ref string) (*Scenario, error) {
	if ext := path.Ext(ref); ext == ".yaml" || ext == ".yml" {
		b, err := os.ReadFile(ref)
		if err != nil {
			return nil, err
		}
		return Parse(ref, b)
	}
	b, err := files.ReadFile(ref + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no scenario %q (built in: %s)", ref, strings.Join(Names(), ", "))
	}
	return Parse("benchmarks/scenarios/"+ref+".yaml", b)
}
