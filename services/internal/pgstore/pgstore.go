// Package pgstore is BlitzBuy's durable ledger in PostgreSQL (pgx): the
// schema and its migrations (embedded, applied with tern), the idempotent
// batch insert the writer uses, and the order reads of the API.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies every pending migration. tern takes an advisory lock, so
// several writers starting at once migrate exactly once.
func Migrate(ctx context.Context, url string) (version int32, err error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close(context.Background())
	m, err := migrate.NewMigrator(ctx, conn, "schema_version")
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return 0, err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return 0, fmt.Errorf("migrate: load: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	return m.GetCurrentVersion(ctx)
}

// Store reads and writes orders.
type Store struct{ pool *pgxpool.Pool }

// New returns a Store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Row is one order as the writer persists it.
type Row struct {
	order.OrderPlaced
	TraceID string
}

// InsertResult tells what a batch insert did.
type InsertResult struct {
	Inserted   []string // order ids written now
	Duplicates []string // order ids already present (redelivery, relay re-publish)
	// EarlyApplied counts, per hold, the transitions that had arrived before
	// their order and ended its hold as it was inserted (nil: none).
	EarlyApplied map[order.Hold]int
}

// InsertBatch writes rows in one transaction with one statement:
// INSERT … SELECT FROM unnest(…) ON CONFLICT (order_id) DO NOTHING. Rows that
// were already there are reported as duplicates. Any other constraint
// violation fails the whole batch with a *pgconn.PgError; the caller isolates
// the offending rows (InsertOne).
func (s *Store) InsertBatch(ctx context.Context, rows []Row) (InsertResult, error) {
	res, _, err := s.ApplyBatch(ctx, rows, nil)
	return res, err
}

// duplicatesOf lists the ids of rows not inserted, once each.
func duplicatesOf(rows []Row, inserted []string) []string {
	if len(inserted) == len(rows) {
		return nil
	}
	done := make(map[string]bool, len(inserted))
	for _, id := range inserted {
		done[id] = true
	}
	var dups []string
	for _, r := range rows {
		if !done[r.OrderID] {
			dups = append(dups, r.OrderID)
			done[r.OrderID] = true // an id twice in one batch is one duplicate
		}
	}
	return dups
}

// insertRows is the one insert of orders: INSERT … SELECT FROM unnest(…) ON
// CONFLICT (order_id) DO NOTHING, keeping sale_totals in the same statement.
// It returns the order ids written now.
func insertRows(ctx context.Context, tx pgx.Tx, rows []Row) ([]string, error) {
	n := len(rows)
	ids, sales, users, keys, traces := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	qty, reserved := make([]int64, n), make([]time.Time, n)
	expires := make([]*time.Time, n) // NULL: no checkout window
	for i, r := range rows {
		ids[i], sales[i], users[i], keys[i], traces[i] = r.OrderID, r.SaleID, r.UserID, r.IdempotencyKey, r.TraceID
		qty[i], reserved[i], expires[i] = r.Quantity, r.ReservedAt, r.ExpiresAt
	}
	got, err := tx.Query(ctx, `
WITH ins AS (
  INSERT INTO orders (order_id, sale_id, user_id, quantity, idempotency_key, reserved_at, trace_id, expires_at, hold)
  SELECT *, CASE WHEN expires_at IS NOT NULL THEN 'held' END
  FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[], $7::text[], $8::timestamptz[])
    AS r(order_id, sale_id, user_id, quantity, idempotency_key, reserved_at, trace_id, expires_at)
  ON CONFLICT (order_id) DO NOTHING
  RETURNING order_id, sale_id, quantity
), totals AS (
  INSERT INTO sale_totals AS t (sale_id, orders, units)
  SELECT sale_id, count(*), sum(quantity) FROM ins GROUP BY sale_id
  ON CONFLICT (sale_id) DO UPDATE SET orders = t.orders + excluded.orders, units = t.units + excluded.units
)
SELECT order_id FROM ins`, ids, sales, users, qty, keys, reserved, traces, expires)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(got, pgx.RowTo[string])
}

// InsertOne writes one row on its own (used to isolate a row that breaks a
// batch); inserted is false when the order id was already present. A
// transition that arrived before the order is applied with it.
func (s *Store) InsertOne(ctx context.Context, r Row) (inserted bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		ids, err := insertRows(ctx, tx, []Row{r})
		if err != nil {
			return err
		}
		inserted = len(ids) == 1
		_, err = applyEarly(ctx, tx, []Row{r}, ids)
		return err
	})
	if err != nil {
		return false, err
	}
	return inserted, nil
}

// Order reads a persisted order; order.ErrNotFound when there is none. An
// order whose checkout window ended reads paid, expired or cancelled.
func (s *Store) Order(ctx context.Context, orderID string) (order.Order, error) {
	var o order.Order
	var status, hold string
	err := s.pool.QueryRow(ctx, `
SELECT order_id, sale_id, user_id, quantity, idempotency_key, status, reserved_at, coalesce(hold, ''), expires_at, paid_at
FROM orders WHERE order_id = $1`, orderID).Scan(&o.ID, &o.SaleID, &o.UserID, &o.Quantity, &o.IdempotencyKey, &status,
		&o.ReservedAt, &hold, &o.ExpiresAt, &o.PaidAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return order.Order{}, order.ErrNotFound
	}
	if err != nil {
		return order.Order{}, fmt.Errorf("order %s: %w", orderID, err)
	}
	o.Status, o.Hold = order.Status(status), order.Hold(hold)
	if st, ended := o.Hold.Status(); ended && o.Status == order.StatusConfirmed {
		o.Status = st
	}
	o.ExpiresAt, o.PaidAt = utc(o.ExpiresAt), utc(o.PaidAt)
	return o, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Persisted returns a sale's persisted orders and the units they hold:
// confirmed, held or paid (an expired or cancelled order gave its units
// back, though it still counts as an order). The I1, I5 checks.
func (s *Store) Persisted(ctx context.Context, saleID string) (orders, units int64, err error) {
	return totals(ctx, s.pool, saleID)
}

// totals reads a sale's running totals (0, 0 before its first order).
func totals(ctx context.Context, q querier, saleID string) (orders, units int64, err error) {
	err = q.QueryRow(ctx, `SELECT orders, units FROM sale_totals WHERE sale_id = $1`, saleID).Scan(&orders, &units)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("totals of %s: %w", saleID, err)
	}
	return orders, units, nil
}

// Collector exports each sale's persisted units on every scrape (the
// oversell guard compares it with blitzbuy_sale_stock).
type Collector struct {
	store *Store
	units *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector over store.
func NewCollector(store *Store) *Collector {
	return &Collector{store: store, units: prometheus.NewDesc("blitzbuy_sale_persisted_units",
		"Units of confirmed orders in PostgreSQL, per sale (the durable ledger).", []string{"sale"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.units }

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := c.store.pool.Query(ctx, `SELECT sale_id, units FROM sale_totals ORDER BY sale_id LIMIT 1000`)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.units, err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var sale string
		var units int64
		if err := rows.Scan(&sale, &units); err != nil {
			ch <- prometheus.NewInvalidMetric(c.units, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(c.units, prometheus.GaugeValue, float64(units), sale)
	}
	if err := rows.Err(); err != nil {
		ch <- prometheus.NewInvalidMetric(c.units, err)
	}
}
