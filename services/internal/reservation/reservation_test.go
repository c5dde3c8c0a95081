package reservation_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/testkit"
	"github.com/blitzbuy/blitzbuy/testkit/ledgerkeys"
)

// These tests run the Lua scripts through Store against the real Redis of the
// local stack. Every test works on sales of its own (unique ids) and deletes
// their keys when it ends, so they run beside other engineers' tests.

var seedFlag = flag.Uint64("reservation.seed", 0, "seed of TestRandomOpsKeepInvariants (0 = time-based)")

type fixture struct {
	rdb   rueidis.Client
	store *reservation.Store
}

var saleSeq atomic.Int64

func newFixture(tb testing.TB) *fixture { return newFixtureOn(tb, 0) }

// newFixtureOn is newFixture on Redis database db.
func newFixtureOn(tb testing.TB, db int) *fixture {
	tb.Helper()
	env := stacktest.Load(tb)
	rdb, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{env.RedisAddr}, SelectDB: db})
	if err != nil {
		tb.Fatalf("redis: %v", err)
	}
	tb.Cleanup(rdb.Close)
	store, err := reservation.New(rdb, reservation.Config{IdempotencyTTL: 24 * time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{rdb: rdb, store: store}
}

// saleID returns a fresh sale id whose keys are deleted when tb ends.
func (f *fixture) saleID(tb testing.TB) string {
	tb.Helper()
	id := fmt.Sprintf("rt%d-%s", saleSeq.Add(1), testkit.RandHex(4))
	tb.Cleanup(func() { stacktest.DeleteSale(f.rdb, id) })
	return id
}

// newSale creates an active, open-ended sale.
func (f *fixture) newSale(tb testing.TB, stock, limit int64, mutate ...func(*order.SaleSpec)) string {
	tb.Helper()
	spec := order.SaleSpec{ID: f.saleID(tb), Name: "test sale", Stock: stock, PerUserLimit: limit,
		StartsAt: time.Now().Add(-time.Hour)}
	for _, m := range mutate {
		m(&spec)
	}
	created, err := f.store.UpsertSale(context.Background(), spec)
	if err != nil || !created {
		tb.Fatalf("create sale %s: created %v, err %v", spec.ID, created, err)
	}
	return spec.ID
}

func (f *fixture) sale(tb testing.TB, id string) order.Sale {
	tb.Helper()
	s, err := f.store.Sale(context.Background(), id, time.Now())
	if err != nil {
		tb.Fatalf("sale %s: %v", id, err)
	}
	return s
}

func (f *fixture) counters(tb testing.TB, id string) order.Counters {
	tb.Helper()
	c, err := f.store.Counters(context.Background(), id, time.Now())
	if err != nil {
		tb.Fatalf("counters %s: %v", id, err)
	}
	return c
}

func (f *fixture) stage(tb testing.TB, orderID string) order.Stage {
	tb.Helper()
	st, err := f.store.Stage(context.Background(), orderID)
	if err != nil {
		tb.Fatalf("stage %s: %v", orderID, err)
	}
	return st
}

// reserve makes a request and fails the test on an infrastructure error.
func (f *fixture) reserve(tb testing.TB, sale, user, key string, qty int64) order.Reservation {
	tb.Helper()
	res, err := f.store.Reserve(context.Background(), order.Request{SaleID: sale, UserID: user, IdempotencyKey: key, Quantity: qty})
	if err != nil {
		tb.Fatalf("reserve %s/%s/%s qty %d: %v", sale, user, key, qty, err)
	}
	return res
}

// mustAccept reserves and fails the test unless the order is accepted.
func (f *fixture) mustAccept(tb testing.TB, sale, user, key string, qty int64) order.Order {
	tb.Helper()
	res := f.reserve(tb, sale, user, key, qty)
	if res.Err != nil {
		tb.Fatalf("reserve %s/%s qty %d: got %v, want accepted", user, key, qty, res.Err)
	}
	return res.Order
}

func errName(err error) string {
	if err == nil {
		return "accepted"
	}
	return err.Error()
}

func TestUpsertSaleCreates(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.saleID(t)
	starts := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	ends := starts.Add(2 * time.Hour)
	created, err := f.store.UpsertSale(ctx, order.SaleSpec{ID: id, Name: "phones", Stock: 100, PerUserLimit: 2, StartsAt: starts, EndsAt: &ends})
	if err != nil || !created {
		t.Fatalf("first upsert: created %v, err %v; want created, no error", created, err)
	}
	got := f.sale(t, id)
	if got.ID != id || got.Name != "phones" || got.Stock != 100 || got.Remaining != 100 || got.PerUserLimit != 2 ||
		!got.StartsAt.Equal(starts) || got.EndsAt == nil || !got.EndsAt.Equal(ends) || got.State != order.StateActive {
		t.Errorf("sale after create = %+v, want phones, stock 100, remaining 100, limit 2, %s..%s, active", got, starts, ends)
	}
	ids, err := f.store.SaleIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ids, id) {
		t.Errorf("SaleIDs does not list %s", id)
	}

	// An update rewrites every field; an open end clears the old end.
	starts2 := starts.Add(time.Second)
	created, err = f.store.UpsertSale(ctx, order.SaleSpec{ID: id, Name: "phones v2", Stock: 100, PerUserLimit: 5, StartsAt: starts2})
	if err != nil || created {
		t.Fatalf("second upsert: created %v, err %v; want updated, no error", created, err)
	}
	got = f.sale(t, id)
	if got.Name != "phones v2" || got.PerUserLimit != 5 || !got.StartsAt.Equal(starts2) || got.EndsAt != nil || got.Remaining != 100 {
		t.Errorf("sale after update = %+v, want phones v2, limit 5, starts %s, no end, remaining 100", got, starts2)
	}

	if _, err := f.store.Sale(ctx, f.saleID(t), time.Now()); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("Sale of an unknown id: got %v, want ErrNotFound", err)
	}
}

