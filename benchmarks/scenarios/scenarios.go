// Package scenarios holds blitzbench's named, versioned scenarios (the YAML
// files beside this one, embedded in the binary) and their validation. A
// scenario says what is on sale, how requests arrive (open-model stages, or a
// search for the highest rate), what each request is, which answers are
// expected, and the thresholds the run must meet.
//
// Rates may be absolute (req/s) or shares of the ceiling blitzbench
// calibrates at the start of the same run; the shipped scenarios are all
// relative, so that `task bench` asks the same of a slow machine as of a fast
// one. The suite resolves the shares into rates once the ceiling is known
// (Stages, Search.Rates).
package scenarios

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

//go:embed *.yaml
var files embed.FS

// Scenario is one YAML file.
type Scenario struct {
	Name        string  `yaml:"name"`
	Version     int     `yaml:"version"`
	Description string  `yaml:"description"`
	Sale        Sale    `yaml:"sale"`
	Load        []Stage `yaml:"load"`
	Search      *Search `yaml:"search"`
	Traffic     Traffic `yaml:"traffic"`
	// Checkout is what the winners do within the sale's checkout window
	// (sale.hold_seconds > 0); absent, every hold expires.
	Checkout   *Checkout `yaml:"checkout"`
	Expect     []string  `yaml:"expect"`
	Thresholds []string  `yaml:"thresholds"`
	// File is where it was read from (set by the loader).
	File string `yaml:"-"`
}

// Sale is the sale the scenario creates (a fresh one per run).
type Sale struct {
	Stock        int64 `yaml:"stock"`
	PerUserLimit int64 `yaml:"per_user_limit"`
	// HoldSeconds is the checkout window (docs/api.md, "The checkout
	// window"): an accepted order holds its units this long awaiting
	// payment. 0: none.
	HoldSeconds int64 `yaml:"hold_seconds"`
}

// Checkout is what each winner (an order answered 202) of a sale with a
// checkout window does, decided by the run's seed: pays (Pay), cancels
// (Cancel), or lets the hold expire (the rest). Payments and cancellations
// are sent through the API with the buyer's own token at a time drawn in
// [ActFrom, ActTo] of the window; LatePay of the expiring ones try to pay
// after expires_at and must be answered order_expired.
type Checkout struct {
	Pay     float64 `yaml:"pay"`
	Cancel  float64 `yaml:"cancel"`
	LatePay float64 `yaml:"late_pay"`
	ActFrom float64 `yaml:"act_from"`
	ActTo   float64 `yaml:"act_to"`
}

// Expire is the share of winners that let their hold expire.
func (c *Checkout) Expire() float64 { return max(0, 1-c.Pay-c.Cancel) }

func (c *Checkout) check() error {
	in := func(v float64) bool { return v >= 0 && v <= 1 }
	switch {
	case !in(c.Pay) || !in(c.Cancel) || !in(c.LatePay) || c.Pay+c.Cancel > 1:
		return fmt.Errorf("checkout: pay %g, cancel %g, late_pay %g: want shares in [0, 1], pay + cancel <= 1", c.Pay, c.Cancel, c.LatePay)
	case c.ActFrom < 0 || c.ActTo < c.ActFrom || c.ActTo >= 1:
		// A payment planned at the very end of the window races the expiry:
		// the scenario should know which answer it wants.
		return fmt.Errorf("checkout: act_from %g, act_to %g: want 0 <= act_from <= act_to < 1 (shares of the window)", c.ActFrom, c.ActTo)
	}
	return nil
}

// Stage is Seconds of one piece of the load profile, in exactly one of four
// forms: a constant Rate, a constant CeilingRatio, a ramp From → To, or a ramp
// FromRatio → ToRatio. The ratios are of the calibrated ceiling, in (0, 1]
// (a ramp's ends in [0, 1], not both 0); a zero field counts as absent.
type Stage struct {
	Rate         float64 `yaml:"rate"`
	From         float64 `yaml:"from"`
	To           float64 `yaml:"to"`
	CeilingRatio float64 `yaml:"ceiling_ratio"`
	FromRatio    float64 `yaml:"from_ratio"`
	ToRatio      float64 `yaml:"to_ratio"`
	Seconds      float64 `yaml:"seconds"`
}

