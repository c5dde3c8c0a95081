// Package order holds BlitzBuy's domain: sales, orders, the errors a buyer can
// meet (each with a stable code), and the OrderPlaced event the API publishes
// and the writer consumes. It depends on nothing but the standard library.
package order

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Sale is a limited stock offered in a time window.
type Sale struct {
	ID           string     `json:"sale_id"`
	Name         string     `json:"name"`
	Stock        int64      `json:"stock"`
	Remaining    int64      `json:"remaining"`
	PerUserLimit int64      `json:"per_user_limit"`
	StartsAt     time.Time  `json:"starts_at"`
	EndsAt       *time.Time `json:"ends_at"`
	// HoldSeconds is the checkout window (0: none; issue #14).
	HoldSeconds int64     `json:"hold_seconds"`
	State       SaleState `json:"state"`
}

// SaleState is derived from the window and the remaining stock.
type SaleState string

// The states a sale moves through.
const (
	StateScheduled SaleState = "scheduled"
	StateActive    SaleState = "active"
	StateSoldOut   SaleState = "sold_out"
	StateEnded     SaleState = "ended"
)

// StateAt derives the sale's state at now.
func (s Sale) StateAt(now time.Time) SaleState {
	switch {
	case now.Before(s.StartsAt):
		return StateScheduled
	case s.EndsAt != nil && !now.Before(*s.EndsAt):
		return StateEnded
	case s.Remaining <= 0:
		return StateSoldOut
	default:
		return StateActive
	}
}

// Status of an order as a buyer sees it.
type Status string

// Order statuses: pending (reserved in Redis, not yet in Postgres), confirmed
// (persisted), failed (permanently rejected; its stock was returned). An
// order of a sale with a checkout window (SaleSpec.HoldSeconds) reads paid,
// expired or cancelled once its hold ended that way, whatever its delivery
// stage.
const (
	StatusPending   Status = "pending"
	StatusConfirmed Status = "confirmed"
	StatusFailed    Status = "failed"
	StatusPaid      Status = "paid"
	StatusExpired   Status = "expired"
	StatusCancelled Status = "cancelled"
)

// Hold is where an order of a sale with a checkout window stands in its
// window (issue #14). The empty Hold is an order without a window: final
// once accepted.
type Hold string

// The hold states. Held units count against the stock until the hold ends:
// paid keeps them for good; expired and cancelled return them to the sale
// and to the buyer's allowance, exactly once; void is a held order whose
// reservation was released or compensated (the units went back that way).
const (
	HoldNone      Hold = ""
	HoldHeld      Hold = "held"
	HoldPaid      Hold = "paid"
	HoldExpired   Hold = "expired"
	HoldCancelled Hold = "cancelled"
	HoldVoid      Hold = "void"
)

// Status is what a hold's end makes of the order's status, ok false while
// the hold is live (or there is none): the delivery stage decides then.
func (h Hold) Status() (Status, bool) {
	switch h {
	case HoldPaid:
		return StatusPaid, true
	case HoldExpired:
		return StatusExpired, true
	case HoldCancelled:
		return StatusCancelled, true
	}
	return "", false
}

// Expired is what one sweep of a sale's due holds did.
type Expired struct {
	Orders   []string      // the holds expired, by order id
	Lateness time.Duration // summed over them: now - expires_at when each expired
}

// Payment is a buyer paying a held order (POST /v1/orders/{id}/payment).
type Payment struct {
	OrderID, UserID string
	IdempotencyKey  string
	Ref             string // the payment provider's reference, 1-128 visible ASCII
}

// Order is one accepted reservation.
type Order struct {
	ID             string    `json:"order_id"`
	SaleID         string    `json:"sale_id"`
	UserID         string    `json:"user_id"`
	Quantity       int64     `json:"quantity"`
	Status         Status    `json:"status"`
	IdempotencyKey string    `json:"-"`
	ReservedAt     time.Time `json:"-"`
	// ExpiresAt is the end of the order's checkout window (nil: the sale
	// has none); PaidAt when it was paid.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	PaidAt    *time.Time `json:"paid_at,omitempty"`
	Hold      Hold       `json:"-"`
	// EndedAt is when the hold ended (paid, expired or cancelled);
	// PaymentRef the payment's reference. Both travel in the transition
	// events, not in the API's order body.
	EndedAt    *time.Time `json:"-"`
	PaymentRef string     `json:"-"`
}

var saleIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidSaleID reports whether id may name a sale: 1–64 of [A-Za-z0-9_-].
// Sale ids appear in Redis keys and in order ids, so the set is closed.
func ValidSaleID(id string) bool { return saleIDPattern.MatchString(id) }

// NewOrderID returns a fresh order id for a sale: "<saleID>.<UUIDv7>". The
// sale id is part of the id so that GET /v1/orders/{id} can find a pending
// reservation among its sale's hash-tagged keys without a global index (which
// would break the one-slot-per-sale rule on Redis Cluster).
func NewOrderID(saleID string) (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("order id: %w", err)
	}
	return saleID + "." + u.String(), nil
}

// SaleOfOrder extracts the sale id from an order id made by NewOrderID.
func SaleOfOrder(orderID string) (string, bool) {
	sale, rest, ok := strings.Cut(orderID, ".")
	if !ok || !ValidSaleID(sale) {
		return "", false
	}
	if _, err := uuid.Parse(rest); err != nil || len(rest) != 36 {
		return "", false
	}
	return sale, true
}

// ValidUserID reports whether a JWT subject may be used as a user id:
// 1–128 visible ASCII characters.
func ValidUserID(id string) bool { return visibleASCII(id, 128) }

// ValidIdempotencyKey reports whether k is 1–255 visible ASCII characters.
func ValidIdempotencyKey(k string) bool { return visibleASCII(k, 255) }

// visibleASCII reports whether s has 1 to max bytes, all in 0x21–0x7e.
func visibleASCII(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
