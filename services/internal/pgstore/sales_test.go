package pgstore_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/pgstore"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/testkit"
)

// Sale definitions against the real PostgreSQL of the local stack; each test
// uses sale ids of its own and deletes its rows.

func newStore(t *testing.T) (*pgstore.Store, *pgxpool.Pool) {
	t.Helper()
	env := stacktest.Load(t)
	ctx := context.Background()
	if _, err := pgstore.Migrate(ctx, env.PostgresURL); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, env.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pgstore.New(pool), pool
}

func saleID(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	id := "pg-" + testkit.RandHex(6)
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = pool.Exec(ctx, `DELETE FROM sales WHERE sale_id = $1`, id)
		_, _ = pool.Exec(ctx, `DELETE FROM sale_totals WHERE sale_id = $1`, id)
		_, _ = pool.Exec(ctx, `DELETE FROM sale_changes WHERE sale_id = $1`, id)
	})
	return id
}

// testActor is who these tests' writes are recorded as.
const testActor = "test:pgstore"

func spec(id string, stock int64) order.SaleSpec {
	ends := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	return order.SaleSpec{ID: id, Name: "Phone", Stock: stock, PerUserLimit: 2,
		StartsAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), EndsAt: &ends}
}

func read(t *testing.T, s *pgstore.Store, id string) order.SaleSpec {
	t.Helper()
	got, err := s.SaleSpec(context.Background(), id)
	if err != nil {
		t.Fatalf("SaleSpec(%s): %v", id, err)
	}
	return got
}

func same(a, b order.SaleSpec) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Stock == b.Stock && a.PerUserLimit == b.PerUserLimit && a.HoldSeconds == b.HoldSeconds &&
		a.StartsAt.Equal(b.StartsAt) && (a.EndsAt == nil) == (b.EndsAt == nil) && (a.EndsAt == nil || a.EndsAt.Equal(*b.EndsAt))
}

func TestPutSaleWritesAndUpdates(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	id := saleID(t, pool)
	if _, err := s.SaleSpec(ctx, id); !errors.Is(err, order.ErrNotFound) {
		t.Fatalf("before: %v, want not found", err)
	}
	first := spec(id, 100)
	if existed, _, err := s.PutSale(ctx, first, testActor); err != nil || existed {
		t.Fatalf("first write: existed %v, %v; want a creation", existed, err)
	}
	if got := read(t, s, id); !same(got, first) {
		t.Errorf("read %+v, want %+v", got, first)
	}
	second := spec(id, 150)
	second.Name, second.EndsAt = "Phone v2", nil
	if existed, _, err := s.PutSale(ctx, second, testActor); err != nil || !existed {
		t.Fatalf("second write: existed %v, %v; want an update", existed, err)
	}
	if got := read(t, s, id); !same(got, second) {
		t.Errorf("read %+v, want %+v (an update, ends_at cleared)", got, second)
	}
}

// undo restores the previous definition (or removes a new one), and leaves
// alone a row another write changed since.
func TestPutSaleUndo(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()

	id := saleID(t, pool)
	_, undo, err := s.PutSale(ctx, spec(id, 10), testActor)
	if err != nil {
		t.Fatal(err)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaleSpec(ctx, id); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("after undoing a creation: %v, want not found", err)
	}

	first := spec(id, 10)
	if _, _, err := s.PutSale(ctx, first, testActor); err != nil {
		t.Fatal(err)
	}
	_, undo, err = s.PutSale(ctx, spec(id, 20), testActor)
	if err != nil {
		t.Fatal(err)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, id); !same(got, first) {
		t.Errorf("after undoing an update: %+v, want the previous %+v", got, first)
	}

	_, undo, err = s.PutSale(ctx, spec(id, 30), testActor)
	if err != nil {
		t.Fatal(err)
	}
	later := spec(id, 40)
	if _, _, err := s.PutSale(ctx, later, testActor); err != nil {
		t.Fatal(err)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, id); !same(got, later) {
		t.Errorf("undo of an overtaken write changed the row: %+v, want %+v", got, later)
	}
}

func TestPutSaleRefusesStockBelowPersisted(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	id := saleID(t, pool)
	if _, _, err := s.PutSale(ctx, spec(id, 10), testActor); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO sale_totals (sale_id, orders, units) VALUES ($1, 7, 7)`, id); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.PutSale(ctx, spec(id, 6), testActor)
	if order.CodeOf(err) != order.CodeStockBelowSold {
		t.Fatalf("stock 6 with 7 persisted: %v, want stock_below_sold", err)
	}
	if got := read(t, s, id); got.Stock != 10 {
		t.Errorf("stock %d after a refused write, want 10", got.Stock)
	}
	if _, _, err := s.PutSale(ctx, spec(id, 7), testActor); err != nil {
		t.Errorf("stock 7 with 7 persisted: %v, want accepted", err)
	}
}

func TestSaleSnapshot(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	id := saleID(t, pool)
	if _, err := s.SaleSnapshot(ctx, id); !errors.Is(err, order.ErrNotFound) {
		t.Fatalf("snapshot of an unknown sale: %v, want not found", err)
	}
	def := spec(id, 10)
	if _, _, err := s.PutSale(ctx, def, testActor); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), `DELETE FROM orders WHERE sale_id = $1`, id) })
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for i, r := range []struct {
		user   string
		qty    int64
		status string
	}{{"alice", 2, "confirmed"}, {"bob", 1, "confirmed"}, {"alice", 1, "confirmed"}, {"carol", 3, "failed"}} {
		_, err := pool.Exec(ctx, `INSERT INTO orders (order_id, sale_id, user_id, quantity, idempotency_key, status, reserved_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id+"."+strconv.Itoa(i), id, r.user, r.qty, "k"+strconv.Itoa(i), r.status, at.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
	}
	snap, err := s.SaleSnapshot(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !same(snap.Spec, def) {
		t.Errorf("spec %+v, want %+v", snap.Spec, def)
	}
	if len(snap.Orders) != 3 || snap.Units() != 4 {
		t.Fatalf("%d orders, %d units; want the 3 confirmed ones, 4 units (a failed order is not a sale)", len(snap.Orders), snap.Units())
	}
	if by := snap.ByUser(); by["alice"] != 3 || by["bob"] != 1 || by["carol"] != 0 {
		t.Errorf("by user %v, want alice 3 bob 1", by)
	}
	first := snap.Orders[0]
	if first.ID != id+".0" || first.UserID != "alice" || first.IdempotencyKey != "k0" || !first.ReservedAt.Equal(at) || first.Status != order.StatusConfirmed {
		t.Errorf("first order %+v", first)
	}
}
