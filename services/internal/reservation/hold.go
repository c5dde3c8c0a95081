package reservation

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// The checkout window's ledger side (issue #14): hold.lua pays, cancels and
// expires held orders. The HTTP endpoints, the transition events through
// Kafka and their application in PostgreSQL build on these.

//go:embed hold.lua
var holdLua string

var holdScript = rueidis.NewLuaScript(holdLua)

// payIdemKey names a payment's idempotency record: per (user, key), apart
// from the order requests' records.
func payIdemKey(saleID, userID, key string) string {
	return "{sale:" + saleID + "}:payidem:" + idemKey(saleID, userID, key)[len("{sale:"+saleID+"}:idem:"):]
}

// payFingerprint binds a payment's Idempotency-Key to its order and
// reference: the same key with another body is reused.
func payFingerprint(orderID, ref string) string {
	sum := sha256.Sum256([]byte(orderID + "\x00" + ref))
	return hex.EncodeToString(sum[:16])
}

// Pay marks p's held order paid. Errors: order.ErrNotFound (unknown, or not
// the caller's), order.ErrOrderExpired (the window ended first: exactly one
// of payment and expiry wins), order.ErrOrderCancelled,
// order.ErrPaymentNotRequired (the sale has no window), a failed order
// (order.ErrNotFound's sibling: the order was compensated),
// order.ErrIdempotencyKeyReused, order.ErrLedgerRebuilding. Paying a paid
// order again answers the paid order.
func (s *Store) Pay(ctx context.Context, p order.Payment) (order.Order, error) {
	saleID, ok := order.SaleOfOrder(p.OrderID)
	if !ok {
		return order.Order{}, order.ErrNotFound
	}
	k := saleKeys(saleID)
	reply, err := holdScript.Exec(ctx, s.client,
		[]string{k.sale, k.users, k.holds, orderKey(saleID, p.OrderID), payIdemKey(saleID, p.UserID, p.IdempotencyKey), k.ended},
		[]string{"pay", p.UserID, payFingerprint(p.OrderID, p.Ref), p.Ref, strconv.FormatInt(s.ttl, 10)},
	).AsStrSlice()
	if err != nil {
		return order.Order{}, fmt.Errorf("pay: %w", err)
	}
	return s.holdAnswer(ctx, p.OrderID, reply, order.HoldPaid)
}

// Cancel gives a held order's units back (status cancelled). Cancelling a
// cancelled order answers it again; errors: order.ErrNotFound,
// order.ErrOrderPaid, order.ErrOrderExpired, order.ErrPaymentNotRequired (no
// window: the order is final), order.ErrLedgerRebuilding.
func (s *Store) Cancel(ctx context.Context, orderID, userID string) (order.Order, error) {
	saleID, ok := order.SaleOfOrder(orderID)
	if !ok {
		return order.Order{}, order.ErrNotFound
	}
	k := saleKeys(saleID)
	reply, err := holdScript.Exec(ctx, s.client,
		[]string{k.sale, k.users, k.holds, orderKey(saleID, orderID), k.sale, k.ended},
		[]string{"cancel", userID},
	).AsStrSlice()
	if err != nil {
		return order.Order{}, fmt.Errorf("cancel: %w", err)
	}
	return s.holdAnswer(ctx, orderID, reply, order.HoldCancelled)
}

// holdAnswer turns hold.lua's {outcome, hold, expires_ms, paid_ms,
// traceparent} into the order or the error; want is the outcome the caller
// asked for. Whatever the answer, the caller's span links to the order
// request's trace when it was sampled: a payment's trace and its order's
// are one click apart.
func (s *Store) holdAnswer(ctx context.Context, orderID string, reply []string, want order.Hold) (order.Order, error) {
	if len(reply) != 5 {
		return order.Order{}, fmt.Errorf("hold: unexpected reply %q", reply)
	}
	linkToOrder(ctx, reply[4])
	switch outcome := reply[0]; {
	case outcome == string(want):
	case outcome == "not_found":
		return order.Order{}, order.ErrNotFound
	case outcome == "frozen":
		return order.Order{}, order.ErrLedgerRebuilding
	case outcome == "reused":
		return order.Order{}, order.ErrIdempotencyKeyReused
	case outcome == "not_required":
		return order.Order{}, order.ErrPaymentNotRequired
	case outcome == "failed":
		return order.Order{}, order.Errorf(order.CodeNotFound, "the order failed: its units went back to the sale")
	case outcome == string(order.HoldExpired):
		return order.Order{}, order.ErrOrderExpired
	case outcome == string(order.HoldCancelled):
		return order.Order{}, order.ErrOrderCancelled
	case outcome == string(order.HoldPaid):
		return order.Order{}, order.ErrOrderPaid
	default:
		return order.Order{}, fmt.Errorf("hold: unexpected outcome %q", outcome)
	}
	return s.Order(ctx, orderID)
}

