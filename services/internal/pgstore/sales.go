package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// PutSale writes a sale's definition durably, before the hot ledger hears of
// it, so a Redis that lost its data can be rebuilt from PostgreSQL. It
// refuses (order.CodeStockBelowSold) a stock below the units already
// persisted; the hot ledger then checks the stricter bound (persisted plus
// in flight) itself, and undo puts the previous definition back when it
// refuses. undo touches the row only while it still holds this write.
//
// In the same transaction it records the change in sale_changes (the admin
// audit) under actor, a credential's public name: what the definition was
// (nil for a creation) and what it is now. A write that changes nothing is
// not recorded. undo deletes the record together with the write it undoes,
// so a change the hot ledger refused never reads as one that took effect;
// when another write overtook it (undo leaves the row alone) the record
// stays, because the next record's before names it.
//
// existed reports that PostgreSQL already defined the sale: the hot ledger
// must then update it, never create it (a missing hash means Redis lost it).
func (s *Store) PutSale(ctx context.Context, spec order.SaleSpec, actor string) (existed bool, undo func(context.Context) error, err error) {
	if actor == "" {
		return false, nil, fmt.Errorf("put sale %s: no actor to record", spec.ID)
	}
	if spec.HoldSeconds < 0 || spec.HoldSeconds > MaxHoldSeconds {
		return false, nil, order.Errorf(order.CodeInvalidRequest, "hold_seconds %d is outside 0..%d", spec.HoldSeconds, MaxHoldSeconds)
	}
	spec = storedSpec(spec)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, nil, fmt.Errorf("put sale %s: %w", spec.ID, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // a no-op after Commit

	// Checked under the row's lock, which InsertVouched takes too.
	belowPersisted := func() error {
		_, persisted, err := totals(ctx, tx, spec.ID)
		if err != nil {
			return err
		}
		if spec.Stock < persisted {
			return order.Errorf(order.CodeStockBelowSold, "stock %d is below the %d units already sold", spec.Stock, persisted)
		}
		return nil
	}
	prev, version, existed, err := writeSpec(ctx, tx, spec, belowPersisted)
	if err != nil {
		return false, nil, err
	}
	var changeID int64 // 0: nothing recorded
	if !existed || !sameSpec(prev, spec) {
		var before *definition
		if existed {
			d := definitionOf(prev)
			before = &d
		}
		err = tx.QueryRow(ctx, `INSERT INTO sale_changes (sale_id, changed_at, actor, before, after)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, spec.ID, version, actor, before, definitionOf(spec)).Scan(&changeID)
		if err != nil {
			return false, nil, fmt.Errorf("put sale %s: record the change: %w", spec.ID, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, nil, fmt.Errorf("put sale %s: %w", spec.ID, err)
	}
	return existed, func(ctx context.Context) error {
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var tag pgconn.CommandTag
			var err error
			if existed {
				tag, err = tx.Exec(ctx, `UPDATE sales SET name = $3, stock = $4, per_user_limit = $5, starts_at = $6, ends_at = $7,
					hold_seconds = $8, updated_at = clock_timestamp() WHERE sale_id = $1 AND updated_at = $2`,
					spec.ID, version, prev.Name, prev.Stock, prev.PerUserLimit, prev.StartsAt, prev.EndsAt, prev.HoldSeconds)
			} else {
				tag, err = tx.Exec(ctx, `DELETE FROM sales WHERE sale_id = $1 AND updated_at = $2`, spec.ID, version)
			}
			if err != nil || tag.RowsAffected() == 0 || changeID == 0 {
				return err // overtaken (or nothing recorded): the record stays
			}
			_, err = tx.Exec(ctx, `DELETE FROM sale_changes WHERE id = $1`, changeID)
			return err
		})
		if err != nil {
			return fmt.Errorf("undo put sale %s: %w", spec.ID, err)
		}
		return nil
	}, nil
}

// writeSpec inserts or updates spec's row under its lock, once check
// passed, and returns the definition it replaced (existed false: there was
// none) and the write's version (updated_at). Two first writes of one sale race on the insert: ON
// CONFLICT DO NOTHING waits for the other to commit, and the row it made is
// then read, locked, as the previous definition, so every change's before
// is the after of the one it follows.
func writeSpec(ctx context.Context, tx pgx.Tx, spec order.SaleSpec, check func() error) (prev order.SaleSpec, version time.Time, existed bool, err error) {
	for range 3 { // a row deleted (an undone creation) between the two statements is inserted afresh
		prev, err = readSpec(ctx, tx, spec.ID, forUpdate)
		if err != nil && !errors.Is(err, order.ErrNotFound) {
			return order.SaleSpec{}, time.Time{}, false, err
		}
		found := err == nil
		if err := check(); err != nil {
			return order.SaleSpec{}, time.Time{}, false, err
		}
		if found {
			err = tx.QueryRow(ctx, `UPDATE sales SET name = $2, stock = $3, per_user_limit = $4, starts_at = $5, ends_at = $6,
				hold_seconds = $7, updated_at = clock_timestamp() WHERE sale_id = $1 RETURNING updated_at`,
				spec.ID, spec.Name, spec.Stock, spec.PerUserLimit, spec.StartsAt, spec.EndsAt, spec.HoldSeconds).Scan(&version)
			if err != nil {
				return order.SaleSpec{}, time.Time{}, false, fmt.Errorf("put sale %s: %w", spec.ID, err)
			}
			return prev, version, true, nil
		}
		err = tx.QueryRow(ctx, `INSERT INTO sales (sale_id, name, stock, per_user_limit, starts_at, ends_at, hold_seconds, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, clock_timestamp()) ON CONFLICT (sale_id) DO NOTHING RETURNING updated_at`,
			spec.ID, spec.Name, spec.Stock, spec.PerUserLimit, spec.StartsAt, spec.EndsAt, spec.HoldSeconds).Scan(&version)
		if err == nil {
			return order.SaleSpec{}, version, false, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return order.SaleSpec{}, time.Time{}, false, fmt.Errorf("put sale %s: %w", spec.ID, err)
		}
	}
	return order.SaleSpec{}, time.Time{}, false, fmt.Errorf("put sale %s: the row kept appearing and vanishing", spec.ID)
}

// storedSpec is spec as PostgreSQL keeps it: times in UTC, to the
// microsecond (pgx truncates), so a change is compared and recorded as
// stored.
func storedSpec(spec order.SaleSpec) order.SaleSpec {
	spec.StartsAt = spec.StartsAt.UTC().Truncate(time.Microsecond)
	if spec.EndsAt != nil {
		e := spec.EndsAt.UTC().Truncate(time.Microsecond)
		spec.EndsAt = &e
	}
	return spec
}

// sameSpec reports whether two stored definitions are the same.
func sameSpec(a, b order.SaleSpec) bool {
	return a.Name == b.Name && a.Stock == b.Stock && a.PerUserLimit == b.PerUserLimit && a.HoldSeconds == b.HoldSeconds && a.StartsAt.Equal(b.StartsAt) &&
		(a.EndsAt == nil) == (b.EndsAt == nil) && (a.EndsAt == nil || a.EndsAt.Equal(*b.EndsAt))
}

// definition is a sale definition in sale_changes' before and after
// columns, with the names of the admin body. Records written before
// hold_seconds existed lack it, which reads as 0: no window, as then.
type definition struct {
	Name         string     `json:"name"`
	Stock        int64      `json:"stock"`
	PerUserLimit int64      `json:"per_user_limit"`
	StartsAt     time.Time  `json:"starts_at"`
	EndsAt       *time.Time `json:"ends_at"`
	HoldSeconds  int64      `json:"hold_seconds"`
}

func definitionOf(spec order.SaleSpec) definition {
	return definition{Name: spec.Name, Stock: spec.Stock, PerUserLimit: spec.PerUserLimit, StartsAt: spec.StartsAt, EndsAt: spec.EndsAt,
		HoldSeconds: spec.HoldSeconds}
}

func (d definition) spec(saleID string) order.SaleSpec {
	s := order.SaleSpec{ID: saleID, Name: d.Name, Stock: d.Stock, PerUserLimit: d.PerUserLimit, StartsAt: d.StartsAt.UTC(),
		HoldSeconds: d.HoldSeconds}
	if d.EndsAt != nil {
		e := d.EndsAt.UTC()
		s.EndsAt = &e
	}
	return s
}

// SaleChanges reads a sale's recorded changes, newest first: at most limit
// of them, with ids below before (0: from the newest). order.ErrNotFound
// when PostgreSQL neither defines the sale nor recorded a change of it.
func (s *Store) SaleChanges(ctx context.Context, saleID string, before int64, limit int) ([]order.SaleChange, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.pool.Query(ctx, `SELECT id, changed_at, actor, before, after FROM sale_changes
		WHERE sale_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, saleID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("changes of %s: %w", saleID, err)
	}
	changes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (order.SaleChange, error) {
		c := order.SaleChange{SaleID: saleID}
		var prev *definition
		var next definition
		if err := row.Scan(&c.ID, &c.ChangedAt, &c.Actor, &prev, &next); err != nil {
			return c, err
		}
		c.ChangedAt = c.ChangedAt.UTC()
		if prev != nil {
			p := prev.spec(saleID)
			c.Before = &p
		}
		c.After = next.spec(saleID)
		return c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("changes of %s: %w", saleID, err)
	}
	if len(changes) > 0 {
		return changes, nil
	}
	var known bool
	err = s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sales WHERE sale_id = $1)
		OR EXISTS (SELECT 1 FROM sale_changes WHERE sale_id = $1)`, saleID).Scan(&known)
	switch {
	case err != nil:
		return nil, fmt.Errorf("changes of %s: %w", saleID, err)
	case !known:
		return nil, order.ErrNotFound
	}
	return changes, nil
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

// MaxHoldSeconds bounds a sale's checkout window (sales.hold_seconds).
const MaxHoldSeconds = 86400

// readSpec reads a sale's definition; order.ErrNotFound when there is none.
func readSpec(ctx context.Context, q querier, saleID string, lock bool) (order.SaleSpec, error) {
	sql := `SELECT name, stock, per_user_limit, starts_at, ends_at, hold_seconds FROM sales WHERE sale_id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	spec := order.SaleSpec{ID: saleID}
	err := q.QueryRow(ctx, sql, saleID).Scan(&spec.Name, &spec.Stock, &spec.PerUserLimit, &spec.StartsAt, &spec.EndsAt, &spec.HoldSeconds)
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
// confirmed order that holds units (the ground a lost hot ledger is rebuilt
// on). Orders of a sale with a checkout window carry their Hold (held or
// paid), ExpiresAt and PaidAt; expired and cancelled ones gave their units
// back and are left out, so Units is what sale_totals counts.
type Snapshot struct {
	Spec   order.SaleSpec
	Orders []order.Order // confirmed, held or paid; oldest first
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
	rows, err := tx.Query(ctx, `SELECT order_id, user_id, quantity, idempotency_key, reserved_at, coalesce(hold, ''), expires_at, paid_at
		FROM orders WHERE sale_id = $1 AND status = 'confirmed' AND (hold IS NULL OR hold IN ('held', 'paid'))
		ORDER BY reserved_at, order_id`, saleID)
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot %s: %w", saleID, err)
	}
	snap := Snapshot{Spec: spec}
	for rows.Next() {
		o := order.Order{SaleID: saleID, Status: order.StatusConfirmed}
		var hold string
		if err := rows.Scan(&o.ID, &o.UserID, &o.Quantity, &o.IdempotencyKey, &o.ReservedAt, &hold, &o.ExpiresAt, &o.PaidAt); err != nil {
			return Snapshot{}, fmt.Errorf("snapshot %s: %w", saleID, err)
		}
		o.ReservedAt, o.Hold, o.ExpiresAt, o.PaidAt = o.ReservedAt.UTC(), order.Hold(hold), utc(o.ExpiresAt), utc(o.PaidAt)
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
