package main

import (
	"maps"
	"slices"
	"testing"
)

// The demo shows a trace of an accepted order the API sampled: only those
// can be in Jaeger.
func TestTallyKeepsSampledAcceptedTraces(t *testing.T) {
	const sampled, unsampled = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
	got := tallyBuyers([]buyerResult{
		{status: 202, trace: "00-" + sampled + "-00f067aa0ba902b7-01"},
		{status: 202, trace: "00-" + unsampled + "-00f067aa0ba902b7-00"},
		{status: 409, code: "sold_out"},
		{status: 202, trace: "garbage"},
	})
	if keys := slices.Collect(maps.Keys(got.traces)); !slices.Equal(keys, []string{sampled}) {
		t.Errorf("traces = %v, want [%s]", keys, sampled)
	}
	if got.accepted() != 3 {
		t.Errorf("accepted = %d, want 3", got.accepted())
	}
}
