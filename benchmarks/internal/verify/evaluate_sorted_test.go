package verify

import (
	"slices"
	"testing"
)

func TestEvaluateDuplicateRowsSorted(t *testing.T) {
	for range 50 {
		f := newFixture(5, 3)
		f.accept("u1", "k1", "s.01")
		f.row("s.02", "u1", "k1", "confirmed").row("s.03", "u1", "k1", "confirmed")
		f.remaining -= 2
		inv := f.evaluate()["I3"]
		if want := "user u1 key k1: 3 rows [s.01 s.02 s.03]"; !slices.Contains(inv.Offending, want) {
			t.Fatalf("I3 offending = %q, want %q", inv.Offending, want)
		}
	}
}
