package writer_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/services/internal/writer"
	"github.com/blitzbuy/blitzbuy/testkit"
)

// 50,000 events through the real broker land as 50,000 rows; the same events
// published again (relay re-publish, redelivery) still give 50,000 rows.
func TestWriterPersistsEveryEventOnce(t *testing.T) {
	const n = 50_000
	f := newFixture(t, 12)
	sale, evs := f.events(n)
	w, _ := f.start(f.config())

	f.produce(evs)
	f.waitRows(sale, n, 3*time.Minute)
	f.waitLagZero(w, time.Minute)

	f.produce(evs) // every event a second time
	f.waitLagZero(w, 3*time.Minute)
	if orders, units, err := f.pg.Persisted(context.Background(), sale); err != nil || orders != n || units != n {
		t.Errorf("after publishing every event twice: %d orders / %d units persisted (err %v), want %d / %d", orders, units, err, n, n)
	}
}

// A malformed record and one with an unknown schema version between good
// ones: the two go to the DLQ with their reasons, the good ones are persisted,
// and the partition keeps moving (lag returns to 0).
func TestWriterDeadLettersPoisonRecords(t *testing.T) {
	f := newFixture(t, 1) // one partition: the poison sits between the good records
	sale, evs := f.events(4)
	w, _ := f.start(f.config())

	good := func(e order.OrderPlaced) *kgo.Record {
		v, _ := e.Encode()
		return &kgo.Record{Key: []byte(e.OrderID), Value: v}
	}
	malformed := &kgo.Record{Key: []byte("bad-1"), Value: []byte(`{"schema_version":1,"order_id":`)}
	v2 := &kgo.Record{Key: []byte("bad-2"), Value: []byte(`{"schema_version":2,"order_id":"x","sale_id":"` + sale + `"}`)}
	f.produceRaw(good(evs[0]), malformed, good(evs[1]), v2, good(evs[2]), good(evs[3]))

	f.waitRows(sale, 4, time.Minute)
	f.waitLagZero(w, time.Minute)
	dlq := f.dlqRecords(2, 30*time.Second)
	if len(dlq) != 2 {
		t.Fatalf("%d records in the DLQ, want 2", len(dlq))
	}
	wantReason := map[string]string{"bad-1": writer.ReasonMalformed, "bad-2": writer.ReasonUnknownSchema}
	for _, r := range dlq {
		h := map[string]string{}
		for _, hd := range r.Headers {
			h[hd.Key] = string(hd.Value)
		}
		key := string(r.Key)
		if h[writer.HeaderReason] != wantReason[key] {
			t.Errorf("%s: reason %q, want %q", key, h[writer.HeaderReason], wantReason[key])
		}
		if h[writer.HeaderError] == "" || h[writer.HeaderSourceTopic] != f.topic || h[writer.HeaderSourcePartition] != "0" ||
			h[writer.HeaderAttempts] == "" || h[writer.HeaderFirstFailure] == "" {
			t.Errorf("%s: incomplete DLQ headers %v", key, h)
		}
		if off, err := strconv.Atoi(h[writer.HeaderSourceOffset]); err != nil || off < 0 {
			t.Errorf("%s: source offset %q", key, h[writer.HeaderSourceOffset])
		}
	}
}

// A valid order the database refuses for good (here: a second order id for a
// (sale, user, Idempotency-Key) that already has one) is dead-lettered and
// compensated: its stock is back in Redis and the order reads failed.
func TestWriterCompensatesRejectedOrders(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	sale := "wtc-" + testkit.RandHex(4)
	if _, err := f.ledger.UpsertSale(ctx, order.SaleSpec{ID: sale, Name: "saga", Stock: 10, PerUserLimit: 5, StartsAt: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = f.pool.Exec(context.Background(), `DELETE FROM orders WHERE sale_id = $1`, sale)
		_, _ = f.pool.Exec(context.Background(), `DELETE FROM sale_totals WHERE sale_id = $1`, sale)
		stacktest.DeleteSale(f.redis, sale)
	})
	reserve := func(key string) order.Order {
		res, err := f.ledger.Reserve(ctx, order.Request{SaleID: sale, UserID: "u1", IdempotencyKey: key, Quantity: 2})
		if err != nil || res.Err != nil {
			t.Fatalf("reserve: %v %v", err, res.Err)
		}
		return res.Order
	}
	a, b := reserve("key-a"), reserve("key-b")
	evA, evB := order.NewOrderPlaced(a), order.NewOrderPlaced(b)
	evB.IdempotencyKey = evA.IdempotencyKey // collides with A on (sale, user, key)
	cfg := f.config()
	cfg.Pipelines = 1 // which of two colliding orders wins is decided by insert order
	f.start(cfg)
	f.produce([]order.OrderPlaced{evA, evB})

	f.waitRows(sale, 1, time.Minute)
	dlq := f.dlqRecords(1, 30*time.Second)
	if len(dlq) != 1 || string(dlq[0].Key) != b.ID {
		t.Fatalf("DLQ holds %d records, want order %s", len(dlq), b.ID)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ob, err := f.ledger.Order(ctx, b.ID)
		s, serr := f.ledger.Sale(ctx, sale, time.Now())
		if err == nil && serr == nil && ob.Status == order.StatusFailed && s.Remaining == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order B %+v (err %v), remaining %d (err %v): want failed and remaining 8 (A's 2 held, B's 2 back)", ob, err, s.Remaining, serr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if oa, err := f.pg.Order(ctx, a.ID); err != nil || oa.Status != order.StatusConfirmed {
		t.Errorf("order A in postgres: %+v (err %v), want confirmed", oa, err)
	}
	if st, err := f.ledger.Stage(ctx, a.ID); err != nil || st != order.StageConfirmed {
		t.Errorf("order A's reservation stage %q (err %v), want confirmed", st, err)
	}
}

