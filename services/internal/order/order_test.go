package order_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

func TestSaleStateAt(t *testing.T) {
	start := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	end := start.Add(time.Hour)
	tests := []struct {
		name      string
		remaining int64
		ends      *time.Time
		now       time.Time
		want      order.SaleState
	}{
		{name: "before start", remaining: 10, ends: &end, now: start.Add(-time.Nanosecond), want: order.StateScheduled},
		{name: "before start even when sold out", remaining: 0, now: start.Add(-time.Minute), want: order.StateScheduled},
		{name: "at start", remaining: 10, ends: &end, now: start, want: order.StateActive},
		{name: "during", remaining: 1, ends: &end, now: start.Add(30 * time.Minute), want: order.StateActive},
		{name: "open-ended, long after start", remaining: 1, now: start.Add(1000 * time.Hour), want: order.StateActive},
		{name: "sold out during", remaining: 0, ends: &end, now: start.Add(time.Minute), want: order.StateSoldOut},
		{name: "negative remaining reads sold out", remaining: -1, now: start.Add(time.Minute), want: order.StateSoldOut},
		{name: "just before end", remaining: 10, ends: &end, now: end.Add(-time.Nanosecond), want: order.StateActive},
		{name: "at end", remaining: 10, ends: &end, now: end, want: order.StateEnded},
		{name: "after end", remaining: 10, ends: &end, now: end.Add(time.Hour), want: order.StateEnded},
		{name: "ended wins over sold out", remaining: 0, ends: &end, now: end, want: order.StateEnded},
		{name: "other time zone", remaining: 10, ends: &end, now: start.In(time.FixedZone("x", -5*3600)), want: order.StateActive},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := order.Sale{Stock: 10, Remaining: tc.remaining, StartsAt: start, EndsAt: tc.ends}
			if got := s.StateAt(tc.now); got != tc.want {
				t.Errorf("StateAt(%s) = %q, want %q", tc.now, got, tc.want)
			}
		})
	}
}

func validOrder(t *testing.T) order.Order {
	t.Helper()
	id, err := order.NewOrderID("sale-1")
	if err != nil {
		t.Fatal(err)
	}
	return order.Order{ID: id, SaleID: "sale-1", UserID: "alice", Quantity: 2, Status: order.StatusPending,
		IdempotencyKey: "key-1", ReservedAt: time.Date(2030, 1, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))}
}

func TestOrderPlacedRoundTrip(t *testing.T) {
	o := validOrder(t)
	e := order.NewOrderPlaced(o)
	if e.SchemaVersion != order.OrderPlacedVersion || e.ReservedAt.Location() != time.UTC || !e.ReservedAt.Equal(o.ReservedAt) {
		t.Errorf("NewOrderPlaced = %+v, want version %d and reserved_at %s in UTC", e, order.OrderPlacedVersion, o.ReservedAt)
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := order.DecodeOrderPlaced(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if got != e {
		t.Errorf("decoded %+v, want %+v", got, e)
	}
	// The wire names are the contract with the writer.
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema_version", "order_id", "sale_id", "user_id", "quantity", "idempotency_key", "reserved_at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("encoded event %s lacks %q", b, k)
		}
	}
}

