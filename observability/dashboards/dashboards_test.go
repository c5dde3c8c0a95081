package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/blitzbuy/blitzbuy/testkit/promtool"
)

// committedDir is where Grafana provisions the dashboards from (compose
// mounts it); relative to this package.
var committedDir = filepath.Join("..", "grafana", "dashboards")

// The JSON shape the tests read: only what they assert on.
type board struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID          int      `json:"id"`
	Type        string   `json:"type"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Datasource  *dsRef   `json:"datasource"`
	Targets     []target `json:"targets"`
	Panels      []panel  `json:"panels"` // a collapsed row's panels
}

type target struct {
	RefID      string `json:"refId"`
	Expr       string `json:"expr"`
	Exemplar   bool   `json:"exemplar"`
	Datasource *dsRef `json:"datasource"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// rendered returns what the generator writes now, decoded, by file name.
func rendered(t *testing.T) (map[string][]byte, map[string]board) {
	t.Helper()
	files, err := All()
	if err != nil {
		t.Fatalf("All() = %v", err)
	}
	boards := make(map[string]board, len(files))
	for name, b := range files {
		var d board
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		boards[name] = d
	}
	return files, boards
}

// visualisations lists a board's panels that draw data (rows excluded, a
// collapsed row's panels included).
func visualisations(d board) []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

func TestCommittedFilesAreCurrent(t *testing.T) {
	files, _ := rendered(t)
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(committedDir, name))
		if err != nil {
			t.Errorf("%s is not committed (%v): run `go tool task dashboards`", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the code renders (%s): run `go tool task dashboards` and commit the result", name, firstDiff(got, want))
		}
	}
	present, err := filepath.Glob(filepath.Join(committedDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range present {
		if _, ok := files[filepath.Base(path)]; !ok {
			t.Errorf("%s is rendered by no dashboard (Grafana would still provision it): run `go tool task dashboards`, which removes it", path)
		}
	}
}

// firstDiff names the first line where the committed file and the rendering
// part, so the failure says what changed.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d: committed %q, rendered %q", i+1, strings.TrimSpace(gl), strings.TrimSpace(wl))
		}
	}
	return "same lines, different bytes"
}

func TestUIDsAreStable(t *testing.T) {
	_, boards := rendered(t)
	tests := []struct {
		file, uid, title string
	}{
		{"blitzbuy-overview.json", "blitzbuy-overview", "Flash sale overview"},
		{"blitzbuy-pipeline.json", "blitzbuy-pipeline", "Order pipeline"},
	}
	if len(boards) != len(tests) {
		t.Errorf("got %d dashboards, want %d: a new dashboard needs its uid pinned here", len(boards), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			d, ok := boards[tc.file]
			if !ok {
				t.Fatalf("no dashboard renders %s", tc.file)
			}
			if d.UID != tc.uid {
				t.Errorf("uid: got %q, want %q (links and bookmarks use it)", d.UID, tc.uid)
			}
			if d.Title != tc.title {
				t.Errorf("title: got %q, want %q", d.Title, tc.title)
			}
		})
	}
}

