package verify

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/checkout"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// windowRun is a checkout-window run in the making: the I1–I5 fixture plus
// what I6 reads (samples of the sale hash, the winners and their actions).
type windowRun struct {
	*fixture
	w Window
}

var t0 = time.Date(2026, 12, 1, 19, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

// win is an order of user accepted at offset sent, held 2 s, which the
// harness treated as k and which ended in PostgreSQL as hold at ended (nil:
// still held). answer is the action's answer ("" for Expire).
func (r *windowRun) win(user, id string, sent time.Duration, k checkout.Kind, answer string, status int, hold string, ended *time.Time) *windowRun {
	r.answer(user, "k-"+user, load.Accepted, id)
	r.res[len(r.res)-1].Sent = sent
	expires := t0.Add(sent + 2*time.Second)
	r.pg[id] = pgOrder{user: user, key: "k-" + user, status: "confirmed", qty: 1, hold: hold, expires: &expires, ended: ended}
	o := checkout.Order{Req: len(r.reqs) - 1, OrderID: id, User: user, Qty: 1, Expires: expires, Kind: k}
	if k != checkout.Expire {
		due := expires.Add(-time.Second)
		if k == checkout.LatePay {
			due = expires.Add(300 * time.Millisecond)
		}
		o.Action = &checkout.Action{Due: due, Sent: due, Done: due.Add(5 * time.Millisecond), Status: status, Answer: answer}
	}
	r.w.Orders = append(r.w.Orders, o)
	return r
}

// soldOut is a buyer turned away at offset sent.
func (r *windowRun) soldOut(user string, sent time.Duration) *windowRun {
	r.answer(user, "k-"+user, load.SoldOut, "")
	r.res[len(r.res)-1].Sent = sent
	return r
}

// sample is a read of the sale hash at offset d.
func (r *windowRun) sample(d time.Duration, remaining, held, paid int64) *windowRun {
	r.w.Samples = append(r.w.Samples, Ledger{At: t0.Add(d), Stock: r.sale.Stock, Remaining: remaining, Held: held, Paid: paid, Read: true})
	return r
}

// goodWindow: 2 units held 2 s. u1 pays; u2 cancels 1 s in and its unit
// goes to u4, who lets it expire; u3 is turned away before any return; u5
// buys u4's unit when it expires and pays too late; u6 is turned away while
// u5 holds it. Final: 1 paid, 1 remaining.
func goodWindow() *windowRun {
	r := &windowRun{fixture: newFixture(2, 1), w: Window{HoldSeconds: 2, Start: t0}}
	r.win("u1", "s.01", 0, checkout.Pay, "paid", 200, "paid", nil)
	r.win("u2", "s.02", 10*time.Millisecond, checkout.Cancel, "cancelled", 200, "cancelled", at(1010*time.Millisecond))
	r.soldOut("u3", 200*time.Millisecond)
	r.win("u4", "s.04", 1100*time.Millisecond, checkout.Expire, "", 0, "expired", at(3250*time.Millisecond))
	r.win("u5", "s.05", 3300*time.Millisecond, checkout.LatePay, "order_expired", 409, "expired", at(5420*time.Millisecond))
	r.soldOut("u6", 3500*time.Millisecond)
	r.sample(0, 2, 0, 0).sample(100*time.Millisecond, 0, 2, 0).sample(1100*time.Millisecond, 0, 1, 1).
		sample(3300*time.Millisecond, 0, 1, 1).sample(5500*time.Millisecond, 1, 0, 1)
	r.remaining = 1
	r.w.Final = Ledger{Stock: 2, Remaining: 1, Paid: 1, Expired: 2, Cancelled: 1, Read: true}
	return r
}

func (r *windowRun) i6() (results.Invariant, *results.Checkout) {
	return checkoutWindow(r.sale, r.reqs, r.res, r.pg, r.w)
}

func TestWindowGood(t *testing.T) {
	r := goodWindow()
	inv, sum := r.i6()
	if !inv.Pass || inv.ID != "I6" {
		t.Fatalf("I6 = %+v, want a pass", inv)
	}
	// I1–I5 hold too: the returned orders are persisted but hold no units.
	for _, other := range Evaluate(r.sale, r.reqs, r.res, r.pg, r.remaining, r.pending) {
		if !other.Pass {
			t.Errorf("%s fails on a good checkout run: %s %v", other.ID, other.Detail, other.Offending)
		}
	}
	want := results.Checkout{HoldSeconds: 2, Winners: 4, Paid: 1, Expired: 2, Cancelled: 1, PaidUnits: 1, ExpiredUnits: 2,
		CancelledUnits: 1, ResoldUnits: 2, Samples: 5}
	got := *sum
	if got.Winners != want.Winners || got.Paid != want.Paid || got.Expired != want.Expired || got.Cancelled != want.Cancelled ||
		got.PaidUnits != want.PaidUnits || got.ExpiredUnits != want.ExpiredUnits || got.CancelledUnits != want.CancelledUnits ||
		got.ResoldUnits != want.ResoldUnits || got.Samples != want.Samples || got.Errors != 0 || got.InDoubt != 0 {
		t.Errorf("summary = %+v, want %+v", got, want)
	}
	if got.Planned["pay"] != 1 || got.Planned["cancel"] != 1 || got.Planned["expire"] != 1 || got.Planned["late_pay"] != 1 {
		t.Errorf("planned = %v, want one of each", got.Planned)
	}
	if got.Payments["paid"] != 1 || got.Payments["order_expired"] != 1 || got.Cancels["cancelled"] != 1 {
		t.Errorf("payments %v, cancels %v; want paid 1, order_expired 1; cancelled 1", got.Payments, got.Cancels)
	}
	// Lateness: u4 ended 150 ms after its expires_at (3.1 s), u5 120 ms.
	if l := got.ExpiryLateness; l.Count != 2 || l.MinMs < 119 || l.MinMs > 121 || l.MaxMs < 149 || l.MaxMs > 151 {
		t.Errorf("expiry lateness = %+v, want 2 expiries of 120 and 150 ms", l)
	}
	if got.Actions.Count != 3 {
		t.Errorf("actions latency count = %d, want 3", got.Actions.Count)
	}
}

func TestWindowViolations(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *windowRun)
		want string // a substring of some offending entry
	}{
		{"a sample where a unit is counted twice", func(r *windowRun) { r.sample(1200*time.Millisecond, 1, 1, 1) },
			"t=1.2 s: remaining 1 + held 1 + paid 1 = 3, stock 2"},
		{"a sample below zero", func(r *windowRun) { r.sample(1200*time.Millisecond, -1, 2, 1) }, "remaining -1"},
		{"no sample read", func(r *windowRun) { r.w.Samples = nil }, "no sample"},
		{"final state off the stock", func(r *windowRun) { r.w.Final.Remaining = 2 }, "after the drain"},
		{"final sale hash gone", func(r *windowRun) { r.w.Final = Ledger{} }, "holds no sale"},
		{"a unit returned twice in Redis", func(r *windowRun) { r.w.Final.Expired = 3 }, "expired units: Redis 3, PostgreSQL 2"},
		{"a cancellation Redis never counted", func(r *windowRun) { r.w.Final.Cancelled = 0 }, "cancelled units: Redis 0, PostgreSQL 1"},
		{"remaining that forgot a paid unit", func(r *windowRun) {
			r.w.Final.Remaining, r.w.Final.Paid = 2, 0
		}, "remaining 2, want stock 2"},
		{"a 200 payment persisted expired (a lost paid order)", func(r *windowRun) {
			o := r.pg["s.01"]
			o.hold, o.ended = "expired", at(2100*time.Millisecond)
			r.pg["s.01"] = o
			r.w.Final.Paid, r.w.Final.Expired, r.w.Final.Remaining = 0, 3, 2
		}, "s.01: pay answered 200 paid, persisted expired"},
		{"persisted paid without a payment", func(r *windowRun) {
			o := r.pg["s.04"]
			o.hold, o.ended = "paid", nil
			r.pg["s.04"] = o
		}, "s.04: persisted paid, never paid or cancelled"},
		{"a hold nobody touched did not expire", func(r *windowRun) {
			o := r.pg["s.04"]
			o.hold = "cancelled"
			r.pg["s.04"] = o
		}, "s.04: left to expire, persisted cancelled"},
		{"a payment answered order_expired persisted paid", func(r *windowRun) {
			o := r.pg["s.05"]
			o.hold, o.ended = "paid", nil
			r.pg["s.05"] = o
		}, "s.05: late_pay answered 409 order_expired, persisted paid"},
		{"a payment after expires_at won", func(r *windowRun) {
			r.w.Orders[3].Action.Answer, r.w.Orders[3].Action.Status = "paid", 200
		}, "s.05: paid 300 ms after expires_at"},
		{"a cancelled row whose cancel was answered order_expired", func(r *windowRun) {
			r.w.Orders[1].Action.Answer, r.w.Orders[1].Action.Status = "order_expired", 409
		}, "s.02: cancel answered 409 order_expired, persisted cancelled"},
		{"a 202 without expires_at", func(r *windowRun) { r.w.Orders[2].Err = "a 202 without a valid expires_at" }, "s.04: a 202 without"},
		{"returned units never sold again while buyers were turned away", func(r *windowRun) {
			*r = windowRun{fixture: newFixture(2, 1), w: Window{HoldSeconds: 2, Start: t0}}
			r.win("u1", "s.01", 0, checkout.Pay, "paid", 200, "paid", nil)
			r.win("u2", "s.02", 0, checkout.Cancel, "cancelled", 200, "cancelled", at(500*time.Millisecond))
			r.soldOut("u3", 2*time.Second)
			r.sample(time.Second, 1, 0, 1)
			r.remaining = 1
			r.w.Final = Ledger{Stock: 2, Remaining: 1, Paid: 1, Cancelled: 1, Read: true}
		}, "none was sold again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := goodWindow()
			tt.edit(r)
			inv, _ := r.i6()
			if inv.Pass {
				t.Fatalf("I6 passes: %s", inv.Detail)
			}
			if !slices.ContainsFunc(inv.Offending, func(s string) bool { return strings.Contains(s, tt.want) }) {
				t.Errorf("I6 offending = %q, want one containing %q", inv.Offending, tt.want)
			}
		})
	}
}

