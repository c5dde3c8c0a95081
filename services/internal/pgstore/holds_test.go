package pgstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/pgstore"
)

// The checkout window in the durable ledger (issue #14), against the real
// PostgreSQL: held orders, their transitions in either order, and the
// totals the oversell guard reads.

// holdSale defines a sale with a window and returns its id; its orders and
// early transitions are deleted at the end.
func holdSale(t *testing.T, s *pgstore.Store, pool *pgxpool.Pool, stock, limit int64) string {
	t.Helper()
	id := saleID(t, pool)
	sp := spec(id, stock)
	sp.PerUserLimit, sp.HoldSeconds = limit, 600
	if _, _, err := s.PutSale(context.Background(), sp, testActor); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = pool.Exec(ctx, `DELETE FROM orders WHERE sale_id = $1`, id)
		_, _ = pool.Exec(ctx, `DELETE FROM order_transitions WHERE sale_id = $1`, id)
	})
	return id
}

var reservedAt = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// heldRow is an order of sale with a 10-minute window.
func heldRow(t *testing.T, sale, user string, qty int64) pgstore.Row {
	t.Helper()
	id, err := order.NewOrderID(sale)
	if err != nil {
		t.Fatal(err)
	}
	exp := reservedAt.Add(10 * time.Minute)
	return pgstore.Row{OrderPlaced: order.OrderPlaced{SchemaVersion: 1, OrderID: id, SaleID: sale, UserID: user, Quantity: qty,
		IdempotencyKey: "k-" + id[len(id)-12:], ReservedAt: reservedAt, ExpiresAt: &exp}}
}

// ends is r's hold ending in h: paid a minute in, expired when due,
// cancelled two minutes in.
func ends(r pgstore.Row, h order.Hold) pgstore.Transition {
	o := order.Order{ID: r.OrderID, SaleID: r.SaleID, UserID: r.UserID, Quantity: r.Quantity}
	switch h {
	case order.HoldPaid:
		return pgstore.Transition{OrderTransition: order.NewOrderTransition(o, h, reservedAt.Add(time.Minute), "pay-"+r.OrderID[len(r.OrderID)-8:])}
	case order.HoldExpired:
		return pgstore.Transition{OrderTransition: order.NewOrderTransition(o, h, *r.ExpiresAt, "")}
	default:
		return pgstore.Transition{OrderTransition: order.NewOrderTransition(o, h, reservedAt.Add(2*time.Minute), "")}
	}
}

func apply(t *testing.T, s *pgstore.Store, ts ...pgstore.Transition) pgstore.TransitionResult {
	t.Helper()
	res, err := s.ApplyTransitions(context.Background(), ts)
	if err != nil {
		t.Fatalf("apply transitions: %v", err)
	}
	return res
}

func insert(t *testing.T, s *pgstore.Store, rows ...pgstore.Row) pgstore.InsertResult {
	t.Helper()
	res, err := s.InsertBatch(context.Background(), rows)
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	return res
}

func wantTotals(t *testing.T, s *pgstore.Store, sale string, orders, units int64) {
	t.Helper()
	gotOrders, gotUnits, err := s.Persisted(context.Background(), sale)
	if err != nil || gotOrders != orders || gotUnits != units {
		t.Errorf("persisted %d orders / %d units (err %v), want %d / %d", gotOrders, gotUnits, err, orders, units)
	}
}

func wantStatus(t *testing.T, s *pgstore.Store, id string, want order.Status) order.Order {
	t.Helper()
	o, err := s.Order(context.Background(), id)
	if err != nil {
		t.Fatalf("order %s: %v", id, err)
	}
	if o.Status != want {
		t.Errorf("order %s reads %s, want %s", id, o.Status, want)
	}
	return o
}

