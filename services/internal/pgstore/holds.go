package pgstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// The checkout window (issue #14) in the durable ledger: an order of a sale
// with a window is inserted held (orders.hold, expires_at), and the hold's
// end, decided by the hot ledger and carried by an OrderTransition, is
// applied to it here. Expired and cancelled orders give their units back to
// sale_totals in the same transaction, so "persisted units" keeps meaning
// units given away for good or on hold (the oversell guard, I5, vouching).
//
// A transition may reach the writer before its order: the API's outbox can
// publish the hold's end before the relay publishes the OrderPlaced, and a
// writer persists up to Pipelines batches at once, whose transactions commit
// in any order. Such a transition waits in order_transitions and is applied
// by the transaction that inserts the order. The two never miss each other
// because both take the sale's sale_totals row lock before they look for
// the other (the insert in its totals upsert, a transition explicitly), and
// under READ COMMITTED each statement after the lock sees what the other
// committed: whichever comes second finds the first.

// Transition is one hold's end as the writer applies it.
type Transition struct {
	order.OrderTransition
	TraceID string
}

// TransitionResult tells what applying transitions did, per order id.
type TransitionResult struct {
	Applied    []string  // ended the persisted order's hold now
	Early      []string  // the order is not persisted yet: stored, applied when it is
	Duplicates []string  // already applied, or already stored (a redelivery)
	Refused    []Refusal // the persisted order contradicts it: not applied
}

// ApplyBatch inserts rows (as InsertBatch) and applies ts, in one
// transaction. A permanent error (*pgconn.PgError of class 22 or 23) fails
// both; the caller then isolates the culprit (InsertOne, ApplyTransitions).
func (s *Store) ApplyBatch(ctx context.Context, rows []Row, ts []Transition) (InsertResult, TransitionResult, error) {
	var res InsertResult
	var tres TransitionResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
		res, tres = InsertResult{}, TransitionResult{}
		if len(rows) > 0 {
			if res.Inserted, err = insertRows(ctx, tx, rows); err != nil {
				return err
			}
			if res.EarlyApplied, err = applyEarly(ctx, tx, rows, res.Inserted); err != nil {
				return err
			}
		}
		if len(ts) > 0 {
			tres, err = applyTransitions(ctx, tx, ts)
		}
		return err
	})
	if err != nil {
		return InsertResult{}, TransitionResult{}, err
	}
	res.Duplicates = duplicatesOf(rows, res.Inserted)
	return res, tres, nil
}

// ApplyTransitions applies ts in a transaction of their own.
func (s *Store) ApplyTransitions(ctx context.Context, ts []Transition) (TransitionResult, error) {
	_, tres, err := s.ApplyBatch(ctx, nil, ts)
	return tres, err
}

// endsHold reports whether a transition may end a persisted order's hold:
// the same order (sale, buyer, quantity), and an expiry no earlier than the
// window's end (hold.lua expires a hold only once it is due). Anything else
// is an event the durable ledger cannot vouch for.
func endsHold(o persistedHold, t order.OrderTransition) (ok bool, why string) {
	switch {
	case o.saleID != t.SaleID || o.userID != t.UserID || o.quantity != t.Quantity:
		return false, fmt.Sprintf("the persisted order is (sale %q, user %q, quantity %d), the event says (%q, %q, %d)",
			o.saleID, o.userID, o.quantity, t.SaleID, t.UserID, t.Quantity)
	case o.expiresAt == nil:
		return false, "the persisted order has no checkout window"
	case t.Hold() == order.HoldExpired && t.At.Truncate(time.Microsecond).Before(o.expiresAt.Truncate(time.Microsecond)):
		// to the microsecond, as PostgreSQL keeps both (pgx truncates)
		return false, fmt.Sprintf("expired at %s, before its window ends at %s", t.At.Format(time.RFC3339Nano), o.expiresAt.Format(time.RFC3339Nano))
	}
	return true, ""
}

// persistedHold is what a transition is checked against.
type persistedHold struct {
	saleID, userID string
	quantity       int64
	hold           order.Hold
	expiresAt      *time.Time
}

func (r Row) persistedHold() persistedHold {
	return persistedHold{saleID: r.SaleID, userID: r.UserID, quantity: r.Quantity, hold: order.HoldHeld, expiresAt: r.ExpiresAt}
}

// returnsUnits: an expiry or a cancellation gives the units back.
func returnsUnits(h order.Hold) bool { return h == order.HoldExpired || h == order.HoldCancelled }

