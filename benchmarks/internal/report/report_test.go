package report

import (
	"bytes"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// fixture is a realistic results file: a passing repeated baseline with a
// full timeline, a failing hot-item run (oversell caught by I1, a missed
// threshold, a few non-finite values that must not leak) and a max rate
// search with no timeline, no drain and no persist figures.
func fixture() *results.File {
	start := time.Date(2025, 11, 28, 9, 0, 0, 0, time.UTC)

	timeline := func(n int, rate float64, spikeAt int) []results.Point {
		var tl []results.Point
		var accepted, persisted int64
		for i := 0; i < n; i++ {
			achieved := rate * (0.97 + 0.02*math.Sin(float64(i)))
			acc := int64(achieved * 0.8)
			accepted += acc
			persisted += acc - int64(10*math.Abs(math.Cos(float64(i))))
			p := results.Point{
				T:           float64(i),
				OfferedRPS:  rate,
				AchievedRPS: achieved,
				P50Ms:       1.2 + 0.1*math.Sin(float64(i)),
				P95Ms:       3.4 + 0.3*math.Cos(float64(i)),
				P99Ms:       6.8 + float64(i%7),
				Outcomes: map[string]int64{
					"202":          acc,
					"409_sold_out": int64(achieved) - acc - 2,
					"429":          2,
				},
				Persisted:   persisted,
				Unpersisted: accepted - persisted,
				WriterLag:   int64(40 + 25*math.Sin(float64(i)/3)),
			}
			if i == spikeAt {
				p.P99Ms = 480
				p.Outcomes["5xx"] = 3
			}
			tl = append(tl, p)
		}
		return tl
	}

	hot := timeline(30, 8000, 12)
	// Values a broken collector could produce; the report must sanitise them.
	hot[5].P99Ms = math.NaN()
	hot[6].AchievedRPS = math.Inf(1)

	return &results.File{
		Schema:     results.SchemaVersion,
		Tool:       "blitzbench",
		Command:    "blitzbench run --api http://localhost:8080 --scenarios baseline,hot-item,max",
		StartedAt:  start,
		FinishedAt: start.Add(7*time.Minute + 12*time.Second),
		Machine: results.Machine{
			Hostname: "ci-runner-7", OS: "linux", Arch: "amd64", CPUs: 8,
			CPUModel: "AMD EPYC 7B13", MemoryGiB: 31.3, Kernel: "6.8.0-1015-gcp", GoVersion: "go1.26.8",
		},
		Git: results.Git{Commit: "3f9c2e1d8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d", Dirty: true},
		Calibration: &results.Calibration{
			Server: "chi no-op", Connections: 64, Seconds: 10, Requests: 482100, CeilingRPS: 48210,
			Latency:           results.Latency{Count: 482100, P50Ms: 0.41, P99Ms: 2.31, MaxMs: 12.7},
			GeneratorCPUShare: 0.31,
		},
		Scenarios: []results.Scenario{
			{
				Name: "baseline", Version: 2, Pass: true,
				Description: "Steady 2,000 req/s against one sale with plenty of stock.",
				File:        "scenarios/baseline.yaml", SaleID: "sale_01JD8Q",
				Load: results.Load{
					Model:    "open",
					Stages:   []results.Stage{{FromRPS: 0, ToRPS: 2000, Seconds: 10}, {FromRPS: 2000, ToRPS: 2000, Seconds: 50}},
					Requests: 110000, Seconds: 60, OfferedRPS: 2000, AchievedRPS: 1998.4,
				},
				Latency:     results.Latency{Count: 110000, MinMs: 0.31, MeanMs: 1.4, P50Ms: 1.21, P90Ms: 2.2, P95Ms: 3.42, P99Ms: 7.9, P999Ms: 15.2, MaxMs: 41.3},
				Outcomes:    map[string]int64{"202": 109000, "409_sold_out": 1000},
				AcceptedRPS: 1816.7, CeilingRatio: 1998.4 / 48210,
				Generator: results.Generator{CPUSeconds: 41.2, CPUShare: 0.086, MaxInFlight: 37, LateP99Ms: 0.4},
				CPU: &results.CPU{Requests: 1_000_000,
					USPerRequest: map[string]float64{"order-api": 41.2, "order-writer": 3.1, "redis": 12, "kafka": 8.8, "postgres": 2.05, "jaeger": 0.5, "prometheus": 0.1, "generator": 15.3},
					Seconds:      map[string]float64{"order-api": 41.2, "order-writer": 3.1, "redis": 12, "kafka": 8.8, "postgres": 2.05, "jaeger": 0.5, "prometheus": 0.1, "generator": 15.3}},
				Drain:   &results.Drain{Seconds: 1.8, MaxLag: 212},
				Persist: &results.Latency{Count: 109000, P50Ms: 18.5, P95Ms: 41, P99Ms: 63.2, MaxMs: 211},
				Invariants: []results.Invariant{
					{ID: "I1", Name: "no oversell", Pass: true, Detail: "109,000 accepted ≤ 200,000 stock"},
					{ID: "I2", Name: "one order per user", Pass: true, Detail: "0 duplicates"},
				},
				Thresholds: []results.Threshold{
					{Expr: "p99_ms < 10", Metric: "p99_ms", Op: "<", Want: 10, Actual: 7.9, Pass: true},
					{Expr: "errors == 0", Metric: "errors", Op: "==", Want: 0, Actual: 0, Pass: true},
				},
				Timeline: timeline(60, 2000, -1),
				Repetitions: []results.Repetition{
					{CeilingRPS: 48210, AchievedRPS: 1998.4, CeilingRatio: 0.04145, P50Ms: 1.21, P95Ms: 3.42, P99Ms: 7.9},
					{CeilingRPS: 47990, AchievedRPS: 1997.1, CeilingRatio: 0.04161, P50Ms: 1.19, P95Ms: 3.5, P99Ms: 8.3},
					{CeilingRPS: 48400, AchievedRPS: 1999.0, CeilingRatio: 0.0413, P50Ms: 1.25, P95Ms: 3.31, P99Ms: 7.4, Errors: 1},
				},
			},
			{
				Name: "hot-item", Version: 1, Pass: false,
				Description: "8,000 req/s of distinct users racing for 1,000 units of one item.",
				Failures: []string{
					"I1 no oversell: 3 orders accepted beyond stock of 1,000",
					"threshold p99_ms < 10: got 14.2",
				},
				Load: results.Load{
					Model: "open", Stages: []results.Stage{{FromRPS: 8000, ToRPS: 8000, Seconds: 30}},
					Requests: 240000, Seconds: 30, OfferedRPS: 8000, AchievedRPS: 7702.5,
				},
				Latency:     results.Latency{Count: 231075, MinMs: 0.4, MeanMs: 2.9, P50Ms: 1.3, P90Ms: 5.1, P95Ms: 8.7, P99Ms: 14.2, P999Ms: 120, MaxMs: 512.5},
				Outcomes:    map[string]int64{"202": 1003, "409_sold_out": 229900, "429": 120, "5xx": 52},
				Errors:      52,
				AcceptedRPS: 33.4, CeilingRatio: 7702.5 / 48210,
				Generator: results.Generator{CPUSeconds: 60.1, CPUShare: 0.25, MaxInFlight: 912, LateP99Ms: math.Inf(1)},
				CPU: &results.CPU{Requests: 240_000,
					USPerRequest: map[string]float64{"order-api": 57.25, "order-writer": 9.4, "redis": 19.9, "kafka": 31.7, "postgres": math.NaN(), "generator": 22},
					Seconds:      map[string]float64{"order-api": 13.74, "order-writer": 2.256, "redis": 4.776, "kafka": 7.608, "generator": 5.28}},
				Drain:   &results.Drain{Seconds: 30, TimedOut: true, MaxLag: 5120},
				Persist: &results.Latency{Count: 1003, P50Ms: 22, P95Ms: 95, P99Ms: math.NaN(), MaxMs: 1300},
				Invariants: []results.Invariant{
					{ID: "I1", Name: "no oversell", Pass: false, Detail: "1,003 accepted for 1,000 units of stock",
						Offending: []string{"ord_01JD8R4K2X", "ord_01JD8R4K9Q", "ord_01JD8R4M1Z"}},
					{ID: "I2", Name: "one order per user", Pass: true, Detail: "0 duplicates"},
				},
				Thresholds: []results.Threshold{
					{Expr: "p99_ms < 10", Metric: "p99_ms", Op: "<", Want: 10, Actual: 14.2, Pass: false},
					{Expr: "errors_rate < 0.01", Metric: "errors_rate", Op: "<", Want: 0.01, Actual: math.NaN(), Pass: false},
				},
				Timeline: hot,
			},
			{
				Name: "max", Version: 1, Pass: true,
				Description: "Search for the highest arrival rate with p99 under 10 ms.",
				Load:        results.Load{Model: "open", Requests: 512000, Seconds: 80, OfferedRPS: 12000, AchievedRPS: 11950},
				Latency:     results.Latency{Count: 512000, P50Ms: 1.9, P95Ms: 5.5, P99Ms: 9.6, MaxMs: 88},
				Outcomes:    map[string]int64{"202": 512000},
				AcceptedRPS: 11950, CeilingRatio: 11950.0 / 48210,
				Generator: results.Generator{CPUShare: 0.41},
				Search: &results.Search{
					Objective: "p99_ms < 10",
					Steps: []results.Step{
						{OfferedRPS: 8000, AchievedRPS: 7990, P99Ms: 4.1, Pass: true},
						{OfferedRPS: 16000, AchievedRPS: 13100, P99Ms: 850, Errors: 311, Pass: false},
						{OfferedRPS: 12000, AchievedRPS: 11950, P99Ms: 9.6, Pass: true},
						{OfferedRPS: 14000, AchievedRPS: 13020, P99Ms: 31.5, Pass: false},
					},
					BestRPS: 12000,
				},
			},
		},
		Pass: false,
	}
}

func render(t *testing.T, f *results.File) string {
	t.Helper()
	var buf bytes.Buffer
	if err := HTML(&buf, f); err != nil {
		t.Fatalf("HTML: %v", err)
	}
	return buf.String()
}

func parse(t *testing.T, doc string) *html.Node {
	t.Helper()
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return root
}

// walk calls fn on n and every node below it.
func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}

