package order

import (
	"errors"
	"time"
)

// This file is the vocabulary of placing an order, shared by the application
// layer (checkout), the adapters that implement what it consumes (the Redis
// ledger, the rate limiter, the Kafka producer) and the HTTP layer. Each
// string below is written once; the Lua scripts speak the same words.

// Request is one buyer's order request, as the HTTP layer decoded it.
type Request struct {
	SaleID         string
	UserID         string
	IdempotencyKey string
	Quantity       int64
}

// Reservation is the ledger's answer to a Request. Err is nil only when the
// order was reserved; otherwise it is ErrSoldOut, ErrPurchaseLimit or
// ErrSaleNotActive. Replayed is true when the answer comes from the
// idempotency record of an earlier identical request.
type Reservation struct {
	Order    Order
	Replayed bool
	Err      error
	// RateLimit is the rate limit's decision, counted in the same script.
	RateLimit RateLimit
}

// RateLimit is the rate limiter's decision on one request, with what the
// RateLimit-* response headers need. Limit 0 means no limit applies.
type RateLimit struct {
	Allowed   bool
	Limit     int64
	Remaining int64
	Reset     time.Duration // until one more request is allowed
}

// OutcomeKind is what became of one order request: the `outcome` label of
// blitzbuy_orders_total, and (accepted, sold_out, limit, not_active) the
// outcomes reserve.lua returns.
type OutcomeKind string

// The order outcomes (a fixed set: metric labels).
const (
	OutcomeAccepted    OutcomeKind = "accepted"
	OutcomeReplayed    OutcomeKind = "replayed" // an accepted order answered again for its Idempotency-Key
	OutcomeSoldOut     OutcomeKind = "sold_out"
	OutcomeLimit       OutcomeKind = "limit"
	OutcomeNotActive   OutcomeKind = "not_active"
	OutcomeRateLimited OutcomeKind = "rate_limited"
	OutcomeRejected    OutcomeKind = "rejected" // invalid request, unknown sale, reused key
	OutcomeError       OutcomeKind = "error"    // 503/500: the system failed the buyer
)

// OutcomeKinds lists every outcome, in the order dashboards show them.
var OutcomeKinds = []OutcomeKind{OutcomeAccepted, OutcomeReplayed, OutcomeSoldOut, OutcomeLimit,
	OutcomeNotActive, OutcomeRateLimited, OutcomeRejected, OutcomeError}

// rejections are the outcomes that a buyer's error stands for.
var rejections = map[Code]OutcomeKind{
	CodeSoldOut:          OutcomeSoldOut,
	CodePurchaseLimit:    OutcomeLimit,
	CodeSaleNotActive:    OutcomeNotActive,
	CodeRateLimited:      OutcomeRateLimited,
	CodeUnavailable:      OutcomeError,
	CodeLedgerRebuilding: OutcomeError,
	CodeInternal:         OutcomeError,
}

// KindOf is the outcome of an answer: err nil is an acceptance (replayed or
// not); any other error is the outcome its code stands for, or rejected.
func KindOf(err error, replayed bool) OutcomeKind {
	if err == nil {
		if replayed {
			return OutcomeReplayed
		}
		return OutcomeAccepted
	}
	if k, ok := rejections[CodeOf(err)]; ok {
		return k
	}
	return OutcomeRejected
}

// Rejection is the buyer's error that a ledger outcome stands for (nil for
// accepted), and false for a word the ledger does not speak.
func (k OutcomeKind) Rejection() (err error, ok bool) {
	switch k {
	case OutcomeAccepted:
		return nil, true
	case OutcomeSoldOut:
		return ErrSoldOut, true
	case OutcomeLimit:
		return ErrPurchaseLimit, true
	case OutcomeNotActive:
		return ErrSaleNotActive, true
	}
	return nil, false
}

