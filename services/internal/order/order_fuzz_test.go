package order_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// visibleASCII is the reference rule for idempotency keys and user ids.
func visibleASCII(s string, maxLen int) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for _, c := range []byte(s) {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

func FuzzIdempotencyKey(f *testing.F) {
	for _, s := range []string{
		"", "k", "key-1", "a b", " ", "\x00", "k\x00", "\x7f", "\x20", "\x21", "\x7e", "~!", "\t",
		"\xef\xbb\xbfkey", "\xff\xfe", "ключ", "日本", "\u00a0", "\r\n",
		strings.Repeat("k", 254), strings.Repeat("k", 255), strings.Repeat("k", 256), strings.Repeat("é", 128),
		strings.Repeat("k", 254) + " ", strings.Repeat("k", 10_000),
		"550e8400-e29b-41d4-a716-446655440000", `{"quantity":1}`, "eyJhbGciOiJub25lIn0.e30.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, k string) {
		got, want := order.ValidIdempotencyKey(k), visibleASCII(k, 255)
		if got != want {
			t.Fatalf("ValidIdempotencyKey(%q) = %v, want %v", k, got, want)
		}
	})
}

func FuzzUserID(f *testing.F) {
	for _, s := range []string{"", "alice", "a b", "\x00", strings.Repeat("u", 128), strings.Repeat("u", 129), "\xff", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := order.ValidUserID(id), visibleASCII(id, 128); got != want {
			t.Fatalf("ValidUserID(%q) = %v, want %v", id, got, want)
		}
	})
}

func FuzzOrderID(f *testing.F) {
	for _, s := range []string{
		"", "s", "sale-1", "sale_A-9", strings.Repeat("s", 64), strings.Repeat("s", 65), "a.b", ".", "..", "sa le",
		"sale\x00", "\xff", "é", "s/1", "{sale}", "s:1",
		"s.01890a5d-ac96-774b-bcce-b302099a8057", "s.01890A5D-AC96-774B-BCCE-B302099A8057",
		"s.{01890a5d-ac96-774b-bcce-b302099a8057}", "s.urn:uuid:01890a5d-ac96-774b-bcce-b302099a8057",
		"s.01890a5dac96774bbcceb302099a8057", "s.01890a5d-ac96-774b-bcce-b302099a805", "s.01890a5d-ac96-774b-bcce-b302099a8057x",
		"s.01890a5d_ac96_774b_bcce_b302099a8057", "s.zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", "s..01890a5d-ac96-774b-bcce-b302099a8057",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Arbitrary strings: never panic; an accepted id names a valid sale
		// and is "<sale>.<36-char uuid>".
		if sale, ok := order.SaleOfOrder(s); ok {
			if !order.ValidSaleID(sale) || !strings.HasPrefix(s, sale+".") || len(s) != len(sale)+1+36 {
				t.Fatalf("SaleOfOrder(%q) accepted sale %q", s, sale)
			}
		} else if sale != "" {
			t.Fatalf("SaleOfOrder(%q) rejected but returned sale %q", s, sale)
		}
		// s as a sale id: NewOrderID round-trips through SaleOfOrder exactly
		// when the sale id is valid.
		id, err := order.NewOrderID(s)
		if err != nil {
			t.Fatalf("NewOrderID(%q): %v", s, err)
		}
		sale, ok := order.SaleOfOrder(id)
		if order.ValidSaleID(s) {
			if !ok || sale != s {
				t.Fatalf("SaleOfOrder(NewOrderID(%q)) = %q, %v; want %q, true", s, sale, ok, s)
			}
		} else if ok && sale == s {
			t.Fatalf("SaleOfOrder(NewOrderID(%q)) round-trips an invalid sale id", s)
		}
	})
}

