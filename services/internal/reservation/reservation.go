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
	"sync"
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
	// IdempotencyTTL is how long an Idempotency-Key is remembered (≥ 24 h:
	// the API promises buyers the same answer to the same key for a day, so a
	// client retrying tomorrow morning cannot order twice).
	IdempotencyTTL time.Duration
	// RateLimit is how many order requests one user may make to one sale per
	// RateWindow (a sliding window, checked inside the reservation script);
	// 0 turns the limit off.
	RateLimit  int64
	RateWindow time.Duration
	// SoldOutView is how long a sale that the script found sold out is
	// answered sold_out from this instance's memory, without running the
	// script (only a check that the Idempotency-Key has no record). It bounds
	// how late stock that comes back — a release, a compensation, an admin
	// top-up through another instance — is offered again. 0 turns it off.
	SoldOutView time.Duration
}

// MaxSoldOutView bounds Config.SoldOutView: longer would let a top-up go
// unnoticed for longer than a buyer would wait.
const MaxSoldOutView = 10 * time.Second

var (
	// ErrIdempotencyTTL is returned for an IdempotencyTTL below the 24 h the
	// API promises.
	ErrIdempotencyTTL = errors.New("reservation: idempotency TTL must be at least 24h")
	// ErrInvalidRateLimit: the rate limit is negative, or positive over a
	// window shorter than the millisecond the script counts in.
	ErrInvalidRateLimit = errors.New("reservation: rate limit must be >= 0 (0 disables) with a window of at least 1ms")
	// ErrSoldOutView: the sold-out view is negative or over MaxSoldOutView.
	ErrSoldOutView = errors.New("reservation: the sold-out view must be between 0 (off) and 10s")
)

// Validate reports an invalid setting. The store owns these rules; the config
// package calls Validate so a bad environment fails before anything connects.
func (c Config) Validate() error {
	var errs []error
	if c.IdempotencyTTL < 24*time.Hour {
		errs = append(errs, fmt.Errorf("%w (got %s)", ErrIdempotencyTTL, c.IdempotencyTTL))
	}
	return errors.Join(append(errs, ValidateRateLimit(c.RateLimit, c.RateWindow), ValidateSoldOutView(c.SoldOutView))...)
}

// ValidateRateLimit reports whether limit per window is a rate limit the
// reservation script accepts.
func ValidateRateLimit(limit int64, window time.Duration) error {
	if limit < 0 || (limit > 0 && window < time.Millisecond) {
		return fmt.Errorf("%w (got %d per %s)", ErrInvalidRateLimit, limit, window)
	}
	return nil
}

// ValidateSoldOutView reports whether d is a sold-out view Store accepts.
func ValidateSoldOutView(d time.Duration) error {
	if d < 0 || d > MaxSoldOutView {
		return fmt.Errorf("%w (got %s)", ErrSoldOutView, d)
	}
	return nil
}

// Store is the Redis-backed reservation ledger. It is safe for concurrent use;
// concurrent calls share rueidis's auto-pipelined connection.
type Store struct {
	client rueidis.Client
	ttl    int64 // seconds

	rateLimit            int64
	rateLimitArg, window string // reserve.lua's ARGV[7], ARGV[8]

	// soldOut is the sold-out view: sale id -> the time (Unix ns) until
	// which Reserve answers sold_out without the script. Entries are written
	// only for sales the script found sold out, so it holds at most one per
	// real sale.
	soldOut     sync.Map
	soldOutView time.Duration

	defined *definedCache       // nil: sale definitions are not kept durably
	onLost  func(saleID string) // nil: nobody rebuilds lost sales from here
	node    *NodeWatch          // nil: the node is trusted as it is (node.go)
	undoing sync.Map            // order id -> struct{}: reservations undoLater is releasing

	reserve, release, ack, claim, upsert *rueidis.Lua
	persistClaim, confirm                *rueidis.Lua

	tracer trace.Tracer
}

