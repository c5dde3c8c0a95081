// Package report renders a blitzbench results file for people: HTML writes a
// single self-contained page (inline CSS and SVG charts drawn here, nothing
// fetched from the network, so report.html opens offline and can be attached
// to a CI run), and Table writes a plain-text summary for the terminal.
package report

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"sort"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// HTML writes f as one self-contained HTML page. Nothing is written when
// rendering fails.
func HTML(w io.Writer, f *results.File) error {
	if f == nil {
		return errors.New("report: no results")
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, newView(f)); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// WriteFile writes the HTML report of f to path (report.html).
func WriteFile(path string, f *results.File) error {
	var buf bytes.Buffer
	if err := HTML(&buf, f); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// view is what the page template reads: the file itself plus what is
// computed for display.
type view struct {
	*results.File
	Elapsed  string
	Passed   int
	Sections []section
	// CPUKeys are the processes whose CPU some scenario measured (none: no
	// CPU section); CPURows and CPUChart show them.
	CPUKeys  []string
	CPURows  []cpuRow
	CPUChart template.HTML
}

// section is one scenario's part of the page.
type section struct {
	results.Scenario
	Anchor       string
	LoadText     string
	Ratio        string // CeilingRatio, or missing without a calibration
	OutcomeList  []outcome
	MixChart     template.HTML
	RateChart    template.HTML
	LatencyChart template.HTML
	LagChart     template.HTML
	OutcomeChart template.HTML
	SearchChart  template.HTML
	CPUText      string
	// UnitsChart is the sale's units by state over time (a checkout
	// window); CheckoutI6 the I6 verdict, when checked.
	UnitsChart template.HTML
	CheckoutI6 *results.Invariant
}

func newView(f *results.File) view {
	v := view{File: f, Elapsed: fmtElapsed(f.StartedAt, f.FinishedAt)}
	for i, s := range f.Scenarios {
		if s.Pass {
			v.Passed++
		}
		v.Sections = append(v.Sections, newSection(i, s, f.Calibration != nil))
	}
	if v.CPUKeys = cpuKeys(f); len(v.CPUKeys) > 0 {
		v.CPUChart = cpuChart(f, v.CPUKeys)
		for _, sec := range v.Sections {
			r := cpuRow{Name: sec.Name, Anchor: sec.Anchor, Total: cpuTotal(sec.CPU)}
			for _, k := range v.CPUKeys {
				r.Cells = append(r.Cells, cpuCell(sec.CPU, k))
			}
			v.CPURows = append(v.CPURows, r)
		}
	}
	return v
}

func newSection(i int, s results.Scenario, calibrated bool) section {
	keys, colors := outcomeKeys(s)
	sec := section{
		Scenario: s,
		Anchor:   slug(i, s.Name),
		LoadText: loadText(s.Load),
		Ratio:    ceilingRatio(s, calibrated),
		CPUText:  cpuText(s.CPU),
	}
	var total int64
	for _, n := range s.Outcomes {
		if n > 0 {
			total += n
		}
	}
	for _, k := range keys {
		n, ok := s.Outcomes[k]
		if !ok {
			continue
		}
		share := missing
		if total > 0 {
			share = fmtPct(float64(max(n, 0)) / float64(total))
		}
		sec.OutcomeList = append(sec.OutcomeList, outcome{Key: k, Count: n, Color: colors[k], Share: share})
	}
	sec.MixChart = outcomeMix("Outcome mix ("+fmtCount(total)+" answers)", sec.OutcomeList)
	if len(s.Timeline) > 0 {
		sec.RateChart = rateChart(s.Timeline)
		sec.LatencyChart = latencyChart(s.Timeline)
		sec.LagChart = lagChart(s.Timeline)
		sec.OutcomeChart = outcomesChart(s.Timeline, keys, colors)
	}
	if s.Search != nil {
		sec.SearchChart = searchChart(s.Search)
	}
	if s.Checkout != nil {
		sec.UnitsChart = unitsChart(s.Timeline)
		for i := range s.Invariants {
			if s.Invariants[i].ID == "I6" {
				sec.CheckoutI6 = &s.Invariants[i]
			}
		}
	}
	return sec
}

// unitsChart draws the sale's units by state, from the reads of the sale
// hash (remaining + held + paid = stock at every point, I6).
func unitsChart(tl []results.Point) template.HTML {
	var rem, held, paid []xy
	for _, p := range tl {
		if !p.Ledger {
			continue
		}
		rem = append(rem, xy{p.T, float64(p.Remaining)})
		held = append(held, xy{p.T, float64(p.Held)})
		paid = append(paid, xy{p.T, float64(p.Paid)})
	}
	if len(rem) == 0 {
		return noData("Units by state")
	}
	return lineChart{
		Title:  "Units by state (sale hash, last read of each second)",
		XLabel: "t (s)",
		YLabel: "units",
		Series: []series{
			{Name: "remaining", Color: "#6b7280", Dashed: true, Points: rem},
			{Name: "held", Color: "#f59e0b", Points: held},
			{Name: "paid", Color: "#16a34a", Points: paid},
		},
	}.render()
}

// ceilingRatio formats a scenario's share of the calibration ceiling; without
// a calibration a zero ratio means "not measured", not 0%.
func ceilingRatio(s results.Scenario, calibrated bool) string {
	if !calibrated && s.CeilingRatio == 0 {
		return missing
	}
	return fmtPct(s.CeilingRatio)
}

// outcomeKeys orders a scenario's answer classes (most frequent first, then
// those only seen in the timeline) and gives each a colour, so the mix and
// the per-second chart agree.
func outcomeKeys(s results.Scenario) ([]string, map[string]string) {
	var keys []string
	for k := range s.Outcomes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := s.Outcomes[keys[i]], s.Outcomes[keys[j]]
		if a != b {
			return a > b
		}
		return keys[i] < keys[j]
	})
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		seen[k] = true
	}
	var extra []string
	for _, p := range s.Timeline {
		for k := range p.Outcomes {
			if !seen[k] {
				seen[k] = true
				extra = append(extra, k)
			}
		}
	}
	sort.Strings(extra)
	keys = append(keys, extra...)
	colors := make(map[string]string, len(keys))
	for i, k := range keys {
		colors[k] = outcomeColor(k, i)
	}
	return keys, colors
}

