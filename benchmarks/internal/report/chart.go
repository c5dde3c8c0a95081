package report

import (
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Charts are drawn as inline SVG into a fixed viewBox; CSS scales them to the
// width of their container.
const (
	chartW = 720.0
	chartH = 290.0
	padL   = 64.0 // room for y tick labels and the y axis title
	padR   = 24.0
	padT   = 58.0 // title and legend
	padB   = 46.0 // x tick labels and the x axis title

	// charW is the approximate advance of one character at the chart's 11–12px
	// font, used to lay out legends and labels without measuring text.
	charW = 6.6
)

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// coord formats an SVG coordinate; a non-finite value never reaches the SVG.
func coord(v float64) string {
	if !finite(v) {
		v = 0
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	if s == "-0" {
		s = "0"
	}
	return s
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// xy is one point of a series. Points with a non-finite X or Y are gaps.
type xy struct{ X, Y float64 }

// series is one line of a lineChart.
type series struct {
	Name   string
	Color  string
	Dashed bool
	Points []xy
	// PointColors, when as long as Points, colours each point's marker.
	PointColors []string
}

// refLine is a vertical reference line (e.g. the search's best rate).
type refLine struct {
	X     float64
	Label string
	Color string
}

// legendItem is one entry of a chart's legend: a line swatch, or a dot when
// Dot is set.
type legendItem struct {
	Name   string
	Color  string
	Dashed bool
	Dot    bool
}

// lineChart is a small, reusable SVG line chart: one or more named series of
// (x, y) on shared linear axes (or a log y axis, see AutoLog).
type lineChart struct {
	Title  string
	XLabel string
	YLabel string
	Series []series
	VLines []refLine
	// Markers draws a dot on every point (points alone between gaps always get
	// one, or they would not show).
	Markers bool
	// AutoLog switches the y axis to a log scale when the finite positive
	// values span more than two decades (latency with a few spikes).
	AutoLog bool
	// Legend is appended to the series' own legend entries.
	Legend []legendItem
}

// noData stands in for a chart that has nothing to draw.
func noData(title string) template.HTML {
	return template.HTML(`<div class="nodata"><strong>` + esc(title) + `</strong><br>no data</div>`)
}

// axis maps values to [0, 1] and knows its ticks.
type axis struct {
	lo, hi float64
	log    bool
	step   float64 // linear axes only
	ticks  []float64
}

// niceNum rounds x to 1, 2, 5 or 10 times a power of ten.
func niceNum(x float64, round bool) float64 {
	if !finite(x) || x <= 0 {
		return 1
	}
	exp := math.Floor(math.Log10(x))
	f := x / math.Pow(10, exp)
	var nf float64
	switch {
	case round && f < 1.5, !round && f <= 1:
		nf = 1
	case round && f < 3, !round && f <= 2:
		nf = 2
	case round && f < 7, !round && f <= 5:
		nf = 5
	default:
		nf = 10
	}
	return nf * math.Pow(10, exp)
}

// linearAxis covers [lo, hi] with about five nice ticks; with extend the
// bounds are widened to the enclosing ticks.
func linearAxis(lo, hi float64, extend bool) axis {
	if !finite(lo) || !finite(hi) {
		lo, hi = 0, 1
	}
	if hi < lo {
		lo, hi = hi, lo
	}
	if hi == lo {
		span := math.Max(math.Abs(lo)*0.1, 1)
		if lo >= 0 && lo-span < 0 {
			lo, hi = 0, lo+span
		} else {
			lo, hi = lo-span, hi+span
		}
	}
	step := niceNum((hi-lo)/5, true)
	if extend {
		lo = math.Floor(lo/step+1e-9) * step
		hi = math.Ceil(hi/step-1e-9) * step
	}
	a := axis{lo: lo, hi: hi, step: step}
	k0 := math.Ceil(lo/step - 1e-9)
	k1 := math.Floor(hi/step + 1e-9)
	for k := k0; k <= k1 && len(a.ticks) < 50; k++ {
		v := k * step
		if v == 0 {
			v = 0 // no -0
		}
		a.ticks = append(a.ticks, v)
	}
	return a
}

// logAxis covers [minPos, maxV] (minPos > 0) with whole decades.
func logAxis(minPos, maxV float64) axis {
	lo := math.Pow(10, math.Floor(math.Log10(minPos)))
	hi := math.Pow(10, math.Ceil(math.Log10(maxV)))
	if !(hi > lo) {
		hi = lo * 10
	}
	a := axis{lo: lo, hi: hi, log: true}
	decades := int(math.Round(math.Log10(hi / lo)))
	for e := 0; e <= decades && e < 30; e++ {
		p := lo * math.Pow(10, float64(e))
		a.ticks = append(a.ticks, p)
		if decades <= 3 && e < decades {
			a.ticks = append(a.ticks, 2*p, 5*p)
		}
	}
	sort.Float64s(a.ticks)
	return a
}

// frac is v's position on the axis, clamped to [0, 1].
func (a axis) frac(v float64) float64 {
	var f float64
	switch {
	case !finite(v):
		f = 0
	case a.log:
		if v <= a.lo {
			return 0
		}
		f = (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	case a.hi > a.lo:
		f = (v - a.lo) / (a.hi - a.lo)
	}
	return math.Min(1, math.Max(0, f))
}

// label formats a tick value: as many decimals as the step needs, and k/M
// for large values so labels fit the margin.
func (a axis) label(v float64) string {
	// One unit per axis, chosen by its largest value: 8k, 10k, not 8,000, 10k.
	top := math.Max(math.Abs(a.lo), math.Abs(a.hi))
	if a.log {
		top = math.Abs(v) // decades: 100, 1,000, 10k, 100k
	}
	switch {
	case top >= 1e6:
		return strconv.FormatFloat(round6(v/1e6), 'f', -1, 64) + "M"
	case top >= 1e4:
		return strconv.FormatFloat(round6(v/1e3), 'f', -1, 64) + "k"
	}
	step := a.step
	if a.log {
		step = v
	}
	dec := 0
	if step > 0 && step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	return fmtFixed(v, min(dec, 6))
}

// round6 drops floating-point noise (0.30000000000000004) from a tick value.
func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// frame is a chart's plotting area and axes.
type frame struct {
	x, y axis
	w, h float64
}

func (f frame) plotW() float64       { return f.w - padL - padR }
func (f frame) plotH() float64       { return f.h - padT - padB }
func (f frame) sx(v float64) float64 { return padL + f.x.frac(v)*f.plotW() }
func (f frame) sy(v float64) float64 { return f.h - padB - f.y.frac(v)*f.plotH() }

// open writes the <svg> element, title, legend, grid, axes and tick labels.
func (f frame) open(b *strings.Builder, title, xLabel, yLabel string, legend []legendItem) {
	b.WriteString(`<svg class="chart" viewBox="0 0 ` + coord(f.w) + ` ` + coord(f.h) + `" role="img" aria-label="` + esc(title) + `">`)
	b.WriteString(`<title>` + esc(title) + `</title>`)
	b.WriteString(`<rect x="0" y="0" width="` + coord(f.w) + `" height="` + coord(f.h) + `" fill="#fff"/>`)
	b.WriteString(`<text class="title" x="8" y="20">` + esc(title) + `</text>`)
	writeLegend(b, legend, padL, 42, f.w-padR)

	// Horizontal grid and y tick labels.
	for _, t := range f.y.ticks {
		y := coord(f.sy(t))
		b.WriteString(`<line x1="` + coord(padL) + `" y1="` + y + `" x2="` + coord(f.w-padR) + `" y2="` + y + `" stroke="#e5e7eb" stroke-width="1"/>`)
		b.WriteString(`<text x="` + coord(padL-8) + `" y="` + coord(f.sy(t)+4) + `" text-anchor="end">` + esc(f.y.label(t)) + `</text>`)
	}
	// X tick marks and labels.
	base := f.h - padB
	for _, t := range f.x.ticks {
		x := coord(f.sx(t))
		b.WriteString(`<line x1="` + x + `" y1="` + coord(base) + `" x2="` + x + `" y2="` + coord(base+5) + `" stroke="#9ca3af" stroke-width="1"/>`)
		b.WriteString(`<text x="` + x + `" y="` + coord(base+18) + `" text-anchor="middle">` + esc(f.x.label(t)) + `</text>`)
	}
	// Axes.
	b.WriteString(`<line x1="` + coord(padL) + `" y1="` + coord(padT) + `" x2="` + coord(padL) + `" y2="` + coord(base) + `" stroke="#9ca3af" stroke-width="1"/>`)
	b.WriteString(`<line x1="` + coord(padL) + `" y1="` + coord(base) + `" x2="` + coord(f.w-padR) + `" y2="` + coord(base) + `" stroke="#9ca3af" stroke-width="1"/>`)
	if xLabel != "" {
		b.WriteString(`<text x="` + coord(padL+f.plotW()/2) + `" y="` + coord(f.h-6) + `" text-anchor="middle">` + esc(xLabel) + `</text>`)
	}
	if yLabel != "" {
		cy := coord(padT + f.plotH()/2)
		b.WriteString(`<text x="14" y="` + cy + `" text-anchor="middle" transform="rotate(-90 14 ` + cy + `)">` + esc(yLabel) + `</text>`)
	}
}

// writeLegend lays legend items out left to right from (x, y), wrapping at
// maxX.
func writeLegend(b *strings.Builder, items []legendItem, x, y, maxX float64) {
	x0 := x
	for _, it := range items {
		wd := 18 + 6 + float64(utf8.RuneCountInString(it.Name))*charW + 16
		if x > x0 && x+wd > maxX {
			x, y = x0, y+14
		}
		if it.Dot {
			b.WriteString(`<circle cx="` + coord(x+9) + `" cy="` + coord(y-4) + `" r="4" fill="` + esc(it.Color) + `"/>`)
		} else {
			b.WriteString(`<line x1="` + coord(x) + `" y1="` + coord(y-4) + `" x2="` + coord(x+18) + `" y2="` + coord(y-4) + `" stroke="` + esc(it.Color) + `" stroke-width="2.5"`)
			if it.Dashed {
				b.WriteString(` stroke-dasharray="5 3"`)
			}
			b.WriteString(`/>`)
		}
		b.WriteString(`<text x="` + coord(x+24) + `" y="` + coord(y) + `">` + esc(it.Name) + `</text>`)
		x += wd
	}
}

// render draws the chart, or a "no data" box when no series has a finite
// point.
func (c lineChart) render() template.HTML {
	var (
		n                      int
		xmin, xmax, ymin, ymax = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
		minPos                 = math.Inf(1)
	)
	for _, s := range c.Series {
		for _, p := range s.Points {
			if !finite(p.X) || !finite(p.Y) {
				continue
			}
			n++
			xmin, xmax = math.Min(xmin, p.X), math.Max(xmax, p.X)
			ymin, ymax = math.Min(ymin, p.Y), math.Max(ymax, p.Y)
			if p.Y > 0 {
				minPos = math.Min(minPos, p.Y)
			}
		}
	}
	if n == 0 {
		return noData(c.Title)
	}
	for _, v := range c.VLines {
		if finite(v.X) {
			xmin, xmax = math.Min(xmin, v.X), math.Max(xmax, v.X)
		}
	}
	f := frame{w: chartW, h: chartH, x: linearAxis(xmin, xmax, true)}
	yLabel := c.YLabel
	if c.AutoLog && ymin >= 0 && finite(minPos) && ymax/minPos >= 100 {
		f.y = logAxis(minPos, ymax)
		yLabel += " (log)"
	} else {
		f.y = linearAxis(math.Min(0, ymin), math.Max(0, ymax), true)
	}

	legend := make([]legendItem, 0, len(c.Series)+len(c.Legend))
	for _, s := range c.Series {
		legend = append(legend, legendItem{Name: s.Name, Color: s.Color, Dashed: s.Dashed})
	}
	legend = append(legend, c.Legend...)

	var b strings.Builder
	f.open(&b, c.Title, c.XLabel, yLabel, legend)
	for _, s := range c.Series {
		c.drawSeries(&b, f, s)
	}
	for _, v := range c.VLines {
		if !finite(v.X) {
			continue
		}
		x := coord(f.sx(v.X))
		b.WriteString(`<line x1="` + x + `" y1="` + coord(padT) + `" x2="` + x + `" y2="` + coord(f.h-padB) + `" stroke="` + esc(v.Color) + `" stroke-width="1.5" stroke-dasharray="4 3"/>`)
		anchor, dx := "start", 4.0
		if f.sx(v.X) > padL+f.plotW()*0.75 {
			anchor, dx = "end", -4
		}
		b.WriteString(`<text x="` + coord(f.sx(v.X)+dx) + `" y="` + coord(padT+12) + `" text-anchor="` + anchor + `" fill="` + esc(v.Color) + `">` + esc(v.Label) + `</text>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// drawSeries draws s as a polyline broken at non-finite points, with markers
// where asked and on points that would otherwise be invisible.
func (c lineChart) drawSeries(b *strings.Builder, f frame, s series) {
	type px struct {
		x, y float64
		i    int
	}
	var segs [][]px
	var cur []px
	for i, p := range s.Points {
		if !finite(p.X) || !finite(p.Y) {
			if len(cur) > 0 {
				segs = append(segs, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, px{f.sx(p.X), f.sy(p.Y), i})
	}
	if len(cur) > 0 {
		segs = append(segs, cur)
	}
	var d strings.Builder
	for _, seg := range segs {
		if len(seg) < 2 {
			continue
		}
		for j, p := range seg {
			if j == 0 {
				d.WriteString("M")
			} else {
				d.WriteString(" L")
			}
			d.WriteString(coord(p.x) + " " + coord(p.y))
		}
	}
	if d.Len() > 0 {
		b.WriteString(`<path d="` + d.String() + `" fill="none" stroke="` + esc(s.Color) + `" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"`)
		if s.Dashed {
			b.WriteString(` stroke-dasharray="6 4"`)
		}
		b.WriteString(`/>`)
	}
	for _, seg := range segs {
		if !c.Markers && len(seg) > 1 {
			continue
		}
		for _, p := range seg {
			color := s.Color
			if len(s.PointColors) == len(s.Points) && s.PointColors[p.i] != "" {
				color = s.PointColors[p.i]
			}
			b.WriteString(`<circle cx="` + coord(p.x) + `" cy="` + coord(p.y) + `" r="3.5" fill="` + esc(color) + `" stroke="#fff" stroke-width="1"/>`)
		}
	}
}

// stackedBars is a chart of one stacked bar per x (outcome counts per
// second).
type stackedBars struct {
	Title  string
	XLabel string
	YLabel string
	X      []float64
	Keys   []string
	Colors []string    // per key
	Values [][]float64 // [x][key]; non-finite or negative values count as 0
}

func (c stackedBars) render() template.HTML {
	var (
		xs         []float64
		xmin, xmax = math.Inf(1), math.Inf(-1)
		maxTotal   float64
	)
	for i, x := range c.X {
		if !finite(x) || i >= len(c.Values) {
			continue
		}
		var tot float64
		for _, v := range c.Values[i] {
			if finite(v) && v > 0 {
				tot += v
			}
		}
		if tot <= 0 {
			continue
		}
		xs = append(xs, x)
		xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
		maxTotal = math.Max(maxTotal, tot)
	}
	if len(xs) == 0 {
		return noData(c.Title)
	}
	// Bar pitch: the smallest gap between distinct x.
	sort.Float64s(xs)
	dx := math.Inf(1)
	for i := 1; i < len(xs); i++ {
		if g := xs[i] - xs[i-1]; g > 0 {
			dx = math.Min(dx, g)
		}
	}
	if !finite(dx) {
		dx = 1
	}
	f := frame{w: chartW, h: chartH, x: linearAxis(xmin-dx/2, xmax+dx/2, false), y: linearAxis(0, maxTotal, true)}
	bw := math.Max(0.5, f.plotW()*dx/(f.x.hi-f.x.lo)*0.85)

	legend := make([]legendItem, len(c.Keys))
	for k, key := range c.Keys {
		legend[k] = legendItem{Name: key, Color: c.color(k), Dot: true}
	}
	var b strings.Builder
	f.open(&b, c.Title, c.XLabel, c.YLabel, legend)
	for i, x := range c.X {
		if !finite(x) || i >= len(c.Values) {
			continue
		}
		var acc float64
		for k, v := range c.Values[i] {
			if !finite(v) || v <= 0 || k >= len(c.Keys) {
				continue
			}
			top, bottom := f.sy(acc+v), f.sy(acc)
			acc += v
			b.WriteString(`<rect x="` + coord(f.sx(x)-bw/2) + `" y="` + coord(top) + `" width="` + coord(bw) + `" height="` + coord(bottom-top) + `" fill="` + esc(c.color(k)) + `"/>`)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func (c stackedBars) color(k int) string {
	if k < len(c.Colors) {
		return c.Colors[k]
	}
	return palette[k%len(palette)]
}

// outcome is one answer class and how many there were.
type outcome struct {
	Key   string
	Count int64
	Color string
	Share string // "81.2%"
}

// outcomeMix draws a 100% stacked bar of the outcomes and, under it, one
// labelled bar per outcome with its count and share.
func outcomeMix(title string, items []outcome) template.HTML {
	var total, maxCount int64
	for _, o := range items {
		if o.Count > 0 {
			total += o.Count
			maxCount = max(maxCount, o.Count)
		}
	}
	if total <= 0 {
		return noData(title)
	}
	const (
		rowH   = 22.0
		stackY = 34.0
		stackH = 18.0
		rowsY  = stackY + stackH + 16
	)
	keys := make([]string, len(items))
	for i, o := range items {
		keys[i] = o.Key
	}
	labelW, barMax, h := rowLayout(keys, 130, rowsY, rowH) // 130: "1,234,567 (100.0%)"

	var b strings.Builder
	openRows(&b, "mix", title, h)
	// The stacked bar spans the label column too.
	x := 8.0
	full := chartW - padR - 8
	for _, o := range items {
		if o.Count <= 0 {
			continue
		}
		w := full * float64(o.Count) / float64(total)
		b.WriteString(`<rect x="` + coord(x) + `" y="` + coord(stackY) + `" width="` + coord(w) + `" height="` + coord(stackH) + `" fill="` + esc(o.Color) + `"><title>` + esc(o.Key+": "+fmtCount(o.Count)+" ("+o.Share+")") + `</title></rect>`)
		x += w
	}
	for i, o := range items {
		y := rowsY + rowH*float64(i)
		b.WriteString(`<text x="` + coord(labelW-8) + `" y="` + coord(y+14) + `" text-anchor="end">` + esc(fitLabel(o.Key, labelW)) + `</text>`)
		w := 0.0
		if o.Count > 0 {
			w = math.Max(1, barMax*float64(o.Count)/float64(maxCount))
		}
		b.WriteString(`<rect x="` + coord(labelW) + `" y="` + coord(y+3) + `" width="` + coord(w) + `" height="` + coord(rowH-6) + `" rx="2" fill="` + esc(o.Color) + `"/>`)
		b.WriteString(`<text x="` + coord(labelW+w+6) + `" y="` + coord(y+14) + `">` + esc(fmtCount(o.Count)+" ("+o.Share+")") + `</text>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Row charts (the outcome mix, the CPU by process) put a label column
// left of their bars.

// rowLayout lays out a row chart of one row per name, rowH high from rowsY,
// with a figure rightW wide after the longest bar: the label column's width
// (the longest name, within 80 and 220), the longest bar's and the chart's
// height.
func rowLayout(names []string, rightW, rowsY, rowH float64) (labelW, barMax, h float64) {
	labelW = 80.0
	for _, n := range names {
		labelW = math.Max(labelW, float64(utf8.RuneCountInString(n))*charW+16)
	}
	labelW = math.Min(labelW, 220)
	return labelW, chartW - labelW - rightW - padR, rowsY + rowH*float64(len(names)) + 6
}

// fitLabel shortens s with an ellipsis to fit a label column of width w.
func fitLabel(s string, w float64) string {
	if r := []rune(s); float64(len(r))*charW+16 > w {
		return string(r[:max(1, int((w-16)/charW)-1)]) + "…"
	}
	return s
}

// openRows writes the <svg> element and title of a row chart h high.
func openRows(b *strings.Builder, class, title string, h float64) {
	b.WriteString(`<svg class="chart ` + class + `" viewBox="0 0 ` + coord(chartW) + ` ` + coord(h) + `" role="img" aria-label="` + esc(title) + `">`)
	b.WriteString(`<title>` + esc(title) + `</title>`)
	b.WriteString(`<text class="title" x="8" y="20">` + esc(title) + `</text>`)
}

// palette colours outcomes that outcomeColor does not recognise.
var palette = []string{"#2563eb", "#0d9488", "#db2777", "#a16207", "#4f46e5", "#64748b", "#0891b2", "#65a30d"}

// outcomeColor gives well-known answer classes a meaningful colour (accepted
// green, sold out amber, rejected purple, errors red) and the rest a palette
// colour by position.
func outcomeColor(key string, i int) string {
	k := strings.ToLower(key)
	switch {
	case k == "202" || strings.Contains(k, "accept"):
		return "#16a34a"
	case k == "409" || strings.Contains(k, "sold") || strings.Contains(k, "conflict"):
		return "#f59e0b"
	case k == "429" || strings.Contains(k, "limit") || strings.Contains(k, "dup"):
		return "#8b5cf6"
	case strings.Contains(k, "err") || strings.Contains(k, "timeout") || strings.HasPrefix(k, "5"):
		return "#dc2626"
	}
	return palette[i%len(palette)]
}