func earlyRows(t *testing.T, pool *pgxpool.Pool, sale string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM order_transitions WHERE sale_id = $1`, sale).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestHoldSecondsPersisted(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	id := saleID(t, pool)
	sp := spec(id, 10)
	sp.HoldSeconds = 300
	if _, _, err := s.PutSale(ctx, sp, testActor); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, id); got.HoldSeconds != 300 {
		t.Errorf("hold_seconds %d, want 300", got.HoldSeconds)
	}
	next := sp
	next.HoldSeconds = 0
	_, undo, err := s.PutSale(ctx, next, testActor)
	if err != nil {
		t.Fatal(err)
	}
	// A change of the window alone is a change, recorded before and after.
	changes, err := s.SaleChanges(ctx, id, 0, 10)
	if err != nil || len(changes) != 2 || changes[0].Before == nil || changes[0].Before.HoldSeconds != 300 || changes[0].After.HoldSeconds != 0 {
		t.Fatalf("changes %+v (err %v), want the creation and 300 -> 0", changes, err)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, id); got.HoldSeconds != 300 {
		t.Errorf("after the undo hold_seconds %d, want 300 back", got.HoldSeconds)
	}
	for _, bad := range []int64{-1, pgstore.MaxHoldSeconds + 1} {
		sp.HoldSeconds = bad
		if _, _, err := s.PutSale(ctx, sp, testActor); order.CodeOf(err) != order.CodeInvalidRequest {
			t.Errorf("hold_seconds %d: %v, want %s", bad, err, order.CodeInvalidRequest)
		}
	}
	// The database refuses it too, whoever writes.
	if _, err := pool.Exec(ctx, `UPDATE sales SET hold_seconds = 86401 WHERE sale_id = $1`, id); err == nil {
		t.Error("sales accepted hold_seconds 86401")
	}
}

func TestTransitionAfterOrder(t *testing.T) {
	s, pool := newStore(t)
	sale := holdSale(t, s, pool, 10, 5)
	paid, expired, cancelled := heldRow(t, sale, "alice", 2), heldRow(t, sale, "bob", 3), heldRow(t, sale, "carol", 1)
	insert(t, s, paid, expired, cancelled)
	wantTotals(t, s, sale, 3, 6)
	o := wantStatus(t, s, paid.OrderID, order.StatusConfirmed)
	if o.Hold != order.HoldHeld || o.ExpiresAt == nil || !o.ExpiresAt.Equal(*paid.ExpiresAt) || o.PaidAt != nil {
		t.Errorf("held order reads %+v, want held until %s", o, paid.ExpiresAt)
	}

	res := apply(t, s, ends(paid, order.HoldPaid), ends(expired, order.HoldExpired), ends(cancelled, order.HoldCancelled))
	if len(res.Applied) != 3 || len(res.Early)+len(res.Duplicates)+len(res.Refused) != 0 {
		t.Fatalf("result %+v, want 3 applied", res)
	}
	// Paid keeps its units; expired and cancelled give theirs back.
	wantTotals(t, s, sale, 3, 2)
	o = wantStatus(t, s, paid.OrderID, order.StatusPaid)
	if o.PaidAt == nil || !o.PaidAt.Equal(reservedAt.Add(time.Minute)) {
		t.Errorf("paid_at %v, want %s", o.PaidAt, reservedAt.Add(time.Minute))
	}
	wantStatus(t, s, expired.OrderID, order.StatusExpired)
	wantStatus(t, s, cancelled.OrderID, order.StatusCancelled)

	// Delivered again: nothing moves.
	res = apply(t, s, ends(paid, order.HoldPaid), ends(expired, order.HoldExpired), ends(cancelled, order.HoldCancelled))
	if len(res.Duplicates) != 3 || len(res.Applied)+len(res.Refused) != 0 {
		t.Fatalf("redelivery: %+v, want 3 duplicates", res)
	}
	wantTotals(t, s, sale, 3, 2)

	// A paid order is never decremented, whatever arrives after.
	res = apply(t, s, ends(paid, order.HoldExpired), ends(paid, order.HoldCancelled))
	if len(res.Refused) != 1 || len(res.Duplicates) != 1 {
		t.Fatalf("other ends of a paid order: %+v, want one refused (and the second of one order a duplicate)", res)
	}
	wantTotals(t, s, sale, 3, 2)
	wantStatus(t, s, paid.OrderID, order.StatusPaid)
}

func TestTransitionBeforeOrder(t *testing.T) {
	s, pool := newStore(t)
	sale := holdSale(t, s, pool, 10, 5)
	expired, paid := heldRow(t, sale, "alice", 2), heldRow(t, sale, "bob", 1)
	res := apply(t, s, ends(expired, order.HoldExpired), ends(paid, order.HoldPaid))
	if len(res.Early) != 2 {
		t.Fatalf("before their orders: %+v, want 2 early", res)
	}
	res = apply(t, s, ends(expired, order.HoldExpired), ends(paid, order.HoldCancelled))
	if len(res.Duplicates) != 1 || len(res.Refused) != 1 || res.Refused[0].OrderID != paid.OrderID {
		t.Fatalf("again, and another end of the paid one: %+v, want a duplicate and a refusal", res)
	}
	if n := earlyRows(t, pool, sale); n != 2 {
		t.Fatalf("%d early transitions stored, want 2", n)
	}
	ins := insert(t, s, expired, paid)
	if len(ins.Inserted) != 2 || ins.EarlyApplied[order.HoldExpired] != 1 || ins.EarlyApplied[order.HoldPaid] != 1 {
		t.Fatalf("insert %+v, want 2 inserted, one expired and one paid applied", ins)
	}
	wantTotals(t, s, sale, 2, 1)
	wantStatus(t, s, expired.OrderID, order.StatusExpired)
	wantStatus(t, s, paid.OrderID, order.StatusPaid)
	if n := earlyRows(t, pool, sale); n != 0 {
		t.Errorf("%d early transitions left, want 0", n)
	}
	// The order redelivered, then its transition: nothing moves.
	if ins := insert(t, s, expired); len(ins.Duplicates) != 1 || ins.EarlyApplied != nil {
		t.Errorf("order redelivered: %+v", ins)
	}
	if res := apply(t, s, ends(expired, order.HoldExpired)); len(res.Duplicates) != 1 {
		t.Errorf("transition redelivered: %+v", res)
	}
	wantTotals(t, s, sale, 2, 1)
}

// One transaction with an order and its transition (one writer batch):
// applied whatever their order in the batch.
func TestTransitionWithItsOrder(t *testing.T) {
	s, pool := newStore(t)
	sale := holdSale(t, s, pool, 10, 5)
	r := heldRow(t, sale, "alice", 2)
	ins, res, err := s.ApplyBatch(context.Background(), []pgstore.Row{r}, []pgstore.Transition{ends(r, order.HoldCancelled)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ins.Inserted) != 1 || len(res.Applied) != 1 {
		t.Fatalf("insert %+v, transitions %+v; want the order inserted and cancelled", ins, res)
	}
	wantTotals(t, s, sale, 1, 0)
	wantStatus(t, s, r.OrderID, order.StatusCancelled)
}

func TestTransitionRefusals(t *testing.T) {
	s, pool := newStore(t)
	sale := holdSale(t, s, pool, 10, 5)
	r := heldRow(t, sale, "alice", 2)
	plain := heldRow(t, sale, "bob", 1)
	plain.ExpiresAt = nil // an order without a window
	insert(t, s, r, plain)
	early := ends(r, order.HoldExpired)
	early.At = r.ExpiresAt.Add(-time.Millisecond)
	other := ends(r, order.HoldCancelled)
	other.UserID = "mallory"
	for name, tr := range map[string]pgstore.Transition{
		"expired before its window ends": early,
		"another buyer":                  other,
		"an order without a window":      ends(plain, order.HoldCancelled),
	} {
		t.Run(name, func(t *testing.T) {
			if res := apply(t, s, tr); len(res.Refused) != 1 || res.Refused[0].Reason == "" {
				t.Errorf("result %+v, want refused with a reason", res)
			}
		})
	}
	wantTotals(t, s, sale, 2, 3)
	wantStatus(t, s, r.OrderID, order.StatusConfirmed)
	wantStatus(t, s, plain.OrderID, order.StatusConfirmed)
}

// Vouching counts what orders hold: an expired order's units and the
// buyer's allowance are free again, and an order whose expiry arrived first
// needs no room at all.
func TestVouchedHolds(t *testing.T) {
	s, pool := newStore(t)
	sale := holdSale(t, s, pool, 2, 2)
	ctx := context.Background()
	a, b := heldRow(t, sale, "alice", 2), heldRow(t, sale, "alice", 2)
	if res, refused, err := s.InsertVouched(ctx, []pgstore.Row{a}); err != nil || len(res.Inserted) != 1 || len(refused) != 0 {
		t.Fatalf("first order: %+v %v %v", res, refused, err)
	}
	if _, refused, err := s.InsertVouched(ctx, []pgstore.Row{b}); err != nil || len(refused) != 1 {
		t.Fatalf("second order while the first holds the stock: refused %v (err %v), want refused", refused, err)
	}
	apply(t, s, ends(a, order.HoldExpired))
	if res, refused, err := s.InsertVouched(ctx, []pgstore.Row{b}); err != nil || len(res.Inserted) != 1 || len(refused) != 0 {
		t.Fatalf("second order after the first expired: %+v %v %v, want vouched", res, refused, err)
	}
	wantTotals(t, s, sale, 2, 2)
	// The sale is full again; an order that expired before it arrived holds
	// nothing and is persisted (its buyer was answered 202).
	c := heldRow(t, sale, "bob", 1)
	apply(t, s, ends(c, order.HoldExpired))
	res, refused, err := s.InsertVouched(ctx, []pgstore.Row{c})
	if err != nil || len(res.Inserted) != 1 || len(refused) != 0 || res.EarlyApplied[order.HoldExpired] != 1 {
		t.Fatalf("an order that already expired: %+v %v %v, want inserted and expired", res, refused, err)
	}
	wantTotals(t, s, sale, 3, 2)
	wantStatus(t, s, c.OrderID, order.StatusExpired)
	// But one paid before it arrived needs its room.
	d := heldRow(t, sale, "carol", 1)
	apply(t, s, ends(d, order.HoldPaid))
	if _, refused, err := s.InsertVouched(ctx, []pgstore.Row{d}); err != nil || len(refused) != 1 {
		t.Fatalf("a paid order past the stock: refused %v (err %v), want refused", refused, err)
	}
	wantTotals(t, s, sale, 3, 2)
}

func TestSnapshotLeavesEndedHoldsOut(t *testing.T) {
	s, pool := newStore(t)
	sale := holdSale(t, s, pool, 10, 5)
	held, paid, expired := heldRow(t, sale, "alice", 1), heldRow(t, sale, "bob", 2), heldRow(t, sale, "carol", 3)
	insert(t, s, held, paid, expired)
	apply(t, s, ends(paid, order.HoldPaid), ends(expired, order.HoldExpired))
	snap, err := s.SaleSnapshot(context.Background(), sale)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Spec.HoldSeconds != 600 || len(snap.Orders) != 2 || snap.Units() != 3 {
		t.Fatalf("snapshot: hold %ds, %d orders, %d units; want 600 s, the held and the paid one, 3 units",
			snap.Spec.HoldSeconds, len(snap.Orders), snap.Units())
	}
	_, units, _ := s.Persisted(context.Background(), sale)
	if units != snap.Units() {
		t.Errorf("snapshot units %d, sale_totals %d", snap.Units(), units)
	}
	for _, o := range snap.Orders {
		if o.ExpiresAt == nil || (o.ID == paid.OrderID) != (o.Hold == order.HoldPaid && o.PaidAt != nil) {
			t.Errorf("snapshot order %+v", o)
		}
	}
}

// Orders and their transitions in concurrent transactions, in any order
// (a writer runs several batches at once): every hold ends exactly once,
// the units all come back, and no transition is left waiting.
func TestTransitionsRaceTheirOrders(t *testing.T) {
	s, pool := newStore(t)
	const n = 200
	sale := holdSale(t, s, pool, n, n)
	rows := make([]pgstore.Row, n)
	for i := range rows {
		rows[i] = heldRow(t, sale, fmt.Sprintf("u%d", i), 1)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	sem := make(chan struct{}, 16)
	for _, i := range rand.Perm(2 * n) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := rows[i/2]
			var err error
			if i%2 == 0 {
				_, err = s.InsertBatch(ctx, []pgstore.Row{r})
			} else {
				_, err = s.ApplyTransitions(ctx, []pgstore.Transition{ends(r, order.HoldExpired)})
			}
			for attempt := 0; err != nil && attempt < 5; attempt++ { // deadlocks are retried, as the writer does
				if i%2 == 0 {
					_, err = s.InsertBatch(ctx, []pgstore.Row{r})
				} else {
					_, err = s.ApplyTransitions(ctx, []pgstore.Transition{ends(r, order.HoldExpired)})
				}
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	wantTotals(t, s, sale, n, 0)
	if left := earlyRows(t, pool, sale); left != 0 {
		t.Errorf("%d transitions still waiting for orders that are persisted", left)
	}
	var expired int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE sale_id = $1 AND hold = 'expired'`, sale).Scan(&expired); err != nil {
		t.Fatal(err)
	}
	if expired != n {
		t.Errorf("%d orders expired, want %d", expired, n)
	}
}
