package reservation

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// LedgerState is what Redis holds of one sale, for reconciling it with the
// durable ledger.
type LedgerState struct {
	Exists                  bool // the sale hash is there
	Stock, Remaining, Limit int64
	Users                   map[string]int64 // user -> units held (live and persisted)
	Pending                 int64            // reservations in the outbox
}

// Sold is stock - remaining: live reservations plus persisted units.
func (l LedgerState) Sold() int64 { return l.Stock - l.Remaining }

// State reads a sale's hot ledger.
func (s *Store) State(ctx context.Context, saleID string) (LedgerState, error) {
	k := saleKeys(saleID)
	res := s.client.DoMulti(ctx,
		s.client.B().Hmget().Key(k.sale).Field("stock", "remaining", "limit").Build(),
		s.client.B().Hgetall().Key(k.users).Build(),
		s.client.B().Zcard().Key(k.pending).Build())
	fields, err := res[0].ToArray()
	if err != nil {
		return LedgerState{}, fmt.Errorf("state %s: %w", saleID, err)
	}
	st := LedgerState{Users: map[string]int64{}}
	if stock, err := fields[0].AsInt64(); err == nil {
		st.Exists, st.Stock = true, stock
		st.Remaining, _ = fields[1].AsInt64()
		st.Limit, _ = fields[2].AsInt64()
	} else if !rueidis.IsRedisNil(err) {
		return LedgerState{}, fmt.Errorf("state %s: stock: %w", saleID, err)
	}
	users, err := res[1].AsStrMap()
	if err != nil {
		return LedgerState{}, fmt.Errorf("state %s: users: %w", saleID, err)
	}
	for u, v := range users {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return LedgerState{}, fmt.Errorf("state %s: user %q holds %q", saleID, u, v)
		}
		st.Users[u] = n
	}
	if st.Pending, err = res[2].AsInt64(); err != nil {
		return LedgerState{}, fmt.Errorf("state %s: pending: %w", saleID, err)
	}
	return st, nil
}

// Freeze removes a sale's hash, so that no order reserves anything until
// Restore writes it again: reserve.lua answers not_found, the API answers
// ledger_rebuilding while PostgreSQL knows the sale. The outbox, the
// reservations and the idempotency records stay for the relay and the
// writer to finish.
func (s *Store) Freeze(ctx context.Context, saleID string) error {
	if err := s.client.Do(ctx, s.client.B().Del().Key(saleKeys(saleID).sale).Build()).Error(); err != nil {
		return fmt.Errorf("freeze %s: %w", saleID, err)
	}
	return nil
}

// restoreChunk bounds the commands of one pipelined round trip.
const restoreChunk = 512

