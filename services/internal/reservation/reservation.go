// Package reservation is BlitzBuy's hot ledger: sales, stock and reservations
// held in Redis and changed only by the Lua scripts embedded here, one round
// trip per operation, every key of a sale under the hash tag {sale:<id>}.
package reservation

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

var (
	//go:embed reserve.lua
	reserveLua string
	//go:embed release.lua
	releaseLua string
	//go:embed ack.lua
	ackLua string
	//go:embed claim.lua
	claimLua string
	//go:embed upsert_sale.lua
	upsertSaleLua string
)

// salesIndex lists every sale id; the relay walks it to find outboxes. It is
// touched only by admin writes and the relay, never by the order path.
const salesIndex = "blitzbuy:sales"

// Config tunes the store.
type Config struct {
	// IdempotencyTTL is how long an Idempotency-Key is remembered (≥ 24 h).
	IdempotencyTTL time.Duration
}

// Store is the Redis-backed reservation ledger. It is safe for concurrent use;
// concurrent calls share rueidis's auto-pipelined connection.
type Store struct {
	client rueidis.Client
	ttl    int64 // seconds

	reserve, release, ack, claim, upsert *rueidis.Lua
	persistClaim, confirm                *rueidis.Lua

	tracer trace.Tracer
}

// New returns a Store over client.
func New(client rueidis.Client, cfg Config) (*Store, error) {
	if cfg.IdempotencyTTL < 24*time.Hour {
		return nil, fmt.Errorf("reservation: idempotency TTL %s is below 24h", cfg.IdempotencyTTL)
	}
	return &Store{
		client:  client,
		ttl:     int64(cfg.IdempotencyTTL / time.Second),
		reserve: rueidis.NewLuaScript(reserveLua),
		release: rueidis.NewLuaScript(releaseLua),
		ack:     rueidis.NewLuaScript(ackLua),
		claim:   rueidis.NewLuaScript(claimLua),
		upsert:  rueidis.NewLuaScript(upsertSaleLua),

		persistClaim: rueidis.NewLuaScript(persistClaimLua),
		confirm:      rueidis.NewLuaScript(confirmLua),

		tracer: otel.Tracer("github.com/blitzbuy/blitzbuy/services/internal/reservation"),
	}, nil
}

// Keys of one sale. The {sale:<id>} hash tag keeps them in one cluster slot.
type keys struct{ sale, users, pending string }

func saleKeys(saleID string) keys {
	tag := "{sale:" + saleID + "}"
	return keys{sale: tag, users: tag + ":users", pending: tag + ":pending"}
}

func orderKey(saleID, orderID string) string { return "{sale:" + saleID + "}:order:" + orderID }

// idemKey names the idempotency record of (user, key) in a sale. The pair is
// hashed so no choice of user id and key can collide with another pair.
func idemKey(saleID, userID, key string) string {
	h := sha256.New()
	h.Write([]byte(userID))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return "{sale:" + saleID + "}:idem:" + hex.EncodeToString(h.Sum(nil)[:20])
}

// fingerprint identifies the request body bound to an Idempotency-Key.
func fingerprint(saleID string, qty int64) string {
	sum := sha256.Sum256([]byte(saleID + "\x00" + strconv.FormatInt(qty, 10)))
	return hex.EncodeToString(sum[:16])
}

// Request is one buyer's order request.
type Request struct {
	SaleID         string
	UserID         string
	IdempotencyKey string
	Quantity       int64
}

// Result is the answer to a Request. Err is nil only when the order was
// accepted; otherwise it is one of order.ErrSoldOut, ErrPurchaseLimit,
// ErrSaleNotActive. Replayed is true when the answer comes from the
// idempotency record of an earlier identical request.
type Result struct {
	Order    order.Order
	Replayed bool
	Err      error
}

