package order_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

func TestOrderPlacedExpiresAt(t *testing.T) {
	o := validOrder(t)
	exp := o.ReservedAt.Add(10 * time.Minute)
	o.ExpiresAt = &exp
	e := order.NewOrderPlaced(o)
	if e.ExpiresAt == nil || e.ExpiresAt.Location() != time.UTC || !e.ExpiresAt.Equal(exp) {
		t.Fatalf("NewOrderPlaced expires_at = %v, want %s in UTC", e.ExpiresAt, exp)
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := order.DecodeOrderPlaced(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) {
		t.Errorf("decoded expires_at %v, want %s", got.ExpiresAt, exp)
	}
	// Without a window the field is absent, so the wire form is what it was.
	plain, err := order.NewOrderPlaced(validOrder(t)).Encode()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(plain), "expires_at") {
		t.Errorf("event without a window encodes expires_at: %s", plain)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
	}{
		{name: "expires_at equal to reserved_at", at: o.ReservedAt},
		{name: "expires_at before reserved_at", at: o.ReservedAt.Add(-time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := e
			bad.ExpiresAt = &tc.at
			if err := bad.Validate(); !errors.Is(err, order.ErrInvalidEvent) {
				t.Errorf("Validate: got %v, want %v", err, order.ErrInvalidEvent)
			}
		})
	}
}

func validTransition(t *testing.T, h order.Hold) order.OrderTransition {
	t.Helper()
	ref := ""
	if h == order.HoldPaid {
		ref = "pay_123"
	}
	return order.NewOrderTransition(validOrder(t), h, time.Date(2030, 1, 1, 12, 5, 0, 0, time.FixedZone("CET", 3600)), ref)
}

func TestOrderTransitionRoundTrip(t *testing.T) {
	for _, h := range []order.Hold{order.HoldPaid, order.HoldExpired, order.HoldCancelled} {
		t.Run(string(h), func(t *testing.T) {
			e := validTransition(t, h)
			if e.SchemaVersion != order.OrderTransitionVersion || e.At.Location() != time.UTC || e.Hold() != h {
				t.Errorf("NewOrderTransition = %+v, want version %d, at in UTC, hold %s", e, order.OrderTransitionVersion, h)
			}
			typ, ok := order.TransitionType(h)
			if !ok || typ != e.Type || !order.IsTransitionType(typ) {
				t.Errorf("TransitionType(%s) = %q, %v; event type %q", h, typ, ok, e.Type)
			}
			b, err := e.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := order.DecodeTransition(e.Type, b)
			if err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if got != e {
				t.Errorf("decoded %+v, want %+v", got, e)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"schema_version", "type", "order_id", "sale_id", "user_id", "quantity", "at"} {
				if _, ok := m[k]; !ok {
					t.Errorf("encoded event %s lacks %q", b, k)
				}
			}
			if _, ok := m["payment_ref"]; ok != (h == order.HoldPaid) {
				t.Errorf("encoded event %s: payment_ref present = %v, want %v", b, ok, h == order.HoldPaid)
			}
		})
	}
	for _, h := range []order.Hold{order.HoldNone, order.HoldHeld, order.HoldVoid} {
		if typ, ok := order.TransitionType(h); ok {
			t.Errorf("TransitionType(%q) = %q, want none", h, typ)
		}
	}
	if order.IsTransitionType(order.OrderPlacedType) || order.IsTransitionType("") {
		t.Error("OrderPlaced or the empty type counted as a transition")
	}
}