// Relative reports whether the stage's rate is a share of the ceiling.
func (st Stage) Relative() bool { return st.CeilingRatio != 0 || st.FromRatio != 0 || st.ToRatio != 0 }

func (st Stage) check() error {
	forms := 0
	for _, set := range []bool{st.Rate != 0, st.CeilingRatio != 0, st.From != 0 || st.To != 0, st.FromRatio != 0 || st.ToRatio != 0} {
		if set {
			forms++
		}
	}
	inUnit := func(v float64) bool { return v >= 0 && v <= 1 }
	switch {
	case st.Seconds <= 0:
		return errors.New("seconds must be > 0")
	case forms != 1:
		return errors.New("give exactly one of rate, ceiling_ratio (0 < ratio <= 1), from/to, from_ratio/to_ratio")
	case st.Rate < 0 || st.From < 0 || st.To < 0:
		return errors.New("rates must be >= 0")
	case st.CeilingRatio < 0 || st.CeilingRatio > 1:
		return fmt.Errorf("ceiling_ratio %g: want a share of the ceiling in (0, 1]", st.CeilingRatio)
	case !inUnit(st.FromRatio) || !inUnit(st.ToRatio):
		return fmt.Errorf("from_ratio %g, to_ratio %g: want shares of the ceiling in [0, 1]", st.FromRatio, st.ToRatio)
	}
	return nil
}

// Search drives a search scenario (max, write-max): rates from a start,
// times Factor per step, up to a cap, then Bisect halvings, at most MaxSteps
// steps in all. Start and cap are absolute (StartRate, MaxRate) or shares of
// the ceiling (StartRatio, MaxRatio), both of one kind.
type Search struct {
	Objective   []string `yaml:"objective"`
	StartRate   float64  `yaml:"start_rate"`
	StartRatio  float64  `yaml:"start_ratio"`
	Factor      float64  `yaml:"factor"`
	MaxRate     float64  `yaml:"max_rate"`
	MaxRatio    float64  `yaml:"max_ratio"`
	StepSeconds float64  `yaml:"step_seconds"`
	Bisect      int      `yaml:"bisect"`
	// MaxSteps bounds the steps, up and bisecting (0: only the cap and
	// Bisect bound them).
	MaxSteps int `yaml:"max_steps"`
	// PauseSeconds is the rest after every step (default 1 s), so that
	// steps do not overlap in Kafka and the writer.
	PauseSeconds float64 `yaml:"pause_seconds"`
}

// Relative reports whether the search's rates are shares of the ceiling.
func (se *Search) Relative() bool { return se.StartRatio != 0 || se.MaxRatio != 0 }

// Rates is the search's start and cap in req/s, given the ceiling.
func (se *Search) Rates(ceiling float64) (start, limit float64, err error) {
	if !se.Relative() {
		return se.StartRate, se.MaxRate, nil
	}
	if !(ceiling > 0) {
		return 0, 0, fmt.Errorf("search start_ratio/max_ratio need a calibrated ceiling, got %g", ceiling)
	}
	return math.Round(se.StartRatio * ceiling), math.Round(se.MaxRatio * ceiling), nil
}

func (se *Search) check() error {
	absolute := se.StartRate > 0 && se.MaxRate >= se.StartRate && !se.Relative()
	relative := se.StartRatio > 0 && se.MaxRatio >= se.StartRatio && se.MaxRatio <= 1 && se.StartRate == 0 && se.MaxRate == 0
	if len(se.Objective) == 0 || se.Factor <= 1 || se.StepSeconds <= 0 || !(absolute || relative) ||
		se.Bisect < 0 || se.MaxSteps < 0 || se.PauseSeconds < 0 {
		return errors.New("search needs objective, factor > 1, step_seconds > 0, and start_rate > 0 with max_rate >= start_rate, " +
			"or 0 < start_ratio <= max_ratio <= 1; bisect, max_steps and pause_seconds >= 0")
	}
	return nil
}

