package verify

import (
	"context"
	"fmt"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/checkout"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/testkit/ledgerkeys"
)

// Ledger is one read of a sale hash's counters (Checker.Ledger): one HMGET,
// so one consistent moment of the hot ledger.
type Ledger struct {
	At                                               time.Time
	Stock, Remaining, Held, Paid, Expired, Cancelled int64
	// Read is false when the hash held no sale (its stock absent: being
	// rebuilt from PostgreSQL, or already cleaned up).
	Read bool
}

// Sum is remaining + held + paid: what I6 holds equal to the stock.
func (l Ledger) Sum() int64 { return l.Remaining + l.Held + l.Paid }

// Window is what a run saw of a sale's checkout window, for I6.
type Window struct {
	HoldSeconds int64
	Seed        uint64
	// Start is the load's start (load.Run.Start): the results' offsets are
	// from it.
	Start time.Time
	// Samples are the sale hash read during the run (every 100 ms);
	// Unread counts the reads that failed.
	Samples []Ledger
	Unread  int64
	// Orders are the winners and what the harness did for them.
	Orders []checkout.Order
	// Final is the sale hash after the drain (Check reads it).
	Final Ledger
}

// resaleGrace is how long after the first unit came back a sold-out answer
// proves that returned units were not offered again: the API answers a
// sold-out sale from memory for up to 250 ms (docs/api.md), plus a margin.
const resaleGrace = time.Second

// checkoutWindow is I6 and the window's figures: stock = remaining + live
// holds + paid in every sample of the sale hash and after the drain; every
// expired or cancelled order's units came back exactly once (the Redis
// counters equal PostgreSQL's final states, and remaining = stock − paid −
// still held); no payment answered 200 lost its order, and every order
// persisted paid (or cancelled) had a 200 or an answer in doubt; a payment
// answered order_expired, or a hold nobody touched, ended expired; a
// payment after expires_at never won; and units that came back while buyers
// were still being turned away were sold again.
func checkoutWindow(sale Sale, reqs []load.Request, res []load.Result, pg map[string]pgOrder, w Window) (results.Invariant, *results.Checkout) {
	sum := &results.Checkout{HoldSeconds: w.HoldSeconds, Seed: w.Seed, Planned: map[string]int64{},
		Payments: map[string]int64{}, Cancels: map[string]int64{}, Unread: w.Unread}
	var bad []string

	// Every moment: stock = remaining + held + paid.
	for _, l := range w.Samples {
		if !l.Read {
			sum.Unread++
			continue
		}
		sum.Samples++
		if l.Sum() != sale.Stock || l.Remaining < 0 || l.Held < 0 || l.Paid < 0 {
			bad = append(bad, fmt.Sprintf("t=%.1f s: remaining %d + held %d + paid %d = %d, stock %d",
				l.At.Sub(w.Start).Seconds(), l.Remaining, l.Held, l.Paid, l.Sum(), sale.Stock))
		}
	}
	if sum.Samples == 0 {
		bad = append(bad, "no sample of the sale hash was read during the run")
	}
	f := w.Final
	if !f.Read {
		bad = append(bad, "after the drain: the sale hash holds no sale")
	} else if f.Sum() != sale.Stock {
		bad = append(bad, fmt.Sprintf("after the drain: remaining %d + held %d + paid %d = %d, stock %d", f.Remaining, f.Held, f.Paid, f.Sum(), sale.Stock))
	}

	// PostgreSQL's final states against the hot ledger's counters: each
	// returned order counted once on each side.
	var firstReturn *time.Time
	lateness := load.NewHistogram()
	for _, id := range sortedKeys(pg) {
		o := pg[id]
		if o.status != "confirmed" {
			continue
		}
		switch o.hold {
		case "paid":
			sum.Paid++
			sum.PaidUnits += o.qty
		case "held":
			sum.Held++
		case "expired", "cancelled":
			if o.hold == "expired" {
				sum.Expired++
				sum.ExpiredUnits += o.qty
				if o.ended != nil && o.expires != nil {
					_ = lateness.RecordValue(max(0, o.ended.Sub(*o.expires).Microseconds()))
				}
			} else {
				sum.Cancelled++
				sum.CancelledUnits += o.qty
			}
			if o.ended != nil && (firstReturn == nil || o.ended.Before(*firstReturn)) {
				firstReturn = o.ended
			}
		}
	}
	sum.ExpiryLateness = load.LatencyOf(lateness)
	var heldUnits int64
	for _, o := range pg {
		if o.status == "confirmed" && o.hold == "held" {
			heldUnits += o.qty
		}
	}
	if f.Read {
		for _, c := range []struct {
			description string
			redis, pg   int64
		}{
			{"expired units", f.Expired, sum.ExpiredUnits},
			{"cancelled units", f.Cancelled, sum.CancelledUnits},
			{"paid units", f.Paid, sum.PaidUnits},
			{"units still held", f.Held, heldUnits},
		} {
			if c.redis != c.pg {
				bad = append(bad, fmt.Sprintf("%s: Redis %d, PostgreSQL %d", c.description, c.redis, c.pg))
			}
		}
		if want := sale.Stock - sum.PaidUnits - heldUnits; f.Remaining != want {
			bad = append(bad, fmt.Sprintf("remaining %d, want stock %d − paid %d − held %d = %d", f.Remaining, sale.Stock, sum.PaidUnits, heldUnits, want))
		}
	}

	// The harness's actions against the final states.
	acted := map[string]*checkout.Action{}
	actions := load.NewHistogram()
	for i := range w.Orders {
		o := &w.Orders[i]
		sum.Winners++
		if o.Err != "" {
			sum.Errors++
			bad = append(bad, fmt.Sprintf("%s: %s", o.OrderID, o.Err))
			continue
		}
		sum.Planned[o.Kind.String()]++
		row, persisted := pg[o.OrderID]
		a := o.Action
		if a == nil { // nobody touches it: it must expire
			if persisted && row.hold != "expired" {
				bad = append(bad, fmt.Sprintf("%s: left to expire, persisted %s", o.OrderID, holdName(row.hold)))
			}
			continue
		}
		acted[o.OrderID] = a
		if o.Kind == checkout.Cancel {
			sum.Cancels[a.Answer]++
		} else {
			sum.Payments[a.Answer]++
		}
		if a.InDoubt() {
			sum.InDoubt++
		}
		if a.Answer != checkout.NotSent && !a.Done.IsZero() {
			_ = actions.RecordValue(max(0, a.Latency().Microseconds()))
		}
		if !expected(o.Kind, a.Answer) {
			sum.Errors++
		}
		want := ""
		switch a.Answer {
		case "paid":
			want = "paid"
			if o.Kind == checkout.LatePay {
				bad = append(bad, fmt.Sprintf("%s: paid %.0f ms after expires_at (200)", o.OrderID, float64(a.Sent.Sub(o.Expires).Microseconds())/1000))
			}
		case "cancelled":
			want = "cancelled"
		case "order_expired":
			want = "expired"
		}
		if want != "" && (!persisted || row.hold != want) {
			bad = append(bad, fmt.Sprintf("%s: %s answered %d %s, persisted %s", o.OrderID, o.Kind, a.Status, a.Answer, holdName(row.hold)))
		}
	}
	sum.Actions = load.LatencyOf(actions)
	// Every paid or cancelled row had its 200, or an answer in doubt.
	for _, id := range sortedKeys(pg) {
		o := pg[id]
		if o.hold != "paid" && o.hold != "cancelled" {
			continue
		}
		a := acted[id]
		switch {
		case a == nil:
			bad = append(bad, fmt.Sprintf("%s: persisted %s, never paid or cancelled by the harness", id, o.hold))
		case a.InDoubt():
		case o.hold == "paid" && a.Answer != "paid", o.hold == "cancelled" && a.Answer != "cancelled":
			bad = append(bad, fmt.Sprintf("%s: persisted %s, answered %d %s", id, o.hold, a.Status, a.Answer))
		}
	}

	// Returned units sold again.
	a := readAnswers(reqs, res)
	sum.ResoldUnits = max(0, a.units-sale.Stock)
	turnedAway := 0
	if firstReturn != nil {
		after := firstReturn.Add(resaleGrace)
		for i := range res {
			if res[i].Outcome == load.SoldOut && w.Start.Add(res[i].Sent).After(after) {
				turnedAway++
			}
		}
	}
	if turnedAway > 0 && sum.ResoldUnits == 0 {
		bad = append(bad, fmt.Sprintf("%d units came back (expired %d, cancelled %d) and none was sold again, while %d buyers were answered sold_out more than %s after the first return",
			sum.ExpiredUnits+sum.CancelledUnits, sum.ExpiredUnits, sum.CancelledUnits, turnedAway, resaleGrace))
	}

	inv := invariant("I6", "checkout window", bad,
		"%d samples of stock = remaining + held + paid (%d unread); %d winners: paid %d, expired %d, cancelled %d, still held %d (PostgreSQL; Redis paid %d, expired %d, cancelled %d units); %d units sold again; %d actions in doubt",
		sum.Samples, sum.Unread, sum.Winners, sum.Paid, sum.Expired, sum.Cancelled, sum.Held, f.Paid, f.Expired, f.Cancelled, sum.ResoldUnits, sum.InDoubt)
	return inv, sum
}