func count(n *html.Node, tag string) int {
	k := 0
	walk(n, func(c *html.Node) {
		if c.Type == html.ElementNode && c.Data == tag {
			k++
		}
	})
	return k
}

// scenarioSection finds the <section data-scenario=name>.
func scenarioSection(t *testing.T, root *html.Node, name string) *html.Node {
	t.Helper()
	var found *html.Node
	walk(root, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "section" {
			if v, _ := attr(n, "data-scenario"); v == name {
				found = n
			}
		}
	})
	if found == nil {
		t.Fatalf("no section for scenario %q", name)
	}
	return found
}

// external reports whether an attribute value points outside the page.
func external(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	return strings.HasPrefix(v, "//") || strings.Contains(v, "://") ||
		strings.HasPrefix(v, "http:") || strings.HasPrefix(v, "https:") || strings.HasPrefix(v, "data:")
}

var cssURL = regexp.MustCompile(`(?i)url\(|@import`)

func TestHTMLSelfContained(t *testing.T) {
	doc := render(t, fixture())
	root := parse(t, doc)
	walk(root, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.Data {
		case "script", "link", "iframe", "img", "object", "embed", "image", "use":
			t.Errorf("unexpected <%s> element", n.Data)
		case "style":
			if cssURL.MatchString(text(n)) {
				t.Errorf("<style> loads something: %q", cssURL.FindString(text(n)))
			}
		}
		for _, a := range n.Attr {
			switch a.Key {
			case "src", "href", "srcset", "action", "formaction", "poster", "data", "background", "xmlns:xlink":
				if external(a.Val) {
					t.Errorf("<%s %s=%q> references an external URL", n.Data, a.Key, a.Val)
				}
			case "style":
				if cssURL.MatchString(a.Val) {
					t.Errorf("<%s style=%q> loads something", n.Data, a.Val)
				}
			}
		}
	})
	for _, bad := range []string{"NaN", "Inf", "ZgotmplZ", "<no value>", "%!"} {
		if strings.Contains(doc, bad) {
			i := strings.Index(doc, bad)
			t.Errorf("output contains %q: …%s…", bad, doc[max(0, i-80):min(len(doc), i+40)])
		}
	}
}

