package cpu

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// TestMeter measures a stack of one live process (order-api, a parent whose
// child burns CPU during the span) beside pid files that are missing, stale
// or broken: those are absent from the result, each said once.
func TestMeter(t *testing.T) {
	dir := t.TempDir()

	api, in, out := start(t, "parent-live")
	writePID(t, dir, "orderapi.pid", api)

	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	writePID(t, dir, "kafka.pid", dead.Process.Pid) // exited and reaped
	if err := os.WriteFile(filepath.Join(dir, "postgres.pid"), []byte("not a pid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// redis.pid, orderwriter.pid, jaeger.pid, prometheus.pid: missing.

	var warnings []string
	m := NewMeter(dir, func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) })
	sp := m.Start()
	if _, err := io.WriteString(in, "go\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := out.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	secs := sp.Stop()

	if got, want := slices.Sorted(maps.Keys(secs)), []string{Generator, OrderAPI}; !slices.Equal(got, want) {
		t.Errorf("measured %v, want %v", got, want)
	}
	if got := secs[OrderAPI]; got < burnFor.Seconds()-0.02 || got > 5*burnFor.Seconds() {
		t.Errorf("order-api used %.2f s, want about %.2f s (its child's burn)", got, burnFor.Seconds())
	}
	for _, name := range []string{Kafka, Postgres, Redis, OrderWriter, Jaeger, Prometheus} {
		n := 0
		for _, w := range warnings {
			if strings.Contains(w, "CPU of "+name+" not measured") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d warnings about %s, want 1:\n%s", n, name, strings.Join(warnings, "\n"))
		}
	}

	// A second scenario says nothing new.
	before := len(warnings)
	m.Start().Stop()
	if len(warnings) != before {
		t.Errorf("second span warned again: %v", warnings[before:])
	}
}

func TestReport(t *testing.T) {
	tests := []struct {
		name     string
		secs     map[string]float64
		answered int64
		want     *results.CPU
	}{
		{"per request", map[string]float64{OrderAPI: 1.5, Redis: 0.25, Postgres: 0.0123456}, 10_000,
			&results.CPU{Requests: 10_000,
				Seconds:      map[string]float64{OrderAPI: 1.5, Redis: 0.25, Postgres: 0.012},
				USPerRequest: map[string]float64{OrderAPI: 150, Redis: 25, Postgres: 1.2}}},
		{"nothing answered", map[string]float64{OrderAPI: 0.5}, 0,
			&results.CPU{Seconds: map[string]float64{OrderAPI: 0.5}, USPerRequest: map[string]float64{}}},
		{"nothing measured", nil, 5,
			&results.CPU{Requests: 5, Seconds: map[string]float64{}, USPerRequest: map[string]float64{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Report(tt.secs, tt.answered); !equalCPU(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAdd(t *testing.T) {
	a := Report(map[string]float64{OrderAPI: 1, Redis: 0.5, Kafka: 2}, 1000)
	b := Report(map[string]float64{OrderAPI: 3, Redis: 0.5}, 3000) // kafka not measured
	want := &results.CPU{Requests: 4000,
		Seconds:      map[string]float64{OrderAPI: 4, Redis: 1},
		USPerRequest: map[string]float64{OrderAPI: 1000, Redis: 250}}
	if got := Add(Add(nil, a), b); !equalCPU(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := Add(a, nil); got != a {
		t.Errorf("Add(a, nil) = %+v, want a", got)
	}
}

func equalCPU(a, b *results.CPU) bool {
	return a.Requests == b.Requests && maps.Equal(a.Seconds, b.Seconds) && maps.Equal(a.USPerRequest, b.USPerRequest)
}

// The cluster profile's instances of one process (orderapi-1, orderapi-2)
// count as one: their times add up.
func TestMeterSumsInstances(t *testing.T) {
	dir := t.TempDir()
	a, inA, outA := start(t, "parent-live")
	b, inB, outB := start(t, "parent-live")
	writePID(t, dir, "orderapi-1.pid", a)
	writePID(t, dir, "orderapi-2.pid", b)
	sp := NewMeter(dir, nil).Start()
	for _, p := range []struct {
		in  io.Writer
		out *bufio.Reader
	}{{inA, outA}, {inB, outB}} {
		if _, err := io.WriteString(p.in, "go\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.out.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	secs := sp.Stop()
	if got := secs[OrderAPI]; got < 2*burnFor.Seconds()-0.04 || got > 10*burnFor.Seconds() {
		t.Errorf("two order-api instances used %.2f s, want about %.2f s (both children's burns)", got, 2*burnFor.Seconds())
	}
}
