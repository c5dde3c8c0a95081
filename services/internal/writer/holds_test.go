package writer_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/services/internal/writer"
)

// The checkout window through the real broker (issue #14): transitions
// after, before and beside their orders, redelivered, and poisoned.

// heldEvents are n orders of a fresh sale with a 10-minute window.
func (f *fixture) heldEvents(n int) (sale string, evs []order.OrderPlaced) {
	sale, evs = f.events(n)
	f.t.Cleanup(func() {
		_, _ = f.pool.Exec(context.Background(), `DELETE FROM order_transitions WHERE sale_id = $1`, sale)
	})
	for i := range evs {
		exp := evs[i].ReservedAt.Add(10 * time.Minute)
		evs[i].ExpiresAt = &exp
	}
	return sale, evs
}

// end is e's hold ending in h, at a time hold.lua could have chosen.
func end(e order.OrderPlaced, h order.Hold) order.OrderTransition {
	o := order.Order{ID: e.OrderID, SaleID: e.SaleID, UserID: e.UserID, Quantity: e.Quantity}
	at, ref := e.ReservedAt.Add(time.Minute), ""
	switch h {
	case order.HoldPaid:
		ref = "pay-" + e.OrderID[len(e.OrderID)-8:]
	case order.HoldExpired:
		at = *e.ExpiresAt
	}
	return order.NewOrderTransition(o, h, at, ref)
}

func transitionRecord(t *testing.T, tr order.OrderTransition) *kgo.Record {
	t.Helper()
	v, err := tr.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Key: []byte(tr.OrderID), Value: v, Headers: []kgo.RecordHeader{
		{Key: order.HeaderEventType, Value: []byte(tr.Type)}, {Key: order.HeaderSchemaVersion, Value: []byte("1")}}}
}

func (f *fixture) produceTransitions(ts ...order.OrderTransition) {
	f.t.Helper()
	recs := make([]*kgo.Record, len(ts))
	for i, tr := range ts {
		recs[i] = transitionRecord(f.t.(*testing.T), tr)
	}
	f.produceRaw(recs...)
}

func (f *fixture) wantUnits(sale string, orders, units int64) {
	f.t.Helper()
	gotOrders, gotUnits, err := f.pg.Persisted(context.Background(), sale)
	if err != nil || gotOrders != orders || gotUnits != units {
		f.t.Errorf("persisted %d orders / %d units (err %v), want %d / %d", gotOrders, gotUnits, err, orders, units)
	}
}

// statuses counts the sale's orders by what GET /v1/orders/{id} would read.
func (f *fixture) statuses(evs []order.OrderPlaced) map[order.Status]int {
	f.t.Helper()
	out := map[order.Status]int{}
	for _, e := range evs {
		o, err := f.pg.Order(context.Background(), e.OrderID)
		if err != nil {
			f.t.Fatalf("order %s: %v", e.OrderID, err)
		}
		out[o.Status]++
	}
	return out
}