func TestHTMLContent(t *testing.T) {
	f := fixture()
	doc := render(t, f)
	root := parse(t, doc)

	// Overall badge.
	var overall *html.Node
	walk(root, func(n *html.Node) {
		if n.Type == html.ElementNode {
			if id, _ := attr(n, "id"); id == "overall" {
				overall = n
			}
		}
	})
	if overall == nil {
		t.Fatal("no overall badge")
	}
	if got := text(overall); got != "FAIL" {
		t.Errorf("overall badge = %q, want FAIL", got)
	}
	if cls, _ := attr(overall, "class"); !strings.Contains(cls, "fail") {
		t.Errorf("overall badge class = %q, want fail", cls)
	}

	// Header, calibration and summary.
	for _, want := range []string{"AMD EPYC 7B13", "3f9c2e1d8b7a", "dirty", "go1.26.8", "48,210", "chi no-op", "7m12s"} {
		if !strings.Contains(doc, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	var summary *html.Node
	walk(root, func(n *html.Node) {
		if id, _ := attr(n, "id"); n.Type == html.ElementNode && id == "summary" {
			summary = n
		}
	})
	if summary == nil {
		t.Fatal("no summary section")
	}
	if rows := count(summary, "tr"); rows != 1+len(f.Scenarios) {
		t.Errorf("summary has %d rows, want %d", rows, 1+len(f.Scenarios))
	}
	for _, want := range []string{"baseline", "hot-item", "max", "1,998", "7,702", "16.0%", "14.2", "timed out"} {
		if !strings.Contains(text(summary), want) {
			t.Errorf("summary lacks %q", want)
		}
	}

	// A scenario with a timeline has its timeline charts.
	base := scenarioSection(t, root, "baseline")
	if n := count(base, "svg"); n < 5 { // outcome mix + four timeline charts
		t.Errorf("baseline has %d <svg>, want ≥ 5", n)
	}
	bt := text(base)
	for _, want := range []string{"Offered vs achieved rate", "Latency percentiles", "Persist lag", "Outcomes per second", "achieved", "p99", "Repetitions", "109,000"} {
		if !strings.Contains(bt, want) {
			t.Errorf("baseline section lacks %q", want)
		}
	}
	// Axes carry tick labels.
	if n := count(base, "text"); n < 40 {
		t.Errorf("baseline charts have %d <text>, want ≥ 40 (ticks, legend, titles)", n)
	}
	if n := count(base, "path"); n < 7 { // 2 rate + 3 latency + 2 lag lines
		t.Errorf("baseline has %d <path> lines, want ≥ 7", n)
	}

	// The failing scenario: failures, the violated invariant and its ids.
	hot := scenarioSection(t, root, "hot-item")
	ht := text(hot)
	for _, want := range []string{"I1 no oversell: 3 orders accepted beyond stock of 1,000", "ord_01JD8R4K2X", "ord_01JD8R4K9Q", "ord_01JD8R4M1Z", "p99_ms < 10"} {
		if !strings.Contains(ht, want) {
			t.Errorf("hot-item section lacks %q", want)
		}
	}
	var failBox bool
	walk(hot, func(n *html.Node) {
		if cls, _ := attr(n, "class"); n.Type == html.ElementNode && cls == "failures" && strings.Contains(text(n), "I1 no oversell") {
			failBox = true
		}
	})
	if !failBox {
		t.Error("hot-item failures are not in a .failures box")
	}

	// No timeline: a "no data" note instead of timeline charts; the search is
	// drawn and tabulated.
	mx := scenarioSection(t, root, "max")
	mt := text(mx)
	if !strings.Contains(mt, "no data") {
		t.Error("max (no timeline) lacks a no-data note")
	}
	if strings.Contains(mt, "Offered vs achieved rate") {
		t.Error("max (no timeline) draws a rate chart")
	}
	if n := count(mx, "svg"); n != 2 { // outcome mix + search
		t.Errorf("max has %d <svg>, want 2", n)
	}
	for _, want := range []string{"Rate search", "best 12,000/s", "12,000 req/s", "850", "16,000"} {
		if !strings.Contains(mt, want) {
			t.Errorf("max section lacks %q", want)
		}
	}
}

func TestHTMLEscapesInput(t *testing.T) {
	f := fixture()
	evil := `"><script>alert(1)</script><img src="https://x.example/p.png">`
	f.Command = evil
	f.Scenarios[0].Name = evil
	f.Scenarios[0].Description = evil
	f.Scenarios[0].Outcomes[evil] = 5
	f.Scenarios[0].Timeline[0].Outcomes[evil] = 5
	f.Scenarios[1].Invariants[0].Offending = append(f.Scenarios[1].Invariants[0].Offending, evil)
	root := parse(t, render(t, f))
	if n := count(root, "script") + count(root, "img"); n != 0 {
		t.Errorf("input strings became %d elements", n)
	}
	if !strings.Contains(text(root), evil) {
		t.Error("escaped input is not shown as text")
	}
}

func TestHTMLPassingFile(t *testing.T) {
	f := fixture()
	f.Scenarios = f.Scenarios[:1]
	f.Pass = true
	f.Calibration = nil
	f.Scenarios[0].CeilingRatio = 0
	f.Scenarios[0].Repetitions = nil
	doc := render(t, f)
	if !strings.Contains(doc, `<span id="overall" class="badge pass">PASS</span>`) {
		t.Error("no overall PASS badge")
	}
	if strings.Contains(doc, `class="badge fail"`) {
		t.Error("a FAIL badge on a passing file")
	}
	if strings.Contains(doc, `id="calibration"`) {
		t.Error("calibration block without calibration")
	}
	if strings.Contains(doc, "0.0%") {
		t.Error("an unmeasured ceiling ratio shown as 0.0%")
	}
}

func TestHTMLDeterministic(t *testing.T) {
	if a, b := render(t, fixture()), render(t, fixture()); a != b {
		t.Error("two renders of the same file differ")
	}
}

func TestHTMLEmpty(t *testing.T) {
	if err := HTML(&bytes.Buffer{}, nil); err == nil {
		t.Error("HTML(nil) did not fail")
	}
	doc := render(t, &results.File{})
	parse(t, doc)
	if !strings.Contains(doc, "no scenarios") {
		t.Error("empty file lacks a no-scenarios note")
	}
}

// svgOf checks a chart rendered to an <svg> that parses and holds no
// non-finite number.
func svgOf(t *testing.T, h string) *html.Node {
	t.Helper()
	if !strings.HasPrefix(h, "<svg") {
		t.Fatalf("not an svg: %.80s", h)
	}
	for _, bad := range []string{"NaN", "Inf"} {
		if strings.Contains(h, bad) {
			t.Errorf("svg contains %s", bad)
		}
	}
	return parse(t, h)
}

// ticks counts a chart's x tick labels (centred under the axis) and y tick
// labels (right-aligned left of it).
func ticks(svg *html.Node) (x, y int) {
	walk(svg, func(n *html.Node) {
		if n.Type != html.ElementNode || n.Data != "text" {
			return
		}
		ty, _ := attr(n, "y")
		v, _ := strconv.ParseFloat(ty, 64)
		switch anchor, _ := attr(n, "text-anchor"); {
		case anchor == "end":
			y++
		case anchor == "middle" && v > chartH-padB && v < chartH-padB+24:
			x++
		}
	})
	return x, y
}

func TestLineChartEdgeCases(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	chart := func(pts ...xy) string {
		return string(lineChart{Title: "T", XLabel: "x", YLabel: "y", AutoLog: true,
			Series: []series{{Name: "s", Color: "#000", Points: pts}}}.render())
	}

	for name, h := range map[string]string{
		"no series":  string(lineChart{Title: "T"}.render()),
		"no points":  chart(),
		"all NaN":    chart(xy{nan, 1}, xy{1, nan}, xy{inf, inf}),
		"empty bars": string(stackedBars{Title: "T", X: []float64{0, 1}, Keys: []string{"a"}, Values: [][]float64{{0}, {nan}}}.render()),
		"empty mix":  string(outcomeMix("T", nil)),
	} {
		if !strings.Contains(h, "no data") || strings.Contains(h, "<svg") {
			t.Errorf("%s: want a no-data box, got %.120s", name, h)
		}
	}

	// A single point is drawn as a dot inside sane axes.
	one := svgOf(t, chart(xy{3, 7}))
	if count(one, "circle") != 1 {
		t.Errorf("single point: %d circles, want 1", count(one, "circle"))
	}
	walk(one, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "circle" {
			cx, _ := attr(n, "cx")
			cy, _ := attr(n, "cy")
			x, _ := strconv.ParseFloat(cx, 64)
			y, _ := strconv.ParseFloat(cy, 64)
			if x <= padL || x >= chartW-padR || y < padT || y >= chartH-padB {
				t.Errorf("single point drawn off the plot or on an axis (%s, %s)", cx, cy)
			}
		}
	})
	if xt, yt := ticks(one); xt < 2 || yt < 2 {
		t.Errorf("single point: %d x and %d y tick labels, want ≥ 2 each", xt, yt)
	}

	// All zeros: a flat line on a 0..1 axis.
	zeros := svgOf(t, chart(xy{0, 0}, xy{1, 0}, xy{2, 0}))
	if count(zeros, "path") != 1 {
		t.Error("all-zero series: no line")
	}
	if xt, yt := ticks(zeros); xt < 2 || yt < 2 {
		t.Errorf("all-zero series: %d x and %d y tick labels, want ≥ 2 each", xt, yt)
	}

	// Gaps split the line; isolated points still show.
	gappy := svgOf(t, chart(xy{0, 1}, xy{1, 2}, xy{2, nan}, xy{3, 4}, xy{4, inf}, xy{5, 2}, xy{6, 3}))
	if n := count(gappy, "circle"); n != 1 {
		t.Errorf("gappy series: %d circles, want 1 (the isolated point)", n)
	}
	var d string
	walk(gappy, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "path" {
			d, _ = attr(n, "d")
		}
	})
	if strings.Count(d, "M") != 2 {
		t.Errorf("gappy series path %q: want two segments", d)
	}

	// Large dynamic range switches latency to a log axis.
	logc := chart(xy{0, 1}, xy{1, 2}, xy{2, 900})
	if !strings.Contains(logc, "y (log)") {
		t.Error("wide range did not use a log axis")
	}
	svgOf(t, logc)

	// On the log axis 1, 10 and 1,000 sit at 0, 1/3 and 1 of the height.
	var ys []float64
	walk(parse(t, chart(xy{0, 1}, xy{1, 10}, xy{2, 1000})), func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "path" {
			d, _ := attr(n, "d")
			f := strings.Fields(strings.NewReplacer("M", " ", "L", " ").Replace(d))
			for i := 1; i < len(f); i += 2 {
				y, _ := strconv.ParseFloat(f[i], 64)
				ys = append(ys, y)
			}
		}
	})
	plotH := chartH - padT - padB
	want := []float64{chartH - padB, chartH - padB - plotH/3, padT}
	if len(ys) != 3 {
		t.Fatalf("log chart: %d points in the path, want 3", len(ys))
	}
	for i := range want {
		if math.Abs(ys[i]-want[i]) > 0.6 {
			t.Errorf("log chart point %d at y=%.1f, want %.1f", i, ys[i], want[i])
		}
	}

	// Huge and tiny values stay finite and labelled.
	svgOf(t, chart(xy{0, 1e-9}, xy{1e12, 3e15}))
	svgOf(t, chart(xy{-5, -2}, xy{5, 2}))
}

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{fmtRPS(48210.4), "48,210"},
		{fmtRPS(1234567), "1,234,567"},
		{fmtRPS(33.44), "33.4"},
		{fmtRPS(0), "0"},
		{fmtMs(0.412), "0.41"},
		{fmtMs(0.0123), "0.012"},
		{fmtMs(7.9), "7.90"},
		{fmtMs(14.25), "14.2"},
		{fmtMs(1300), "1,300"},
		{fmtMs(math.NaN()), missing},
		{fmtMs(math.Inf(-1)), missing},
		{fmtPct(0.16), "16.0%"},
		{fmtPct(math.Inf(1)), missing},
		{fmtCount(-1234567), "-1,234,567"},
		{fmtFixed(-0.0001, 1), "0.0"},
		{fmtFixed(math.NaN(), 1), missing},
		{fmtPct(0.0002), "<0.1%"},
		{withUnit(fmtMs(math.NaN()), "ms"), missing},
		{fmtSecs(1.84), "1.8"},
		{slug(2, "Hot Item/v2"), "scenario-2-hot-item-v2"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestTable(t *testing.T) {
	var buf bytes.Buffer
	Table(&buf, fixture())
	out := buf.String()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")

	if !strings.HasPrefix(strings.TrimSpace(lines[0]), "SCENARIO") {
		t.Errorf("first line is not the header: %q", lines[0])
	}
	for _, name := range []string{"baseline", "hot-item", "max"} {
		var row string
		for _, l := range lines[1:4] {
			if strings.HasPrefix(strings.TrimSpace(l), name+" ") {
				row = l
			}
		}
		if row == "" {
			t.Errorf("no row for %s in\n%s", name, out)
			continue
		}
		want := "PASS"
		if name == "hot-item" {
			want = "FAIL"
		}
		if !strings.Contains(row, " "+want+" ") {
			t.Errorf("%s row lacks %s: %q", name, want, row)
		}
	}
	for _, want := range []string{
		"\nhot-item: I1 no oversell: 3 orders accepted beyond stock of 1,000\n",
		"\nhot-item: threshold p99_ms < 10: got 14.2\n",
		"calibration: ceiling 48,210 req/s",
		"result: FAIL (2 of 3 scenarios passed)",
		"1,998", "16.0%", "30.0!",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "baseline: ") || strings.Contains(out, "max: ") {
		t.Errorf("a passing scenario has a failure line:\n%s", out)
	}
	for _, bad := range []string{"NaN", "Inf", missing} {
		if strings.Contains(out, bad) {
			t.Errorf("table contains %q:\n%s", bad, out)
		}
	}
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > 120 {
			t.Errorf("line is %d columns wide: %q", n, l)
		}
	}
	// Columns line up: every table row is as wide as the header.
	for _, l := range lines[1:4] {
		if len(l) != len(lines[0]) {
			t.Errorf("row width %d != header width %d:\n%s", len(l), len(lines[0]), out)
		}
	}

	buf.Reset()
	f := fixture()
	f.Calibration = nil
	Table(&buf, f)
	if !strings.Contains(buf.String(), "calibration: none") {
		t.Errorf("no calibration line without calibration:\n%s", buf.String())
	}
	buf.Reset()
	Table(&buf, nil)
	if buf.Len() == 0 {
		t.Error("Table(nil) wrote nothing")
	}
}

