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
}

// Event metadata carried in Kafka record headers.
const (
	OrderPlacedVersion = 1
	OrderPlacedType    = "OrderPlaced"
	EventContentType   = "application/json"

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
	}
}

// Encode returns the event's wire form (JSON).
func (e OrderPlaced) Encode() ([]byte, error) { return json.Marshal(e) }

// DecodeOrderPlaced parses and validates an event; errors wrap
// ErrMalformedEvent, ErrUnknownEventSchema or ErrInvalidEvent.
func DecodeOrderPlaced(b []byte) (OrderPlaced, error) {
	var probe struct {
		SchemaVersion *int `json:"schema_version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return OrderPlaced{}, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if probe.SchemaVersion == nil {
		return OrderPlaced{}, fmt.Errorf("%w: schema_version missing", ErrMalformedEvent)
	}
	if *probe.SchemaVersion != OrderPlacedVersion {
		return OrderPlaced{}, fmt.Errorf("%w: %d", ErrUnknownEventSchema, *probe.SchemaVersion)
	}
	var e OrderPlaced
	if err := json.Unmarshal(b, &e); err != nil {
		return OrderPlaced{}, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	return e, e.Validate()
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
