package reservation

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// UpsertSale creates the sale (created = true) or updates it; a stock change
// applies as a delta to the remaining stock and may not go below what is sold.
func (s *Store) UpsertSale(ctx context.Context, spec order.SaleSpec) (created bool, err error) {
	return s.putSale(ctx, spec, "upsert")
}

// UpdateSale updates a sale the durable ledger already defined. It never
// creates one: when Redis lacks the hash, Redis lost the sale, and creating
// it afresh (remaining = stock) would offer its sold units again; it answers
// order.ErrLedgerRebuilding instead, and the rebuild applies the definition.
func (s *Store) UpdateSale(ctx context.Context, spec order.SaleSpec) error {
	_, err := s.putSale(ctx, spec, "update")
	return err
}

func (s *Store) putSale(ctx context.Context, spec order.SaleSpec, mode string) (created bool, err error) {
	var ends int64
	if spec.EndsAt != nil {
		ends = spec.EndsAt.UnixMilli()
	}
	gen, err := s.nodeCheck(ctx)
	if err != nil {
		return false, err
	}
	k := saleKeys(spec.ID)
	reply, err := s.upsert.Exec(ctx, s.client, []string{k.sale}, []string{
		spec.Name, strconv.FormatInt(spec.Stock, 10), strconv.FormatInt(spec.PerUserLimit, 10),
		strconv.FormatInt(spec.StartsAt.UnixMilli(), 10), strconv.FormatInt(ends, 10), mode,
		strconv.FormatInt(spec.HoldSeconds*1000, 10),
	}).AsIntSlice()
	if err != nil {
		return false, fmt.Errorf("upsert sale: %w", err)
	}
	if s.nodeMoved(ctx, gen) {
		return false, order.ErrLedgerRebuilding // PostgreSQL has the definition; the rebuild applies it
	}
	if reply[0] == -2 {
		return false, order.ErrLedgerRebuilding
	}
	if reply[0] < 0 {
		return false, order.Errorf(order.CodeStockBelowSold, "stock %d is below the %d units already sold", spec.Stock, reply[1])
	}
	s.forgetSoldOut(spec.ID) // a top-up or a new window is offered at once through this instance
	if err := s.client.Do(ctx, s.client.B().Sadd().Key(salesIndex).Member(spec.ID).Build()).Error(); err != nil {
		return false, fmt.Errorf("index sale: %w", err)
	}
	return reply[0] == 1, nil
}

// Sale reads a sale; order.ErrNotFound when there is none.
func (s *Store) Sale(ctx context.Context, saleID string, now time.Time) (order.Sale, error) {
	gen, err := s.nodeCheck(ctx)
	if err != nil {
		return order.Sale{}, err
	}
	m, err := s.client.Do(ctx, s.client.B().Hgetall().Key(saleKeys(saleID).sale).Build()).AsStrMap()
	if err != nil {
		return order.Sale{}, fmt.Errorf("sale: %w", err)
	}
	if s.nodeMoved(ctx, gen) {
		return order.Sale{}, order.ErrLedgerRebuilding
	}
	if len(m) == 0 {
		return order.Sale{}, s.lostOrUnknown(ctx, saleID)
	}
	num := func(f string) int64 { n, _ := strconv.ParseInt(m[f], 10, 64); return n }
	sale := order.Sale{
		ID: saleID, Name: m["name"], Stock: num("stock"), Remaining: num("remaining"),
		PerUserLimit: num("limit"), StartsAt: time.UnixMilli(num("starts_ms")).UTC(),
		HoldSeconds: num("hold_ms") / 1000,
	}
	if e := num("ends_ms"); e > 0 {
		t := time.UnixMilli(e).UTC()
		sale.EndsAt = &t
	}
	sale.State = sale.StateAt(now)
	return sale, nil
}

// Counters reads a sale and its live counters in one pipelined round trip.
func (s *Store) Counters(ctx context.Context, saleID string, now time.Time) (order.Counters, error) {
	sale, err := s.Sale(ctx, saleID, now)
	if err != nil {
		return order.Counters{}, err
	}
	k := saleKeys(saleID)
	res := s.client.DoMulti(ctx,
		s.client.B().Zcard().Key(k.pending).Build(),
		s.client.B().Hlen().Key(k.users).Build(),
		s.client.B().Hmget().Key(k.sale).Field("held", "paid", "expired", "cancelled").Build())
	pending, err1 := res[0].AsInt64()
	buyers, err2 := res[1].AsInt64()
	hold, err3 := res[2].ToArray()
	if err := errors.Join(err1, err2, err3); err != nil {
		return order.Counters{}, fmt.Errorf("counters: %w", err)
	}
	c := order.Counters{Sale: sale, Sold: sale.Stock - sale.Remaining, Pending: pending, Buyers: buyers}
	for i, dst := range []*int64{&c.Held, &c.Paid, &c.Expired, &c.Cancelled} {
		if v, err := hold[i].ToString(); err == nil {
			*dst, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return c, nil
}