func TestUpsertSaleStockIsADelta(t *testing.T) {
	tests := []struct {
		name          string
		stock         int64
		sold          int64 // units reserved before the update
		newStock      int64
		wantCode      order.Code // "" = accepted
		wantStock     int64
		wantRemaining int64
	}{
		{name: "raise with nothing sold", stock: 10, newStock: 20, wantStock: 20, wantRemaining: 20},
		{name: "lower with nothing sold", stock: 10, newStock: 4, wantStock: 4, wantRemaining: 4},
		{name: "lower to zero with nothing sold", stock: 10, newStock: 0, wantStock: 0, wantRemaining: 0},
		{name: "raise after sales", stock: 10, sold: 3, newStock: 15, wantStock: 15, wantRemaining: 12},
		{name: "lower after sales", stock: 10, sold: 3, newStock: 5, wantStock: 5, wantRemaining: 2},
		{name: "lower to exactly what is sold", stock: 10, sold: 3, newStock: 3, wantStock: 3, wantRemaining: 0},
		{name: "refuse below what is sold", stock: 10, sold: 3, newStock: 2, wantCode: order.CodeStockBelowSold, wantStock: 10, wantRemaining: 7},
		{name: "refuse zero when sold out", stock: 2, sold: 2, newStock: 0, wantCode: order.CodeStockBelowSold, wantStock: 2, wantRemaining: 0},
	}
	f := newFixture(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := f.newSale(t, tc.stock, 100)
			for i := range tc.sold {
				f.mustAccept(t, id, fmt.Sprintf("buyer-%d", i), "k", 1)
			}
			spec := order.SaleSpec{ID: id, Name: "test sale", Stock: tc.newStock, PerUserLimit: 100, StartsAt: time.Now().Add(-time.Hour)}
			created, err := f.store.UpsertSale(context.Background(), spec)
			if tc.wantCode == "" {
				if err != nil || created {
					t.Fatalf("upsert: created %v, err %v; want updated", created, err)
				}
			} else {
				if got := order.CodeOf(err); got != tc.wantCode {
					t.Fatalf("upsert: got error %v (code %s), want code %s", err, got, tc.wantCode)
				}
				if !errors.Is(err, order.ErrStockBelowSold) {
					t.Errorf("upsert: errors.Is(%v, ErrStockBelowSold) = false", err)
				}
			}
			got := f.sale(t, id)
			if got.Stock != tc.wantStock || got.Remaining != tc.wantRemaining {
				t.Errorf("stock/remaining = %d/%d, want %d/%d", got.Stock, got.Remaining, tc.wantStock, tc.wantRemaining)
			}
		})
	}
}

