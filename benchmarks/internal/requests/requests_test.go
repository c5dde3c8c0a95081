package requests

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/scenarios"
)

// fakeSign stands in for the JWT signer: the token is the user's name.
func fakeSign(u string) ([]byte, error) { return []byte("Bearer " + u), nil }

func TestHonestRequests(t *testing.T) {
	tests := []struct {
		name     string
		n, qty   int
		wantBody string
	}{
		{"one unit", 100, 1, `{"quantity":1}`},
		{"two units", 50, 2, `{"quantity":2}`},
		{"single", 1, 3, `{"quantity":3}`},
		{"none", 0, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs, err := Honest(fakeSign, "p", tt.n, tt.qty)
			if err != nil {
				t.Fatalf("Honest: %v", err)
			}
			if len(reqs) != tt.n {
				t.Fatalf("len = %d, want %d", len(reqs), tt.n)
			}
			users, keys := map[string]bool{}, map[string]bool{}
			for i, r := range reqs {
				users[r.User] = true
				keys[r.Key] = true
				if string(r.Body) != tt.wantBody {
					t.Errorf("req %d body = %s, want %s", i, r.Body, tt.wantBody)
				}
				if r.Qty != tt.qty {
					t.Errorf("req %d qty = %d, want %d", i, r.Qty, tt.qty)
				}
				if want := "Bearer " + r.User; string(r.Auth) != want {
					t.Errorf("req %d auth = %q, want %q (signed for its own user)", i, r.Auth, want)
				}
				if !strings.HasPrefix(r.User, "p-") || !strings.HasPrefix(r.Key, "p-") {
					t.Errorf("req %d user %q key %q, want both prefixed p-", i, r.User, r.Key)
				}
			}
			if len(users) != tt.n || len(keys) != tt.n {
				t.Errorf("%d distinct users, %d distinct keys, want %d each", len(users), len(keys), tt.n)
			}
		})
	}
}

func TestHonestRequestsPrefixesDiffer(t *testing.T) {
	a, _ := Honest(fakeSign, "sale-a", 3, 1)
	b, _ := Honest(fakeSign, "sale-b", 3, 1)
	for i := range a {
		if a[i].User == b[i].User || a[i].Key == b[i].Key {
			t.Errorf("req %d: prefixes sale-a and sale-b give the same user %q or key %q", i, a[i].User, a[i].Key)
		}
	}
}

