//go:build loadtest || faults

package main

import (
	"strings"
	"testing"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/verify"
)

// Helpers of the tests that drive the real blitzbench binary against real
// services (verifier_test.go, faults_test.go).

func has(m map[string]float64, k string) bool { _, ok := m[k]; return ok }

// verifyConfig is a verify.Config for the stack's settings.
func verifyConfig(stack map[string]string) verify.Config {
	return verify.Config{PostgresURL: stack["BLITZBUY_POSTGRES_URL"], RedisAddr: stack["BLITZBUY_REDIS_ADDR"],
		Brokers: strings.Split(stack["BLITZBUY_KAFKA_BROKERS"], ","), Group: "order-writer", Topic: "orders"}
}

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
