package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// Refusal is an order the durable ledger would not vouch for.
type Refusal struct {
	OrderID string
	Reason  string
}

// InsertVouched writes orders that no live reservation backs — Redis lost
// them, or the event is a replay or a forgery — only where the durable
// ledger vouches for them: the sale has a definition, the sale's persisted
// units plus the order stay within its stock, and the buyer's within the
// per-user limit. Each sale's checks and inserts hold its row lock in one
// transaction, so two writers cannot both vouch for the last unit. Order ids
// already persisted are duplicates (a redelivery), not refusals.
func (s *Store) InsertVouched(ctx context.Context, rows []Row) (res InsertResult, refused []Refusal, err error) {
	bySale := map[string][]Row{}
	var sales []string
	for _, r := range rows {
		if _, ok := bySale[r.SaleID]; !ok {
			sales = append(sales, r.SaleID)
		}
		bySale[r.SaleID] = append(bySale[r.SaleID], r)
	}
	slices.Sort(sales) // one lock order for every writer: no deadlock
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		res, refused = InsertResult{}, nil
		for _, sale := range sales {
			ins, dup, ref, ended, err := vouchSale(ctx, tx, sale, bySale[sale])
			if err != nil {
				return err
			}
			res.Inserted, res.Duplicates, refused = append(res.Inserted, ins...), append(res.Duplicates, dup...), append(refused, ref...)
			for h, n := range ended {
				if res.EarlyApplied == nil {
					res.EarlyApplied = map[order.Hold]int{}
				}
				res.EarlyApplied[h] += n
			}
		}
		return nil
	})
	if err != nil {
		return InsertResult{}, nil, err
	}
	return res, refused, nil
}

func vouchSale(ctx context.Context, tx pgx.Tx, sale string, rows []Row) (inserted, duplicates []string, refused []Refusal, ended map[order.Hold]int, err error) {
	spec, err := readSpec(ctx, tx, sale, forUpdate)
	if errors.Is(err, order.ErrNotFound) {
		for _, r := range rows {
			refused = append(refused, Refusal{r.OrderID, "sale " + sale + " has no durable definition"})
		}
		return nil, nil, refused, nil, nil
	}
	if err != nil {
		return nil, nil, nil, nil, err
	}
	stock, limit := spec.Stock, spec.PerUserLimit
	ids, users := make([]string, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		ids[i], users[i] = r.OrderID, r.UserID
	}
	known := map[string]bool{}
	got, err := tx.Query(ctx, `SELECT order_id FROM orders WHERE order_id = ANY($1)`, ids)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("vouch %s: %w", sale, err)
	}
	present, err := pgx.CollectRows(got, pgx.RowTo[string])
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("vouch %s: %w", sale, err)
	}
	for _, id := range present {
		known[id] = true
	}
	_, units, err := totals(ctx, tx, sale)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	held := map[string]int64{}
	// An expired or cancelled order gave its units back to the buyer's
	// allowance (the hot ledger's per-user count) as to the sale.
	got, err = tx.Query(ctx, `SELECT user_id, sum(quantity) FROM orders WHERE sale_id = $1 AND status = 'confirmed'
		AND (hold IS NULL OR hold IN ('held', 'paid')) AND user_id = ANY($2) GROUP BY user_id`, sale, users)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("vouch %s: %w", sale, err)
	}
	for got.Next() {
		var u string
		var n int64
		if err := got.Scan(&u, &n); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("vouch %s: %w", sale, err)
		}
		held[u] = n
	}
	if err := got.Err(); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("vouch %s: %w", sale, err)
	}
	// An order whose hold already ended by expiry or cancellation (its
	// transition came first) holds nothing once inserted: applyEarly gives
	// its units back in this transaction. It needs no room, and refusing it
	// would lose an order the buyer was answered 202 for.
	early, err := earlyFor(ctx, tx, rows)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("vouch %s: %w", sale, err)
	}
	var ok []Row
	for _, r := range rows {
		switch {
		case known[r.OrderID]:
			duplicates = append(duplicates, r.OrderID)
		case returnsUnits(early[r.OrderID].Hold()):
			known[r.OrderID] = true
			ok = append(ok, r)
		case units+r.Quantity > stock:
			refused = append(refused, Refusal{r.OrderID, fmt.Sprintf("%d more units would exceed the stock of %d (%d persisted)", r.Quantity, stock, units)})
		case held[r.UserID]+r.Quantity > limit:
			refused = append(refused, Refusal{r.OrderID, fmt.Sprintf("%d more units would take user %q past the per-user limit of %d (%d persisted)", r.Quantity, r.UserID, limit, held[r.UserID])})
		default:
			units += r.Quantity
			held[r.UserID] += r.Quantity
			known[r.OrderID] = true // an id twice in the batch is one order
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		return nil, duplicates, refused, nil, nil
	}
	inserted, err = insertRows(ctx, tx, ok)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if ended, err = applyEarly(ctx, tx, ok, inserted); err != nil {
		return nil, nil, nil, nil, err
	}
	return inserted, duplicates, refused, ended, nil
}