func (f *fixture) early(sale string) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM order_transitions WHERE sale_id = $1`, sale).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// Orders first, then their ends, then the ends again: paid keeps its units,
// expired and cancelled give theirs back exactly once.
func TestWriterAppliesTransitionsAfterTheirOrders(t *testing.T) {
	f := newFixture(t, 3)
	sale, evs := f.heldEvents(9)
	w, _ := f.start(f.config())
	f.produce(evs)
	f.waitRows(sale, 9, time.Minute)
	f.waitLagZero(w, time.Minute)
	if got := f.statuses(evs); got[order.StatusConfirmed] != 9 {
		t.Fatalf("held orders read %v, want 9 confirmed", got)
	}

	var ends []order.OrderTransition
	for i, e := range evs {
		ends = append(ends, end(e, []order.Hold{order.HoldPaid, order.HoldExpired, order.HoldCancelled}[i%3]))
	}
	f.produceTransitions(ends...)
	f.waitLagZero(w, time.Minute)
	f.wantUnits(sale, 9, 3)
	want := map[order.Status]int{order.StatusPaid: 3, order.StatusExpired: 3, order.StatusCancelled: 3}
	if got := f.statuses(evs); got[order.StatusPaid] != 3 || got[order.StatusExpired] != 3 || got[order.StatusCancelled] != 3 {
		t.Errorf("statuses %v, want %v", got, want)
	}

	f.produceTransitions(ends...) // redelivered
	f.produce(evs)
	f.waitLagZero(w, time.Minute)
	f.wantUnits(sale, 9, 3)
	if dlq := f.dlqRecords(1, 2*time.Second); len(dlq) != 0 {
		t.Errorf("%d records dead-lettered, want none", len(dlq))
	}
}

// Ends first: they wait, in a later batch their orders arrive and take them
// up; and an order with its end in one produce (one batch, most likely,
// either order) lands ended too.
func TestWriterKeepsTransitionsThatArriveEarly(t *testing.T) {
	f := newFixture(t, 1)
	sale, evs := f.heldEvents(6)
	w, _ := f.start(f.config())

	f.produceTransitions(end(evs[0], order.HoldExpired), end(evs[1], order.HoldPaid))
	f.waitLagZero(w, time.Minute)
	if n := f.early(sale); n != 2 {
		t.Fatalf("%d transitions waiting, want 2", n)
	}
	f.produceTransitions(end(evs[0], order.HoldExpired)) // redelivered while waiting
	f.produce(evs[:2])
	f.waitRows(sale, 2, time.Minute)
	f.waitLagZero(w, time.Minute)
	f.wantUnits(sale, 2, 1)
	if n := f.early(sale); n != 0 {
		t.Errorf("%d transitions still waiting, want 0", n)
	}

	// Same produce: end before order, order before end.
	placed := func(e order.OrderPlaced) *kgo.Record {
		v, _ := e.Encode()
		return &kgo.Record{Key: []byte(e.OrderID), Value: v}
	}
	f.produceRaw(transitionRecord(t, end(evs[2], order.HoldCancelled)), placed(evs[2]),
		placed(evs[3]), transitionRecord(t, end(evs[3], order.HoldExpired)),
		placed(evs[4]), transitionRecord(t, end(evs[4], order.HoldPaid)), placed(evs[5]))
	f.waitRows(sale, 6, time.Minute)
	f.waitLagZero(w, time.Minute)
	f.wantUnits(sale, 6, 3) // paid 1 and 4, held 5
	got := f.statuses(evs)
	if got[order.StatusExpired] != 2 || got[order.StatusPaid] != 2 || got[order.StatusCancelled] != 1 || got[order.StatusConfirmed] != 1 {
		t.Errorf("statuses %v, want 2 expired, 2 paid, 1 cancelled, 1 held (confirmed)", got)
	}
	if n := f.early(sale); n != 0 {
		t.Errorf("%d transitions still waiting, want 0", n)
	}
}

// Poisoned transitions go to the DLQ with their reason; good records around
// them are applied and the partition moves on.
func TestWriterDeadLettersPoisonTransitions(t *testing.T) {
	f := newFixture(t, 1)
	sale, evs := f.heldEvents(2)
	w, _ := f.start(f.config())
	f.produce(evs)
	f.waitRows(sale, 2, time.Minute)

	raw := func(key, typ, body string) *kgo.Record {
		return &kgo.Record{Key: []byte(key), Value: []byte(body), Headers: []kgo.RecordHeader{{Key: order.HeaderEventType, Value: []byte(typ)}}}
	}
	good, _ := end(evs[0], order.HoldExpired).Encode()
	noRef := end(evs[1], order.HoldPaid)
	noRef.PaymentRef = ""
	invalid, _ := noRef.Encode()
	tooEarly := end(evs[1], order.HoldExpired)
	tooEarly.At = evs[1].ExpiresAt.Add(-time.Second)
	unvouched, _ := tooEarly.Encode()
	f.produceRaw(
		raw("malformed", order.OrderPaidType, `{"schema_version":1,"type":`),
		raw("v2", order.OrderExpiredType, `{"schema_version":2,"type":"OrderExpired","order_id":"x"}`),
		raw("refunded", "OrderRefunded", string(good)),
		raw("invalid", order.OrderPaidType, string(invalid)),
		raw("unvouched", order.OrderExpiredType, string(unvouched)),
		raw("good", order.OrderExpiredType, string(good)),
	)
	f.waitLagZero(w, time.Minute)
	f.wantUnits(sale, 2, 1)
	dlq := f.dlqRecords(5, 30*time.Second)
	want := map[string]string{"malformed": writer.ReasonMalformed, "v2": writer.ReasonUnknownSchema, "refunded": writer.ReasonUnknownSchema,
		"invalid": writer.ReasonInvalid, "unvouched": writer.ReasonUnvouched}
	if len(dlq) != len(want) {
		t.Fatalf("%d records in the DLQ, want %d", len(dlq), len(want))
	}
	for _, r := range dlq {
		reason := ""
		for _, h := range r.Headers {
			if h.Key == writer.HeaderReason {
				reason = string(h.Value)
			}
		}
		if reason != want[string(r.Key)] {
			t.Errorf("%s: reason %q, want %q", r.Key, reason, want[string(r.Key)])
		}
	}
}

// Orders with a live reservation (claimed, then confirmed in Redis) and the
// end of one of them in the same produce: the claimed insert and the
// transition share the batch's transaction, and the reservations confirm.
func TestWriterAppliesTransitionsOfBackedOrders(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	sale, _ := f.heldEvents(0)
	if _, err := f.ledger.UpsertSale(ctx, order.SaleSpec{ID: sale, Name: "held", Stock: 10, PerUserLimit: 5, HoldSeconds: 600,
		StartsAt: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stacktest.DeleteSale(f.redis, sale) })
	var evs []order.OrderPlaced
	for _, key := range []string{"k1", "k2"} {
		res, err := f.ledger.Reserve(ctx, order.Request{SaleID: sale, UserID: "u-" + key, IdempotencyKey: key, Quantity: 2})
		if err != nil || res.Err != nil {
			t.Fatalf("reserve: %v %v", err, res.Err)
		}
		if res.Order.ExpiresAt == nil {
			t.Fatalf("reserved order %+v has no window", res.Order)
		}
		evs = append(evs, order.NewOrderPlaced(res.Order))
	}
	f.start(f.config())
	v0, _ := evs[0].Encode()
	v1, _ := evs[1].Encode()
	f.produceRaw(&kgo.Record{Key: []byte(evs[0].OrderID), Value: v0}, transitionRecord(t, end(evs[1], order.HoldCancelled)),
		&kgo.Record{Key: []byte(evs[1].OrderID), Value: v1})
	f.waitRows(sale, 2, time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, err := f.ledger.Order(ctx, evs[0].OrderID)
		if err == nil && o.Status == order.StatusConfirmed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reservation reads %+v (err %v), want confirmed", o, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.wantUnits(sale, 2, 2)
	if got := f.statuses(evs); got[order.StatusCancelled] != 1 || got[order.StatusConfirmed] != 1 {
		t.Errorf("statuses %v, want 1 cancelled, 1 held (confirmed)", got)
	}
}
