package report

import (
	"html/template"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/cpu"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// cpuKeys is every process any scenario of f measured: the known ones in
// cpu.Names' order (the request path first), then any other, sorted, so a
// file from a later blitzbench still shows all it has.
func cpuKeys(f *results.File) []string {
	seen := map[string]bool{}
	for _, s := range f.Scenarios {
		if s.CPU == nil {
			continue
		}
		for k := range s.CPU.USPerRequest {
			seen[k] = true
		}
	}
	var keys, extra []string
	for _, k := range cpu.Names {
		if seen[k] {
			keys = append(keys, k)
		}
	}
	for k := range seen {
		if !slices.Contains(cpu.Names, k) {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	return append(keys, extra...)
}

// cpuCell is one process's µs per request, or missing when not measured.
func cpuCell(c *results.CPU, key string) string {
	if c == nil {
		return missing
	}
	v, ok := c.USPerRequest[key]
	if !ok {
		return missing
	}
	return fmtNum(v)
}

// cpuTotal is the µs per request of every measured process together.
func cpuTotal(c *results.CPU) string {
	if c == nil {
		return missing
	}
	sum, n := sumFinite(c.USPerRequest)
	if n == 0 {
		return missing
	}
	return fmtNum(sum)
}

// sumFinite adds m's finite values in key order (a float sum depends on its
// order, and the page must not change between two renders) and counts them.
func sumFinite(m map[string]float64) (sum float64, n int) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if v := m[k]; finite(v) {
			sum += v
			n++
		}
	}
	return sum, n
}

// cpuColors gives each process a colour of its own, the same in every
// scenario's bar.
var cpuColors = map[string]string{
	cpu.OrderAPI:    "#2563eb",
	cpu.OrderWriter: "#7c3aed",
	cpu.Redis:       "#dc2626",
	cpu.Kafka:       "#0d9488",
	cpu.Postgres:    "#0891b2",
	cpu.Jaeger:      "#a16207",
	cpu.Prometheus:  "#db2777",
	cpu.Generator:   "#9ca3af",
}

func cpuColor(key string, i int) string {
	if c, ok := cpuColors[key]; ok {
		return c
	}
	return palette[i%len(palette)]
}

// cpuRow is one scenario's line of the CPU table.
type cpuRow struct {
	Name, Anchor string
	Cells        []string // by cpuKeys
	Total        string
}

// cpuChart draws one horizontal stacked bar per scenario: the µs per request
// of each process, end to end, on one scale so scenarios compare, with the
// total at the end of the bar and each segment's figure in its tooltip.
func cpuChart(f *results.File, keys []string) template.HTML {
	const title = "CPU per request answered, by process (µs)"
	type bar struct {
		name  string
		vals  []float64
		total float64
		ok    bool
	}
	var bars []bar
	maxTotal := 0.0
	for _, s := range f.Scenarios {
		b := bar{name: s.Name, vals: make([]float64, len(keys))}
		if s.CPU != nil {
			for i, k := range keys {
				if v, ok := s.CPU.USPerRequest[k]; ok && finite(v) && v > 0 {
					b.vals[i], b.total, b.ok = v, b.total+v, true
				}
			}
		}
		maxTotal = math.Max(maxTotal, b.total)
		bars = append(bars, b)
	}
	if maxTotal <= 0 {
		return noData(title)
	}
	const (
		rowH  = 26.0
		barH  = 16.0
		rowsY = 68.0 // below a legend of two lines
	)
	names := make([]string, len(bars))
	for i, b := range bars {
		names[i] = b.name
	}
	labelW, barMax, h := rowLayout(names, 70, rowsY, rowH) // 70: "1,234 µs"

	legend := make([]legendItem, len(keys))
	for i, k := range keys {
		legend[i] = legendItem{Name: k, Color: cpuColor(k, i), Dot: true}
	}
	var sb strings.Builder
	openRows(&sb, "cpu", title, h)
	writeLegend(&sb, legend, 8, 42, chartW-padR)
	for j, b := range bars {
		y := rowsY + rowH*float64(j)
		sb.WriteString(`<text x="` + coord(labelW-8) + `" y="` + coord(y+13) + `" text-anchor="end">` + esc(fitLabel(b.name, labelW)) + `</text>`)
		x := labelW
		for i, v := range b.vals {
			if v <= 0 {
				continue
			}
			w := barMax * v / maxTotal
			sb.WriteString(`<rect x="` + coord(x) + `" y="` + coord(y+1) + `" width="` + coord(w) + `" height="` + coord(barH) + `" fill="` + esc(cpuColor(keys[i], i)) +
				`" data-process="` + esc(keys[i]) + `"><title>` + esc(b.name+" · "+keys[i]+": "+fmtNum(v)+" µs/request") + `</title></rect>`)
			x += w
		}
		total := missing
		if b.ok {
			total = fmtNum(b.total) + " µs"
		}
		sb.WriteString(`<text x="` + coord(x+6) + `" y="` + coord(y+13) + `">` + esc(total) + `</text>`)
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String())
}

// cpuText is a scenario's CPU in one line: the total per request, what it
// was divided by, and the seconds it came from.
func cpuText(c *results.CPU) string {
	if c == nil {
		return ""
	}
	secs, n := sumFinite(c.Seconds)
	return withUnit(cpuTotal(c), "µs") + " per request answered · " + fmtCount(c.Requests) + " answered · " +
		fmtSecs(secs) + " CPU s across " + strconv.Itoa(n) + " processes"
}