func FuzzDecodeOrderPlaced(f *testing.F) {
	valid := `{"schema_version":1,"order_id":"sale-1.01890a5d-ac96-774b-bcce-b302099a8057","sale_id":"sale-1",` +
		`"user_id":"alice","quantity":2,"idempotency_key":"key-1","reserved_at":"2030-01-01T12:00:00.123456789Z"}`
	deep := strings.Repeat(`{"a":`, 10_000) + "1" + strings.Repeat("}", 10_000)
	for _, s := range []string{
		valid,
		"", " ", "null", "{}", "[]", `"x"`, "1", "1e309", "-0", "\x00", "\xff\xfe", "\xef\xbb\xbf" + valid,
		valid + "garbage", valid + valid, valid + " \n",
		`{"schema_version":2}`, `{"schema_version":0}`, `{"schema_version":-1}`, `{"schema_version":1e309}`,
		`{"schema_version":1.0}`, `{"schema_version":-0}`, `{"schema_version":"1"}`, `{"schema_version":null}`,
		`{"schema_version":99999999999999999999}`, `{"schema_version":1,"schema_version":2}`,
		`{"schema_version":2,"schema_version":1}`, `{"SCHEMA_VERSION":1}`,
		strings.Replace(valid, `"quantity":2`, `"quantity":9223372036854775807`, 1),
		strings.Replace(valid, `"quantity":2`, `"quantity":9223372036854775808`, 1),
		strings.Replace(valid, `"quantity":2`, `"quantity":-0`, 1),
		strings.Replace(valid, `"quantity":2`, `"quantity":1e309`, 1),
		strings.Replace(valid, `"quantity":2`, `"quantity":{"n":2}`, 1),
		strings.Replace(valid, `"quantity":2`, `"quantity":2,"quantity":3`, 1),
		strings.Replace(valid, `"user_id":"alice"`, `"user_id":"al\u0000ice"`, 1),
		strings.Replace(valid, `"user_id":"alice"`, `"user_id":"al`+"\xff"+`ice"`, 1),
		strings.Replace(valid, `"user_id":"alice"`, `"user_id":"`+strings.Repeat("u", 129)+`"`, 1),
		strings.Replace(valid, `"idempotency_key":"key-1"`, `"idempotency_key":"`+strings.Repeat("k", 255)+`"`, 1),
		strings.Replace(valid, `"idempotency_key":"key-1"`, `"idempotency_key":"`+strings.Repeat("k", 256)+`"`, 1),
		strings.Replace(valid, `"idempotency_key":"key-1"`, `"idempotency_key":"key 1"`, 1),
		strings.Replace(valid, `2030-01-01T12:00:00.123456789Z`, `0001-01-01T00:00:00Z`, 1),
		strings.Replace(valid, `2030-01-01T12:00:00.123456789Z`, `0000-01-01T00:00:00+01:00`, 1),
		strings.Replace(valid, `2030-01-01T12:00:00.123456789Z`, `9999-12-31T23:59:59-23:59`, 1),
		strings.Replace(valid, `2030-01-01T12:00:00.123456789Z`, `2030-01-01T12:00:00+24:00`, 1),
		strings.Replace(valid, `2030-01-01T12:00:00.123456789Z`, `2030-02-30T12:00:00Z`, 1),
		strings.Replace(valid, `"sale_id":"sale-1"`, `"sale_id":"sale-2"`, 1),
		strings.Replace(valid, `"sale_id":"sale-1"`, `"sale_id":"sale-1","extra":{"nested":[1,{"x":null}]}`, 1),
		strings.Replace(valid, `"reserved_at"`, `"expires_at":"2030-01-01T12:10:00Z","reserved_at"`, 1),
		strings.Replace(valid, `"reserved_at"`, `"expires_at":"2030-01-01T12:00:00.123456789Z","reserved_at"`, 1),
		strings.Replace(valid, `"reserved_at"`, `"expires_at":"2029-01-01T12:00:00Z","reserved_at"`, 1),
		strings.Replace(valid, `"reserved_at"`, `"expires_at":null,"reserved_at"`, 1),
		strings.Replace(valid, `"reserved_at"`, `"expires_at":"2030-01-01T12:00:00+24:00","reserved_at"`, 1),
		strings.Replace(valid, `"reserved_at"`, `"expires_at":"tomorrow","reserved_at"`, 1),
		deep, strings.Repeat("[", 100_000),
	} {
		f.Add([]byte(s))
	}
	sentinels := []error{order.ErrMalformedEvent, order.ErrUnknownEventSchema, order.ErrInvalidEvent}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := order.DecodeOrderPlaced(b)
		if err != nil {
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("DecodeOrderPlaced(%q): error %v wraps %d of the sentinel errors, want exactly 1", b, err, n)
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("accepted event %+v does not validate: %v", e, err)
		}
		if e.SchemaVersion != order.OrderPlacedVersion {
			t.Fatalf("accepted schema version %d", e.SchemaVersion)
		}
		enc, err := e.Encode()
		if err != nil {
			t.Fatalf("accepted event %+v does not encode: %v", e, err)
		}
		back, err := order.DecodeOrderPlaced(enc)
		if err != nil {
			t.Fatalf("re-encoded event %s does not decode: %v", enc, err)
		}
		if !eventsEqual(back, e) {
			t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", back, e)
		}
		enc2, err := back.Encode()
		if err != nil || !bytes.Equal(enc2, enc) {
			t.Fatalf("second encoding differs: %s vs %s (%v)", enc2, enc, err)
		}
	})
}

func eventsEqual(a, b order.OrderPlaced) bool {
	ta, tb := a.ReservedAt, b.ReservedAt
	ea, eb := a.ExpiresAt, b.ExpiresAt
	a.ReservedAt, b.ReservedAt = time.Time{}, time.Time{}
	a.ExpiresAt, b.ExpiresAt = nil, nil
	return a == b && sameInstant(ta, tb) && (ea == nil) == (eb == nil) && (ea == nil || sameInstant(*ea, *eb))
}

// sameInstant: the same time with the same offset (what a re-encoding keeps).
func sameInstant(a, b time.Time) bool {
	_, oa := a.Zone()
	_, ob := b.Zone()
	return a.Equal(b) && oa == ob
}

