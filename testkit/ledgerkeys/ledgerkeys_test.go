package ledgerkeys_test

import (
	"path"
	"strings"
	"testing"

	"github.com/blitzbuy/blitzbuy/testkit/ledgerkeys"
)

// The literal names: what reserve.lua's header documents and what a Redis
// holding real sales contains.
func TestKeys(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"sale", ledgerkeys.Sale("s1"), "{sale:s1}"},
		{"users", ledgerkeys.Users("s1"), "{sale:s1}:users"},
		{"pending", ledgerkeys.Pending("s1"), "{sale:s1}:pending"},
		{"order", ledgerkeys.Order("s1", "s1.0190a1b2-c3d4"), "{sale:s1}:order:s1.0190a1b2-c3d4"},
		// sha256("alice\x00k1")[:20], computed independently with
		// printf 'alice\0k1' | sha256sum | cut -c1-40
		{"idem", ledgerkeys.Idem("s1", "alice", "k1"), "{sale:s1}:idem:" + "aa88580323c78c7b2ec8dc5b9259a664f0c8eaa7"},
		{"rate limit", ledgerkeys.RateLimit("s1", "alice"), "{sale:s1}:rl:alice"},
		{"holds", ledgerkeys.Holds("s1"), "{sale:s1}:holds"},
		{"ended", ledgerkeys.Ended("s1"), "{sale:s1}:ended"},
		{"payment idem", ledgerkeys.PayIdem("s1", "alice", "k1"), "{sale:s1}:payidem:" + "aa88580323c78c7b2ec8dc5b9259a664f0c8eaa7"},
		{"pattern", ledgerkeys.Pattern("s1"), "{sale:s1}*"},
		{"sales index", ledgerkeys.SalesIndex, "blitzbuy:sales"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

// The user id and key are separated, not concatenated: ("ab", "c") and
// ("a", "bc") are different pairs and must get different records.
func TestIdemSeparatesUserAndKey(t *testing.T) {
	if a, b := ledgerkeys.Idem("s", "ab", "c"), ledgerkeys.Idem("s", "a", "bc"); a == b {
		t.Errorf("got the same key %q for (ab, c) and (a, bc), want different keys", a)
	}
	if a, b := ledgerkeys.Idem("s", "u", "k"), ledgerkeys.Idem("t", "u", "k"); a == b {
		t.Errorf("got the same key %q in two sales, want different keys", a)
	}
}

// Every key of a sale hashes to the sale's slot (its hash tag is exactly
// "sale:<id>") and matches the sale's SCAN pattern, and no key of another
// sale whose id extends this one's does.
func TestOneSlotOnePattern(t *testing.T) {
	const sale = "s1"
	keys := []string{ledgerkeys.Sale(sale), ledgerkeys.Users(sale), ledgerkeys.Pending(sale),
		ledgerkeys.Order(sale, "s1.x"), ledgerkeys.Idem(sale, "u", "k"),
		ledgerkeys.Holds(sale), ledgerkeys.Ended(sale), ledgerkeys.PayIdem(sale, "u", "k")}
	for _, k := range keys {
		if got := hashTag(k); got != "sale:"+sale {
			t.Errorf("%s: hash tag %q, want %q", k, got, "sale:"+sale)
		}
		if ok, _ := path.Match(ledgerkeys.Pattern(sale), k); !ok {
			t.Errorf("%s does not match the sale's pattern %s", k, ledgerkeys.Pattern(sale))
		}
	}
	for _, other := range []string{ledgerkeys.Sale("s10"), ledgerkeys.Users("s10"), ledgerkeys.Order("s10", "s1")} {
		if ok, _ := path.Match(ledgerkeys.Pattern(sale), other); ok {
			t.Errorf("%s (sale s10) matches sale s1's pattern %s", other, ledgerkeys.Pattern(sale))
		}
	}
}

// hashTag is the part of a key Redis Cluster hashes: between the first '{'
// and the next '}', when that is not empty.
func hashTag(key string) string {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return key
	}
	j := strings.IndexByte(key[i+1:], '}')
	if j <= 0 {
		return key
	}
	return key[i+1 : i+1+j]
}
