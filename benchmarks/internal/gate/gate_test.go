package gate

import (
	"maps"
	"testing"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// TestAddRepCPU: a gate scenario's cpu is the sum of its repetitions', so
// per request it is the mean over all their requests, not one run's.
func TestAddRepCPU(t *testing.T) {
	dst := &results.Scenario{Name: "gate-latency"}
	for _, c := range []*results.CPU{
		{Seconds: map[string]float64{"order-api": 0.2, "redis": 0.1}, Requests: 1000},
		nil, // a repetition that measured nothing adds nothing
		{Seconds: map[string]float64{"order-api": 0.6, "redis": 0.1}, Requests: 3000},
	} {
		addRep(dst, &results.Scenario{Load: results.Load{AchievedRPS: 100}, CPU: c}, 1000)
	}
	want := map[string]float64{"order-api": 200, "redis": 50}
	if dst.CPU == nil || dst.CPU.Requests != 4000 || !maps.Equal(dst.CPU.USPerRequest, want) {
		t.Errorf("got %+v, want us_per_request %v over 4000 requests", dst.CPU, want)
	}
}