func TestReserveOutcomes(t *testing.T) {
	hour := time.Hour
	tests := []struct {
		name    string
		stock   int64
		limit   int64
		starts  time.Duration  // from now
		ends    *time.Duration // from now; nil = open-ended
		held    []int64        // the buyer's earlier accepted orders
		others  int64          // units bought by other users first
		qty     int64
		wantErr error // nil = accepted
	}{
		{name: "accepted", stock: 10, limit: 2, starts: -hour, qty: 1},
		{name: "accepted up to the limit", stock: 10, limit: 3, starts: -hour, held: []int64{1}, qty: 2},
		{name: "accepted for the last units", stock: 5, limit: 5, starts: -hour, others: 3, qty: 2},
		{name: "accepted before the end", stock: 5, limit: 5, starts: -hour, ends: &hour, qty: 1},
		{name: "sold out", stock: 3, limit: 5, starts: -hour, others: 3, qty: 1, wantErr: order.ErrSoldOut},
		{name: "sold out when asking more than remains", stock: 3, limit: 5, starts: -hour, others: 1, qty: 3, wantErr: order.ErrSoldOut},
		{name: "limit with earlier orders", stock: 10, limit: 2, starts: -hour, held: []int64{2}, qty: 1, wantErr: order.ErrPurchaseLimit},
		{name: "limit in one order", stock: 10, limit: 2, starts: -hour, qty: 3, wantErr: order.ErrPurchaseLimit},
		{name: "limit is checked before stock", stock: 1, limit: 1, starts: -hour, others: 1, qty: 2, wantErr: order.ErrPurchaseLimit},
		{name: "not active before start", stock: 10, limit: 2, starts: hour, qty: 1, wantErr: order.ErrSaleNotActive},
		{name: "not active after end", stock: 10, limit: 2, starts: -2 * hour, ends: ptr(-hour), qty: 1, wantErr: order.ErrSaleNotActive},
		{name: "window is checked before stock", stock: 0, limit: 2, starts: hour, qty: 1, wantErr: order.ErrSaleNotActive},
	}
	f := newFixture(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := f.newSale(t, tc.stock, tc.limit, func(s *order.SaleSpec) {
				s.StartsAt = time.Now().Add(tc.starts)
				if tc.ends != nil {
					e := time.Now().Add(*tc.ends)
					s.EndsAt = &e
				}
			})
			for i := range tc.others {
				f.mustAccept(t, id, fmt.Sprintf("other-%d", i), "k", 1)
			}
			for i, q := range tc.held {
				f.mustAccept(t, id, "buyer", fmt.Sprintf("earlier-%d", i), q)
			}
			before := f.counters(t, id)

			start := time.Now()
			res := f.reserve(t, id, "buyer", "key-1", tc.qty)
			if !errors.Is(res.Err, tc.wantErr) || (tc.wantErr == nil) != (res.Err == nil) {
				t.Fatalf("outcome: got %s, want %s", errName(res.Err), errName(tc.wantErr))
			}
			if res.Replayed {
				t.Errorf("Replayed = true on a first request")
			}
			after := f.counters(t, id)
			if tc.wantErr != nil {
				if res.Order != (order.Order{}) {
					t.Errorf("rejected request returned order %+v, want none", res.Order)
				}
				if after.Remaining != before.Remaining || after.Pending != before.Pending || after.Buyers != before.Buyers {
					t.Errorf("rejection changed counters: before %+v, after %+v", before, after)
				}
				return
			}
			o := res.Order
			if sale, ok := order.SaleOfOrder(o.ID); !ok || sale != id {
				t.Errorf("order id %q: sale %q ok %v, want sale %q", o.ID, sale, ok, id)
			}
			if o.SaleID != id || o.UserID != "buyer" || o.Quantity != tc.qty || o.Status != order.StatusPending || o.IdempotencyKey != "key-1" {
				t.Errorf("order = %+v, want sale %s, user buyer, qty %d, pending, key key-1", o, id, tc.qty)
			}
			if d := o.ReservedAt.Sub(start); d < -5*time.Second || d > 5*time.Second {
				t.Errorf("ReservedAt %s is %s away from the request time %s", o.ReservedAt, d, start)
			}
			if got, want := after.Remaining, before.Remaining-tc.qty; got != want {
				t.Errorf("remaining = %d, want %d", got, want)
			}
			if got, want := after.Pending, before.Pending+1; got != want {
				t.Errorf("pending = %d, want %d", got, want)
			}
			if got := f.stage(t, o.ID); got != order.StagePending {
				t.Errorf("stage = %q, want pending", got)
			}
			read, err := f.store.Order(context.Background(), o.ID)
			if err != nil {
				t.Fatalf("Order(%s): %v", o.ID, err)
			}
			if read.ID != o.ID || read.UserID != o.UserID || read.Quantity != o.Quantity || read.Status != order.StatusPending ||
				read.IdempotencyKey != o.IdempotencyKey || !read.ReservedAt.Equal(o.ReservedAt) {
				t.Errorf("Order() = %+v, want %+v", read, o)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestReserveUnknownSale(t *testing.T) {
	f := newFixture(t)
	id := f.saleID(t)
	_, err := f.store.Reserve(context.Background(), order.Request{SaleID: id, UserID: "u", IdempotencyKey: "k", Quantity: 1})
	if !errors.Is(err, order.ErrNotFound) {
		t.Fatalf("reserve on unknown sale: got %v, want ErrNotFound", err)
	}
	if _, err := f.store.Counters(context.Background(), id, time.Now()); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("Counters of unknown sale: got %v, want ErrNotFound", err)
	}
}

func TestReserveIdempotency(t *testing.T) {
	type call struct {
		user, key string
		qty       int64
	}
	tests := []struct {
		name  string
		stock int64
		limit int64
		first call
		// between runs after the first call (e.g. restock, so a fresh request
		// would now get a different answer).
		between func(t *testing.T, f *fixture, sale string)
		second  call
		// want for the second call
		wantReused    bool
		wantReplayed  bool
		wantSameOrder bool
		wantErr       error
		wantRemaining int64
	}{
		{
			name: "accepted request replays", stock: 10, limit: 5,
			first: call{"alice", "k1", 2}, second: call{"alice", "k1", 2},
			wantReplayed: true, wantSameOrder: true, wantRemaining: 8,
		},
		{
			// sold_out is not remembered (docs/api.md): it reserved nothing,
			// so the same key after a restock is a fresh attempt.
			name: "sold out is not remembered: after a restock the same key buys", stock: 0, limit: 5,
			first: call{"alice", "k1", 1},
			between: func(t *testing.T, f *fixture, sale string) {
				restock(t, f, sale, 5, 5)
			},
			second: call{"alice", "k1", 1}, wantRemaining: 4,
		},
		{
			name: "limit is remembered after a limit raise", stock: 10, limit: 1,
			first: call{"alice", "k1", 2},
			between: func(t *testing.T, f *fixture, sale string) {
				restock(t, f, sale, 10, 5)
			},
			second: call{"alice", "k1", 2}, wantReplayed: true, wantSameOrder: true, wantErr: order.ErrPurchaseLimit, wantRemaining: 10,
		},
		{
			name: "key reused with another quantity", stock: 10, limit: 5,
			first: call{"alice", "k1", 1}, second: call{"alice", "k1", 2},
			wantReused: true, wantRemaining: 9,
		},
		{
			name: "key of a remembered rejection reused with another quantity", stock: 10, limit: 1,
			first: call{"alice", "k1", 2}, second: call{"alice", "k1", 1},
			wantReused: true, wantRemaining: 10,
		},
		{
			name: "same key by two users is two requests", stock: 10, limit: 5,
			first: call{"alice", "k1", 1}, second: call{"bob", "k1", 1},
			wantRemaining: 8,
		},
		{
			name: "new key by the same user is a new request", stock: 10, limit: 5,
			first: call{"alice", "k1", 1}, second: call{"alice", "k2", 1},
			wantRemaining: 8,
		},
	}
	f := newFixture(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := f.newSale(t, tc.stock, tc.limit)
			first := f.reserve(t, id, tc.first.user, tc.first.key, tc.first.qty)
			if tc.between != nil {
				tc.between(t, f, id)
			}
			second, err := f.store.Reserve(context.Background(), order.Request{SaleID: id, UserID: tc.second.user, IdempotencyKey: tc.second.key, Quantity: tc.second.qty})
			if tc.wantReused {
				if !errors.Is(err, order.ErrIdempotencyKeyReused) {
					t.Fatalf("second call: got %v, want ErrIdempotencyKeyReused", err)
				}
			} else {
				if err != nil {
					t.Fatalf("second call: %v", err)
				}
				if second.Replayed != tc.wantReplayed {
					t.Errorf("Replayed = %v, want %v", second.Replayed, tc.wantReplayed)
				}
				if !errors.Is(second.Err, tc.wantErr) || (tc.wantErr == nil) != (second.Err == nil) {
					t.Errorf("second outcome: got %s, want %s", errName(second.Err), errName(tc.wantErr))
				}
				// A remembered rejection is the same answer: no order at all.
				same := second.Order.ID == first.Order.ID && second.Order.Quantity == first.Order.Quantity
				if same != tc.wantSameOrder {
					t.Errorf("same order id = %v (%q vs %q), want %v", same, first.Order.ID, second.Order.ID, tc.wantSameOrder)
				}
				if tc.wantSameOrder && (second.Order.Quantity != first.Order.Quantity || !second.Order.ReservedAt.Equal(first.Order.ReservedAt)) {
					t.Errorf("replayed order %+v differs from the first %+v", second.Order, first.Order)
				}
			}
			if got := f.sale(t, id).Remaining; got != tc.wantRemaining {
				t.Errorf("remaining = %d, want %d", got, tc.wantRemaining)
			}
		})
	}
}

