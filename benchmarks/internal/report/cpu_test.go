package report

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/cpu"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// TestTableCPU: under the scenario table, one row per scenario of µs per
// request by process, every process named as in results.json; a process or
// a scenario not measured shows "-", and a file without cpu has no such
// table at all.
// measured is what the fixture measured: every process of the default
// profile, which has no load balancer.
var measured = slices.DeleteFunc(slices.Clone(cpu.Names), func(n string) bool { return n == cpu.LoadBalancer })

func TestTableCPU(t *testing.T) {
	var buf bytes.Buffer
	Table(&buf, fixture())
	lines := strings.Split(buf.String(), "\n")
	h := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), cpuHeader) })
	if h < 0 || h+3 >= len(lines) {
		t.Fatalf("no CPU table:\n%s", buf.String())
	}
	if got, want := strings.Fields(lines[h])[2:], append(slices.Clone(measured), "total"); !slices.Equal(got, want) {
		t.Errorf("CPU header = %q, want %q", got, want)
	}
	tests := []struct {
		name string
		want []string // by cpu.Names, then the total
	}{
		{"baseline", []string{"41.2", "3.10", "12.0", "8.80", "2.05", "0.50", "0.10", "15.3", "83.0"}},
		{"hot-item", []string{"57.2", "9.40", "19.9", "31.7", "-", "-", "-", "22.0", "140"}},
		{"max", []string{"-", "-", "-", "-", "-", "-", "-", "-", "-"}},
	}
	for i, tt := range tests {
		row := strings.Fields(lines[h+1+i])
		if row[0] != tt.name || !slices.Equal(row[1:], tt.want) {
			t.Errorf("CPU row %d = %q, want %q", i, row, append([]string{tt.name}, tt.want...))
		}
		if len(lines[h+1+i]) != len(lines[h]) {
			t.Errorf("CPU row width %d != header width %d:\n%s", len(lines[h+1+i]), len(lines[h]), buf.String())
		}
	}

	buf.Reset()
	f := fixture()
	for i := range f.Scenarios {
		f.Scenarios[i].CPU = nil
	}
	Table(&buf, f)
	if strings.Contains(buf.String(), cpuHeader) {
		t.Errorf("a CPU table for a file without cpu:\n%s", buf.String())
	}
}

// TestHTMLCPU: a "Where the CPU goes" section with one stacked bar per
// scenario (a segment per measured process, coloured and named), the
// numbers in a table, and a CPU line in each measured scenario's section.
func TestHTMLCPU(t *testing.T) {
	f := fixture()
	root := parse(t, render(t, f))
	var sec *html.Node
	walk(root, func(n *html.Node) {
		if id, _ := attr(n, "id"); n.Type == html.ElementNode && n.Data == "section" && id == "cpu" {
			sec = n
		}
	})
	if sec == nil {
		t.Fatal("no cpu section")
	}
	// Segments: 8 processes for baseline, 5 for hot-item (postgres NaN,
	// jaeger and prometheus absent), none for max.
	var segs []string
	walk(sec, func(n *html.Node) {
		if p, ok := attr(n, "data-process"); ok && n.Data == "rect" {
			segs = append(segs, p)
		}
	})
	want := append(slices.Clone(measured), cpu.OrderAPI, cpu.OrderWriter, cpu.Redis, cpu.Kafka, cpu.Generator)
	if !slices.Equal(segs, want) {
		t.Errorf("bar segments = %q, want %q", segs, want)
	}
	st := text(sec)
	for _, want := range append(slices.Clone(measured), "83.0 µs", "140 µs", "41.2", "15.3", "total") {
		if !strings.Contains(st, want) {
			t.Errorf("cpu section lacks %q", want)
		}
	}
	if rows := count(sec, "tr"); rows != 1+len(f.Scenarios) {
		t.Errorf("cpu table has %d rows, want %d", rows, 1+len(f.Scenarios))
	}
	if bt := text(scenarioSection(t, root, "baseline")); !strings.Contains(bt, "83.0 µs per request answered · 1,000,000 answered") {
		t.Errorf("baseline section lacks its CPU line:\n%s", bt)
	}
	if mt := text(scenarioSection(t, root, "max")); strings.Contains(mt, "per request answered") {
		t.Error("max (no cpu) has a CPU line")
	}

	for i := range f.Scenarios {
		f.Scenarios[i].CPU = nil
	}
	if doc := render(t, f); strings.Contains(doc, `id="cpu"`) {
		t.Error("a cpu section for a file without cpu")
	}
	f.Scenarios[0].CPU = &results.CPU{USPerRequest: map[string]float64{}}
	if got := cpuChart(f, []string{cpu.OrderAPI}); !strings.Contains(string(got), "no data") {
		t.Errorf("chart of nothing measured = %.80s, want a no-data note", got)
	}
}
