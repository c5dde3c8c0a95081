package verify

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// fixture is a run in the making: requests, their answers, the orders table,
// and Redis's remaining and outbox counts.
type fixture struct {
	sale               Sale
	reqs               []load.Request
	res                []load.Result
	pg                 map[string]pgOrder
	remaining, pending int64
}

func newFixture(stock, limit int64) *fixture {
	return &fixture{sale: Sale{ID: "s", Stock: stock, Limit: limit}, pg: map[string]pgOrder{}, remaining: stock}
}

// answer records one request of (user, key) and its answer.
func (f *fixture) answer(user, key string, o load.Outcome, id string) *fixture {
	f.reqs = append(f.reqs, load.Request{User: user, Key: key, Qty: 1})
	r := load.Result{Outcome: o, OrderID: id}
	switch o {
	case load.Accepted:
		r.Status = 202
	case load.AcceptedReplay:
		r.Status, r.Replayed = 202, true
	}
	f.res = append(f.res, r)
	return f
}

// row adds an order row to PostgreSQL.
func (f *fixture) row(id, user, key, status string) *fixture {
	f.pg[id] = pgOrder{user: user, key: key, status: status, qty: 1}
	return f
}

// accept is an accepted answer whose order was persisted and left the stock.
func (f *fixture) accept(user, key, id string) *fixture {
	f.remaining--
	return f.answer(user, key, load.Accepted, id).row(id, user, key, "confirmed")
}

func (f *fixture) evaluate() map[string]results.Invariant {
	invs := Evaluate(f.sale, f.reqs, f.res, f.pg, f.remaining, f.pending)
	m := map[string]results.Invariant{}
	for _, inv := range invs {
		m[inv.ID] = inv
	}
	return m
}

// good is a clean run: stock 5, limit 2; three buyers accepted (one of them
// retried and got the same order back), then sold-out and rate-limited ones.
func good() *fixture {
	f := newFixture(5, 2)
	f.accept("u1", "k1", "s.01")
	f.accept("u2", "k2", "s.02")
	f.answer("u2", "k2", load.AcceptedReplay, "s.02")
	f.accept("u3", "k3", "s.03")
	f.answer("u3", "k4", load.LimitReached, "")
	f.answer("u4", "k5", load.SoldOut, "")
	f.answer("u4", "k5", load.SoldOut, "")
	f.answer("u5", "k6", load.RateLimited, "")
	f.answer("u6", "k7", load.NotSent, "")
	return f
}

func TestEvaluateAllGood(t *testing.T) {
	f := good()
	invs := Evaluate(f.sale, f.reqs, f.res, f.pg, f.remaining, f.pending)
	var ids []string
	for _, inv := range invs {
		ids = append(ids, inv.ID)
		if !inv.Pass {
			t.Errorf("%s (%s) fails: %s; offending %v", inv.ID, inv.Name, inv.Detail, inv.Offending)
		}
		if len(inv.Offending) != 0 {
			t.Errorf("%s passes with offending %v, want none", inv.ID, inv.Offending)
		}
		if inv.Name == "" || inv.Detail == "" {
			t.Errorf("%s: name %q, detail %q, want both set", inv.ID, inv.Name, inv.Detail)
		}
	}
	if want := []string{"I1", "I2", "I3", "I4", "I5"}; !slices.Equal(ids, want) {
		t.Errorf("invariants = %v, want %v in order", ids, want)
	}
}