// expected reports whether answer is one a winner of kind k may get: a
// payment or cancellation inside the window wins, or loses to the expiry
// (a late scheduler); a late payment loses. Anything else (no answer, a
// 5xx, a 404) is an error of the run, though not by itself a broken I6.
func expected(k checkout.Kind, answer string) bool {
	switch k {
	case checkout.Pay:
		return answer == "paid" || answer == "order_expired"
	case checkout.Cancel:
		return answer == "cancelled" || answer == "order_expired"
	case checkout.LatePay:
		return answer == "order_expired"
	}
	return false
}

func holdName(h string) string {
	if h == "" {
		return "(not persisted, or without a hold)"
	}
	return h
}

// CleanupPayments removes the idempotency records of the harness's
// payments (24 h each by contract, like the orders' records Cleanup
// removes).
func (c *Checker) CleanupPayments(ctx context.Context, sale string, orders []checkout.Order) error {
	var keys []string
	for _, o := range orders {
		if o.Action != nil && o.Kind != checkout.Cancel && o.Action.Answer != checkout.NotSent {
			keys = append(keys, ledgerkeys.PayIdem(sale, o.User, checkout.PaymentKey(o.OrderID)))
		}
	}
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		if err := c.rdb.Do(ctx, c.rdb.B().Unlink().Key(keys[:n]...).Build()).Error(); err != nil {
			return fmt.Errorf("verify: cleanup payments: %w", err)
		}
		keys = keys[n:]
	}
	return nil
}
