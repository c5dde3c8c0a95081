package checkout_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/blitzbuy/blitzbuy/services/internal/checkout"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
)

// endedLog records the transition events it is asked to publish; fail makes
// it refuse them (the broker is down).
type endedLog struct {
	mu   sync.Mutex
	got  []order.Order
	fail bool
}

func (l *endedLog) PublishEnded(_ context.Context, o order.Order) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail {
		return errors.New("broker unreachable (injected)")
	}
	l.got = append(l.got, o)
	return nil
}

func (l *endedLog) events() []order.Order {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]order.Order(nil), l.got...)
}

func (l *endedLog) setFail(v bool) { l.mu.Lock(); l.fail = v; l.mu.Unlock() }

// holdDB keeps these tests' holds from an order-api running on the stack,
// whose sweeper expires every due hold of database 0.
const holdDB = 9

// heldSale switches f to a store on holdDB and creates a sale there with a
// window of hold seconds.
func heldSale(t *testing.T, f *fixture, hold int64) string {
	t.Helper()
	rdb, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{f.env.RedisAddr}, SelectDB: holdDB})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rdb.Close)
	if f.store, err = reservation.New(rdb, reservation.Config{IdempotencyTTL: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	f.rdb = rdb
	sale := f.sale + "-h"
	if _, err := f.store.UpsertSale(context.Background(), order.SaleSpec{ID: sale, Name: "hold test", Stock: 100, PerUserLimit: 5,
		StartsAt: time.Now().Add(-time.Minute), HoldSeconds: hold}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stacktest.DeleteSale(f.rdb, sale) })
	return sale
}

// onlySale scopes the sweeper and the relay to one sale: other tests' sales
// in the shared Redis are theirs to expire.
type onlySale struct {
	checkout.HoldLedger
	sale string
}

func (o onlySale) SaleIDs(context.Context) ([]string, error) { return []string{o.sale}, nil }

func held(t *testing.T, f *fixture, sale, user string) order.Order {
	t.Helper()
	res, err := f.store.Reserve(context.Background(), order.Request{SaleID: sale, UserID: user, IdempotencyKey: "k-" + user, Quantity: 1})
	if err != nil || res.Err != nil || res.Order.Hold != order.HoldHeld {
		t.Fatalf("reserve: %+v %v", res, err)
	}
	return res.Order
}

// A payment is answered once its OrderPaid is published and acknowledged;
// when the broker refuses, the buyer hears an error, the payment stands and
// its event waits in the outbox: the retry (same key) publishes it, and so
// would the relay.
func TestHoldsPayPublishesBeforeAnswering(t *testing.T) {
	f := newFixture(t)
	sale := heldSale(t, f, 60)
	pub := &endedLog{}
	h := checkout.NewHolds(f.store, pub, quietLog())
	ctx := context.Background()

	o := held(t, f, sale, "ann")
	paid, err := h.Pay(ctx, order.Payment{OrderID: o.ID, UserID: "ann", IdempotencyKey: "p1", Ref: "psp-1"})
	if err != nil || paid.Status != order.StatusPaid {
		t.Fatalf("pay = %+v, %v", paid, err)
	}
	if ev := pub.events(); len(ev) != 1 || ev[0].ID != o.ID || ev[0].Hold != order.HoldPaid || ev[0].PaymentRef != "psp-1" || ev[0].EndedAt == nil {
		t.Errorf("published %+v, want one OrderPaid of %s with its reference and time", ev, o.ID)
	}
	if un, _ := f.store.Unacked(ctx, sale, o.ID); un {
		t.Error("the published transition is still in the outbox")
	}

	pub.setFail(true)
	b := held(t, f, sale, "bob")
	if _, err := h.Pay(ctx, order.Payment{OrderID: b.ID, UserID: "bob", IdempotencyKey: "p1", Ref: "psp-2"}); err == nil || order.CodeOf(err) != order.CodeInternal {
		t.Fatalf("pay with the broker down: %v, want an infrastructure error (503)", err)
	}
	if un, _ := f.store.Unacked(ctx, sale, b.ID); !un {
		t.Fatal("the unpublished transition left the outbox")
	}
	pub.setFail(false)
	if again, err := h.Pay(ctx, order.Payment{OrderID: b.ID, UserID: "bob", IdempotencyKey: "p1", Ref: "psp-2"}); err != nil || again.Status != order.StatusPaid {
		t.Fatalf("retry: %+v, %v; want paid", again, err)
	}
	if un, _ := f.store.Unacked(ctx, sale, b.ID); un {
		t.Error("the retry did not publish the transition")
	}
	// A paid order's replay publishes nothing more.
	n := len(pub.events())
	if _, err := h.Pay(ctx, order.Payment{OrderID: b.ID, UserID: "bob", IdempotencyKey: "p1", Ref: "psp-2"}); err != nil || len(pub.events()) != n {
		t.Errorf("replay: %v, %d events (want %d)", err, len(pub.events()), n)
	}
}