func TestEvaluateViolations(t *testing.T) {
	tests := []struct {
		name string
		f    func() *fixture
		id   string // the invariant that must fail
		// wantOffending are substrings each of which some offending entry
		// must contain.
		wantOffending []string
		// alsoFail are the other invariants that must fail as well;
		// every other invariant must pass.
		alsoFail []string
	}{
		{
			name: "oversell: three orders of a stock of two",
			f: func() *fixture {
				f := newFixture(2, 1)
				f.accept("u1", "k1", "s.01")
				f.accept("u3", "k3", "s.03")
				f.accept("u2", "k2", "s.02")
				return f // remaining -1
			},
			id: "I1", wantOffending: []string{"s.03"}, // remaining -1 + persisted 3 = stock: no leak
		},
		{
			name: "oversell seen only in Redis",
			f: func() *fixture {
				f := newFixture(2, 1)
				f.accept("u1", "k1", "s.01")
				f.remaining = -1
				return f
			},
			id: "I1", wantOffending: []string{"remaining -1"}, alsoFail: []string{"I5"},
		},
		{
			name: "lost order: accepted, not in PostgreSQL",
			f: func() *fixture {
				f := newFixture(5, 1)
				f.accept("u1", "k1", "s.01")
				f.answer("u2", "k2", load.Accepted, "s.02")
				f.remaining-- // Redis reserved it
				return f
			},
			id: "I2", wantOffending: []string{"s.02 (not persisted)"}, alsoFail: []string{"I5"},
		},
		{
			name: "lost order: persisted as failed",
			f: func() *fixture {
				f := newFixture(5, 1)
				f.accept("u1", "k1", "s.01")
				f.answer("u2", "k2", load.Accepted, "s.02").row("s.02", "u2", "k2", "failed")
				return f
			},
			id: "I2", wantOffending: []string{"s.02 (failed)"},
		},
		{
			name: "confirmed row never answered 202",
			f: func() *fixture {
				f := newFixture(5, 1)
				f.accept("u1", "k1", "s.01")
				f.answer("u2", "k2", load.SoldOut, "").row("s.02", "u2", "k2", "confirmed")
				f.remaining--
				return f
			},
			id: "I2", wantOffending: []string{"s.02 (persisted, never answered 202)"},
		},
		{
			name: "confirmed row never answered 202, another key's request unanswered",
			f: func() *fixture {
				f := newFixture(5, 1)
				f.accept("u1", "k1", "s.01")
				f.answer("u2", "k2", load.TransportError, "")
				f.answer("u2", "k3", load.SoldOut, "").row("s.02", "u2", "k3", "confirmed")
				f.remaining--
				return f
			},
			id: "I2", wantOffending: []string{"s.02 (persisted, never answered 202)"},
		},
		{
			name: "same key, two different order ids",
			f: func() *fixture {
				f := newFixture(5, 2)
				f.accept("u1", "k1", "s.01")
				f.accept("u1", "k1", "s.02")
				return f
			},
			id: "I3", wantOffending: []string{"user u1 key k1: 2 rows", "user u1 key k1: accepted s.01 then accepted s.02"},
		},
		{
			// sold_out is not remembered, but an acceptance is: its retry
			// must replay it, never answer sold_out.
			name: "same key, accepted then sold out",
			f: func() *fixture {
				f := newFixture(5, 1)
				f.accept("u1", "k1", "s.01")
				f.answer("u1", "k1", load.SoldOut, "")
				return f
			},
			id: "I3", wantOffending: []string{"user u1 key k1: accepted s.01 then sold_out "},
		},
		{
			name: "same key, accepted then replayed with another id",
			f: func() *fixture {
				f := newFixture(5, 1)
				f.accept("u1", "k1", "s.01")
				f.answer("u1", "k1", load.AcceptedReplay, "s.02")
				return f
			},
			id: "I3", wantOffending: []string{"user u1 key k1: accepted s.01 then accepted_replay s.02"},
			alsoFail: []string{"I2", "I4"}, // s.02 was never persisted; u1 got two orders
		},
		{
			name: "same key, accepted then key reused",
			f: func() *fixture {
				f := newFixture(5, 1)
				f.accept("u1", "k1", "s.01")
				f.answer("u1", "k1", load.KeyReused, "")
				return f
			},
			id: "I3", wantOffending: []string{"accepted s.01 then idempotency_key_reused"},
		},
		{
			name: "one (user, key), two confirmed rows",
			f: func() *fixture {
				f := newFixture(5, 2)
				f.accept("u1", "k1", "s.01")
				f.row("s.02", "u1", "k1", "confirmed")
				f.remaining--
				return f
			},
			id: "I3", wantOffending: []string{"user u1 key k1: 2 rows"}, alsoFail: []string{"I2"},
		},
		{
			name: "user over the limit",
			f: func() *fixture {
				f := newFixture(5, 1)
				f.accept("u0", "k0", "s.00")
				f.accept("u1", "k1", "s.01")
				f.accept("u1", "k2", "s.02")
				return f
			},
			id: "I4", wantOffending: []string{"user u1: accepted 2, persisted 2"},
		},
		{
			name: "user within the limit by the API, over it in PostgreSQL",
			f: func() *fixture {
				f := newFixture(5, 1)
				f.accept("u1", "k1", "s.01")
				f.row("s.02", "u1", "k2", "confirmed")
				f.remaining--
				return f
			},
			id: "I4", wantOffending: []string{"user u1: accepted 1, persisted 2"}, alsoFail: []string{"I2"},
		},
		{
			name: "user over the limit in PostgreSQL only",
			f: func() *fixture {
				f := newFixture(5, 1)
				f.row("s.01", "u1", "k1", "confirmed").row("s.02", "u1", "k2", "confirmed")
				f.remaining -= 2
				return f
			},
			id: "I4", wantOffending: []string{"user u1: persisted 2"}, alsoFail: []string{"I2"},
		},
		{
			name: "leak: remaining + persisted != stock",
			f: func() *fixture {
				f := newFixture(5, 1)
				f.accept("u1", "k1", "s.01")
				f.remaining-- // a reservation that never became an order
				return f
			},
			id: "I5", wantOffending: []string{"remaining 3 + persisted 1 = 4, stock 5"},
		},
		{
			name: "leak: outbox not empty",
			f: func() *fixture {
				f := good()
				f.pending = 2
				return f
			},
			id: "I5", wantOffending: []string{"2 reservations still in the outbox"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			invs := tt.f().evaluate()
			if len(invs) != 5 {
				t.Fatalf("got %d invariants, want 5", len(invs))
			}
			inv := invs[tt.id]
			if inv.Pass {
				t.Fatalf("%s passes (%s), want a failure", tt.id, inv.Detail)
			}
			if !strings.Contains(inv.Detail, "offending") {
				t.Errorf("%s detail %q does not count the offenders", tt.id, inv.Detail)
			}
			for _, want := range tt.wantOffending {
				if !slices.ContainsFunc(inv.Offending, func(o string) bool { return strings.Contains(o, want) }) {
					t.Errorf("%s offending = %q, want an entry containing %q", tt.id, inv.Offending, want)
				}
			}
			for id, other := range invs {
				if id == tt.id {
					continue
				}
				wantFail := slices.Contains(tt.alsoFail, id)
				if !other.Pass != wantFail {
					t.Errorf("%s pass = %v (%s; %v), want %v", id, other.Pass, other.Detail, other.Offending, !wantFail)
				}
			}
		})
	}
}