// Outcome is what placing an order came to.
type Outcome struct {
	Kind OutcomeKind
	// Order is the accepted order (Kind accepted or replayed).
	Order Order
	// Err is the buyer's rejection (an *Error) when the order was not
	// accepted and the system did not fail.
	Err error
	// Replayed: the answer comes from an earlier request with the same
	// Idempotency-Key (an acceptance or a rejection).
	Replayed bool
	// RateLimit is the limiter's decision, once it was asked.
	RateLimit RateLimit
}

// Stage is where a reservation is in its life. The ledger's Lua scripts
// store and return these words.
type Stage string

// Reservation stages.
const (
	StagePending    Stage = "pending"    // in the outbox: not yet acknowledged by Kafka
	StagePublished  Stage = "published"  // acknowledged by Kafka
	StagePersisting Stage = "persisting" // claimed by the writer
	StageConfirmed  Stage = "confirmed"  // persisted in PostgreSQL
	StageFailed     Stage = "failed"     // rejected by the database for good; stock returned
	StageReleased   Stage = "released"   // its publish failed; stock returned
	StageGone       Stage = "gone"       // unknown or expired
)

// Status is what a buyer sees of a reservation in this stage; ok is false
// when the order does not exist for them (released or gone).
func (s Stage) Status() (st Status, ok bool) {
	switch s {
	case StagePending, StagePublished, StagePersisting:
		return StatusPending, true
	case StageConfirmed:
		return StatusConfirmed, true
	case StageFailed:
		return StatusFailed, true
	}
	return "", false
}

// ReleaseMode says who releases a reservation and why (release.lua).
type ReleaseMode string

// Release modes.
const (
	// ReleasePublishFailed: the API could not publish the event.
	ReleasePublishFailed ReleaseMode = "publish_failed"
	// ReleaseRejected: the writer rejected the order permanently (saga).
	ReleaseRejected ReleaseMode = "rejected"
)

// ErrNotOwned means a release was refused: the reservation moved on (a
// relay holds it, it was published, persisted or already released).
var ErrNotOwned = errors.New("reservation: not owned by the caller")

// Ref names one reservation.
type Ref struct{ SaleID, OrderID string }

// SaleSpec is what an admin sets on a sale.
type SaleSpec struct {
	ID           string
	Name         string
	Stock        int64
	PerUserLimit int64
	StartsAt     time.Time
	EndsAt       *time.Time
	// HoldSeconds is the checkout window: how long an accepted order holds
	// its units awaiting payment (0: none, an accepted order is final).
	HoldSeconds int64
}

// SaleChange is one recorded admin change of a sale's definition: the audit
// of PUT /v1/admin/sales/{id}, kept durably with the change itself.
type SaleChange struct {
	ID        int64 // increasing: a later change of a sale has a larger id
	SaleID    string
	ChangedAt time.Time
	Actor     string    // the credential's public name (a token id), never the credential
	Before    *SaleSpec // nil for the creation
	After     SaleSpec
}

// Counters are a sale's live figures, for operators.
type Counters struct {
	Sale
	Sold    int64 `json:"sold"`    // stock - remaining: live reservations (pending or published) and persisted
	Pending int64 `json:"pending"` // reservations in the outbox (not yet acknowledged by Kafka)
	Buyers  int64 `json:"buyers"`  // distinct users holding a reservation
	// The checkout window's units (issue #14; all 0 without one): held
	// awaiting payment, paid, and returned by expiry or cancellation.
	Held      int64 `json:"held"`
	Paid      int64 `json:"paid"`
	Expired   int64 `json:"expired"`
	Cancelled int64 `json:"cancelled"`
}

// ResetSeconds is Reset rounded up to whole seconds (RateLimit-Reset).
func (r RateLimit) ResetSeconds() int { return int((r.Reset + time.Second - 1) / time.Second) }

// RetryAfterSeconds is what a rate-limited buyer is told to wait: at least 1 s.
func (r RateLimit) RetryAfterSeconds() int { return max(r.ResetSeconds(), 1) }