// An order whose API released it after a failed publish (the client heard
// 503) but whose event reached Kafka anyway must not be persisted: that
// would sell stock the ledger gave back.
func TestWriterSkipsReleasedReservations(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	sale := "wtr-" + testkit.RandHex(4)
	if _, err := f.ledger.UpsertSale(ctx, order.SaleSpec{ID: sale, Name: "late", Stock: 5, PerUserLimit: 1, StartsAt: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stacktest.DeleteSale(f.redis, sale) })
	res, err := f.ledger.Reserve(ctx, order.Request{SaleID: sale, UserID: "late", IdempotencyKey: "k", Quantity: 1})
	if err != nil || res.Err != nil {
		t.Fatal(err, res.Err)
	}
	if err := f.ledger.Release(ctx, res.Order, order.ReleasePublishFailed); err != nil {
		t.Fatal(err)
	}
	_, evs := f.events(1) // a normal order after it, to know when the batch is done
	w, _ := f.start(f.config())
	f.produce([]order.OrderPlaced{order.NewOrderPlaced(res.Order), evs[0]})
	f.waitRows(evs[0].SaleID, 1, time.Minute)
	f.waitLagZero(w, time.Minute)
	if _, err := f.pg.Order(ctx, res.Order.ID); err != order.ErrNotFound {
		t.Errorf("released order persisted (err %v), want not found", err)
	}
	if s, _ := f.ledger.Sale(ctx, sale, time.Now()); s.Remaining != 5 {
		t.Errorf("remaining %d, want 5", s.Remaining)
	}
}

var _ = fmt.Sprint

// Events no reservation backs (Redis lost them, or a replay or a forgery)
// are persisted only where the sale's durable definition vouches for them;
// the rest go to the DLQ with reason unvouched, and nothing is oversold.
func TestWriterPersistsOnlyWhatTheDurableLedgerVouchesFor(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	sale, evs := f.events(4) // defined with room for them all; tightened below
	if _, _, err := f.pg.PutSale(ctx, order.SaleSpec{ID: sale, Name: "vouch", Stock: 2, PerUserLimit: 1, StartsAt: time.Now().Add(-time.Hour)}, "test:writer"); err != nil {
		t.Fatal(err)
	}
	evs[1].UserID = evs[0].UserID // a second order of u0: past the per-user limit of 1
	evs[1].IdempotencyKey = "k2"
	unknown, orphan := f.events(1)
	if _, err := f.pool.Exec(ctx, `DELETE FROM sales WHERE sale_id = $1`, unknown); err != nil {
		t.Fatal(err)
	}
	w, _ := f.start(f.config())
	f.produce(append(evs, orphan...))

	// evs[0] and evs[2] fit; evs[1] is u0's second, evs[3] the third unit of 2.
	f.waitRows(sale, 2, time.Minute)
	f.waitLagZero(w, time.Minute)
	dlq := f.dlqRecords(3, 30*time.Second)
	want := map[string]bool{evs[1].OrderID: true, evs[3].OrderID: true, orphan[0].OrderID: true}
	if len(dlq) != 3 {
		t.Fatalf("%d records in the DLQ, want 3 (u0's second order, the unit past the stock, the unknown sale's)", len(dlq))
	}
	for _, r := range dlq {
		h := map[string]string{}
		for _, hd := range r.Headers {
			h[hd.Key] = string(hd.Value)
		}
		if !want[string(r.Key)] || h[writer.HeaderReason] != writer.ReasonUnvouched || h[writer.HeaderError] == "" {
			t.Errorf("DLQ record %s: reason %q error %q, want one of %v with reason unvouched", r.Key, h[writer.HeaderReason], h[writer.HeaderError], want)
		}
	}
	if n := f.rows(sale); n != 2 {
		t.Errorf("%d rows persisted for a stock of 2", n)
	}
	if n := f.rows(unknown); n != 0 {
		t.Errorf("%d rows persisted for a sale with no durable definition, want 0", n)
	}
}