func TestHoldsCancelPublishes(t *testing.T) {
	f := newFixture(t)
	sale := heldSale(t, f, 60)
	pub := &endedLog{}
	h := checkout.NewHolds(f.store, pub, quietLog())
	o := held(t, f, sale, "cat")
	c, err := h.Cancel(context.Background(), o.ID, "cat")
	if err != nil || c.Status != order.StatusCancelled {
		t.Fatalf("cancel = %+v, %v", c, err)
	}
	if ev := pub.events(); len(ev) != 1 || ev[0].Hold != order.HoldCancelled {
		t.Errorf("published %+v, want one OrderCancelled", ev)
	}
}

// The sweeper expires what is due and publishes it; the relay publishes
// what a failed publish left in the outbox, once it is older than the
// threshold; a transition of an order gone from Redis is dropped.
func TestHoldsExpireAndRepublish(t *testing.T) {
	f := newFixture(t)
	sale := heldSale(t, f, 1)
	pub := &endedLog{}
	h := checkout.NewHolds(onlySale{f.store, sale}, pub, quietLog())
	ctx := context.Background()
	a, b := held(t, f, sale, "dan"), held(t, f, sale, "eve")
	time.Sleep(time.Until(*b.ExpiresAt) + 20*time.Millisecond)

	pub.setFail(true)
	if n, err := h.Expire(ctx, 100, nil); n < 2 || err == nil {
		t.Fatalf("sweep with the broker down: %d expired, err %v; want both expired and an error", n, err)
	}
	for _, o := range []order.Order{a, b} {
		if got, _ := f.store.Order(ctx, o.ID); got.Status != order.StatusExpired {
			t.Errorf("%s: %s, want expired", o.ID, got.Status)
		}
	}
	pub.setFail(false)
	if n, err := h.Republish(ctx, time.Hour, 100); err != nil || n != 0 {
		t.Errorf("relay before the threshold: %d, %v; want nothing yet", n, err)
	}
	if n, err := h.Republish(ctx, 0, 100); err != nil || n != 2 {
		t.Fatalf("relay past the threshold: %d, %v; want both", n, err)
	}
	for _, ev := range pub.events() {
		if ev.Hold != order.HoldExpired || ev.EndedAt == nil {
			t.Errorf("published %+v, want OrderExpired with its time", ev)
		}
	}
	if n, _ := h.Republish(ctx, 0, 100); n != 0 {
		t.Errorf("relay again: %d, want nothing left", n)
	}
}

// Through the real producer and broker: a payment's OrderPaid is on the
// orders topic, keyed by the order id, decodable by the writer's decoder.
func TestHoldsPayReachesKafka(t *testing.T) {
	f := newFixture(t)
	sale := heldSale(t, f, 60)
	tail := stacktest.NewTail(t, f.env, "orders")
	h := checkout.NewHolds(f.store, f.prod, quietLog())
	o := held(t, f, sale, "kim")
	if _, err := h.Pay(context.Background(), order.Payment{OrderID: o.ID, UserID: "kim", IdempotencyKey: "p1", Ref: "psp-kim"}); err != nil {
		t.Fatal(err)
	}
	var got *order.OrderTransition
	tail.Read(t, 30*time.Second, func(r *kgo.Record) {
		var typ string
		for _, hd := range r.Headers {
			if hd.Key == order.HeaderEventType {
				typ = string(hd.Value)
			}
		}
		if string(r.Key) != o.ID || !order.IsTransitionType(typ) {
			return
		}
		ev, err := order.DecodeTransition(typ, r.Value)
		if err != nil {
			t.Fatalf("decode %s: %v", r.Value, err)
		}
		got = &ev
	}, func() bool { return got != nil })
	if got == nil {
		t.Fatal("no OrderPaid on the topic within 30 s")
	}
	if got.Type != order.OrderPaidType || got.PaymentRef != "psp-kim" || got.Quantity != 1 || got.UserID != "kim" || got.At.IsZero() {
		t.Errorf("event %+v, want OrderPaid of kim's order with its reference", got)
	}
}