// A scenario with a checkout window shows its counts, its resold units,
// its expiry lateness, the I6 verdict and the units-by-state chart; one
// without shows none of it.
func TestHTMLCheckout(t *testing.T) {
	f := fixture()
	s := f.Scenarios[0]
	s.Name = "checkout"
	s.Checkout = &results.Checkout{HoldSeconds: 2, Seed: 99, Winners: 431, Paid: 200, Expired: 137, Cancelled: 94,
		PaidUnits: 200, ExpiredUnits: 137, CancelledUnits: 94, ResoldUnits: 231, Samples: 318,
		Planned:        map[string]int64{"pay": 216, "cancel": 86, "expire": 65, "late_pay": 64},
		Payments:       map[string]int64{"paid": 200, "order_expired": 80},
		Cancels:        map[string]int64{"cancelled": 94},
		ExpiryLateness: results.Latency{Count: 137, P50Ms: 104, P99Ms: 212.4, MaxMs: 230}}
	s.Invariants = append(s.Invariants, results.Invariant{ID: "I6", Name: "checkout window", Pass: true, Detail: "ok"})
	for i := range s.Timeline {
		s.Timeline[i].Ledger, s.Timeline[i].Remaining, s.Timeline[i].Held, s.Timeline[i].Paid = true, 0, 40, int64(160+i)
	}
	f.Scenarios = append(f.Scenarios, s)
	doc := render(t, f)
	for _, want := range []string{"Checkout window", "Resold units", "231", "212 ms", "Units by state", "late_pay", "order_expired", "seed (99)"} {
		if !strings.Contains(doc, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if n := strings.Count(doc, "<h3>Checkout window</h3>"); n != 1 {
		t.Errorf("%d checkout blocks, want 1 (only the scenario with a window)", n)
	}
}