// applyTransitions applies ts inside tx: a held order's hold ends, one
// already ended the same way is a duplicate, one not persisted yet stores
// the transition for its insert (applyEarly).
func applyTransitions(ctx context.Context, tx pgx.Tx, ts []Transition) (res TransitionResult, err error) {
	seen := make(map[string]bool, len(ts))
	var uniq []Transition
	var sales []string
	for _, t := range ts {
		if seen[t.OrderID] {
			res.Duplicates = append(res.Duplicates, t.OrderID) // the ledger ends a hold once: the same event
			continue
		}
		seen[t.OrderID] = true
		uniq = append(uniq, t)
		sales = append(sales, t.SaleID)
	}
	slices.Sort(sales)
	sales = slices.Compact(sales)
	// The sale's lock first (see the top of this file), in one order for
	// every writer. A sale without a row yet gets one (0, 0): the insert that
	// races it then waits on the new row instead of missing this transaction.
	if _, err := tx.Exec(ctx, `INSERT INTO sale_totals AS t (sale_id) SELECT unnest($1::text[])
		ON CONFLICT (sale_id) DO UPDATE SET orders = t.orders`, sales); err != nil {
		return TransitionResult{}, fmt.Errorf("transitions: lock sales: %w", err)
	}
	ids := make([]string, len(uniq))
	for i, t := range uniq {
		ids[i] = t.OrderID
	}
	got, err := tx.Query(ctx, `SELECT order_id, sale_id, user_id, quantity, coalesce(hold, ''), expires_at
		FROM orders WHERE order_id = ANY($1) FOR UPDATE`, ids)
	if err != nil {
		return TransitionResult{}, fmt.Errorf("transitions: %w", err)
	}
	persisted := map[string]persistedHold{}
	for got.Next() {
		var id, hold string
		var o persistedHold
		if err := got.Scan(&id, &o.saleID, &o.userID, &o.quantity, &hold, &o.expiresAt); err != nil {
			return TransitionResult{}, fmt.Errorf("transitions: %w", err)
		}
		o.hold = order.Hold(hold)
		persisted[id] = o
	}
	if err := got.Err(); err != nil {
		return TransitionResult{}, fmt.Errorf("transitions: %w", err)
	}
	var apply, early []Transition
	for _, t := range uniq {
		o, ok := persisted[t.OrderID]
		if !ok {
			early = append(early, t)
			continue
		}
		if ok, why := endsHold(o, t.OrderTransition); !ok {
			res.Refused = append(res.Refused, Refusal{t.OrderID, why})
			continue
		}
		switch o.hold {
		case order.HoldHeld:
			apply = append(apply, t)
		case t.Hold():
			res.Duplicates = append(res.Duplicates, t.OrderID)
		default:
			res.Refused = append(res.Refused, Refusal{t.OrderID, fmt.Sprintf("the order's hold already ended %s", o.hold)})
		}
	}
	if err := endHolds(ctx, tx, apply); err != nil {
		return TransitionResult{}, err
	}
	for _, t := range apply {
		res.Applied = append(res.Applied, t.OrderID)
	}
	if err := storeEarly(ctx, tx, early, &res); err != nil {
		return TransitionResult{}, err
	}
	return res, nil
}

// endHolds ends the holds of held, persisted orders and gives the units of
// the expired and cancelled ones back to sale_totals, in one statement.
func endHolds(ctx context.Context, tx pgx.Tx, ts []Transition) error {
	if len(ts) == 0 {
		return nil
	}
	n := len(ts)
	ids, holds, refs := make([]string, n), make([]string, n), make([]string, n)
	ats := make([]time.Time, n)
	back := map[string]int64{}
	for i, t := range ts {
		ids[i], holds[i], refs[i], ats[i] = t.OrderID, string(t.Hold()), t.PaymentRef, t.At
		if returnsUnits(t.Hold()) {
			back[t.SaleID] += t.Quantity
		}
	}
	var sales []string
	var units []int64
	for s, u := range back {
		sales, units = append(sales, s), append(units, u)
	}
	var ended, totalled int
	err := tx.QueryRow(ctx, `
WITH t AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) AS t(order_id, hold, at, payment_ref)
), upd AS (
  UPDATE orders o SET hold = t.hold,
    paid_at = CASE WHEN t.hold = 'paid' THEN t.at END,
    ended_at = CASE WHEN t.hold <> 'paid' THEN t.at END,
    payment_ref = nullif(t.payment_ref, '')
  FROM t WHERE o.order_id = t.order_id AND o.hold = 'held'
  RETURNING 1
), back AS (
  UPDATE sale_totals s SET units = s.units - b.units
  FROM unnest($5::text[], $6::bigint[]) AS b(sale_id, units)
  WHERE s.sale_id = b.sale_id
  RETURNING 1
)
SELECT (SELECT count(*) FROM upd), (SELECT count(*) FROM back)`, ids, holds, ats, refs, sales, units).Scan(&ended, &totalled)
	if err != nil {
		return fmt.Errorf("transitions: end holds: %w", err)
	}
	if ended != n || totalled != len(sales) {
		// The orders are locked and held (a statement ago, or inserted by
		// this transaction): anything else is a bug, and nothing commits.
		return fmt.Errorf("transitions: end holds: %d of %d orders and %d of %d sales' totals updated", ended, n, totalled, len(sales))
	}
	return nil
}

