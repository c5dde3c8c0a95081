package reservation_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
)

// fakeDefinitions is the durable ledger's list of sales.
type fakeDefinitions struct {
	defined map[string]bool
	calls   atomic.Int64
}

func (d *fakeDefinitions) Defined(_ context.Context, saleID string) (bool, error) {
	d.calls.Add(1)
	return d.defined[saleID], nil
}

// A sale the durable ledger defines but Redis lacks answers
// ledger_rebuilding, for orders and reads; one nobody defines stays
// not_found; the durable ledger is asked about each at most once a second.
func TestLostSaleAnswersLedgerRebuilding(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	lost := f.newSale(t, 5, 1)
	defs := &fakeDefinitions{defined: map[string]bool{lost: true}}
	s, err := reservation.New(f.rdb, reservation.Config{IdempotencyTTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s.WithDefinitions(defs)
	if r, err := s.Reserve(ctx, order.Request{SaleID: lost, UserID: "u", IdempotencyKey: "k0", Quantity: 1}); err != nil || r.Err != nil {
		t.Fatalf("before the loss: %v %v, want accepted", err, r.Err)
	}
	if defs.calls.Load() != 0 {
		t.Errorf("a sale Redis holds asked the durable ledger %d times, want 0", defs.calls.Load())
	}

	stacktest.DeleteSale(f.rdb, lost)
	for i := range 50 {
		_, err := s.Reserve(ctx, order.Request{SaleID: lost, UserID: "u", IdempotencyKey: "k1", Quantity: 1})
		if !errors.Is(err, order.ErrLedgerRebuilding) {
			t.Fatalf("order %d on a lost sale: %v, want ledger_rebuilding", i, err)
		}
	}
	if _, err := s.Sale(ctx, lost, time.Now()); !errors.Is(err, order.ErrLedgerRebuilding) {
		t.Errorf("reading a lost sale: %v, want ledger_rebuilding", err)
	}
	if n := defs.calls.Load(); n < 1 || n > 2 {
		t.Errorf("the durable ledger was asked %d times for 51 requests within a second, want 1 (2 across a second boundary)", n)
	}
	unknown := f.saleID(t)
	if _, err := s.Reserve(ctx, order.Request{SaleID: unknown, UserID: "u", IdempotencyKey: "k", Quantity: 1}); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("an unknown sale: %v, want not_found", err)
	}
	if _, err := f.store.Reserve(ctx, order.Request{SaleID: lost, UserID: "u", IdempotencyKey: "k1", Quantity: 1}); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("a store without definitions: %v, want not_found", err)
	}
}

func TestRebuildLease(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sale := f.saleID(t)
	release, ok, err := f.store.RebuildLease(ctx, sale, time.Minute)
	if err != nil || !ok {
		t.Fatalf("first lease: ok %v, %v", ok, err)
	}
	if _, ok, err := f.store.RebuildLease(ctx, sale, time.Minute); err != nil || ok {
		t.Fatalf("second lease while held: ok %v, %v; want refused", ok, err)
	}
	release()
	release2, ok, err := f.store.RebuildLease(ctx, sale, 200*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("lease after release: ok %v, %v", ok, err)
	}
	release() // a stale release must not free another holder's lease
	if _, ok, _ := f.store.RebuildLease(ctx, sale, time.Minute); ok {
		t.Error("a stale release freed the current holder's lease")
	}
	release2()
}