func rateChart(tl []results.Point) template.HTML {
	offered := make([]xy, len(tl))
	achieved := make([]xy, len(tl))
	for i, p := range tl {
		offered[i] = xy{p.T, p.OfferedRPS}
		achieved[i] = xy{p.T, p.AchievedRPS}
	}
	return lineChart{
		Title:  "Offered vs achieved rate",
		XLabel: "t (s)",
		YLabel: "req/s",
		Series: []series{
			{Name: "offered", Color: "#6b7280", Dashed: true, Points: offered},
			{Name: "achieved", Color: "#2563eb", Points: achieved},
		},
	}.render()
}

func latencyChart(tl []results.Point) template.HTML {
	p50 := make([]xy, len(tl))
	p95 := make([]xy, len(tl))
	p99 := make([]xy, len(tl))
	for i, p := range tl {
		if p.P50Ms == 0 && p.P99Ms == 0 {
			// A second with no answer (the drain after the load) has no
			// latency: break the line instead of drawing a drop to zero.
			nan := math.NaN()
			p50[i], p95[i], p99[i] = xy{p.T, nan}, xy{p.T, nan}, xy{p.T, nan}
			continue
		}
		p50[i] = xy{p.T, p.P50Ms}
		p95[i] = xy{p.T, p.P95Ms}
		p99[i] = xy{p.T, p.P99Ms}
	}
	return lineChart{
		Title:   "Latency percentiles",
		XLabel:  "t (s)",
		YLabel:  "ms",
		AutoLog: true,
		Series: []series{
			{Name: "p50", Color: "#16a34a", Points: p50},
			{Name: "p95", Color: "#f59e0b", Points: p95},
			{Name: "p99", Color: "#dc2626", Points: p99},
		},
	}.render()
}

func lagChart(tl []results.Point) template.HTML {
	unp := make([]xy, len(tl))
	lag := make([]xy, len(tl))
	for i, p := range tl {
		unp[i] = xy{p.T, float64(p.Unpersisted)}
		lag[i] = xy{p.T, float64(p.WriterLag)}
	}
	return lineChart{
		Title:  "Persist lag",
		XLabel: "t (s)",
		YLabel: "orders / records",
		Series: []series{
			{Name: "unpersisted (202 not yet in PostgreSQL)", Color: "#7c3aed", Points: unp},
			{Name: "writer consumer lag", Color: "#0d9488", Dashed: true, Points: lag},
		},
	}.render()
}

func outcomesChart(tl []results.Point, keys []string, colors map[string]string) template.HTML {
	c := stackedBars{
		Title:  "Outcomes per second",
		XLabel: "t (s)",
		YLabel: "answers",
		Keys:   keys,
	}
	for _, k := range keys {
		c.Colors = append(c.Colors, colors[k])
	}
	for _, p := range tl {
		row := make([]float64, len(keys))
		for j, k := range keys {
			row[j] = float64(p.Outcomes[k])
		}
		c.X = append(c.X, p.T)
		c.Values = append(c.Values, row)
	}
	return c.render()
}

func searchChart(s *results.Search) template.HTML {
	steps := append([]results.Step(nil), s.Steps...)
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].OfferedRPS < steps[j].OfferedRPS })
	pts := make([]xy, len(steps))
	colors := make([]string, len(steps))
	for i, st := range steps {
		pts[i] = xy{st.OfferedRPS, st.P99Ms}
		colors[i] = "#dc2626"
		if st.Pass {
			colors[i] = "#16a34a"
		}
	}
	c := lineChart{
		Title:   "Rate search: p99 by offered rate",
		XLabel:  "offered rate (req/s)",
		YLabel:  "p99 ms",
		Markers: true,
		AutoLog: true,
		Series:  []series{{Name: "p99", Color: "#9ca3af", Points: pts, PointColors: colors}},
		Legend: []legendItem{
			{Name: "step met objective", Color: "#16a34a", Dot: true},
			{Name: "step missed", Color: "#dc2626", Dot: true},
		},
	}
	if s.BestRPS > 0 {
		c.VLines = []refLine{{X: s.BestRPS, Label: "best " + fmtRPS(s.BestRPS) + "/s", Color: "#15803d"}}
	}
	return c.render()
}

// latencyRow is one row of a scenario's latency table.
type latencyRow struct {
	Name string
	L    results.Latency
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":     fmtMs,
	"num":    fmtNum,
	"rps":    fmtRPS,
	"count":  fmtCount,
	"pct":    fmtPct,
	"secs":   fmtSecs,
	"gib":    fmtGiB,
	"ts":     fmtTime,
	"commit": shortCommit,
	"inc":    func(i int) int { return i + 1 },
	"unit":   withUnit,
	"latRow": func(name string, l results.Latency) latencyRow { return latencyRow{name, l} },
}).Parse(pageTemplate))