// Reserve runs the reservation script. Errors returned (as opposed to
// Result.Err) are order.ErrNotFound, order.ErrIdempotencyKeyReused, or
// infrastructure failures.
func (s *Store) Reserve(ctx context.Context, req Request) (Result, error) {
	if req.Quantity < 1 {
		return Result{}, order.Errorf(order.CodeInvalidRequest, "quantity must be at least 1")
	}
	id, err := order.NewOrderID(req.SaleID)
	if err != nil {
		return Result{}, err
	}
	if trace.SpanFromContext(ctx).IsRecording() { // unsampled requests skip the span entirely
		var span trace.Span
		ctx, span = s.tracer.Start(ctx, "reserve", trace.WithAttributes(attribute.String("blitzbuy.sale_id", req.SaleID),
			attribute.Int64("blitzbuy.quantity", req.Quantity)))
		defer span.End()
	}
	k := saleKeys(req.SaleID)
	if splitCheck { // only in the deliberately broken test build (reserve_broken.go)
		remaining, err := s.client.Do(ctx, s.client.B().Hget().Key(k.sale).Field("remaining").Build()).AsInt64()
		if err == nil && remaining < req.Quantity {
			return Result{Err: order.ErrSoldOut}, nil
		}
	}
	reply, err := s.reserve.Exec(ctx, s.client,
		[]string{k.sale, k.users, idemKey(req.SaleID, req.UserID, req.IdempotencyKey), k.pending, orderKey(req.SaleID, id)},
		[]string{req.UserID, strconv.FormatInt(req.Quantity, 10), fingerprint(req.SaleID, req.Quantity), id,
			strconv.FormatInt(s.ttl, 10), req.IdempotencyKey},
	).AsStrSlice()
	if err != nil {
		return Result{}, fmt.Errorf("reserve: %w", err)
	}
	switch reply[0] {
	case "reused":
		return Result{}, order.ErrIdempotencyKeyReused
	case "not_found":
		return Result{}, order.ErrNotFound
	case "new", "replay":
	default:
		return Result{}, fmt.Errorf("reserve: unexpected reply %q", reply)
	}
	if len(reply) != 5 {
		return Result{}, fmt.Errorf("reserve: unexpected reply %q", reply)
	}
	res := Result{Replayed: reply[0] == "replay"}
	qty, _ := strconv.ParseInt(reply[3], 10, 64)
	switch reply[1] {
	case "accepted":
		ms, err := strconv.ParseInt(reply[4], 10, 64)
		if err != nil {
			return Result{}, fmt.Errorf("reserve: reserved_ms %q: %w", reply[4], err)
		}
		res.Order = order.Order{
			ID: reply[2], SaleID: req.SaleID, UserID: req.UserID, Quantity: qty,
			Status: order.StatusPending, IdempotencyKey: req.IdempotencyKey, ReservedAt: time.UnixMilli(ms).UTC(),
		}
	case "sold_out":
		res.Err = order.ErrSoldOut
	case "limit":
		res.Err = order.ErrPurchaseLimit
	case "not_active":
		res.Err = order.ErrSaleNotActive
	default:
		return Result{}, fmt.Errorf("reserve: unexpected outcome %q", reply[1])
	}
	return res, nil
}

// ReleaseMode says who releases a reservation and why.
type ReleaseMode string

// Release modes (see release.lua).
const (
	// ReleasePublishFailed: the API could not publish the event.
	ReleasePublishFailed ReleaseMode = "publish_failed"
	// ReleaseRejected: the writer rejected the order permanently (saga).
	ReleaseRejected ReleaseMode = "rejected"
)

// ErrNotOwned means the release was refused: the reservation moved on (a relay
// holds it, it was published, persisted or already released).
var ErrNotOwned = errors.New("reservation: not owned by the caller")

// Release returns o's stock to its sale. It returns ErrNotOwned when the
// caller no longer owns the reservation and order.ErrNotFound when it is unknown.
func (s *Store) Release(ctx context.Context, o order.Order, mode ReleaseMode) error {
	k := saleKeys(o.SaleID)
	n, err := s.release.Exec(ctx, s.client,
		[]string{k.sale, k.users, idemKey(o.SaleID, o.UserID, o.IdempotencyKey), k.pending, orderKey(o.SaleID, o.ID)},
		[]string{o.ID, string(mode), strconv.FormatInt(s.ttl, 10)},
	).AsInt64()
	switch {
	case err != nil:
		return fmt.Errorf("release: %w", err)
	case n == 1:
		return nil
	case n == 0:
		return ErrNotOwned
	default:
		return order.ErrNotFound
	}
}

// Ack records that the broker acknowledged o's event: it leaves the outbox.
func (s *Store) Ack(ctx context.Context, saleID, orderID string) error {
	k := saleKeys(saleID)
	err := s.ack.Exec(ctx, s.client, []string{k.pending, orderKey(saleID, orderID)},
		[]string{orderID, strconv.FormatInt(s.ttl, 10)}).Error()
	if err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	return nil
}