// New returns a Store over client.
func New(client rueidis.Client, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Store{
		client: client,
		ttl:    int64(cfg.IdempotencyTTL / time.Second),

		rateLimit:    cfg.RateLimit,
		rateLimitArg: strconv.FormatInt(cfg.RateLimit, 10),
		window:       strconv.FormatInt(cfg.RateWindow.Milliseconds(), 10),
		soldOutView:  cfg.SoldOutView,

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
type keys struct{ sale, users, pending, holds, ended string }

func saleKeys(saleID string) keys {
	tag := "{sale:" + saleID + "}"
	return keys{sale: tag, users: tag + ":users", pending: tag + ":pending", holds: tag + ":holds", ended: tag + ":ended"}
}

func orderKey(saleID, orderID string) string { return "{sale:" + saleID + "}:order:" + orderID }

// rateKey names the rate-limit window of (sale, user): under the sale's hash
// tag, so the reservation script can check it in the same round trip.
func rateKey(saleID, userID string) string { return "{sale:" + saleID + "}:rl:" + userID }

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

// Reserve runs the reservation script: rate limit, idempotent replay, sale
// window, per-user limit, stock, decrement. Errors returned (as opposed to
// Reservation.Err) are order.ErrNotFound, order.ErrIdempotencyKeyReused, or
// infrastructure failures; Reservation.RateLimit is set whenever the script
// counted the request, even with order.ErrIdempotencyKeyReused.
func (s *Store) Reserve(ctx context.Context, req order.Request) (order.Reservation, error) {
	if req.Quantity < 1 {
		return order.Reservation{}, order.Errorf(order.CodeInvalidRequest, "quantity must be at least 1")
	}
	if trace.SpanFromContext(ctx).IsRecording() { // unsampled requests skip the span entirely
		var span trace.Span
		ctx, span = s.tracer.Start(ctx, "reserve", trace.WithAttributes(attribute.String("blitzbuy.sale_id", req.SaleID),
			attribute.Int64("blitzbuy.quantity", req.Quantity)))
		defer span.End()
	}
	gen, err := s.nodeCheck(ctx)
	if err != nil {
		return order.Reservation{}, err
	}
	k := saleKeys(req.SaleID)
	idem := idemKey(req.SaleID, req.UserID, req.IdempotencyKey)
	if s.precheckSoldOut(ctx, k, req.Quantity) { // false in every real build (reserve_atomic.go)
		return order.Reservation{Err: order.ErrSoldOut}, nil
	}
	if s.knownSoldOut(req.SaleID) {
		// The sale was sold out a moment ago. A key with a record (an
		// accepted order's retry, a remembered rejection, a reused key) must
		// get the script's answer; any other is sold out, and a sold-out
		// answer is not remembered, so nothing is written.
		n, err := s.client.Do(ctx, s.client.B().Exists().Key(idem).Build()).AsInt64()
		if err != nil {
			return order.Reservation{}, fmt.Errorf("reserve: %w", err)
		}
		if n == 0 {
			return order.Reservation{Err: order.ErrSoldOut}, nil
		}
	}
	id, err := order.NewOrderID(req.SaleID)
	if err != nil {
		return order.Reservation{}, err
	}
	reply, err := s.reserve.Exec(ctx, s.client,
		[]string{k.sale, k.users, idem, k.pending, orderKey(req.SaleID, id), rateKey(req.SaleID, req.UserID), k.holds},
		[]string{req.UserID, strconv.FormatInt(req.Quantity, 10), fingerprint(req.SaleID, req.Quantity), id,
			strconv.FormatInt(s.ttl, 10), req.IdempotencyKey, s.rateLimitArg, s.window, traceparentOf(ctx)},
	).AsStrSlice()
	if err != nil {
		if _, isReply := rueidis.IsRedisErr(err); !isReply {
			// The connection failed: the script may have run and reserved,
			// its reply lost. The client hears unavailable ("nothing is
			// held"), so make that true once Redis answers again.
			s.undoLater(order.Order{ID: id, SaleID: req.SaleID, UserID: req.UserID, IdempotencyKey: req.IdempotencyKey,
				Quantity: req.Quantity})
		}
		return order.Reservation{}, fmt.Errorf("reserve: %w", err)
	}
	res, err := parseReserve(reply, req, s.rateLimit)
	if s.nodeMoved(ctx, gen) {
		if err != nil {
			return res, order.ErrLedgerRebuilding
		}
		return res, s.distrust(ctx, res)
	}
	if errors.Is(err, order.ErrNotFound) {
		return res, s.lostOrUnknown(ctx, req.SaleID)
	}
	if err == nil && req.Quantity == 1 && errors.Is(res.Err, order.ErrSoldOut) && !res.Replayed {
		s.noteSoldOut(req.SaleID) // not one unit left: sold out for any quantity
	}
	return res, err
}

// undoWindow bounds how long a reservation whose reply was lost is tried to
// be undone: past it the relay may have published the order (its threshold
// is 10 s by default), and the release would be refused anyway.
const undoWindow = time.Minute

// undoLater releases, in the background, a reservation the script may have
// made although its reply never arrived: as soon as Redis answers (tried
// every 100 ms), within undoWindow. release.lua makes it safe whatever
// happened: an order the script never reserved is unknown (-1), one a relay
// already claimed or published is refused (0); only a pending one goes back
// (1), and its idempotency record with it, so a retry of the key reserves
// afresh. Until it is done, this instance's relay leaves the order alone
// (Claim): after an outage longer than the relay's threshold both would
// try at once, and the relay must not publish an order whose client heard
// 503.
func (s *Store) undoLater(o order.Order) {
	s.undoing.Store(o.ID, struct{}{})
	go func() {
		defer s.undoing.Delete(o.ID)
		ctx, cancel := context.WithTimeout(context.Background(), undoWindow)
		defer cancel()
		for {
			err := s.Release(ctx, o, order.ReleasePublishFailed)
			if err == nil || errors.Is(err, order.ErrNotOwned) || errors.Is(err, order.ErrNotFound) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}

// knownSoldOut reports whether the sold-out view holds saleID.
func (s *Store) knownSoldOut(saleID string) bool {
	if s.soldOutView <= 0 {
		return false
	}
	until, ok := s.soldOut.Load(saleID)
	return ok && time.Now().UnixNano() < until.(int64)
}

func (s *Store) noteSoldOut(saleID string) {
	if s.soldOutView > 0 {
		s.soldOut.Store(saleID, time.Now().Add(s.soldOutView).UnixNano())
	}
}

// forgetSoldOut drops saleID from the sold-out view: this instance just gave
// stock back (a release, an admin write), so the next order runs the script.
func (s *Store) forgetSoldOut(saleID string) { s.soldOut.Delete(saleID) }

// parseReserve reads reserve.lua's reply: {"not_found"}, or {kind, outcome,
// order_id, qty, reserved_ms, rl_remaining, rl_reset_ms, expires_ms} where kind is new,
// replay, reused or limited and outcome an order.OutcomeKind the ledger speaks
// (accepted, sold_out, limit, not_active). rateLimit is the configured limit
// (0: none), which the reply does not repeat.
func parseReserve(reply []string, req order.Request, rateLimit int64) (order.Reservation, error) {
	if len(reply) == 1 && reply[0] == "not_found" {
		return order.Reservation{}, order.ErrNotFound
	}
	if len(reply) != 8 {
		return order.Reservation{}, fmt.Errorf("reserve: unexpected reply %q", reply)
	}
	var res order.Reservation
	if rateLimit > 0 {
		left, err1 := strconv.ParseInt(reply[5], 10, 64)
		reset, err2 := strconv.ParseInt(reply[6], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return order.Reservation{}, fmt.Errorf("reserve: rate limit in %q: %w", reply, err)
		}
		res.RateLimit = order.RateLimit{Allowed: reply[0] != "limited", Limit: rateLimit, Remaining: left,
			Reset: time.Duration(reset) * time.Millisecond}
	}
	switch reply[0] {
	case "limited":
		res.Err = order.Errorf(order.CodeRateLimited, "too many order requests; retry in %d s", res.RateLimit.RetryAfterSeconds())
		return res, nil
	case "reused":
		return res, order.ErrIdempotencyKeyReused
	case "new", "replay":
	default:
		return order.Reservation{}, fmt.Errorf("reserve: unexpected reply %q", reply)
	}
	res.Replayed = reply[0] == "replay"
	kind := order.OutcomeKind(reply[1])
	rejection, ok := kind.Rejection()
	if !ok {
		return order.Reservation{}, fmt.Errorf("reserve: unexpected outcome %q", reply[1])
	}
	if rejection != nil {
		res.Err = rejection
		return res, nil
	}
	qty, _ := strconv.ParseInt(reply[3], 10, 64)
	ms, err := strconv.ParseInt(reply[4], 10, 64)
	if err != nil {
		return order.Reservation{}, fmt.Errorf("reserve: reserved_ms %q: %w", reply[4], err)
	}
	res.Order = order.Order{
		ID: reply[2], SaleID: req.SaleID, UserID: req.UserID, Quantity: qty,
		Status: order.StatusPending, IdempotencyKey: req.IdempotencyKey, ReservedAt: time.UnixMilli(ms).UTC(),
	}
	if reply[7] != "" {
		exp, err := strconv.ParseInt(reply[7], 10, 64)
		if err != nil {
			return order.Reservation{}, fmt.Errorf("reserve: expires_ms %q: %w", reply[7], err)
		}
		t := time.UnixMilli(exp).UTC()
		res.Order.ExpiresAt, res.Order.Hold = &t, order.HoldHeld
	}
	return res, nil
}

// Release returns o's stock to its sale. It returns order.ErrNotOwned when the
// caller no longer owns the reservation and order.ErrNotFound when it is unknown.
func (s *Store) Release(ctx context.Context, o order.Order, mode order.ReleaseMode) error {
	k := saleKeys(o.SaleID)
	n, err := s.release.Exec(ctx, s.client,
		[]string{k.sale, k.users, idemKey(o.SaleID, o.UserID, o.IdempotencyKey), k.pending, orderKey(o.SaleID, o.ID), k.holds},
		[]string{o.ID, string(mode), strconv.FormatInt(s.ttl, 10)},
	).AsInt64()
	switch {
	case err != nil:
		return fmt.Errorf("release: %w", err)
	case n == 1:
		s.forgetSoldOut(o.SaleID)
		return nil
	case n == 0:
		return order.ErrNotOwned
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
	if _, undoing := s.undoing.Load(orderID); undoing {
		return order.Order{}, false, nil // its client heard 503: undoLater releases it
	}
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
	status, ok := order.Stage(m["status"]).Status()
	if !ok { // missing or released
		return order.Order{}, order.ErrNotFound
	}
	qty, _ := strconv.ParseInt(m["qty"], 10, 64)
	ms, _ := strconv.ParseInt(m["reserved_ms"], 10, 64)
	o := order.Order{ID: orderID, SaleID: saleID, UserID: m["user"], Quantity: qty, Status: status,
		IdempotencyKey: m["key"], ReservedAt: time.UnixMilli(ms).UTC(), Hold: order.Hold(m["hold"])}
	o.ExpiresAt, o.PaidAt, o.EndedAt = msTime(m["expires_ms"]), msTime(m["paid_ms"]), msTime(m["ended_ms"])
	o.PaymentRef = m["payment_ref"]
	if st, ended := o.Hold.Status(); ended {
		o.Status = st
	}
	return o, nil
}

// msTime reads a Unix-ms field; nil when absent or unreadable.
func msTime(v string) *time.Time {
	ms, err := strconv.ParseInt(v, 10, 64)
	if v == "" || err != nil {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	return &t
}

// Stage reads the stage of a reservation.
func (s *Store) Stage(ctx context.Context, orderID string) (order.Stage, error) {
	saleID, ok := order.SaleOfOrder(orderID)
	if !ok {
		return order.StageGone, nil
	}
	st, err := s.client.Do(ctx, s.client.B().Hget().Key(orderKey(saleID, orderID)).Field("status").Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return order.StageGone, nil
	}
	if err != nil {
		return order.StageGone, fmt.Errorf("stage: %w", err)
	}
	return order.Stage(st), nil
}