// Traffic is what each request is. The shares are of all requests; the rest
// are honest buyers with one order each.
type Traffic struct {
	Quantity     int     `yaml:"quantity"`
	RetrySameKey float64 `yaml:"retry_same_key"`
	OverLimit    float64 `yaml:"over_limit"`
	RateBurst    float64 `yaml:"rate_burst"`
}

// Relative reports whether any of the scenario's rates is a share of the
// ceiling.
func (s *Scenario) Relative() bool {
	if s.Search != nil && s.Search.Relative() {
		return true
	}
	return slices.ContainsFunc(s.Load, Stage.Relative)
}

// Stages converts the load profile into the results form, resolving shares
// of the ceiling into whole req/s (the shares are kept beside the rates).
// A relative stage without a ceiling (ceiling <= 0) is an error.
func (s *Scenario) Stages(ceiling float64) ([]results.Stage, error) {
	out := make([]results.Stage, len(s.Load))
	for i, st := range s.Load {
		if st.Relative() && !(ceiling > 0) {
			return nil, fmt.Errorf("%s: load stage %d is relative to the ceiling, and there is no calibrated ceiling (%g)", s.Name, i+1, ceiling)
		}
		rate := func(r float64) float64 { return math.Round(r * ceiling) }
		switch {
		case st.Rate > 0:
			out[i] = results.Stage{FromRPS: st.Rate, ToRPS: st.Rate, Seconds: st.Seconds}
		case st.CeilingRatio > 0:
			out[i] = results.Stage{FromRPS: rate(st.CeilingRatio), ToRPS: rate(st.CeilingRatio), Seconds: st.Seconds,
				FromRatio: st.CeilingRatio, ToRatio: st.CeilingRatio}
		case st.Relative():
			out[i] = results.Stage{FromRPS: rate(st.FromRatio), ToRPS: rate(st.ToRatio), Seconds: st.Seconds,
				FromRatio: st.FromRatio, ToRatio: st.ToRatio}
		default:
			out[i] = results.Stage{FromRPS: st.From, ToRPS: st.To, Seconds: st.Seconds}
		}
	}
	return out, nil
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
	case s.Sale.HoldSeconds < 0 || s.Sale.HoldSeconds > 86400:
		return fmt.Errorf("%s: sale.hold_seconds %d: want 0 to 86400", s.Name, s.Sale.HoldSeconds)
	case s.Checkout != nil && s.Sale.HoldSeconds == 0:
		return fmt.Errorf("%s: checkout needs a sale with a checkout window (sale.hold_seconds > 0)", s.Name)
	case s.Checkout != nil && s.Search != nil:
		return fmt.Errorf("%s: checkout is for load stages, not a search", s.Name)
	}
	if s.Checkout != nil {
		if err := s.Checkout.check(); err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	for i, st := range s.Load {
		if err := st.check(); err != nil {
			return fmt.Errorf("%s: load stage %d: %w", s.Name, i+1, err)
		}
	}
	if s.Search != nil {
		if err := s.Search.check(); err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
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

// runOrder is the default run's order: the flash sale first, straight after
// the warm-up, as docs/benchmarks.md's figures were measured; the searches
// last, since their final steps overload the machine on purpose (checkout
// before them, for the same reason).
var runOrder = []string{"hot-item", "write-heavy", "abuse", "checkout", "max", "write-max"}

// Default is what `blitzbench run` runs without arguments: every built-in
// scenario, those of runOrder in its order, then any other by name (a new
// file is never left out of `task bench`).
func Default() []string {
	var names []string
	for _, n := range runOrder {
		if slices.Contains(Names(), n) {
			names = append(names, n)
		}
	}
	for _, n := range Names() {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
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