// TestEvaluateOversellOffendingExact pins which orders I1 names: the ones past
// the stock in id order, nothing else.
func TestEvaluateOversellOffendingExact(t *testing.T) {
	f := newFixture(2, 1)
	f.accept("u3", "k3", "s.03")
	f.accept("u1", "k1", "s.01")
	f.accept("u2", "k2", "s.02")
	inv := f.evaluate()["I1"]
	if want := []string{"s.03"}; !slices.Equal(inv.Offending, want) {
		t.Errorf("I1 offending = %q, want %q", inv.Offending, want)
	}
	if !strings.Contains(inv.Detail, "accepted by the API 3 units (3 orders)") || !strings.Contains(inv.Detail, "remaining -1") {
		t.Errorf("I1 detail = %q, want the accepted units and remaining", inv.Detail)
	}
}

func TestEvaluateIdempotencyPasses(t *testing.T) {
	tests := []struct {
		name string
		f    func() *fixture
	}{
		{"accepted then replayed, same id", func() *fixture {
			f := newFixture(5, 1)
			f.accept("u1", "k1", "s.01")
			f.answer("u1", "k1", load.AcceptedReplay, "s.01")
			f.answer("u1", "k1", load.AcceptedReplay, "s.01")
			return f
		}},
		{"replay answered before the original", func() *fixture {
			f := newFixture(5, 1)
			f.answer("u1", "k1", load.AcceptedReplay, "s.01")
			f.accept("u1", "k1", "s.01")
			return f
		}},
		{"rate limited answers are ignored", func() *fixture {
			f := newFixture(5, 1)
			f.answer("u1", "k1", load.RateLimited, "")
			f.accept("u1", "k1", "s.01")
			f.answer("u1", "k1", load.RateLimited, "")
			return f
		}},
		{"unavailable, transport errors and unsent are ignored", func() *fixture {
			f := newFixture(5, 1)
			f.answer("u1", "k1", load.Unavailable, "")
			f.answer("u1", "k1", load.TransportError, "")
			f.accept("u1", "k1", "s.01")
			f.answer("u1", "k1", load.NotSent, "")
			return f
		}},
		{"sold out twice", func() *fixture {
			f := newFixture(1, 1)
			f.accept("u0", "k0", "s.00")
			f.answer("u1", "k1", load.SoldOut, "")
			f.answer("u1", "k1", load.SoldOut, "")
			return f
		}},
		{"sold out, then accepted after stock came back (a sold-out answer is not remembered)", func() *fixture {
			f := newFixture(5, 1)
			f.answer("u1", "k1", load.SoldOut, "")
			f.accept("u1", "k1", "s.01")
			f.answer("u1", "k1", load.AcceptedReplay, "s.01")
			return f
		}},
		{"same key for different users", func() *fixture {
			f := newFixture(5, 1)
			f.accept("u1", "k", "s.01")
			f.accept("u2", "k", "s.02")
			return f
		}},
		{"persisted for a request that got no answer (its API died holding it)", func() *fixture {
			f := newFixture(5, 1)
			f.accept("u1", "k1", "s.01")
			f.answer("u2", "k2", load.TransportError, "").row("s.02", "u2", "k2", "confirmed")
			f.answer("u3", "k3", load.HTTPError, "").row("s.03", "u3", "k3", "confirmed")
			f.remaining -= 2
			return f
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			invs := tt.f().evaluate()
			for _, id := range []string{"I1", "I2", "I3", "I4", "I5"} {
				if inv := invs[id]; !inv.Pass {
					t.Errorf("%s fails: %s; offending %v", id, inv.Detail, inv.Offending)
				}
			}
		})
	}
}