func TestEveryPanelQueriesPrometheusAndSaysWhatItMeans(t *testing.T) {
	_, boards := rendered(t)
	for name, d := range boards {
		ids := map[int]bool{}
		for _, p := range d.Panels {
			if ids[p.ID] {
				t.Errorf("%s: panel id %d used twice", name, p.ID)
			}
			ids[p.ID] = true
		}
		for _, p := range visualisations(d) {
			where := fmt.Sprintf("%s / %q", name, p.Title)
			if p.Title == "" {
				t.Errorf("%s: panel %d has no title", name, p.ID)
			}
			if len(strings.TrimSpace(p.Description)) < 40 {
				t.Errorf("%s: description %q does not say what the panel means", where, p.Description)
			}
			if p.Datasource == nil || p.Datasource.UID != PrometheusUID || p.Datasource.Type != "prometheus" {
				t.Errorf("%s: panel datasource = %+v, want uid %q type prometheus", where, p.Datasource, PrometheusUID)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			refs := map[string]bool{}
			for _, q := range p.Targets {
				if q.Datasource == nil || q.Datasource.UID != PrometheusUID {
					t.Errorf("%s: query %s datasource = %+v, want uid %q", where, q.RefID, q.Datasource, PrometheusUID)
				}
				if q.RefID == "" || refs[q.RefID] {
					t.Errorf("%s: refId %q empty or repeated", where, q.RefID)
				}
				refs[q.RefID] = true
				if strings.TrimSpace(q.Expr) == "" {
					t.Errorf("%s: query %s has no expression", where, q.RefID)
				}
			}
		}
	}
}

func TestQueriesUseKnownMetrics(t *testing.T) {
	_, boards := rendered(t)
	known := KnownMetrics()
	used := map[string]bool{}
	for name, d := range boards {
		for _, p := range visualisations(d) {
			for _, q := range p.Targets {
				names, err := metricNames(q.Expr)
				if err != nil {
					t.Errorf("%s / %q: %v", name, p.Title, err)
					continue
				}
				if len(names) == 0 {
					t.Errorf("%s / %q: %s selects no metric", name, p.Title, q.Expr)
				}
				for _, m := range names {
					used[m] = true
					if !slices.Contains(known, m) {
						t.Errorf("%s / %q: %s is not in KnownMetrics (renamed or misspelt?)", name, p.Title, m)
					}
				}
			}
		}
	}
	// The converse keeps the list honest: a name no panel shows is either a
	// missing panel or a dead entry.
	for _, m := range known {
		if !used[m] {
			t.Errorf("KnownMetrics lists %s but no panel queries it", m)
		}
	}
}

// exemplarHistograms carry trace ids on their observations (see
// services/internal/telemetry.ObserveWithTrace); their latency panels must
// ask Grafana for the exemplars, or the link to Jaeger is lost.
var exemplarHistograms = []string{
	"blitzbuy_http_request_duration_seconds_bucket",
	"blitzbuy_publish_duration_seconds_bucket",
}

func TestLatencyPanelsShowExemplars(t *testing.T) {
	_, boards := rendered(t)
	found := 0
	for name, d := range boards {
		for _, p := range visualisations(d) {
			uses, asks := false, false
			for _, q := range p.Targets {
				names, _ := metricNames(q.Expr)
				for _, h := range exemplarHistograms {
					uses = uses || slices.Contains(names, h)
				}
				asks = asks || q.Exemplar
			}
			if uses {
				found++
				if !asks {
					t.Errorf("%s / %q queries a histogram with trace exemplars but no query has exemplar: true", name, p.Title)
				}
			}
		}
	}
	if found == 0 {
		t.Error("no panel queries a histogram with exemplars")
	}
}

// TestQueriesParse hands every dashboard expression to promtool (the PromQL
// parser of the Prometheus the stack runs), as recording rules, so a syntax
// error fails here rather than as an empty panel during a sale.
func TestQueriesParse(t *testing.T) {
	tool := promtool.Path(t)
	_, boards := rendered(t)
	// Grafana's range variables, with values of the right kind for the parser.
	vars := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$__range", "1h")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboards\n    rules:\n")
	n := 0
	for _, name := range sortedKeys(boards) {
		for _, p := range visualisations(boards[name]) {
			for _, q := range p.Targets {
				n++
				expr, _ := json.Marshal(vars.Replace(q.Expr)) // a JSON string is a YAML string
				fmt.Fprintf(&rules, "      - record: dashboard_query_%d # %s / %s %s\n        expr: %s\n", n, name, p.Title, q.RefID, expr)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "dashboards.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules on the dashboard queries: %v\n%s\nqueries:\n%s", err, out, rules.String())
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		name, expr string
		want       []string
	}{
		{"bare selector", "go_goroutines", []string{"go_goroutines"}},
		{"matchers and range", `rate(process_cpu_seconds_total{job=~"order-api|order-writer"}[1m])`, []string{"process_cpu_seconds_total"}},
		{"grouping labels are not metrics", `histogram_quantile(0.99, sum by (le, source) (rate(x_bucket[5m])))`, []string{"x_bucket"}},
		{"braces inside a label value", `sum(rate(http_total{route="/v1/sales/{saleID}/orders",code_class="5xx"}[1m]))`, []string{"http_total"}},
		{"functions and numbers", `1 - (sum(increase(a_total[$__range])) or vector(0)) / clamp_min(sum(b_total), 1) / 1e-3`, []string{"a_total", "b_total"}},
		{"vector matching", `a / on (partition) group_left (sale) b unless ignoring(x) c offset 5m`, []string{"a", "b", "c"}},
		{"without and keywords", `max without (instance) (blitzbuy_outbox_pending) > bool 100 and d`, []string{"blitzbuy_outbox_pending", "d"}},
		{"repeated name once", `x / x`, []string{"x"}},
		{"colons in recording rule names", `job:rate5m:sum > 1`, []string{"job:rate5m:sum"}},
		{"no metric", `vector(0)`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := metricNames(tc.expr)
			if err != nil {
				t.Fatalf("metricNames(%q) = %v", tc.expr, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
	for _, bad := range []string{`x{a="b"`, `rate(x[1m]`, `x{__name__="y"}`, `"unterminated`} {
		if got, err := metricNames(bad); err == nil {
			t.Errorf("metricNames(%q) = %q, want an error", bad, got)
		}
	}
}

// PromQL words that are not metric names where they stand (function names
// are recognised by the parenthesis that follows them).
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "atan2": true, "bool": true, "offset": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"inf": true, "nan": true, "start": true, "end": true,
}

// Keywords followed by a parenthesised list of label names.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// metricNames returns the metric names an expression selects, in order of
// first use. It is a lexer, not a parser (TestQueriesParse leaves syntax to
// promtool): it skips strings, label matchers, ranges, label lists, numbers,
// durations, Grafana variables and keywords, and reads an identifier that is
// not followed by "(" as a metric name.
func metricNames(expr string) ([]string, error) {
	var names []string
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	skipSpace := func(i int) int {
		for i < len(expr) && strings.ContainsRune(" \t\r\n", rune(expr[i])) {
			i++
		}
		return i
	}
	// skipString returns the index after the closing quote of the string at i.
	skipString := func(i int) (int, error) {
		quote := expr[i]
		for j := i + 1; j < len(expr); j++ {
			switch {
			case expr[j] == '\\' && quote != '`':
				j++
			case expr[j] == quote:
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated string at %d in %q", i, expr)
	}
	// skipTo returns the index after the close that matches expr[i]'s open,
	// skipping strings in between.
	skipTo := func(i int, close byte) (string, int, error) {
		j := i + 1
		for j < len(expr) {
			switch c := expr[j]; {
			case c == '"' || c == '\'' || c == '`':
				k, err := skipString(j)
				if err != nil {
					return "", 0, err
				}
				j = k
			case c == close:
				return expr[i+1 : j], j + 1, nil
			default:
				j++
			}
		}
		return "", 0, fmt.Errorf("unclosed %q at %d in %q", expr[i], i, expr)
	}
	depth := 0
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j, err := skipString(i)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '{':
			inside, j, err := skipTo(i, '}')
			if err != nil {
				return nil, err
			}
			if strings.Contains(inside, "__name__") {
				return nil, fmt.Errorf("%q: select metrics by name, not with a __name__ matcher", expr)
			}
			i = j
		case c == '[':
			_, j, err := skipTo(i, ']')
			if err != nil {
				return nil, err
			}
			i = j
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '$': // a Grafana variable
			i++
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			// Numbers, durations (5m), exponents with a sign (1e-3).
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.' ||
				(expr[i] == '-' || expr[i] == '+') && (expr[i-1] == 'e' || expr[i-1] == 'E')) {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			word := expr[i:j]
			next := skipSpace(j)
			lower := strings.ToLower(word)
			switch {
			case labelListKeywords[lower]:
				if next < len(expr) && expr[next] == '(' {
					_, k, err := skipTo(next, ')')
					if err != nil {
						return nil, err
					}
					j = k
				}
			case promqlKeywords[lower]:
			case next < len(expr) && expr[next] == '(': // a function call
			default:
				if !slices.Contains(names, word) {
					names = append(names, word)
				}
			}
			i = j
		case c == '(':
			depth++
			i++
		case c == ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced ')' at %d in %q", i, expr)
			}
			i++
		default:
			i++
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced parentheses in %q", expr)
	}
	return names, nil
}

// consolesDir is where Prometheus serves the console pages from
// (--web.console.templates in infra/local/stack.sh and compose).
var consolesDir = filepath.Join("..", "prometheus", "consoles")

func TestCommittedConsolesAreCurrent(t *testing.T) {
	pages, err := Consoles()
	if err != nil {
		t.Fatalf("Consoles() = %v", err)
	}
	for name, want := range pages {
		got, err := os.ReadFile(filepath.Join(consolesDir, name))
		if err != nil {
			t.Errorf("%s is not committed (%v): run `go tool task dashboards`", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the dashboards render (%s): run `go tool task dashboards` and commit the result", name, firstDiff(got, want))
		}
	}
	present, err := filepath.Glob(filepath.Join(consolesDir, "*.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range present {
		if _, ok := pages[filepath.Base(path)]; !ok {
			t.Errorf("%s is rendered by no dashboard (Prometheus would still serve it): run `go tool task dashboards`, which removes it", path)
		}
	}
}

// TestConsolesCarryEveryPanel: each console page has one panel per Grafana
// panel, with every query of that panel, and is a template Prometheus can
// parse together with the console library (html/template, with stand-ins
// for Prometheus' own template functions).
func TestConsolesCarryEveryPanel(t *testing.T) {
	_, boards := rendered(t)
	pages, err := Consoles()
	if err != nil {
		t.Fatal(err)
	}
	lib, err := os.ReadFile(filepath.Join("..", "prometheus", "console_libraries", "blitzbuy.lib"))
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range boards {
		page := strings.TrimSuffix(name, ".json") + ".html"
		b, ok := pages[page]
		if !ok {
			t.Errorf("%s has no console page %s", name, page)
			continue
		}
		html := string(b)
		panels := visualisations(d)
		if got := strings.Count(html, `blitzbuy-panel"`); got != len(panels) {
			t.Errorf("%s: got %d panels, want %d as in %s", page, got, len(panels), name)
		}
		for _, p := range panels {
			if !strings.Contains(html, ">"+template.HTMLEscapeString(p.Title)+"</h5>") {
				t.Errorf("%s: no panel titled %q", page, p.Title)
			}
			for _, q := range p.Targets {
				expr := strings.ReplaceAll(q.Expr, "$__range", "30m")
				if !strings.Contains(html, strconv.Quote(expr)) {
					t.Errorf("%s / %q: query %s missing: %s", page, p.Title, q.RefID, expr)
				}
			}
		}
	}
	funcs := template.FuncMap{
		"args": func(a ...any) map[string]any {
			m := map[string]any{}
			for i, v := range a {
				m[fmt.Sprintf("arg%d", i)] = v
			}
			return m
		},
		"pathPrefix":         func() string { return "" },
		"graphLink":          func(string) string { return "/graph" },
		"query":              func(string) ([]any, error) { return nil, nil },
		"sortByLabel":        func(string, []any) []any { return nil },
		"humanize":           func(float64) string { return "" },
		"humanize1024":       func(float64) string { return "" },
		"humanizeDuration":   func(float64) string { return "" },
		"humanizePercentage": func(float64) string { return "" },
	}
	for name, b := range pages {
		tmpl, err := template.New(name).Funcs(funcs).Parse(string(lib) + string(b))
		if err != nil {
			t.Errorf("%s does not parse with blitzbuy.lib: %v", name, err)
			continue
		}
		var out bytes.Buffer
		if err := tmpl.Execute(&out, map[string]any{}); err != nil {
			t.Errorf("%s does not execute with blitzbuy.lib: %v", name, err)
		}
	}
}
