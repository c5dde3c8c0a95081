package reservation_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/testkit/ledgerkeys"
)

// The sold-out view: once the script answered sold_out for one unit, Store
// answers sold_out from memory for Config.SoldOutView — checking only that
// the key has no record — and forgets it when this instance gives stock back.

func (f *fixture) viewStore(tb testing.TB, view time.Duration) *reservation.Store {
	tb.Helper()
	s, err := reservation.New(f.rdb, reservation.Config{IdempotencyTTL: 24 * time.Hour, SoldOutView: view})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func reserveWith(tb testing.TB, s *reservation.Store, sale, user, key string, qty int64) order.Reservation {
	tb.Helper()
	res, err := s.Reserve(context.Background(), order.Request{SaleID: sale, UserID: user, IdempotencyKey: key, Quantity: qty})
	if err != nil {
		tb.Fatalf("reserve %s/%s/%s: %v", sale, user, key, err)
	}
	return res
}

// giveBack puts one unit back behind the store's back, as another API
// instance's release or the writer's compensation would.
func (f *fixture) giveBack(tb testing.TB, sale string) {
	tb.Helper()
	if err := f.rdb.Do(context.Background(), f.rdb.B().Hincrby().Key(ledgerkeys.Sale(sale)).Field("remaining").Increment(1).Build()).Error(); err != nil {
		tb.Fatal(err)
	}
}

// Within the view the answer comes from memory (a unit given back elsewhere
// is not seen, and nothing is written); after it, the script runs again.
func TestSoldOutViewBoundsHowLongStockGoesUnseen(t *testing.T) {
	f := newFixture(t)
	const view = 2 * time.Second
	s := f.viewStore(t, view)
	sale := f.newSale(t, 1, 5)
	if res := reserveWith(t, s, sale, "alice", "a1", 1); res.Err != nil {
		t.Fatalf("first unit: %v", res.Err)
	}
	learned := time.Now()
	if res := reserveWith(t, s, sale, "bob", "b1", 1); !errors.Is(res.Err, order.ErrSoldOut) {
		t.Fatalf("bob: %v, want sold_out from the script", res.Err)
	}
	f.giveBack(t, sale)
	res := reserveWith(t, s, sale, "carol", "c1", 1)
	if time.Since(learned) >= view {
		t.Fatalf("the machine stalled past the view (%s); the view could not be observed", time.Since(learned))
	}
	if !errors.Is(res.Err, order.ErrSoldOut) || res.Replayed {
		t.Fatalf("carol inside the view: %v replayed %v, want sold_out from memory", res.Err, res.Replayed)
	}
	if n, _ := f.rdb.Do(context.Background(), f.rdb.B().Exists().Key(ledgerkeys.Idem(sale, "carol", "c1")).Build()).AsInt64(); n != 0 {
		t.Errorf("a sold-out answer left an idempotency record")
	}
	time.Sleep(time.Until(learned.Add(view + 100*time.Millisecond)))
	if res := reserveWith(t, s, sale, "carol", "c1", 1); res.Err != nil || res.Replayed {
		t.Fatalf("carol after the view, same key: %v replayed %v, want accepted (a sold-out answer is not remembered)", res.Err, res.Replayed)
	}
}

// An accepted order's retry is answered by the script, view or not.
func TestSoldOutViewReplaysAcceptedOrders(t *testing.T) {
	f := newFixture(t)
	s := f.viewStore(t, 10*time.Second)
	sale := f.newSale(t, 1, 5)
	first := reserveWith(t, s, sale, "alice", "a1", 1)
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	if res := reserveWith(t, s, sale, "bob", "b1", 1); !errors.Is(res.Err, order.ErrSoldOut) {
		t.Fatalf("bob: %v, want sold_out", res.Err)
	}
	again := reserveWith(t, s, sale, "alice", "a1", 1)
	if again.Err != nil || !again.Replayed || again.Order.ID != first.Order.ID {
		t.Fatalf("alice's retry: %+v, want the replay of %s", again, first.Order.ID)
	}
	if _, err := s.Reserve(context.Background(), order.Request{SaleID: sale, UserID: "alice", IdempotencyKey: "a1", Quantity: 2}); !errors.Is(err, order.ErrIdempotencyKeyReused) {
		t.Errorf("alice's key with another quantity: %v, want idempotency_key_reused", err)
	}
}

// Stock this instance gives back is offered at once: a top-up, a release.
func TestSoldOutViewForgottenWhenThisInstanceGivesStockBack(t *testing.T) {
	f := newFixture(t)
	s := f.viewStore(t, 10*time.Second)
	sale := f.newSale(t, 1, 5)
	alice := reserveWith(t, s, sale, "alice", "a1", 1)
	if res := reserveWith(t, s, sale, "bob", "b1", 1); !errors.Is(res.Err, order.ErrSoldOut) {
		t.Fatalf("bob: %v, want sold_out", res.Err)
	}
	if err := s.Release(context.Background(), alice.Order, order.ReleasePublishFailed); err != nil {
		t.Fatal(err)
	}
	if res := reserveWith(t, s, sale, "bob", "b2", 1); res.Err != nil {
		t.Fatalf("bob after a release: %v, want accepted", res.Err)
	}
	if res := reserveWith(t, s, sale, "carol", "c1", 1); !errors.Is(res.Err, order.ErrSoldOut) {
		t.Fatalf("carol: %v, want sold_out", res.Err)
	}
	if _, err := s.UpsertSale(context.Background(), order.SaleSpec{ID: sale, Name: "test sale", Stock: 2, PerUserLimit: 5,
		StartsAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if res := reserveWith(t, s, sale, "carol", "c2", 1); res.Err != nil {
		t.Fatalf("carol after a top-up: %v, want accepted", res.Err)
	}
}

// sold_out for 3 units says nothing about 1: only a one-unit refusal (not a
// single unit left) feeds the view.
func TestSoldOutViewOnlyWhenNoUnitIsLeft(t *testing.T) {
	f := newFixture(t)
	s := f.viewStore(t, 10*time.Second)
	sale := f.newSale(t, 2, 5)
	if res := reserveWith(t, s, sale, "alice", "a1", 3); !errors.Is(res.Err, order.ErrSoldOut) {
		t.Fatalf("3 of 2: %v, want sold_out", res.Err)
	}
	if res := reserveWith(t, s, sale, "bob", "b1", 1); res.Err != nil {
		t.Fatalf("1 of 2: %v, want accepted", res.Err)
	}
}

func TestSoldOutViewSettings(t *testing.T) {
	for _, tc := range []struct {
		view    time.Duration
		wantErr bool
	}{{0, false}, {250 * time.Millisecond, false}, {reservation.MaxSoldOutView, false}, {-time.Millisecond, true}, {reservation.MaxSoldOutView + 1, true}} {
		_, err := reservation.New(nil, reservation.Config{IdempotencyTTL: 24 * time.Hour, SoldOutView: tc.view})
		if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, reservation.ErrSoldOutView)) {
			t.Errorf("view %s: error %v, want error %v", tc.view, err, tc.wantErr)
		}
	}
}