func FuzzDecodeTransition(f *testing.F) {
	paid := `{"schema_version":1,"type":"OrderPaid","order_id":"sale-1.01890a5d-ac96-774b-bcce-b302099a8057","sale_id":"sale-1",` +
		`"user_id":"alice","quantity":2,"at":"2030-01-01T12:05:00.123456789Z","payment_ref":"pay_123"}`
	expired := `{"schema_version":1,"type":"OrderExpired","order_id":"sale-1.01890a5d-ac96-774b-bcce-b302099a8057","sale_id":"sale-1",` +
		`"user_id":"alice","quantity":2,"at":"2030-01-01T12:05:00Z"}`
	cancelled := strings.Replace(expired, "OrderExpired", "OrderCancelled", 1)
	types := []string{order.OrderPaidType, order.OrderExpiredType, order.OrderCancelledType, order.OrderPlacedType, "", "orderpaid", "OrderPaid\x00"}
	seeds := []string{
		paid, expired, cancelled,
		"", " ", "null", "{}", "[]", `"x"`, "1", "\x00", "\xef\xbb\xbf" + paid, paid + "garbage", paid + paid,
		`{"schema_version":2,"type":"OrderPaid"}`, `{"schema_version":0}`, `{"schema_version":"1"}`, `{"schema_version":null}`,
		`{"schema_version":1,"schema_version":2}`, `{"schema_version":1.0}`,
		strings.Replace(paid, `"type":"OrderPaid"`, `"type":"OrderExpired"`, 1),
		strings.Replace(paid, `"type":"OrderPaid"`, `"type":null`, 1),
		strings.Replace(paid, `"type":"OrderPaid"`, `"type":"OrderPaid","type":"OrderCancelled"`, 1),
		strings.Replace(paid, `,"payment_ref":"pay_123"`, ``, 1),
		strings.Replace(paid, `"pay_123"`, `""`, 1),
		strings.Replace(paid, `"pay_123"`, `"pay 123"`, 1),
		strings.Replace(paid, `"pay_123"`, `"`+strings.Repeat("p", 128)+`"`, 1),
		strings.Replace(paid, `"pay_123"`, `"`+strings.Repeat("p", 129)+`"`, 1),
		strings.Replace(paid, `"pay_123"`, `"p\u00e9"`, 1),
		strings.Replace(expired, `"quantity":2`, `"quantity":2,"payment_ref":"pay_1"`, 1),
		strings.Replace(expired, `"quantity":2`, `"quantity":0`, 1),
		strings.Replace(expired, `"quantity":2`, `"quantity":9223372036854775808`, 1),
		strings.Replace(expired, `2030-01-01T12:05:00Z`, `0001-01-01T00:00:00Z`, 1),
		strings.Replace(expired, `2030-01-01T12:05:00Z`, `2030-01-01T12:00:00+24:00`, 1),
		strings.Replace(expired, `2030-01-01T12:05:00Z`, `9999-12-31T23:59:59-23:59`, 1),
		strings.Replace(expired, `"sale_id":"sale-1"`, `"sale_id":"sale-2"`, 1),
		strings.Replace(expired, `"user_id":"alice"`, `"user_id":"al ice"`, 1),
	}
	for i, s := range seeds {
		f.Add(types[i%len(types)], []byte(s))
		f.Add(order.OrderPaidType, []byte(s))
	}
	sentinels := []error{order.ErrMalformedEvent, order.ErrUnknownEventSchema, order.ErrInvalidEvent}
	f.Fuzz(func(t *testing.T, eventType string, b []byte) {
		e, err := order.DecodeTransition(eventType, b)
		if err != nil {
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("DecodeTransition(%q, %q): error %v wraps %d of the sentinel errors, want exactly 1", eventType, b, err, n)
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("accepted event %+v does not validate: %v", e, err)
		}
		if e.SchemaVersion != order.OrderTransitionVersion || e.Type != eventType || !order.IsTransitionType(eventType) {
			t.Fatalf("accepted version %d, type %q for header %q", e.SchemaVersion, e.Type, eventType)
		}
		if h := e.Hold(); h != order.HoldPaid && h != order.HoldExpired && h != order.HoldCancelled {
			t.Fatalf("accepted event ends in hold %q", h)
		}
		enc, err := e.Encode()
		if err != nil {
			t.Fatalf("accepted event %+v does not encode: %v", e, err)
		}
		back, err := order.DecodeTransition(eventType, enc)
		if err != nil {
			t.Fatalf("re-encoded event %s does not decode: %v", enc, err)
		}
		ta, tb := back.At, e.At
		back.At, e.At = time.Time{}, time.Time{}
		if back != e || !sameInstant(ta, tb) {
			t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", back, e)
		}
		back.At = ta
		enc2, err := back.Encode()
		if err != nil || !bytes.Equal(enc2, enc) {
			t.Fatalf("second encoding differs: %s vs %s (%v)", enc2, enc, err)
		}
	})
}