// Stale lists up to limit order ids of a sale reserved before cutoff and still
// in its outbox.
func (s *Store) Stale(ctx context.Context, saleID string, cutoff time.Time, limit int64) ([]string, error) {
	k := saleKeys(saleID)
	ids, err := s.client.Do(ctx, s.client.B().Zrange().Key(k.pending).Min("-inf").
		Max(strconv.FormatInt(cutoff.UnixMilli(), 10)).Byscore().Limit(0, limit).Build()).AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("stale: %w", err)
	}
	return ids, nil
}

// Claim takes a relay lease on a pending order. ok is false when another
// relay holds it or it is no longer pending.
func (s *Store) Claim(ctx context.Context, saleID, orderID string, lease time.Duration) (o order.Order, ok bool, err error) {
	k := saleKeys(saleID)
	f, err := s.claim.Exec(ctx, s.client, []string{k.pending, orderKey(saleID, orderID)},
		[]string{orderID, strconv.FormatInt(lease.Milliseconds(), 10)}).AsStrSlice()
	if err != nil {
		return order.Order{}, false, fmt.Errorf("claim: %w", err)
	}
	if len(f) != 4 {
		return order.Order{}, false, nil
	}
	qty, err1 := strconv.ParseInt(f[1], 10, 64)
	ms, err2 := strconv.ParseInt(f[3], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return order.Order{}, false, fmt.Errorf("claim %s: corrupt reservation: %w", orderID, err)
	}
	return order.Order{ID: orderID, SaleID: saleID, UserID: f[0], Quantity: qty, IdempotencyKey: f[2],
		Status: order.StatusPending, ReservedAt: time.UnixMilli(ms).UTC()}, true, nil
}

// SaleIDs lists every sale ever created.
func (s *Store) SaleIDs(ctx context.Context) ([]string, error) {
	ids, err := s.client.Do(ctx, s.client.B().Smembers().Key(salesIndex).Build()).AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("sale ids: %w", err)
	}
	return ids, nil
}

// Order reads a reservation. Released reservations read as order.ErrNotFound:
// their client was told 503 and may retry.
func (s *Store) Order(ctx context.Context, orderID string) (order.Order, error) {
	saleID, ok := order.SaleOfOrder(orderID)
	if !ok {
		return order.Order{}, order.ErrNotFound
	}
	m, err := s.client.Do(ctx, s.client.B().Hgetall().Key(orderKey(saleID, orderID)).Build()).AsStrMap()
	if err != nil {
		return order.Order{}, fmt.Errorf("order: %w", err)
	}
	var status order.Status
	switch m["status"] {
	case "pending", "published", "persisting":
		status = order.StatusPending
	case "confirmed":
		status = order.StatusConfirmed
	case "failed":
		status = order.StatusFailed
	default: // missing or released
		return order.Order{}, order.ErrNotFound
	}
	qty, _ := strconv.ParseInt(m["qty"], 10, 64)
	ms, _ := strconv.ParseInt(m["reserved_ms"], 10, 64)
	return order.Order{ID: orderID, SaleID: saleID, UserID: m["user"], Quantity: qty, Status: status,
		IdempotencyKey: m["key"], ReservedAt: time.UnixMilli(ms).UTC()}, nil
}

// Stage is where a reservation is in its life: pending (in the outbox),
// published (acked by Kafka), persisting (claimed by the writer), confirmed,
// failed (rejected, stock returned), released (publish failed, stock
// returned) or gone (unknown or expired).
type Stage string

// Reservation stages.
const (
	StagePending    Stage = "pending"
	StagePublished  Stage = "published"
	StagePersisting Stage = "persisting"
	StageConfirmed  Stage = "confirmed"
	StageFailed     Stage = "failed"
	StageReleased   Stage = "released"
	StageGone       Stage = ""
)

// Stage reads the stage of a reservation.
func (s *Store) Stage(ctx context.Context, orderID string) (Stage, error) {
	saleID, ok := order.SaleOfOrder(orderID)
	if !ok {
		return StageGone, nil
	}
	st, err := s.client.Do(ctx, s.client.B().Hget().Key(orderKey(saleID, orderID)).Field("status").Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return StageGone, nil
	}
	if err != nil {
		return StageGone, fmt.Errorf("stage: %w", err)
	}
	return Stage(st), nil
}