func TestDecodeTransitionErrors(t *testing.T) {
	paid, err := validTransition(t, order.HoldPaid).Encode()
	if err != nil {
		t.Fatal(err)
	}
	expired, err := validTransition(t, order.HoldExpired).Encode()
	if err != nil {
		t.Fatal(err)
	}
	with := func(valid []byte, field string, v any) []byte {
		var m map[string]any
		if err := json.Unmarshal(valid, &m); err != nil {
			t.Fatal(err)
		}
		if v == nil {
			delete(m, field)
		} else {
			m[field] = v
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	otherSale, _ := order.NewOrderID("sale-2")
	tests := []struct {
		name      string
		eventType string
		in        []byte
		want      error
	}{
		{name: "empty", eventType: order.OrderPaidType, in: nil, want: order.ErrMalformedEvent},
		{name: "not JSON", eventType: order.OrderPaidType, in: []byte("not json"), want: order.ErrMalformedEvent},
		{name: "truncated", eventType: order.OrderPaidType, in: paid[:len(paid)/2], want: order.ErrMalformedEvent},
		{name: "schema version missing", eventType: order.OrderPaidType, in: with(paid, "schema_version", nil), want: order.ErrMalformedEvent},
		{name: "schema version a string", eventType: order.OrderPaidType, in: with(paid, "schema_version", "1"), want: order.ErrMalformedEvent},
		{name: "quantity a string", eventType: order.OrderPaidType, in: with(paid, "quantity", "2"), want: order.ErrMalformedEvent},
		{name: "at not a time", eventType: order.OrderExpiredType, in: with(expired, "at", "soon"), want: order.ErrMalformedEvent},
		{name: "unknown event type", eventType: "OrderRefunded", in: paid, want: order.ErrUnknownEventSchema},
		{name: "OrderPlaced is no transition", eventType: order.OrderPlacedType, in: paid, want: order.ErrUnknownEventSchema},
		{name: "schema version 2", eventType: order.OrderPaidType, in: with(paid, "schema_version", 2), want: order.ErrUnknownEventSchema},
		{name: "schema version 0", eventType: order.OrderExpiredType, in: with(expired, "schema_version", 0), want: order.ErrUnknownEventSchema},
		{name: "body type differs from the header", eventType: order.OrderCancelledType, in: expired, want: order.ErrInvalidEvent},
		{name: "body type missing", eventType: order.OrderExpiredType, in: with(expired, "type", nil), want: order.ErrInvalidEvent},
		{name: "order id not an order id", eventType: order.OrderPaidType, in: with(paid, "order_id", "nope"), want: order.ErrInvalidEvent},
		{name: "order id of another sale", eventType: order.OrderPaidType, in: with(paid, "order_id", otherSale), want: order.ErrInvalidEvent},
		{name: "user id missing", eventType: order.OrderPaidType, in: with(paid, "user_id", nil), want: order.ErrInvalidEvent},
		{name: "quantity zero", eventType: order.OrderExpiredType, in: with(expired, "quantity", 0), want: order.ErrInvalidEvent},
		{name: "at missing", eventType: order.OrderExpiredType, in: with(expired, "at", nil), want: order.ErrInvalidEvent},
		{name: "at offset +24:00", eventType: order.OrderExpiredType, in: with(expired, "at", "2030-01-01T12:00:00+24:00"), want: order.ErrInvalidEvent},
		{name: "paid without a payment ref", eventType: order.OrderPaidType, in: with(paid, "payment_ref", nil), want: order.ErrInvalidEvent},
		{name: "payment ref with a space", eventType: order.OrderPaidType, in: with(paid, "payment_ref", "pay 1"), want: order.ErrInvalidEvent},
		{name: "payment ref too long", eventType: order.OrderPaidType, in: with(paid, "payment_ref", strings.Repeat("p", 129)), want: order.ErrInvalidEvent},
		{name: "payment ref on an expiry", eventType: order.OrderExpiredType, in: with(expired, "payment_ref", "pay_1"), want: order.ErrInvalidEvent},
	}
	sentinels := []error{order.ErrMalformedEvent, order.ErrUnknownEventSchema, order.ErrInvalidEvent}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := order.DecodeTransition(tc.eventType, tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeTransition(%q, %.80q): got %v, want %v", tc.eventType, tc.in, err, tc.want)
			}
			for _, s := range sentinels {
				if s != tc.want && errors.Is(err, s) {
					t.Errorf("error %v also matches %v", err, s)
				}
			}
		})
	}
	if _, err := order.DecodeTransition(order.OrderPaidType, with(paid, "payment_ref", strings.Repeat("p", 128))); err != nil {
		t.Errorf("a 128-character payment ref: %v", err)
	}
}