func TestDecodeOrderPlacedErrors(t *testing.T) {
	o := validOrder(t)
	valid, err := order.NewOrderPlaced(o).Encode()
	if err != nil {
		t.Fatal(err)
	}
	// with returns the valid event with one field replaced (or removed when v is nil).
	with := func(field string, v any) []byte {
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
		name string
		in   []byte
		want error
	}{
		{name: "empty", in: nil, want: order.ErrMalformedEvent},
		{name: "not JSON", in: []byte("not json"), want: order.ErrMalformedEvent},
		{name: "truncated", in: valid[:len(valid)/2], want: order.ErrMalformedEvent},
		{name: "JSON array", in: []byte(`[1,2]`), want: order.ErrMalformedEvent},
		{name: "null", in: []byte(`null`), want: order.ErrMalformedEvent},
		{name: "schema version missing", in: with("schema_version", nil), want: order.ErrMalformedEvent},
		{name: "schema version a string", in: with("schema_version", "1"), want: order.ErrMalformedEvent},
		{name: "schema version a fraction", in: with("schema_version", 1.5), want: order.ErrMalformedEvent},
		{name: "quantity a string", in: with("quantity", "2"), want: order.ErrMalformedEvent},
		{name: "reserved_at not a time", in: with("reserved_at", "yesterday"), want: order.ErrMalformedEvent},
		{name: "trailing garbage", in: append(append([]byte{}, valid...), "garbage"...), want: order.ErrMalformedEvent},
		{name: "schema version 2", in: with("schema_version", 2), want: order.ErrUnknownEventSchema},
		{name: "schema version 0", in: with("schema_version", 0), want: order.ErrUnknownEventSchema},
		{name: "schema version -1", in: with("schema_version", -1), want: order.ErrUnknownEventSchema},
		{name: "v2 with unknown fields", in: []byte(`{"schema_version":2,"order":{"id":"x"}}`), want: order.ErrUnknownEventSchema},
		{name: "order id not an order id", in: with("order_id", "nope"), want: order.ErrInvalidEvent},
		{name: "order id of another sale", in: with("order_id", otherSale), want: order.ErrInvalidEvent},
		{name: "user id missing", in: with("user_id", nil), want: order.ErrInvalidEvent},
		{name: "user id with a space", in: with("user_id", "al ice"), want: order.ErrInvalidEvent},
		{name: "quantity zero", in: with("quantity", 0), want: order.ErrInvalidEvent},
		{name: "quantity negative", in: with("quantity", -3), want: order.ErrInvalidEvent},
		{name: "idempotency key missing", in: with("idempotency_key", nil), want: order.ErrInvalidEvent},
		{name: "idempotency key too long", in: with("idempotency_key", strings.Repeat("k", 256)), want: order.ErrInvalidEvent},
		{name: "reserved_at missing", in: with("reserved_at", nil), want: order.ErrInvalidEvent},
		// time.Time decodes a +24:00 offset it cannot encode again.
		{name: "reserved_at offset +24:00", in: with("reserved_at", "2030-01-01T12:00:00+24:00"), want: order.ErrInvalidEvent},
	}
	sentinels := []error{order.ErrMalformedEvent, order.ErrUnknownEventSchema, order.ErrInvalidEvent}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := order.DecodeOrderPlaced(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeOrderPlaced(%.80q): got %v, want %v", tc.in, err, tc.want)
			}
			for _, s := range sentinels {
				if s != tc.want && errors.Is(err, s) {
					t.Errorf("error %v also matches %v", err, s)
				}
			}
		})
	}
}

func TestOrderIDs(t *testing.T) {
	id, err := order.NewOrderID("sale_A-9")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		id       string
		wantSale string
		wantOK   bool
	}{
		{name: "made by NewOrderID", id: id, wantSale: "sale_A-9", wantOK: true},
		{name: "empty", id: ""},
		{name: "no dot", id: "sale"},
		{name: "empty sale", id: "." + id[len("sale_A-9."):]},
		{name: "sale with a bad character", id: "sa!e" + id[len("sale_A-9"):]},
		{name: "braced uuid", id: "s.{" + id[len("sale_A-9."):] + "}"},
		{name: "urn uuid", id: "s.urn:uuid:" + id[len("sale_A-9."):]},
		{name: "uuid without dashes", id: "s." + strings.ReplaceAll(id[len("sale_A-9."):], "-", "")},
		{name: "not a uuid", id: "s.not-a-uuid-at-all-but-thirty-six-ch"},
		{name: "two dots", id: "a.b." + id[len("sale_A-9."):]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sale, ok := order.SaleOfOrder(tc.id)
			if sale != tc.wantSale || ok != tc.wantOK {
				t.Errorf("SaleOfOrder(%q) = %q, %v; want %q, %v", tc.id, sale, ok, tc.wantSale, tc.wantOK)
			}
		})
	}
}

func TestErrorCodes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want order.Code
	}{
		{name: "sentinel", err: order.ErrSoldOut, want: order.CodeSoldOut},
		{name: "wrapped", err: errors.Join(errors.New("ctx"), order.ErrPurchaseLimit), want: order.CodePurchaseLimit},
		{name: "Errorf", err: order.Errorf(order.CodeStockBelowSold, "stock %d", 3), want: order.CodeStockBelowSold},
		{name: "foreign error", err: errors.New("boom"), want: order.CodeInternal},
		{name: "nil", err: nil, want: order.CodeInternal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := order.CodeOf(tc.err); got != tc.want {
				t.Errorf("CodeOf(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
	if !errors.Is(order.Errorf(order.CodeSoldOut, "other text"), order.ErrSoldOut) {
		t.Errorf("errors.Is does not match an *Error by code")
	}
	if errors.Is(order.ErrSoldOut, order.ErrPurchaseLimit) {
		t.Errorf("errors.Is matches errors of different codes")
	}
}