// storeEarly keeps transitions whose order is not persisted yet. The first
// of an order stays; the same one again is a duplicate, another one (the
// ledger ends a hold once) is refused.
func storeEarly(ctx context.Context, tx pgx.Tx, ts []Transition, res *TransitionResult) error {
	if len(ts) == 0 {
		return nil
	}
	n := len(ts)
	ids, sales, users, holds, refs, traces := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	qty, ats := make([]int64, n), make([]time.Time, n)
	for i, t := range ts {
		ids[i], sales[i], users[i], holds[i], refs[i], traces[i] = t.OrderID, t.SaleID, t.UserID, string(t.Hold()), t.PaymentRef, t.TraceID
		qty[i], ats[i] = t.Quantity, t.At
	}
	got, err := tx.Query(ctx, `
INSERT INTO order_transitions (order_id, sale_id, user_id, quantity, hold, at, payment_ref, trace_id)
SELECT order_id, sale_id, user_id, quantity, hold, at, nullif(payment_ref, ''), nullif(trace_id, '')
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[], $7::text[], $8::text[])
  AS t(order_id, sale_id, user_id, quantity, hold, at, payment_ref, trace_id)
ON CONFLICT (order_id) DO NOTHING
RETURNING order_id`, ids, sales, users, qty, holds, ats, refs, traces)
	if err != nil {
		return fmt.Errorf("transitions: store early: %w", err)
	}
	stored, err := pgx.CollectRows(got, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("transitions: store early: %w", err)
	}
	res.Early = append(res.Early, stored...)
	if len(stored) == n {
		return nil
	}
	earlier, err := readEarly(ctx, tx, ids)
	if err != nil {
		return err
	}
	fresh := make(map[string]bool, len(stored))
	for _, id := range stored {
		fresh[id] = true
	}
	for _, t := range ts {
		if fresh[t.OrderID] {
			continue
		}
		if e, ok := earlier[t.OrderID]; ok && e.Hold() == t.Hold() {
			res.Duplicates = append(res.Duplicates, t.OrderID)
		} else {
			res.Refused = append(res.Refused, Refusal{t.OrderID, fmt.Sprintf("the order's hold already ended %s (stored before its order)", e.Hold())})
		}
	}
	return nil
}

// readEarly reads the stored transitions of these orders.
func readEarly(ctx context.Context, tx pgx.Tx, ids []string) (map[string]order.OrderTransition, error) {
	got, err := tx.Query(ctx, `SELECT order_id, sale_id, user_id, quantity, hold, at, coalesce(payment_ref, '')
		FROM order_transitions WHERE order_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("early transitions: %w", err)
	}
	out := map[string]order.OrderTransition{}
	for got.Next() {
		var t order.OrderTransition
		var hold string
		if err := got.Scan(&t.OrderID, &t.SaleID, &t.UserID, &t.Quantity, &hold, &t.At, &t.PaymentRef); err != nil {
			return nil, fmt.Errorf("early transitions: %w", err)
		}
		t.SchemaVersion = order.OrderTransitionVersion
		t.Type, _ = order.TransitionType(order.Hold(hold))
		t.At = t.At.UTC()
		out[t.OrderID] = t
	}
	if err := got.Err(); err != nil {
		return nil, fmt.Errorf("early transitions: %w", err)
	}
	return out, nil
}

// earlyFor returns the stored transitions that end the holds of these
// rows (orders of a sale with a window, about to be inserted or just
// inserted), by order id. Rows without a window cannot have one: no query.
func earlyFor(ctx context.Context, tx pgx.Tx, rows []Row) (map[string]order.OrderTransition, error) {
	var ids []string
	for _, r := range rows {
		if r.ExpiresAt != nil {
			ids = append(ids, r.OrderID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	stored, err := readEarly(ctx, tx, ids)
	if err != nil || len(stored) == 0 {
		return nil, err
	}
	out := map[string]order.OrderTransition{}
	for _, r := range rows {
		if t, ok := stored[r.OrderID]; ok {
			if ok, _ := endsHold(r.persistedHold(), t); ok {
				out[r.OrderID] = t
			}
		}
	}
	return out, nil
}

// applyEarly applies, inside the transaction that inserted them, the stored
// transitions of the orders just inserted, and deletes them. It returns how
// many holds ended so, per hold. The transaction holds the sales' locks
// (insertRows' totals upsert). Orders without a window cost nothing here.
func applyEarly(ctx context.Context, tx pgx.Tx, rows []Row, inserted []string) (map[order.Hold]int, error) {
	now := make(map[string]bool, len(inserted))
	for _, id := range inserted {
		now[id] = true
	}
	var held []Row
	for _, r := range rows {
		if r.ExpiresAt != nil && now[r.OrderID] {
			held = append(held, r)
			now[r.OrderID] = false // an id twice in the batch is one order
		}
	}
	early, err := earlyFor(ctx, tx, held)
	if err != nil || len(early) == 0 {
		return nil, err
	}
	ts := make([]Transition, 0, len(early))
	ids := make([]string, 0, len(early))
	ended := map[order.Hold]int{}
	for _, t := range early {
		ts = append(ts, Transition{OrderTransition: t})
		ids = append(ids, t.OrderID)
		ended[t.Hold()]++
	}
	if err := endHolds(ctx, tx, ts); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM order_transitions WHERE order_id = ANY($1)`, ids); err != nil {
		return nil, fmt.Errorf("early transitions: %w", err)
	}
	return ended, nil
}
