package reservation_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
)

// A sale whose Redis keys are gone (Redis lost its data) is rebuilt from
// what PostgreSQL holds: remaining, per-user counts, and the idempotency
// records of accepted orders, so a retry replays the same order id.
func TestRestoreRebuildsALostSale(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sale := f.newSale(t, 10, 2)
	spec := order.SaleSpec{ID: sale, Name: "test sale", Stock: 10, PerUserLimit: 2, StartsAt: time.Now().Add(-time.Hour)}
	alice := f.reserve(t, sale, "alice", "a1", 2)
	bob := f.reserve(t, sale, "bob", "b1", 1)
	var persisted []order.Order
	for _, r := range []order.Reservation{alice, bob} {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		o := r.Order
		o.Status = order.StatusConfirmed
		persisted = append(persisted, o)
	}

	stacktest.DeleteSale(f.rdb, sale) // Redis forgot the sale
	if _, err := f.store.Reserve(ctx, order.Request{SaleID: sale, UserID: "carol", IdempotencyKey: "c1", Quantity: 1}); !errors.Is(err, order.ErrNotFound) {
		t.Fatalf("reserve on a lost sale: %v, want not_found", err)
	}
	if err := f.store.Restore(ctx, spec, persisted, time.Now()); err != nil {
		t.Fatal(err)
	}

	st, err := f.store.State(ctx, sale)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Exists || st.Stock != 10 || st.Remaining != 7 || st.Limit != 2 || st.Users["alice"] != 2 || st.Users["bob"] != 1 || st.Pending != 0 {
		t.Errorf("state after restore %+v, want stock 10 remaining 7 limit 2, alice 2 bob 1, nothing pending", st)
	}
	again := f.reserve(t, sale, "alice", "a1", 2)
	if again.Err != nil || !again.Replayed || again.Order.ID != alice.Order.ID || !again.Order.ReservedAt.Equal(alice.Order.ReservedAt) {
		t.Errorf("alice's retry after the rebuild: %+v, want the replay of %s", again, alice.Order.ID)
	}
	if got := f.stage(t, alice.Order.ID); got != order.StageConfirmed {
		t.Errorf("stage of a restored order %q, want confirmed", got)
	}
	if _, err := f.store.Reserve(ctx, order.Request{SaleID: sale, UserID: "alice", IdempotencyKey: "a1", Quantity: 1}); !errors.Is(err, order.ErrIdempotencyKeyReused) {
		t.Errorf("alice's key with another quantity: %v, want idempotency_key_reused", err)
	}
	if r := f.reserve(t, sale, "alice", "a2", 1); !errors.Is(r.Err, order.ErrPurchaseLimit) {
		t.Errorf("alice over her limit after the rebuild: %v, want purchase_limit_reached", r.Err)
	}
	for i, u := range []string{"c", "d", "e"} {
		if r := f.reserve(t, sale, u, u+"1", 2); r.Err != nil {
			t.Fatalf("buyer %d: %v", i, r.Err)
		}
	}
	if r := f.reserve(t, sale, "f", "f1", 2); !errors.Is(r.Err, order.ErrSoldOut) {
		t.Errorf("after 3 + 6 of 10 units, 2 more: %v, want sold_out (1 left)", r.Err)
	}
	if r := f.reserve(t, sale, "f", "f2", 1); r.Err != nil {
		t.Errorf("the last unit: %v, want accepted", r.Err)
	}
}

// Freeze stops orders at once; a Restore that would open an oversold sale is
// refused and writes nothing.
func TestFreezeAndRefusedRestore(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sale := f.newSale(t, 5, 5)
	if err := f.store.Freeze(ctx, sale); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Reserve(ctx, order.Request{SaleID: sale, UserID: "u", IdempotencyKey: "k", Quantity: 1}); !errors.Is(err, order.ErrNotFound) {
		t.Fatalf("reserve on a frozen sale: %v, want not_found", err)
	}
	if st, err := f.store.State(ctx, sale); err != nil || st.Exists {
		t.Fatalf("state of a frozen sale: %+v, %v; want no sale hash", st, err)
	}
	spec := order.SaleSpec{ID: sale, Name: "test sale", Stock: 1, PerUserLimit: 5, StartsAt: time.Now().Add(-time.Hour)}
	two := []order.Order{
		{ID: sale + ".a", SaleID: sale, UserID: "u1", Quantity: 1, IdempotencyKey: "k1", ReservedAt: time.Now()},
		{ID: sale + ".b", SaleID: sale, UserID: "u2", Quantity: 1, IdempotencyKey: "k2", ReservedAt: time.Now()},
	}
	if err := f.store.Restore(ctx, spec, two, time.Now()); err == nil {
		t.Fatal("restore of 2 units into a stock of 1: no error")
	}
	if st, err := f.store.State(ctx, sale); err != nil || st.Exists || len(st.Users) != 0 {
		t.Errorf("state after a refused restore: %+v, %v; want nothing written", st, err)
	}
}