func TestRequestsSignerError(t *testing.T) {
	boom := errors.New("boom")
	failing := func(string) ([]byte, error) { return nil, boom }
	tests := []struct {
		name string
		gen  func() ([]load.Request, error)
	}{
		{"honest", func() ([]load.Request, error) { return Honest(failing, "p", 3, 1) }},
		{"mixed", func() ([]load.Request, error) { return Mixed(failing, "p", 3, scenarios.Traffic{Quantity: 1}, 1, 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs, err := tt.gen()
			if !errors.Is(err, boom) {
				t.Errorf("err = %v, want the signer's error", err)
			}
			if reqs != nil {
				t.Errorf("reqs = %d requests, want nil", len(reqs))
			}
		})
	}
}

var abuseMix = scenarios.Traffic{Quantity: 1, RetrySameKey: 0.15, OverLimit: 0.15, RateBurst: 0.10}

const (
	abuseLimit = 2
	abuseN     = 20000
)

type pair struct{ user, key string }

// layout describes a request list: per user, the requests in order and the
// distinct keys; per (user, key), the first index.
type layout struct {
	byUser  map[string][]int
	keys    map[string]map[string]bool
	first   map[pair]int
	repeats int // requests repeating an earlier (user, key)
}

func describe(reqs []load.Request) layout {
	l := layout{byUser: map[string][]int{}, keys: map[string]map[string]bool{}, first: map[pair]int{}}
	for i, r := range reqs {
		l.byUser[r.User] = append(l.byUser[r.User], i)
		if l.keys[r.User] == nil {
			l.keys[r.User] = map[string]bool{}
		}
		l.keys[r.User][r.Key] = true
		p := pair{r.User, r.Key}
		if _, ok := l.first[p]; ok {
			l.repeats++
		} else {
			l.first[p] = i
		}
	}
	return l
}

func TestMixedRequestsAbuse(t *testing.T) {
	reqs, err := Mixed(fakeSign, "s", abuseN, abuseMix, abuseLimit, 1)
	if err != nil {
		t.Fatalf("Mixed: %v", err)
	}
	if len(reqs) != abuseN {
		t.Fatalf("len = %d, want %d", len(reqs), abuseN)
	}
	l := describe(reqs)

	t.Run("retries", func(t *testing.T) {
		if share := float64(l.repeats) / abuseN; share < 0.10 {
			t.Errorf("%d repeats of an earlier (user, key) = %.3f of the requests, want >= 0.10", l.repeats, share)
		}
		seen := map[pair]bool{}
		for i, r := range reqs {
			p := pair{r.User, r.Key}
			if seen[p] {
				orig := reqs[l.first[p]]
				if l.first[p] >= i {
					t.Fatalf("repeat %d precedes its original %d", i, l.first[p])
				}
				if !bytes.Equal(orig.Body, r.Body) || !bytes.Equal(orig.Auth, r.Auth) || orig.Qty != r.Qty {
					t.Fatalf("repeat %d differs from its original %d: %+v vs %+v", i, l.first[p], r, orig)
				}
			}
			seen[p] = true
		}
	})

	t.Run("actor kinds", func(t *testing.T) {
		var greedy, burst, honest, retry int
		for u, idx := range l.byUser {
			keys := len(l.keys[u])
			switch {
			case len(idx) == 1:
				honest++
			case len(idx) == 2 && keys == 1:
				retry++
			case len(idx) == abuseLimit+1 && keys == abuseLimit+1:
				greedy++
			case len(idx) == BurstSize && keys == BurstSize:
				burst++
			default:
				t.Errorf("user %s: %d requests with %d keys fits no actor kind", u, len(idx), keys)
			}
		}
		// The counts follow from the shares: 0.15·n retries (2 requests
		// each), 0.15·n/(limit+1) greedy users, 0.10·n/BurstSize bursts.
		wantRetry, wantGreedy, wantBurst := 3000, 1000, 166
		wantHonest := abuseN - 2*wantRetry - (abuseLimit+1)*wantGreedy - BurstSize*wantBurst
		if retry != wantRetry || greedy != wantGreedy || burst != wantBurst || honest != wantHonest {
			t.Errorf("actors: %d retry, %d greedy, %d burst, %d honest; want %d, %d, %d, %d",
				retry, greedy, burst, honest, wantRetry, wantGreedy, wantBurst, wantHonest)
		}
		// A greedy or bursting user starts with its first key, at its
		// start; the others follow it.
		for u, idx := range l.byUser {
			if len(l.keys[u]) < 2 {
				continue
			}
			if k := reqs[idx[0]].Key; !strings.HasSuffix(k, "-0") {
				t.Fatalf("user %s: first of %d requests has key %q, want key number 0", u, len(idx), k)
			}
		}
		if greedy == 0 || burst == 0 || honest == 0 {
			t.Errorf("want users with limit+1 keys (%d), with %d requests (%d) and single-request users (%d)", greedy, BurstSize, burst, honest)
		}
	})

	t.Run("one token per user", func(t *testing.T) {
		for u, idx := range l.byUser {
			want := "Bearer " + u
			for _, i := range idx {
				if string(reqs[i].Auth) != want {
					t.Fatalf("user %s request %d auth %q, want %q", u, i, reqs[i].Auth, want)
				}
			}
		}
	})

	t.Run("body and quantity", func(t *testing.T) {
		for i, r := range reqs {
			if string(r.Body) != `{"quantity":1}` || r.Qty != 1 {
				t.Fatalf("req %d body %s qty %d, want {\"quantity\":1} and 1", i, r.Body, r.Qty)
			}
		}
	})

	t.Run("keys are unique across users", func(t *testing.T) {
		owner := map[string]string{}
		for _, r := range reqs {
			if u, ok := owner[r.Key]; ok && u != r.User {
				t.Fatalf("key %q used by %s and %s", r.Key, u, r.User)
			}
			owner[r.Key] = r.User
		}
	})

	t.Run("actors are spread over the run", func(t *testing.T) {
		// Each kind of actor starts at a random position: the first tenth
		// of the run holds roughly a tenth of the repeats.
		early := 0
		for i := range reqs[:abuseN/10] {
			p := pair{reqs[i].User, reqs[i].Key}
			if l.first[p] != i {
				early++
			}
		}
		if early == 0 || early > l.repeats/4 {
			t.Errorf("%d of %d repeats in the first tenth, want a share near a tenth", early, l.repeats)
		}
	})
}

func TestMixedRequestsSeeded(t *testing.T) {
	gen := func(seed uint64) []load.Request {
		t.Helper()
		reqs, err := Mixed(fakeSign, "s", 5000, abuseMix, abuseLimit, seed)
		if err != nil {
			t.Fatalf("Mixed: %v", err)
		}
		return reqs
	}
	same := func(a, b []load.Request) bool {
		return slices.EqualFunc(a, b, func(x, y load.Request) bool {
			return x.User == y.User && x.Key == y.Key && x.Qty == y.Qty && bytes.Equal(x.Auth, y.Auth) && bytes.Equal(x.Body, y.Body)
		})
	}
	tests := []struct {
		name     string
		a, b     uint64
		wantSame bool
	}{
		{"same seed", 1, 1, true},
		{"same seed 42", 42, 42, true},
		{"different seed", 1, 2, false},
		{"seed 0 vs 1", 0, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := same(gen(tt.a), gen(tt.b)); got != tt.wantSame {
				t.Errorf("seeds %d and %d give identical layouts: %v, want %v", tt.a, tt.b, got, tt.wantSame)
			}
		})
	}
}