// Restore rebuilds a sale's hot ledger from its durable state: per confirmed
// order its idempotency record (so a retry of a key answered 202 replays the
// same order id) and its reservation (confirmed), the per-user counts, and
// last the sale hash with remaining = stock - persisted units, which opens
// the sale again. Call it only with nothing in flight: the sale frozen, its
// outbox empty and the writer caught up; what it writes is then exact.
// Remembered rejections (purchase_limit_reached, sale_not_active) are not in
// PostgreSQL and are not restored: such a key is answered afresh. Held and
// paid orders of a checkout window get their hold back (held until
// expires_at, in the holds index); the expired and cancelled counters start
// again from 0, PostgreSQL keeps those orders.
func (s *Store) Restore(ctx context.Context, spec order.SaleSpec, persisted []order.Order, now time.Time) error {
	k := saleKeys(spec.ID)
	var units int64
	for _, o := range persisted {
		units += o.Quantity
	}
	if units > spec.Stock {
		return fmt.Errorf("restore %s: PostgreSQL holds %d units for a stock of %d: refusing to open an oversold sale", spec.ID, units, spec.Stock)
	}
	users := map[string]int64{}
	cmds := make(rueidis.Commands, 0, restoreChunk)
	flush := func() error {
		if len(cmds) == 0 {
			return nil
		}
		for _, r := range s.client.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				return fmt.Errorf("restore %s: %w", spec.ID, err)
			}
		}
		cmds = cmds[:0]
		return nil
	}
	if err := s.client.Do(ctx, s.client.B().Del().Key(k.users).Key(k.holds).Build()).Error(); err != nil {
		return fmt.Errorf("restore %s: %w", spec.ID, err)
	}
	var held, paid int64
	for _, o := range persisted {
		users[o.UserID] += o.Quantity
		ttl := s.ttl - int64(now.Sub(o.ReservedAt)/time.Second)
		if ttl <= 0 {
			continue // its key is forgotten anyway (and any window, at most a day, long over)
		}
		// The checkout window: a held order holds again until its
		// expires_at (the sweeper expires it at once if that has passed), a
		// paid one stays paid. Expired and cancelled orders are not in the
		// snapshot: their units are in remaining.
		switch {
		case o.Hold == order.HoldHeld && o.ExpiresAt != nil:
			held += o.Quantity
			cmds = append(cmds, s.client.B().Zadd().Key(k.holds).ScoreMember().
				ScoreMember(float64(o.ExpiresAt.UnixMilli()), o.ID).Build())
		case o.Hold == order.HoldPaid:
			paid += o.Quantity
		}
		qty, ms := strconv.FormatInt(o.Quantity, 10), strconv.FormatInt(o.ReservedAt.UnixMilli(), 10)
		idem, ok := idemKey(spec.ID, o.UserID, o.IdempotencyKey), orderKey(spec.ID, o.ID)
		cmds = append(cmds,
			s.client.B().Hset().Key(idem).FieldValue().FieldValue("fp", fingerprint(spec.ID, o.Quantity)).
				FieldValue("outcome", string(order.OutcomeAccepted)).FieldValue("order_id", o.ID).
				FieldValue("qty", qty).FieldValue("reserved_ms", ms).Build(),
			s.client.B().Expire().Key(idem).Seconds(ttl).Build(),
			s.client.B().Hset().Key(ok).FieldValue().FieldValue("user", o.UserID).FieldValue("qty", qty).
				FieldValue("key", o.IdempotencyKey).FieldValue("reserved_ms", ms).
				FieldValue("status", string(order.StatusConfirmed)).Build(),
			s.client.B().Expire().Key(ok).Seconds(ttl).Build())
		if o.Hold == order.HoldHeld || o.Hold == order.HoldPaid {
			hold := s.client.B().Hset().Key(ok).FieldValue().FieldValue("hold", string(o.Hold))
			if o.ExpiresAt != nil {
				hold = hold.FieldValue("expires_ms", strconv.FormatInt(o.ExpiresAt.UnixMilli(), 10))
				cmds = append(cmds, s.client.B().Hset().Key(idem).FieldValue().
					FieldValue("expires_ms", strconv.FormatInt(o.ExpiresAt.UnixMilli(), 10)).Build())
			}
			if o.PaidAt != nil {
				hold = hold.FieldValue("paid_ms", strconv.FormatInt(o.PaidAt.UnixMilli(), 10)).
					FieldValue("ended_ms", strconv.FormatInt(o.PaidAt.UnixMilli(), 10))
			}
			cmds = append(cmds, hold.Build())
		}
		if len(cmds) >= restoreChunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	for u, n := range users {
		cmds = append(cmds, s.client.B().Hset().Key(k.users).FieldValue().FieldValue(u, strconv.FormatInt(n, 10)).Build())
		if len(cmds) >= restoreChunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	var ends int64
	if spec.EndsAt != nil {
		ends = spec.EndsAt.UnixMilli()
	}
	res := s.client.DoMulti(ctx,
		s.client.B().Hset().Key(k.sale).FieldValue().FieldValue("name", spec.Name).
			FieldValue("stock", strconv.FormatInt(spec.Stock, 10)).
			FieldValue("remaining", strconv.FormatInt(spec.Stock-units, 10)).
			FieldValue("limit", strconv.FormatInt(spec.PerUserLimit, 10)).
			FieldValue("starts_ms", strconv.FormatInt(spec.StartsAt.UnixMilli(), 10)).
			FieldValue("ends_ms", strconv.FormatInt(ends, 10)).
			FieldValue("hold_ms", strconv.FormatInt(spec.HoldSeconds*1000, 10)).
			FieldValue("held", strconv.FormatInt(held, 10)).
			FieldValue("paid", strconv.FormatInt(paid, 10)).Build(),
		s.client.B().Sadd().Key(salesIndex).Member(spec.ID).Build())
	for _, r := range res {
		if err := r.Error(); err != nil {
			return fmt.Errorf("restore %s: %w", spec.ID, err)
		}
	}
	s.forgetSoldOut(spec.ID)
	return nil
}

// releaseLeaseLua deletes a lease only while it still holds the caller's token.
const releaseLeaseLua = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

var releaseLease = rueidis.NewLuaScript(releaseLeaseLua)

// RebuildLease takes the right to rebuild a sale for ttl, across every
// instance sharing this Redis ({sale:<id>}:rebuild, SET NX PX).
func (s *Store) RebuildLease(ctx context.Context, saleID string, ttl time.Duration) (release func(), ok bool, err error) {
	key, token := saleKeys(saleID).sale+":rebuild", strconv.FormatInt(time.Now().UnixNano(), 36)
	err = s.client.Do(ctx, s.client.B().Set().Key(key).Value(token).Nx().Px(ttl).Build()).Error()
	switch {
	case rueidis.IsRedisNil(err):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("rebuild lease %s: %w", saleID, err)
	}
	return func() {
		_ = releaseLease.Exec(context.WithoutCancel(ctx), s.client, []string{key}, []string{token}).Error()
	}, true, nil
}