func TestEvaluateIdempotencyCountsRepeats(t *testing.T) {
	f := newFixture(5, 1)
	f.accept("u1", "k1", "s.01")
	f.answer("u1", "k1", load.AcceptedReplay, "s.01")
	f.answer("u1", "k1", load.RateLimited, "")
	f.accept("u2", "k2", "s.02")
	f.answer("u3", "k3", load.RateLimited, "") // no answer from the script: not a pair
	inv := f.evaluate()["I3"]
	if want := "2 (user, key) pairs answered, 1 of them more than once"; inv.Detail != want {
		t.Errorf("I3 detail = %q, want %q", inv.Detail, want)
	}
}

func TestEvaluateOffendingCapped(t *testing.T) {
	tests := []struct {
		name      string
		lost      int
		wantLen   int
		wantLast  string
		wantCount string
	}{
		{"20 shown in full", 20, 20, "s.20 (not persisted)", "— 20 offending"},
		{"21 capped", 21, 21, "… and 1 more", "— 21 offending"},
		{"25 capped", 25, 21, "… and 5 more", "— 25 offending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(100, 1)
			for i := 1; i <= tt.lost; i++ {
				f.answer(fmt.Sprintf("u%02d", i), fmt.Sprintf("k%02d", i), load.Accepted, fmt.Sprintf("s.%02d", i))
			}
			inv := f.evaluate()["I2"]
			if inv.Pass {
				t.Fatalf("I2 passes with %d lost orders", tt.lost)
			}
			if got := len(inv.Offending); got != tt.wantLen {
				t.Fatalf("len(Offending) = %d, want %d: %q", got, tt.wantLen, inv.Offending)
			}
			if got := inv.Offending[len(inv.Offending)-1]; got != tt.wantLast {
				t.Errorf("last offending = %q, want %q", got, tt.wantLast)
			}
			if got, want := inv.Offending[0], "s.01 (not persisted)"; got != want {
				t.Errorf("first offending = %q, want %q (sorted by id)", got, want)
			}
			if !strings.HasSuffix(inv.Detail, tt.wantCount) {
				t.Errorf("detail = %q, want it to end with %q", inv.Detail, tt.wantCount)
			}
		})
	}
}

func TestCapped(t *testing.T) {
	mk := func(n int) []string {
		xs := make([]string, n)
		for i := range xs {
			xs[i] = fmt.Sprint(i)
		}
		return xs
	}
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"nil", nil, nil},
		{"one", mk(1), mk(1)},
		{"twenty", mk(20), mk(20)},
		{"twenty-one", mk(21), append(mk(20), "… and 1 more")},
		{"hundred", mk(100), append(mk(20), "… and 80 more")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			got := capped(in)
			if !slices.Equal(got, tt.want) {
				t.Errorf("capped(%d entries) = %q, want %q", len(tt.in), got, tt.want)
			}
			if !slices.Equal(in, tt.in) {
				t.Errorf("capped modified its input")
			}
		})
	}
}

func TestSortedKeys(t *testing.T) {
	got := sortedKeys(map[string]int{"s.10": 0, "s.02": 0, "s.1": 0})
	if want := []string{"s.02", "s.1", "s.10"}; !slices.Equal(got, want) {
		t.Errorf("sortedKeys(strings) = %q, want %q", got, want)
	}
	pairs := sortedKeys(map[[2]string]int{{"b", "a"}: 0, {"a", "b"}: 0, {"a", "a"}: 0, {"ab", ""}: 0})
	if want := [][2]string{{"a", "a"}, {"a", "b"}, {"ab", ""}, {"b", "a"}}; !slices.Equal(pairs, want) {
		t.Errorf("sortedKeys(pairs) = %q, want %q", pairs, want)
	}
}
