package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// PutSale writes a sale's definition durably, before the hot ledger hears of
// it, so a Redis that lost its data can be rebuilt from PostgreSQL. It
// refuses (order.CodeStockBelowSold) a stock below the units already
// persisted; the hot ledger then checks the stricter bound (persisted plus
// in flight) itself, and undo puts the previous definition back when it
// refuses. undo touches the row only while it still holds this write.
//
// existed reports that PostgreSQL already defined the sale: the hot ledger
// must then update it, never create it (a missing hash means Redis lost it).
func (s *Store) PutSale(ctx context.Context, spec order.SaleSpec) (existed bool, undo func(context.Context) error, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, nil, fmt.Errorf("put sale %s: %w", spec.ID, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // a no-op after Commit

	prev, err := readSpec(ctx, tx, spec.ID, forUpdate)
	existed = err == nil
	if err != nil && !errors.Is(err, order.ErrNotFound) {
		return false, nil, err
	}
	_, persisted, err := totals(ctx, tx, spec.ID)
	if err != nil {
		return false, nil, err
	}
	if spec.Stock < persisted {
		return false, nil, order.Errorf(order.CodeStockBelowSold, "stock %d is below the %d units already sold", spec.Stock, persisted)
	}
	var version time.Time
	err = tx.QueryRow(ctx, `
		INSERT INTO sales (sale_id, name, stock, per_user_limit, starts_at, ends_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp())
		ON CONFLICT (sale_id) DO UPDATE SET name = EXCLUDED.name, stock = EXCLUDED.stock,
			per_user_limit = EXCLUDED.per_user_limit, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
			updated_at = EXCLUDED.updated_at
		RETURNING updated_at`,
		spec.ID, spec.Name, spec.Stock, spec.PerUserLimit, spec.StartsAt, spec.EndsAt).Scan(&version)
	if err != nil {
		return false, nil, fmt.Errorf("put sale %s: %w", spec.ID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, nil, fmt.Errorf("put sale %s: %w", spec.ID, err)
	}
	return existed, func(ctx context.Context) error {
		var err error
		if existed {
			_, err = s.pool.Exec(ctx, `UPDATE sales SET name = $3, stock = $4, per_user_limit = $5, starts_at = $6, ends_at = $7,
				updated_at = clock_timestamp() WHERE sale_id = $1 AND updated_at = $2`,
				spec.ID, version, prev.Name, prev.Stock, prev.PerUserLimit, prev.StartsAt, prev.EndsAt)
		} else {
			_, err = s.pool.Exec(ctx, `DELETE FROM sales WHERE sale_id = $1 AND updated_at = $2`, spec.ID, version)
		}
		if err != nil {
			return fmt.Errorf("undo put sale %s: %w", spec.ID, err)
		}
		return nil
	}, nil
}

// SaleSpec reads a sale's durable definition; order.ErrNotFound when there is
// none.
func (s *Store) SaleSpec(ctx context.Context, saleID string) (order.SaleSpec, error) {
	return readSpec(ctx, s.pool, saleID, !forUpdate)
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// forUpdate makes readSpec lock the sale's row until the transaction ends.
const forUpdate = true

// readSpec reads a sale's definition; order.ErrNotFound when there is none.
func readSpec(ctx context.Context, q querier, saleID string, lock bool) (order.SaleSpec, error) {
	sql := `SELECT name, stock, per_user_limit, starts_at, ends_at FROM sales WHERE sale_id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	spec := order.SaleSpec{ID: saleID}
	err := q.QueryRow(ctx, sql, saleID).Scan(&spec.Name, &spec.Stock, &spec.PerUserLimit, &spec.StartsAt, &spec.EndsAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return order.SaleSpec{}, order.ErrNotFound
	case err != nil:
		return order.SaleSpec{}, fmt.Errorf("sale %s: %w", saleID, err)
	}
	spec.StartsAt = spec.StartsAt.UTC()
	if spec.EndsAt != nil {
		e := spec.EndsAt.UTC()
		spec.EndsAt = &e
	}
	return spec, nil
}

// Snapshot is what PostgreSQL knows of a sale: its definition and every
// confirmed order (the ground a lost hot ledger is rebuilt on).
type Snapshot struct {
	Spec   order.SaleSpec
	Orders []order.Order // confirmed, oldest first
}

// Units sums the confirmed quantity.
func (s Snapshot) Units() (units int64) {
	for _, o := range s.Orders {
		units += o.Quantity
	}
	return units
}

// ByUser sums the confirmed quantity per user.
func (s Snapshot) ByUser() map[string]int64 {
	m := make(map[string]int64)
	for _, o := range s.Orders {
		m[o.UserID] += o.Quantity
	}
	return m
}

// SaleSnapshot reads a sale's definition and confirmed orders in one
// repeatable-read transaction; order.ErrNotFound without a definition.
func (s *Store) SaleSnapshot(ctx context.Context, saleID string) (Snapshot, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: %w", saleID, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	spec, err := readSpec(ctx, tx, saleID, !forUpdate)
	if err != nil {
		return Snapshot{}, err
	}
	rows, err := tx.Query(ctx, `SELECT order_id, user_id, quantity, idempotency_key, reserved_at FROM orders
		WHERE sale_id = $1 AND status = 'confirmed' ORDER BY reserved_at, order_id`, saleID)
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: %w", saleID, err)
	}
	snap := Snapshot{Spec: spec}
	for rows.Next() {
		o := order.Order{SaleID: saleID, Status: order.StatusConfirmed}
		if err := rows.Scan(&o.ID, &o.UserID, &o.Quantity, &o.IdempotencyKey, &o.ReservedAt); err != nil {
			return Snapshot{}, fmt.Errorf("snapshot %s: %w", saleID, err)
		}
		o.ReservedAt = o.ReservedAt.UTC()
		snap.Orders = append(snap.Orders, o)
	}
	if err := rows.Err(); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: %w", saleID, err)
	}
	return snap, nil
}

// Defined reports whether PostgreSQL holds a definition of the sale.
func (s *Store) Defined(ctx context.Context, saleID string) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sales WHERE sale_id = $1)`, saleID).Scan(&ok); err != nil {
		return false, fmt.Errorf("sale %s defined: %w", saleID, err)
	}
	return ok, nil
}