func TestMixedRequestsZeroShares(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		qty   int
		limit int
	}{
		{"small", 10, 1, 1},
		{"larger, two units", 3000, 2, 2},
		{"one", 1, 1, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs, err := Mixed(fakeSign, "s", tt.n, scenarios.Traffic{Quantity: tt.qty}, tt.limit, 7)
			if err != nil {
				t.Fatalf("Mixed: %v", err)
			}
			if len(reqs) != tt.n {
				t.Fatalf("len = %d, want %d", len(reqs), tt.n)
			}
			users, keys := map[string]bool{}, map[string]bool{}
			wantBody := fmt.Sprintf(`{"quantity":%d}`, tt.qty)
			for i, r := range reqs {
				users[r.User], keys[r.Key] = true, true
				if string(r.Body) != wantBody || r.Qty != tt.qty {
					t.Errorf("req %d body %s qty %d, want %s and %d", i, r.Body, r.Qty, wantBody, tt.qty)
				}
			}
			if len(users) != tt.n || len(keys) != tt.n {
				t.Errorf("%d distinct users and %d keys in %d requests, want every request a distinct user and key", len(users), len(keys), tt.n)
			}
		})
	}
}

// TestMixedRequestsSignsOncePerUser checks tokens are minted per user, not
// per request (signing is the expensive part of preparing a run).
func TestMixedRequestsSignsOncePerUser(t *testing.T) {
	calls := map[string]int{}
	sign := func(u string) ([]byte, error) {
		calls[u]++
		return fakeSign(u)
	}
	reqs, err := Mixed(sign, "s", 2000, abuseMix, abuseLimit, 3)
	if err != nil {
		t.Fatalf("Mixed: %v", err)
	}
	users := map[string]bool{}
	for _, r := range reqs {
		users[r.User] = true
	}
	if len(calls) != len(users) {
		t.Errorf("signed %d users, want the %d users present", len(calls), len(users))
	}
	for u, n := range calls {
		if n != 1 {
			t.Errorf("user %s signed %d times, want once", u, n)
		}
	}
}
