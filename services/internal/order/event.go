package order

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// OrderPlaced is the event the API publishes to the `orders` topic once a
// reservation is made, and the writer persists. Schema evolution: add fields
// freely; a change that breaks old readers bumps SchemaVersion, and the writer
// dead-letters versions it does not know.
type OrderPlaced struct {
	SchemaVersion  int       `json:"schema_version"`
	OrderID        string    `json:"order_id"`
	SaleID         string    `json:"sale_id"`
	UserID         string    `json:"user_id"`
	Quantity       int64     `json:"quantity"`
	IdempotencyKey string    `json:"idempotency_key"`
	ReservedAt     time.Time `json:"reserved_at"`
	// ExpiresAt is the end of the order's checkout window (issue #14); nil
	// (absent) for a sale without one. Still schema version 1: the field is
	// optional and additive, so an event without it means what it always
	// meant, and a writer that predates it ignores it (it persists the order
	// as final, which is what it did before windows existed). Only a reader
	// that must not ignore a field needs a new version.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Event metadata carried in Kafka record headers. HeaderEventType names the
// event (a record without it is an OrderPlaced: producers before issue #14
// did not always set it) and HeaderSchemaVersion its version.
const (
	OrderPlacedVersion = 1
	OrderPlacedType    = "OrderPlaced"
	EventContentType   = "application/json"

	// The checkout window's transition events (OrderTransition), version
	// OrderTransitionVersion.
	OrderPaidType          = "OrderPaid"
	OrderExpiredType       = "OrderExpired"
	OrderCancelledType     = "OrderCancelled"
	OrderTransitionVersion = 1

	HeaderContentType   = "content-type"
	HeaderEventType     = "event-type"
	HeaderSchemaVersion = "schema-version"
)

// Decoding errors, distinguishable so the writer can name the reason when it
// dead-letters a record.
var (
	ErrMalformedEvent     = errors.New("malformed event")
	ErrUnknownEventSchema = errors.New("unknown event schema version")
	ErrInvalidEvent       = errors.New("invalid event")
)

// NewOrderPlaced builds the v1 event of an order.
func NewOrderPlaced(o Order) OrderPlaced {
	return OrderPlaced{
		SchemaVersion: OrderPlacedVersion, OrderID: o.ID, SaleID: o.SaleID, UserID: o.UserID,
		Quantity: o.Quantity, IdempotencyKey: o.IdempotencyKey, ReservedAt: o.ReservedAt.UTC(),
		ExpiresAt: utcPtr(o.ExpiresAt),
	}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Encode returns the event's wire form (JSON).
func (e OrderPlaced) Encode() ([]byte, error) { return json.Marshal(e) }

// DecodeOrderPlaced parses and validates an event; errors wrap
// ErrMalformedEvent, ErrUnknownEventSchema or ErrInvalidEvent.
func DecodeOrderPlaced(b []byte) (OrderPlaced, error) {
	var e OrderPlaced
	if err := decodeVersioned(b, OrderPlacedVersion, "", &e); err != nil {
		return OrderPlaced{}, err
	}
	return e, e.Validate()
}

// decodeVersioned unmarshals an event's body into v once its schema_version
// is want: errors wrap ErrMalformedEvent (not JSON, no version) or
// ErrUnknownEventSchema (another version, named after label).
func decodeVersioned(b []byte, want int, label string, v any) error {
	var probe struct {
		SchemaVersion *int `json:"schema_version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if probe.SchemaVersion == nil {
		return fmt.Errorf("%w: schema_version missing", ErrMalformedEvent)
	}
	if *probe.SchemaVersion != want {
		return fmt.Errorf("%w: %s%d", ErrUnknownEventSchema, label, *probe.SchemaVersion)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	return nil
}

// Validate checks the event's fields.
func (e OrderPlaced) Validate() error {
	sale, ok := SaleOfOrder(e.OrderID)
	switch {
	case !ok:
		return fmt.Errorf("%w: order_id %q", ErrInvalidEvent, e.OrderID)
	case sale != e.SaleID:
		return fmt.Errorf("%w: order_id %q is not of sale %q", ErrInvalidEvent, e.OrderID, e.SaleID)
	case !ValidUserID(e.UserID):
		return fmt.Errorf("%w: user_id", ErrInvalidEvent)
	case e.Quantity < 1:
		return fmt.Errorf("%w: quantity %d", ErrInvalidEvent, e.Quantity)
	case !ValidIdempotencyKey(e.IdempotencyKey):
		return fmt.Errorf("%w: idempotency_key", ErrInvalidEvent)
	case e.ReservedAt.IsZero():
		return fmt.Errorf("%w: reserved_at missing", ErrInvalidEvent)
	case !hasRFC3339Form(e.ReservedAt):
		return fmt.Errorf("%w: reserved_at out of range", ErrInvalidEvent)
	case e.ExpiresAt != nil && !hasRFC3339Form(*e.ExpiresAt):
		return fmt.Errorf("%w: expires_at out of range", ErrInvalidEvent)
	case e.ExpiresAt != nil && !e.ExpiresAt.After(e.ReservedAt):
		// reserve.lua sets it to reserved_at + hold_ms, hold_ms > 0.
		return fmt.Errorf("%w: expires_at not after reserved_at", ErrInvalidEvent)
	}
	return nil
}

// hasRFC3339Form reports whether t can be written back as RFC 3339. The JSON
// decoder accepts some times it cannot encode (an offset of +24:00), and an
// accepted event must survive a re-encoding (dead-lettering, replays).
func hasRFC3339Form(t time.Time) bool {
	_, err := t.MarshalText()
	return err == nil
}

// OrderTransition is the end of an order's checkout window (issue #14), as
// hold.lua decided it in the hot ledger: paid (Type OrderPaidType), expired
// or cancelled. The API publishes it to the `orders` topic with the order id
// as the record key (the partition of the order's OrderPlaced) and the
// headers event-type (Type) and schema-version; the writer applies it to the
// persisted order. The ledger ends a hold at most once, so an order has at
// most one transition; a redelivered one is the same event again.
//
// Type travels both in the event-type header (what the writer dispatches on)
// and in the body (so a record copied without its headers — a DLQ dump, a
// replay tool — still says what it is); DecodeTransition refuses a record
// whose two disagree.
type OrderTransition struct {
	SchemaVersion int    `json:"schema_version"`
	Type          string `json:"type"`
	OrderID       string `json:"order_id"`
	SaleID        string `json:"sale_id"`
	UserID        string `json:"user_id"`
	Quantity      int64  `json:"quantity"`
	// At is when the hold ended, by the ledger's clock (Redis TIME): paid_at,
	// or the moment it expired or was cancelled.
	At time.Time `json:"at"`
	// PaymentRef is the payment provider's reference (OrderPaid only, 1–128
	// visible ASCII).
	PaymentRef string `json:"payment_ref,omitempty"`
}

// transitionHolds maps each transition's event type to the hold it ends in.
var transitionHolds = map[string]Hold{
	OrderPaidType:      HoldPaid,
	OrderExpiredType:   HoldExpired,
	OrderCancelledType: HoldCancelled,
}

// IsTransitionType reports whether eventType names an OrderTransition.
func IsTransitionType(eventType string) bool {
	_, ok := transitionHolds[eventType]
	return ok
}

// TransitionType is the event type of a hold's end (ok false for held, void
// or none: no event tells of those).
func TransitionType(h Hold) (eventType string, ok bool) {
	for t, th := range transitionHolds {
		if th == h {
			return t, true
		}
	}
	return "", false
}

// NewOrderTransition builds the v1 event of o's hold ending in h at at
// (paymentRef only for HoldPaid). It does not validate: Encode's caller may
// call Validate.
func NewOrderTransition(o Order, h Hold, at time.Time, paymentRef string) OrderTransition {
	t, _ := TransitionType(h)
	return OrderTransition{SchemaVersion: OrderTransitionVersion, Type: t, OrderID: o.ID, SaleID: o.SaleID,
		UserID: o.UserID, Quantity: o.Quantity, At: at.UTC(), PaymentRef: paymentRef}
}

// Hold is the hold state the transition ends the order in.
func (t OrderTransition) Hold() Hold { return transitionHolds[t.Type] }

// Encode returns the event's wire form (JSON); the record's event-type
// header is t.Type.
func (t OrderTransition) Encode() ([]byte, error) { return json.Marshal(t) }

// DecodeTransition parses and validates a transition whose record carries
// the event-type header eventType; errors wrap ErrMalformedEvent,
// ErrUnknownEventSchema (an event type or a version this code does not
// know) or ErrInvalidEvent, as DecodeOrderPlaced's do.
func DecodeTransition(eventType string, b []byte) (OrderTransition, error) {
	if !IsTransitionType(eventType) {
		return OrderTransition{}, fmt.Errorf("%w: event type %q", ErrUnknownEventSchema, eventType)
	}
	var t OrderTransition
	if err := decodeVersioned(b, OrderTransitionVersion, eventType+" ", &t); err != nil {
		return OrderTransition{}, err
	}
	if t.Type != eventType {
		return OrderTransition{}, fmt.Errorf("%w: type %q in a record of event type %q", ErrInvalidEvent, t.Type, eventType)
	}
	return t, t.Validate()
}

// Validate checks the event's fields.
func (t OrderTransition) Validate() error {
	sale, ok := SaleOfOrder(t.OrderID)
	switch {
	case !IsTransitionType(t.Type):
		return fmt.Errorf("%w: type %q", ErrInvalidEvent, t.Type)
	case !ok:
		return fmt.Errorf("%w: order_id %q", ErrInvalidEvent, t.OrderID)
	case sale != t.SaleID:
		return fmt.Errorf("%w: order_id %q is not of sale %q", ErrInvalidEvent, t.OrderID, t.SaleID)
	case !ValidUserID(t.UserID):
		return fmt.Errorf("%w: user_id", ErrInvalidEvent)
	case t.Quantity < 1:
		return fmt.Errorf("%w: quantity %d", ErrInvalidEvent, t.Quantity)
	case t.At.IsZero():
		return fmt.Errorf("%w: at missing", ErrInvalidEvent)
	case !hasRFC3339Form(t.At):
		return fmt.Errorf("%w: at out of range", ErrInvalidEvent)
	case t.Type == OrderPaidType && !ValidPaymentRef(t.PaymentRef):
		return fmt.Errorf("%w: payment_ref", ErrInvalidEvent)
	case t.Type != OrderPaidType && t.PaymentRef != "":
		return fmt.Errorf("%w: payment_ref on %s", ErrInvalidEvent, t.Type)
	}
	return nil
}

// ValidPaymentRef reports whether ref may be a payment reference: 1–128
// visible ASCII characters.
func ValidPaymentRef(ref string) bool { return visibleASCII(ref, 128) }
