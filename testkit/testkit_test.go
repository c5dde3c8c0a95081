package testkit_test

import (
	"encoding/hex"
	"testing"

	"github.com/blitzbuy/blitzbuy/testkit"
)

func TestRandHex(t *testing.T) {
	for _, n := range []int{0, 1, 4, 32} {
		got := testkit.RandHex(n)
		if len(got) != 2*n {
			t.Errorf("RandHex(%d) = %q: %d characters, want %d", n, got, len(got), 2*n)
		}
		if _, err := hex.DecodeString(got); err != nil {
			t.Errorf("RandHex(%d) = %q is not hex: %v", n, got, err)
		}
	}
	seen := map[string]bool{}
	for range 1000 {
		id := testkit.RandHex(8)
		if seen[id] {
			t.Fatalf("RandHex(8) returned %q twice in 1000 calls", id)
		}
		seen[id] = true
	}
}