func restock(t *testing.T, f *fixture, sale string, stock, limit int64) {
	t.Helper()
	_, err := f.store.UpsertSale(context.Background(), order.SaleSpec{ID: sale, Name: "test sale", Stock: stock,
		PerUserLimit: limit, StartsAt: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatalf("restock: %v", err)
	}
}

func TestRelease(t *testing.T) {
	ctx := context.Background()
	pf, rj := order.ReleasePublishFailed, order.ReleaseRejected
	tests := []struct {
		name   string
		before func(t *testing.T, f *fixture, o order.Order)
		mode   order.ReleaseMode
		// want
		wantErr      error
		wantReturned bool // the stock and the user's count are back
		wantStage    order.Stage
	}{
		{name: "publish failed while pending", mode: pf, wantReturned: true, wantStage: order.StageReleased},
		{name: "publish failed twice", mode: pf, before: release(pf), wantErr: order.ErrNotOwned, wantReturned: true, wantStage: order.StageReleased},
		{name: "publish failed after ack", mode: pf, before: ack, wantErr: order.ErrNotOwned, wantStage: order.StagePublished},
		{name: "publish failed while a relay holds a lease", mode: pf, before: claim(time.Hour), wantErr: order.ErrNotOwned, wantStage: order.StagePending},
		{name: "publish failed after a lease expired", mode: pf, before: func(t *testing.T, f *fixture, o order.Order) {
			claim(30*time.Millisecond)(t, f, o)
			time.Sleep(100 * time.Millisecond)
		}, wantReturned: true, wantStage: order.StageReleased},
		{name: "publish failed after rejected", mode: pf, before: release(rj), wantErr: order.ErrNotOwned, wantReturned: true, wantStage: order.StageFailed},
		{name: "rejected while pending", mode: rj, wantReturned: true, wantStage: order.StageFailed},
		{name: "rejected after ack", mode: rj, before: ack, wantReturned: true, wantStage: order.StageFailed},
		{name: "rejected while a relay holds a lease", mode: rj, before: claim(time.Hour), wantReturned: true, wantStage: order.StageFailed},
		{name: "rejected twice", mode: rj, before: release(rj), wantErr: order.ErrNotOwned, wantReturned: true, wantStage: order.StageFailed},
		{name: "rejected after publish failed", mode: rj, before: release(pf), wantErr: order.ErrNotOwned, wantReturned: true, wantStage: order.StageReleased},
	}
	f := newFixture(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const stock, limit = 10, 2
			id := f.newSale(t, stock, limit)
			o := f.mustAccept(t, id, "alice", "key-1", 2)
			if tc.before != nil {
				tc.before(t, f, o)
			}
			err := f.store.Release(ctx, o, tc.mode)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("release: got %v, want %v", err, tc.wantErr)
			}
			c := f.counters(t, id)
			wantRemaining, wantBuyers := int64(stock-2), int64(1)
			if tc.wantReturned {
				wantRemaining, wantBuyers = stock, 0
			}
			if c.Remaining != wantRemaining || c.Buyers != wantBuyers {
				t.Errorf("remaining/buyers = %d/%d, want %d/%d", c.Remaining, c.Buyers, wantRemaining, wantBuyers)
			}
			if got := f.stage(t, o.ID); got != tc.wantStage {
				t.Errorf("stage = %q, want %q", got, tc.wantStage)
			}
			wantPending := int64(0)
			if tc.wantStage == order.StagePending {
				wantPending = 1
			}
			if c.Pending != wantPending {
				t.Errorf("outbox holds %d, want %d", c.Pending, wantPending)
			}

			// What the buyer sees next.
			read, err := f.store.Order(ctx, o.ID)
			switch tc.wantStage {
			case order.StageReleased:
				if !errors.Is(err, order.ErrNotFound) {
					t.Errorf("Order of a released reservation: got %+v, %v; want ErrNotFound", read, err)
				}
			case order.StageFailed:
				if err != nil || read.Status != order.StatusFailed {
					t.Errorf("Order of a rejected reservation: got %+v, %v; want status failed", read, err)
				}
			default:
				if err != nil || read.Status != order.StatusPending {
					t.Errorf("Order of a live reservation: got %+v, %v; want status pending", read, err)
				}
			}
			again := f.reserve(t, id, "alice", "key-1", 2)
			switch tc.wantStage {
			case order.StageReleased:
				// The idempotency record is gone: the client's retry with the
				// same key is a new request, and the user's count was returned
				// (limit 2 would refuse it otherwise).
				if again.Replayed || again.Err != nil || again.Order.ID == o.ID {
					t.Errorf("retry after release: Replayed %v, outcome %s, id %q; want a new accepted order", again.Replayed, errName(again.Err), again.Order.ID)
				}
			default:
				if !again.Replayed || again.Err != nil || again.Order.ID != o.ID {
					t.Errorf("retry: Replayed %v, outcome %s, id %q; want a replay of %q", again.Replayed, errName(again.Err), again.Order.ID, o.ID)
				}
			}
			if tc.wantStage == order.StageFailed {
				// The user's count was returned: a new key is accepted again.
				if res := f.reserve(t, id, "alice", "key-2", 2); res.Err != nil {
					t.Errorf("new order after a rejection: got %s, want accepted", errName(res.Err))
				}
			}
		})
	}
}