// An answer the buyer could not act on leaves the outcome open: a payment
// that got no answer (or a 503) may be persisted paid, and is not a lost
// order either way.
func TestWindowInDoubt(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer string
		status int
	}{
		{"no answer", checkout.TransportError, 0},
		{"503, the payment stands", "unavailable", 503},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := goodWindow()
			r.w.Orders[0].Action.Answer, r.w.Orders[0].Action.Status = tt.answer, tt.status
			inv, sum := r.i6()
			if !inv.Pass {
				t.Errorf("I6 fails: %v", inv.Offending)
			}
			if sum.InDoubt != 1 || sum.Errors != 1 {
				t.Errorf("in doubt %d, errors %d; want 1 and 1 (an unanswered payment is an error of the run)", sum.InDoubt, sum.Errors)
			}
		})
	}
}

// A payment inside the window that loses to the expiry is an answer the
// contract allows: not an error, and its order must end expired.
func TestWindowPaymentLosesToExpiry(t *testing.T) {
	r := goodWindow()
	o := r.pg["s.01"]
	o.hold, o.ended = "expired", at(2100*time.Millisecond)
	r.pg["s.01"] = o
	r.w.Orders[0].Action.Answer, r.w.Orders[0].Action.Status = "order_expired", 409
	r.w.Final = Ledger{Stock: 2, Remaining: 2, Expired: 3, Cancelled: 1, Read: true}
	r.w.Samples = []Ledger{{At: t0, Stock: 2, Remaining: 2, Read: true}}
	inv, sum := r.i6()
	if !inv.Pass || sum.Errors != 0 {
		t.Errorf("I6 = %+v, errors %d; want a pass without errors", inv, sum.Errors)
	}
}

// With returned units, I1 counts what buyers still hold: four winners of a
// two-unit stock, two of which gave their units back, is no oversell; four
// winners holding at once is.
func TestEvaluateCountsLiveHoldsOnly(t *testing.T) {
	r := goodWindow()
	m := map[string]results.Invariant{}
	for _, inv := range Evaluate(r.sale, r.reqs, r.res, r.pg, r.remaining, r.pending) {
		m[inv.ID] = inv
	}
	if !m["I1"].Pass || !strings.Contains(m["I1"].Detail, "3 more came back") {
		t.Errorf("I1 = %+v, want a pass naming the 3 units that came back", m["I1"])
	}
	for id, o := range r.pg {
		o.hold, o.ended = "paid", nil
		r.pg[id] = o
	}
	r.remaining = -2
	m = map[string]results.Invariant{}
	for _, inv := range Evaluate(r.sale, r.reqs, r.res, r.pg, r.remaining, r.pending) {
		m[inv.ID] = inv
	}
	if m["I1"].Pass {
		t.Errorf("I1 passes with 4 paid orders of a stock of 2: %s", m["I1"].Detail)
	}
}
