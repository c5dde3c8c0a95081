package results

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestReadWriteCPU round-trips a file with and without the cpu object, and
// reads a file written before cpu existed: old results and baselines must
// keep loading (and comparing).
func TestReadWriteCPU(t *testing.T) {
	withCPU := &CPU{
		USPerRequest: map[string]float64{"order-api": 41.5, "redis": 12.25, "postgres": 3},
		Seconds:      map[string]float64{"order-api": 0.83, "redis": 0.245, "postgres": 0.06},
		Requests:     20_000,
	}
	tests := []struct {
		name    string
		cpu     *CPU
		wantKey bool
	}{
		{"with cpu", withCPU, true},
		{"without cpu", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &File{Schema: SchemaVersion, Tool: "blitzbench", Scenarios: []Scenario{{Name: "hot-item", CPU: tt.cpu}}}
			path := filepath.Join(t.TempDir(), "results.json")
			if err := Write(path, f); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(raw), `"cpu"`); got != tt.wantKey {
				t.Errorf(`"cpu" in the file = %v, want %v:\n%s`, got, tt.wantKey, raw)
			}
			if tt.wantKey && !strings.Contains(string(raw), `"us_per_request": {`) {
				t.Errorf("no us_per_request object:\n%s", raw)
			}
			got, err := Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Scenarios[0].CPU, tt.cpu) {
				t.Errorf("got %+v, want %+v", got.Scenarios[0].CPU, tt.cpu)
			}
		})
	}

	t.Run("file from before cpu", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "old.json")
		old := `{"schema": 1, "tool": "blitzbench", "scenarios": [{"name": "gate-latency", "latency": {"p50_ms": 1.5}}]}`
		if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
		base, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if base.Scenarios[0].CPU != nil {
			t.Errorf("cpu = %+v, want nil", base.Scenarios[0].CPU)
		}
		cur := &File{Schema: SchemaVersion, Scenarios: []Scenario{{Name: "gate-latency", Latency: Latency{P50Ms: 1.5}, CPU: withCPU}}}
		ds, err := Compare(base, cur, Tolerance{Default: 0.1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Regressed {
				t.Errorf("%s regressed against a file without cpu: %+v", d.Metric, d)
			}
		}
	})
}