// expiryClockMargin: how far ahead of this process's clock ExpireDue looks,
// so a Redis clock slightly ahead does not delay expiries by a sweep.
const expiryClockMargin = 100 * time.Millisecond

// DueSales names those of saleIDs with a hold whose window has passed, in
// one pipelined round trip: the sweeper runs five times a second over every
// sale, and most sales have no window at all.
func (s *Store) DueSales(ctx context.Context, saleIDs []string) ([]string, error) {
	if len(saleIDs) == 0 {
		return nil, nil
	}
	due := strconv.FormatInt(time.Now().Add(expiryClockMargin).UnixMilli(), 10)
	cmds := make(rueidis.Commands, len(saleIDs))
	for i, id := range saleIDs {
		cmds[i] = s.client.B().Zcount().Key(saleKeys(id).holds).Min("-inf").Max(due).Build()
	}
	var out []string
	for i, r := range s.client.DoMulti(ctx, cmds...) {
		n, err := r.AsInt64()
		if err != nil {
			return nil, fmt.Errorf("due holds: %w", err)
		}
		if n > 0 {
			out = append(out, saleIDs[i])
		}
	}
	return out, nil
}

// ExpireDue expires up to limit holds of saleID whose window has passed,
// returning their units, and names them with their lateness summed (now -
// expires_at when each expired). Safe to run on every API instance at once:
// each hold expires exactly once, whoever gets there first.
func (s *Store) ExpireDue(ctx context.Context, saleID string, limit int64) (order.Expired, error) {
	k := saleKeys(saleID)
	// Due by this clock, with a margin for Redis's clock being ahead; the
	// script decides by Redis's own TIME and skips what is not due yet.
	due := strconv.FormatInt(time.Now().Add(expiryClockMargin).UnixMilli(), 10)
	ids, err := s.client.Do(ctx, s.client.B().Zrangebyscore().Key(k.holds).Min("-inf").Max(due).
		Limit(0, limit).Build()).AsStrSlice()
	if err != nil || len(ids) == 0 {
		return order.Expired{}, err
	}
	keys := []string{k.sale, k.users, k.holds, k.ended}
	for _, id := range ids {
		keys = append(keys, orderKey(saleID, id))
	}
	reply, err := holdScript.Exec(ctx, s.client, keys, []string{"expire"}).AsStrSlice()
	if err != nil {
		return order.Expired{}, fmt.Errorf("expire: %w", err)
	}
	if len(reply) == 0 {
		return order.Expired{}, fmt.Errorf("expire: empty reply")
	}
	late, err := strconv.ParseInt(reply[0], 10, 64)
	if err != nil {
		return order.Expired{}, fmt.Errorf("expire: lateness %q: %w", reply[0], err)
	}
	return order.Expired{Orders: reply[1:], Lateness: time.Duration(late) * time.Millisecond}, nil
}

// Ended lists up to limit orders whose hold ended (paid, expired,
// cancelled) before cutoff and whose transition event is not acknowledged
// yet: what the relay re-publishes.
func (s *Store) Ended(ctx context.Context, saleID string, cutoff time.Time, limit int64) ([]string, error) {
	ids, err := s.client.Do(ctx, s.client.B().Zrangebyscore().Key(saleKeys(saleID).ended).Min("-inf").
		Max(strconv.FormatInt(cutoff.UnixMilli(), 10)).Limit(0, limit).Build()).AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("ended: %w", err)
	}
	return ids, nil
}

// AckEnded takes an order out of the transitions outbox once the broker
// acknowledged its transition event.
func (s *Store) AckEnded(ctx context.Context, saleID, orderID string) error {
	if err := s.client.Do(ctx, s.client.B().Zrem().Key(saleKeys(saleID).ended).Member(orderID).Build()).Error(); err != nil {
		return fmt.Errorf("ack ended: %w", err)
	}
	return nil
}

// Unacked reports whether an order's transition event still waits in the
// outbox (a payment is answered only once it is acknowledged).
func (s *Store) Unacked(ctx context.Context, saleID, orderID string) (bool, error) {
	err := s.client.Do(ctx, s.client.B().Zscore().Key(saleKeys(saleID).ended).Member(orderID).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("unacked: %w", err)
	}
	return true, nil
}

// linkToOrder adds a link from ctx's span to the order request's span
// context, kept as a W3C traceparent on the held order.
func linkToOrder(ctx context.Context, traceparent string) {
	span := trace.SpanFromContext(ctx)
	if traceparent == "" || !span.IsRecording() {
		return
	}
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
		propagation.MapCarrier{"traceparent": traceparent}))
	if sc.IsValid() {
		span.AddLink(trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{attribute.String("blitzbuy.link", "the order's request")}})
	}
}

// traceparentOf is the W3C traceparent of ctx's span when it is sampled
// (reserve.lua keeps it on a held order), else "".
func traceparentOf(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
}