func release(mode order.ReleaseMode) func(t *testing.T, f *fixture, o order.Order) {
	return func(t *testing.T, f *fixture, o order.Order) {
		t.Helper()
		if err := f.store.Release(context.Background(), o, mode); err != nil {
			t.Fatalf("first release (%s): %v", mode, err)
		}
	}
}

func ack(t *testing.T, f *fixture, o order.Order) {
	t.Helper()
	if err := f.store.Ack(context.Background(), o.SaleID, o.ID); err != nil {
		t.Fatalf("ack: %v", err)
	}
}

func claim(lease time.Duration) func(t *testing.T, f *fixture, o order.Order) {
	return func(t *testing.T, f *fixture, o order.Order) {
		t.Helper()
		if _, ok, err := f.store.Claim(context.Background(), o.SaleID, o.ID, lease); err != nil || !ok {
			t.Fatalf("claim: ok %v, err %v; want the lease", ok, err)
		}
	}
}

func TestReleaseUnknownOrder(t *testing.T) {
	f := newFixture(t)
	id := f.newSale(t, 10, 2)
	oid, err := order.NewOrderID(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []order.ReleaseMode{order.ReleasePublishFailed, order.ReleaseRejected} {
		t.Run(string(mode), func(t *testing.T) {
			o := order.Order{ID: oid, SaleID: id, UserID: "alice", Quantity: 1, IdempotencyKey: "k"}
			if err := f.store.Release(context.Background(), o, mode); !errors.Is(err, order.ErrNotFound) {
				t.Errorf("release: got %v, want ErrNotFound", err)
			}
			if got := f.sale(t, id).Remaining; got != 10 {
				t.Errorf("remaining = %d, want 10 (untouched)", got)
			}
		})
	}
}

func TestReleaseUnknownMode(t *testing.T) {
	f := newFixture(t)
	id := f.newSale(t, 10, 2)
	o := f.mustAccept(t, id, "alice", "k", 1)
	err := f.store.Release(context.Background(), o, order.ReleaseMode("whatever"))
	if err == nil || errors.Is(err, order.ErrNotOwned) || errors.Is(err, order.ErrNotFound) {
		t.Errorf("release with an unknown mode: got %v, want a script error", err)
	}
	if got := f.sale(t, id).Remaining; got != 9 {
		t.Errorf("remaining = %d, want 9 (untouched)", got)
	}
}

func TestClaim(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	pendingKey := ledgerkeys.Pending

	t.Run("lease is exclusive while live", func(t *testing.T) {
		id := f.newSale(t, 10, 5)
		o := f.mustAccept(t, id, "alice", "k1", 2)
		got, ok, err := f.store.Claim(ctx, id, o.ID, time.Hour)
		if err != nil || !ok {
			t.Fatalf("first claim: ok %v, err %v; want the lease", ok, err)
		}
		if got.ID != o.ID || got.SaleID != id || got.UserID != o.UserID || got.Quantity != o.Quantity ||
			got.IdempotencyKey != o.IdempotencyKey || !got.ReservedAt.Equal(o.ReservedAt) || got.Status != order.StatusPending {
			t.Errorf("claimed order = %+v, want %+v", got, o)
		}
		if _, ok, err := f.store.Claim(ctx, id, o.ID, time.Hour); err != nil || ok {
			t.Errorf("second claim during the lease: ok %v, err %v; want refused", ok, err)
		}
		if c := f.counters(t, id); c.Pending != 1 {
			t.Errorf("outbox holds %d after a refused claim, want 1 (still pending)", c.Pending)
		}
	})

	t.Run("lease can be retaken when expired", func(t *testing.T) {
		id := f.newSale(t, 10, 5)
		o := f.mustAccept(t, id, "alice", "k1", 1)
		if _, ok, err := f.store.Claim(ctx, id, o.ID, 30*time.Millisecond); err != nil || !ok {
			t.Fatalf("first claim: ok %v, err %v", ok, err)
		}
		time.Sleep(100 * time.Millisecond)
		if _, ok, err := f.store.Claim(ctx, id, o.ID, time.Hour); err != nil || !ok {
			t.Errorf("claim after the lease expired: ok %v, err %v; want the lease", ok, err)
		}
	})

	t.Run("acked order is dropped from the outbox", func(t *testing.T) {
		id := f.newSale(t, 10, 5)
		o := f.mustAccept(t, id, "alice", "k1", 1)
		ack(t, f, o)
		// Put it back into the outbox, as a crash between two writes might.
		if err := f.rdb.Do(ctx, f.rdb.B().Zadd().Key(pendingKey(id)).ScoreMember().
			ScoreMember(float64(o.ReservedAt.UnixMilli()), o.ID).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := f.store.Claim(ctx, id, o.ID, time.Hour); err != nil || ok {
			t.Errorf("claim of a published order: ok %v, err %v; want refused", ok, err)
		}
		stale, err := f.store.Stale(ctx, id, time.Now().Add(time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(stale) != 0 {
			t.Errorf("outbox after the claim = %v, want empty", stale)
		}
		if got := f.stage(t, o.ID); got != order.StagePublished {
			t.Errorf("stage = %q, want published (a claim never changes it)", got)
		}
	})

	for _, tc := range []struct {
		name   string
		before func(t *testing.T, f *fixture, o order.Order)
	}{
		{name: "released order", before: release(order.ReleasePublishFailed)},
		{name: "rejected order", before: release(order.ReleaseRejected)},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			id := f.newSale(t, 10, 5)
			o := f.mustAccept(t, id, "alice", "k1", 1)
			tc.before(t, f, o)
			if _, ok, err := f.store.Claim(ctx, id, o.ID, time.Hour); err != nil || ok {
				t.Errorf("claim: ok %v, err %v; want refused", ok, err)
			}
		})
	}

	t.Run("unknown order is refused and dropped", func(t *testing.T) {
		id := f.newSale(t, 10, 5)
		oid, _ := order.NewOrderID(id)
		if err := f.rdb.Do(ctx, f.rdb.B().Zadd().Key(pendingKey(id)).ScoreMember().ScoreMember(1, oid).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := f.store.Claim(ctx, id, oid, time.Hour); err != nil || ok {
			t.Errorf("claim: ok %v, err %v; want refused", ok, err)
		}
		if c := f.counters(t, id); c.Pending != 0 {
			t.Errorf("outbox holds %d, want 0", c.Pending)
		}
	})
}

func TestStale(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	id := f.newSale(t, 10, 5)
	older := f.mustAccept(t, id, "alice", "k1", 1)
	// Scores are Redis milliseconds: make sure the next one is later.
	time.Sleep(10 * time.Millisecond)
	newer := f.mustAccept(t, id, "bob", "k1", 1)
	if !newer.ReservedAt.After(older.ReservedAt) {
		t.Fatalf("reservations at %s and %s, want the second later", older.ReservedAt, newer.ReservedAt)
	}

	tests := []struct {
		name   string
		cutoff time.Time
		limit  int64
		want   []string
	}{
		{name: "cutoff before both", cutoff: older.ReservedAt.Add(-time.Millisecond), limit: 100, want: nil},
		{name: "cutoff at the older one", cutoff: older.ReservedAt, limit: 100, want: []string{older.ID}},
		{name: "cutoff between", cutoff: newer.ReservedAt.Add(-time.Millisecond), limit: 100, want: []string{older.ID}},
		{name: "cutoff after both", cutoff: newer.ReservedAt.Add(time.Hour), limit: 100, want: []string{older.ID, newer.ID}},
		{name: "limit keeps the oldest", cutoff: newer.ReservedAt.Add(time.Hour), limit: 1, want: []string{older.ID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.store.Stale(ctx, id, tc.cutoff, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Stale = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("acked orders leave", func(t *testing.T) {
		ack(t, f, older)
		got, err := f.store.Stale(ctx, id, newer.ReservedAt.Add(time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{newer.ID}; !slices.Equal(got, want) {
			t.Errorf("Stale after ack = %v, want %v", got, want)
		}
	})
}

func TestAckIsIdempotent(t *testing.T) {
	f := newFixture(t)
	id := f.newSale(t, 10, 5)
	o := f.mustAccept(t, id, "alice", "k1", 1)
	for i := range 2 {
		ack(t, f, o)
		if got := f.stage(t, o.ID); got != order.StagePublished {
			t.Errorf("ack #%d: stage = %q, want published", i+1, got)
		}
	}
	if c := f.counters(t, id); c.Pending != 0 || c.Remaining != 9 {
		t.Errorf("pending/remaining = %d/%d, want 0/9", c.Pending, c.Remaining)
	}
}

func TestCounters(t *testing.T) {
	f := newFixture(t)
	id := f.newSale(t, 10, 5)
	a1 := f.mustAccept(t, id, "alice", "k1", 2)
	f.mustAccept(t, id, "alice", "k2", 1)
	b1 := f.mustAccept(t, id, "bob", "k1", 3)
	f.mustAccept(t, id, "carol", "k1", 1)
	ack(t, f, a1)
	if err := f.store.Release(context.Background(), b1, order.ReleasePublishFailed); err != nil {
		t.Fatal(err)
	}
	// alice: 2 (published) + 1 (pending); bob released; carol 1 (pending).
	got := f.counters(t, id)
	if got.ID != id || got.Stock != 10 || got.Remaining != 6 || got.Sold != 4 || got.Pending != 2 || got.Buyers != 2 || got.State != order.StateActive {
		t.Errorf("counters = %+v, want stock 10, remaining 6, sold 4, pending 2, buyers 2, active", got)
	}

	// Sold out shows in the state.
	f.mustAccept(t, id, "dave", "k1", 5)
	f.mustAccept(t, id, "erin", "k1", 1)
	if got := f.counters(t, id); got.Remaining != 0 || got.State != order.StateSoldOut {
		t.Errorf("after selling the rest: remaining %d, state %q; want 0, sold_out", got.Remaining, got.State)
	}
}

// TestRandomOpsKeepInvariants drives one sale with a random (seeded) mix of
// reserve, replay, ack, claim and both kinds of release by 20 users, and after
// every step checks, against Redis itself: stock = remaining + live
// reservations (I1), no user holds more than the limit (I4), and every answer
// matches a simple model of the rules.
func TestRandomOpsKeepInvariants(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -reservation.seed=%d)", seed, seed)
	rng := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	const (
		stock = 40
		limit = 3
		users = 20
	)
	const steps = 400
	ctx := context.Background()
	f := newFixture(t)
	id := f.newSale(t, stock, limit)

	type modelOrder struct {
		o       order.Order
		stage   order.Stage
		claimed bool
	}
	type idemRec struct {
		user, key string
		qty       int64
		err       error
		orderIdx  int // -1 unless accepted
		dropped   bool
	}
	var (
		orders    []*modelOrder
		recs      []*idemRec
		recOf     = map[[2]string]*idemRec{}
		held      = map[string]int64{}
		remaining = int64(stock)
		keySeq    int
	)
	isLive := func(st order.Stage) bool {
		return st == order.StagePending || st == order.StagePublished
	}

	// reserveOp sends one request and checks the answer against the model.
	reserveOp := func(step int, user, key string, qty int64) {
		res, err := f.store.Reserve(ctx, order.Request{SaleID: id, UserID: user, IdempotencyKey: key, Quantity: qty})
		rec := recOf[[2]string{user, key}]
		if rec != nil && !rec.dropped {
			if rec.qty != qty {
				if !errors.Is(err, order.ErrIdempotencyKeyReused) {
					t.Fatalf("step %d: reuse of %s/%s with qty %d (was %d): got %v, want ErrIdempotencyKeyReused", step, user, key, qty, rec.qty, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("step %d: replay %s/%s: %v", step, user, key, err)
			}
			if !res.Replayed || !errors.Is(res.Err, rec.err) || (rec.err == nil) != (res.Err == nil) {
				t.Fatalf("step %d: replay %s/%s: Replayed %v outcome %s, want replay of %s", step, user, key, res.Replayed, errName(res.Err), errName(rec.err))
			}
			if rec.orderIdx >= 0 && res.Order.ID != orders[rec.orderIdx].o.ID {
				t.Fatalf("step %d: replay %s/%s: order %s, want %s", step, user, key, res.Order.ID, orders[rec.orderIdx].o.ID)
			}
			return
		}
		if err != nil {
			t.Fatalf("step %d: reserve %s/%s qty %d: %v", step, user, key, qty, err)
		}
		var want error
		switch {
		case held[user]+qty > limit:
			want = order.ErrPurchaseLimit
		case remaining < qty:
			want = order.ErrSoldOut
		}
		if res.Replayed || !errors.Is(res.Err, want) || (want == nil) != (res.Err == nil) {
			t.Fatalf("step %d: reserve %s/%s qty %d (held %d, remaining %d): Replayed %v outcome %s, want new %s",
				step, user, key, qty, held[user], remaining, res.Replayed, errName(res.Err), errName(want))
		}
		// A sold-out answer is not remembered: the key stays fresh.
		rec = &idemRec{user: user, key: key, qty: qty, err: want, orderIdx: -1, dropped: want == order.ErrSoldOut}
		if want == nil {
			orders = append(orders, &modelOrder{o: res.Order, stage: order.StagePending})
			rec.orderIdx = len(orders) - 1
			held[user] += qty
			remaining -= qty
		}
		recOf[[2]string{user, key}] = rec
		recs = append(recs, rec)
	}

	counts := map[string]int{}
	for step := range steps {
		op := rng.IntN(100)
		switch {
		case op < 40 || len(orders) == 0:
			counts["reserve"]++
			keySeq++
			reserveOp(step, fmt.Sprintf("user-%02d", rng.IntN(users)), "key-"+strconv.Itoa(keySeq), 1+rng.Int64N(2))
		case op < 50 && len(recs) > 0:
			counts["replay"]++
			r := recs[rng.IntN(len(recs))]
			qty := r.qty
			if rng.IntN(4) == 0 {
				qty = 1 + rng.Int64N(3) // sometimes another body
			}
			reserveOp(step, r.user, r.key, qty)
		case op < 65:
			counts["ack"]++
			m := orders[rng.IntN(len(orders))]
			if err := f.store.Ack(ctx, id, m.o.ID); err != nil {
				t.Fatalf("step %d: ack: %v", step, err)
			}
			if m.stage == order.StagePending {
				m.stage, m.claimed = order.StagePublished, false
			}
		case op < 70:
			counts["claim"]++
			m := orders[rng.IntN(len(orders))]
			_, ok, err := f.store.Claim(ctx, id, m.o.ID, time.Hour)
			want := m.stage == order.StagePending && !m.claimed
			if err != nil || ok != want {
				t.Fatalf("step %d: claim of %s order (claimed %v): ok %v err %v, want ok %v", step, m.stage, m.claimed, ok, err, want)
			}
			if ok {
				m.claimed = true
			}
		default:
			m := orders[rng.IntN(len(orders))]
			mode, wantOK := order.ReleaseRejected, isLive(m.stage)
			if op < 88 {
				mode, wantOK = order.ReleasePublishFailed, m.stage == order.StagePending && !m.claimed
			}
			counts["release "+string(mode)]++
			err := f.store.Release(ctx, m.o, mode)
			switch {
			case wantOK && err != nil:
				t.Fatalf("step %d: release (%s) of %s order: %v, want released", step, mode, m.stage, err)
			case !wantOK && !errors.Is(err, order.ErrNotOwned):
				t.Fatalf("step %d: release (%s) of %s order (claimed %v): %v, want ErrNotOwned", step, mode, m.stage, m.claimed, err)
			}
			if wantOK {
				held[m.o.UserID] -= m.o.Quantity
				remaining += m.o.Quantity
				m.stage = order.StageFailed
				if mode == order.ReleasePublishFailed {
					m.stage = order.StageReleased
					recOf[[2]string{m.o.UserID, m.o.IdempotencyKey}].dropped = true
				}
			}
		}

		// Invariants, read from Redis.
		sale := f.sale(t, id)
		cmds := make(rueidis.Commands, 0, len(orders)+1)
		cmds = append(cmds, f.rdb.B().Hgetall().Key(ledgerkeys.Users(id)).Build())
		for _, m := range orders {
			cmds = append(cmds, f.rdb.B().Hget().Key(ledgerkeys.Order(id, m.o.ID)).Field("status").Build())
		}
		replies := f.rdb.DoMulti(ctx, cmds...)
		heldRedis, err := replies[0].AsIntMap()
		if err != nil {
			t.Fatalf("step %d: users hash: %v", step, err)
		}
		var live int64
		liveBy := map[string]int64{}
		for i, m := range orders {
			st, err := replies[i+1].ToString()
			if err != nil {
				t.Fatalf("step %d: status of %s: %v", step, m.o.ID, err)
			}
			if order.Stage(st) != m.stage {
				t.Fatalf("step %d: order %s is %q in Redis, want %q", step, m.o.ID, st, m.stage)
			}
			if isLive(order.Stage(st)) {
				live += m.o.Quantity
				liveBy[m.o.UserID] += m.o.Quantity
			}
		}
		if sale.Remaining < 0 || sale.Stock != sale.Remaining+live {
			t.Fatalf("step %d: I1 broken: stock %d, remaining %d, live reservations %d", step, sale.Stock, sale.Remaining, live)
		}
		if sale.Remaining != remaining {
			t.Fatalf("step %d: remaining %d, model says %d", step, sale.Remaining, remaining)
		}
		for u, n := range heldRedis {
			if n > limit || n <= 0 {
				t.Fatalf("step %d: I4 broken: user %s holds %d (limit %d)", step, u, n, limit)
			}
		}
		for u, n := range liveBy {
			if heldRedis[u] != n {
				t.Fatalf("step %d: user %s counted %d, live reservations %d", step, u, heldRedis[u], n)
			}
		}
		if len(heldRedis) != len(liveBy) {
			t.Fatalf("step %d: users hash %v, live reservations by user %v", step, heldRedis, liveBy)
		}
	}
	t.Logf("%d steps %v, %d orders, %d left", steps, counts, len(orders), remaining)
}

// BenchmarkReserve measures one reservation round trip (the Lua script over
// rueidis auto-pipelining) under parallel load by distinct users.
func BenchmarkReserve(b *testing.B) {
	for _, bc := range []struct {
		name   string
		stock  int64
		accept bool
	}{
		{name: "accepted", stock: 1 << 40, accept: true},
		{name: "sold_out", stock: 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b)
			id := f.newSale(b, bc.stock, 10)
			ctx := context.Background()
			prefix := testkit.RandHex(4)
			var users atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					user := prefix + "-" + strconv.FormatInt(users.Add(1), 36)
					res, err := f.store.Reserve(ctx, order.Request{SaleID: id, UserID: user, IdempotencyKey: "k", Quantity: 1})
					if err != nil {
						b.Error(err)
						return
					}
					if (res.Err == nil) != bc.accept {
						b.Errorf("outcome %s, want accepted %v", errName(res.Err), bc.accept)
						return
					}
				}
			})
			b.StopTimer()
		})
	}
}
