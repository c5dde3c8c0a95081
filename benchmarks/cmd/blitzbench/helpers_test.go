//go:build loadtest || faults

package main

import (
	"testing"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// Helpers of the tests that drive the real blitzbench binary against real
// services (verifier_test.go, faults_test.go).

func invariant(t *testing.T, f *results.File, id string) results.Invariant {
	t.Helper()
	if len(f.Scenarios) != 1 {
		t.Fatalf("%d scenarios in results.json, want 1", len(f.Scenarios))
	}
	for _, inv := range f.Scenarios[0].Invariants {
		if inv.ID == id {
			return inv
		}
	}
	t.Fatalf("no %s in results.json: %+v", id, f.Scenarios[0].Invariants)
	return results.Invariant{}
}
