package reservation_test

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/testkit/ledgerkeys"
)

// The checkout window's ledger (hold.lua) against the real Redis: payment,
// cancellation and expiry of held orders, and the races between them.

// holdDB is the Redis database of the checkout window's tests: an order-api
// running on the stack (go tool task run) sweeps every sale of database 0
// for due holds, and would win the races these tests time.
const holdDB = 9

func newHoldFixture(tb testing.TB) *fixture { return newFixtureOn(tb, holdDB) }

func withHold(secs int64) func(*order.SaleSpec) {
	return func(s *order.SaleSpec) { s.HoldSeconds = secs }
}

// tally is a sale's unit counts as the sale hash keeps them.
type tally struct{ remaining, held, paid, expired, cancelled, users int64 }

func (f *fixture) tally(tb testing.TB, sale string) tally {
	tb.Helper()
	ctx := context.Background()
	v, err := f.rdb.Do(ctx, f.rdb.B().Hmget().Key(ledgerkeys.Sale(sale)).
		Field("remaining", "held", "paid", "expired", "cancelled").Build()).ToArray()
	if err != nil {
		tb.Fatal(err)
	}
	n := make([]int64, len(v))
	for i, x := range v {
		s, _ := x.ToString()
		n[i], _ = strconv.ParseInt(s, 10, 64)
	}
	users, err := f.rdb.Do(ctx, f.rdb.B().Hvals().Key(ledgerkeys.Users(sale)).Build()).AsStrSlice()
	if err != nil {
		tb.Fatal(err)
	}
	var held int64
	for _, u := range users {
		q, _ := strconv.ParseInt(u, 10, 64)
		held += q
	}
	return tally{remaining: n[0], held: n[1], paid: n[2], expired: n[3], cancelled: n[4], users: held}
}

func pay(f *fixture, o order.Order, key, ref string) (order.Order, error) {
	return f.store.Pay(context.Background(), order.Payment{OrderID: o.ID, UserID: o.UserID, IdempotencyKey: key, Ref: ref})
}

func TestHoldPay(t *testing.T) {
	f := newHoldFixture(t)
	sale := f.newSale(t, 10, 2, withHold(60))
	o := f.mustAccept(t, sale, "ann", "k1", 2)
	if o.Hold != order.HoldHeld || o.ExpiresAt == nil || time.Until(*o.ExpiresAt) < 55*time.Second {
		t.Fatalf("accepted order %+v, want held for about 60 s", o)
	}
	if got := f.tally(t, sale); got != (tally{remaining: 8, held: 2, users: 2}) {
		t.Errorf("after the reservation: %+v", got)
	}
	if _, err := f.store.Pay(context.Background(), order.Payment{OrderID: o.ID, UserID: "bob", IdempotencyKey: "p", Ref: "r"}); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("someone else paying: %v, want not_found", err)
	}
	paid, err := pay(f, o, "p1", "psp-123")
	if err != nil || paid.Status != order.StatusPaid || paid.PaidAt == nil || paid.Hold != order.HoldPaid {
		t.Fatalf("pay = %+v, %v; want paid", paid, err)
	}
	// The payment's transition waits in the outbox until its event is acked.
	if un, err := f.store.Unacked(context.Background(), sale, o.ID); err != nil || !un {
		t.Errorf("after the payment: unacked %v, %v; want its transition in the outbox", un, err)
	}
	if ids, err := f.store.Ended(context.Background(), sale, time.Now().Add(time.Second), 10); err != nil || len(ids) != 1 || ids[0] != o.ID {
		t.Errorf("ended outbox %v, %v; want [%s]", ids, err, o.ID)
	}
	if err := f.store.AckEnded(context.Background(), sale, o.ID); err != nil {
		t.Fatal(err)
	}
	if un, _ := f.store.Unacked(context.Background(), sale, o.ID); un {
		t.Error("acked transition still in the outbox")
	}
	if again, err := pay(f, o, "p1", "psp-123"); err != nil || again.Status != order.StatusPaid || !again.PaidAt.Equal(*paid.PaidAt) {
		t.Errorf("same key, same body: %+v, %v; want the same paid order", again, err)
	}
	if _, err := pay(f, o, "p1", "psp-999"); !errors.Is(err, order.ErrIdempotencyKeyReused) {
		t.Errorf("same key, another reference: %v, want idempotency_key_reused", err)
	}
	if again, err := pay(f, o, "p2", "psp-123"); err != nil || again.Status != order.StatusPaid {
		t.Errorf("a new key on a paid order: %+v, %v; want it paid", again, err)
	}
	if _, err := f.store.Cancel(context.Background(), o.ID, "ann"); !errors.Is(err, order.ErrOrderPaid) {
		t.Errorf("cancel after payment: %v, want order_paid", err)
	}
	if got := f.tally(t, sale); got != (tally{remaining: 8, paid: 2, users: 2}) {
		t.Errorf("after the payment: %+v", got)
	}
	if e, err := f.store.ExpireDue(context.Background(), sale, 100); err != nil || len(e.Orders) != 0 {
		t.Errorf("expiry after payment: %+v, %v; want nothing", e, err)
	}
	read, err := f.store.Order(context.Background(), o.ID)
	if err != nil || read.Status != order.StatusPaid || read.ExpiresAt == nil || read.PaidAt == nil {
		t.Errorf("read back: %+v, %v", read, err)
	}
}

func TestHoldCancelReturnsUnitsAndAllowance(t *testing.T) {
	f := newHoldFixture(t)
	sale := f.newSale(t, 3, 2, withHold(60))
	o := f.mustAccept(t, sale, "cat", "k1", 2)
	if res := f.reserve(t, sale, "cat", "k2", 1); !errors.Is(res.Err, order.ErrPurchaseLimit) {
		t.Fatalf("third unit for cat: %v, want the per-user limit", res.Err)
	}
	if _, err := f.store.Cancel(context.Background(), o.ID, "dan"); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("someone else cancelling: %v, want not_found", err)
	}
	c, err := f.store.Cancel(context.Background(), o.ID, "cat")
	if err != nil || c.Status != order.StatusCancelled {
		t.Fatalf("cancel = %+v, %v; want cancelled", c, err)
	}
	if un, _ := f.store.Unacked(context.Background(), sale, o.ID); !un {
		t.Error("the cancellation's transition is not in the outbox")
	}
	if again, err := f.store.Cancel(context.Background(), o.ID, "cat"); err != nil || again.Status != order.StatusCancelled {
		t.Errorf("cancel again: %+v, %v; want cancelled again", again, err)
	}
	if got := f.tally(t, sale); got != (tally{remaining: 3, cancelled: 2}) {
		t.Errorf("after the cancellation: %+v, want every unit back", got)
	}
	if _, err := pay(f, o, "p1", "r"); !errors.Is(err, order.ErrOrderCancelled) {
		t.Errorf("pay after cancel: %v, want order_cancelled", err)
	}
	// The allowance came back too: cat may buy two again.
	f.mustAccept(t, sale, "cat", "k3", 2)
}

func TestHoldExpires(t *testing.T) {
	f := newHoldFixture(t)
	sale := f.newSale(t, 5, 5, withHold(1))
	o := f.mustAccept(t, sale, "eve", "k1", 3)
	if e, err := f.store.ExpireDue(context.Background(), sale, 100); err != nil || len(e.Orders) != 0 {
		t.Fatalf("expiry before the window ends: %+v, %v; want nothing", e, err)
	}
	time.Sleep(time.Until(*o.ExpiresAt) + 20*time.Millisecond)
	e, err := f.store.ExpireDue(context.Background(), sale, 100)
	if err != nil || len(e.Orders) != 1 || e.Lateness < 0 || e.Lateness > time.Second {
		t.Fatalf("expiry after the window: %+v, %v; want one, a little late", e, err)
	}
	if un, _ := f.store.Unacked(context.Background(), sale, o.ID); !un || e.Orders[0] != o.ID {
		t.Errorf("expired %v, unacked %v: want %s's transition in the outbox", e.Orders, un, o.ID)
	}
	if e, _ := f.store.ExpireDue(context.Background(), sale, 100); len(e.Orders) != 0 {
		t.Errorf("a second sweep expired %v again", e.Orders)
	}
	if got := f.tally(t, sale); got != (tally{remaining: 5, expired: 3}) {
		t.Errorf("after the expiry: %+v, want every unit back once", got)
	}
	if _, err := pay(f, o, "p1", "r"); !errors.Is(err, order.ErrOrderExpired) {
		t.Errorf("pay after expiry: %v, want order_expired", err)
	}
	if _, err := f.store.Cancel(context.Background(), o.ID, "eve"); !errors.Is(err, order.ErrOrderExpired) {
		t.Errorf("cancel after expiry: %v, want order_expired", err)
	}
	if read, err := f.store.Order(context.Background(), o.ID); err != nil || read.Status != order.StatusExpired {
		t.Errorf("read back: %+v, %v; want expired", read, err)
	}
}

// A payment that arrives after the window lost even if no sweep ran yet:
// it expires the hold itself.
func TestHoldLatePaymentExpiresIt(t *testing.T) {
	f := newHoldFixture(t)
	sale := f.newSale(t, 5, 5, withHold(1))
	o := f.mustAccept(t, sale, "fay", "k1", 1)
	time.Sleep(time.Until(*o.ExpiresAt) + 20*time.Millisecond)
	if _, err := pay(f, o, "p1", "r"); !errors.Is(err, order.ErrOrderExpired) {
		t.Fatalf("late pay: %v, want order_expired", err)
	}
	if got := f.tally(t, sale); got != (tally{remaining: 5, expired: 1}) {
		t.Errorf("after the late payment: %+v", got)
	}
}

func TestHoldWithoutWindow(t *testing.T) {
	f := newHoldFixture(t)
	sale := f.newSale(t, 5, 5)
	o := f.mustAccept(t, sale, "gus", "k1", 1)
	if o.ExpiresAt != nil || o.Hold != order.HoldNone {
		t.Errorf("order of a sale without a window: %+v, want no hold", o)
	}
	if _, err := pay(f, o, "p1", "r"); !errors.Is(err, order.ErrPaymentNotRequired) {
		t.Errorf("pay: %v, want payment_not_required", err)
	}
	if _, err := f.store.Cancel(context.Background(), o.ID, "gus"); !errors.Is(err, order.ErrPaymentNotRequired) {
		t.Errorf("cancel: %v, want payment_not_required (the order is final)", err)
	}
}

// A held order released after a failed publish gives its units back once,
// even when its hold had already expired.
func TestHoldReleaseReturnsUnitsOnce(t *testing.T) {
	f := newHoldFixture(t)
	sale := f.newSale(t, 5, 5, withHold(1))
	live := f.mustAccept(t, sale, "hal", "k1", 1)
	due := f.mustAccept(t, sale, "ida", "k1", 2)
	if err := f.store.Release(context.Background(), live, order.ReleasePublishFailed); err != nil {
		t.Fatal(err)
	}
	if got := f.tally(t, sale); got != (tally{remaining: 3, held: 2, users: 2}) {
		t.Errorf("after releasing a live hold: %+v", got)
	}
	time.Sleep(time.Until(*due.ExpiresAt) + 20*time.Millisecond)
	if e, err := f.store.ExpireDue(context.Background(), sale, 100); err != nil || len(e.Orders) != 1 {
		t.Fatalf("expiry: %+v, %v; want the live one only", e, err)
	}
	if err := f.store.Release(context.Background(), due, order.ReleasePublishFailed); err != nil {
		t.Fatal(err)
	}
	if got := f.tally(t, sale); got != (tally{remaining: 5, expired: 2}) {
		t.Errorf("after releasing an expired hold: %+v, want its units back once", got)
	}
	if _, err := pay(f, live, "p1", "r"); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("pay of a released order: %v, want not_found", err)
	}
}

// 1,000 payments race 1,000 expiries, each at its order's deadline, with two
// sweepers running: every order ends exactly one way, the payment's answer
// says which, and the units are counted once.
func TestHoldPayExpiryRaces(t *testing.T) {
	const n = 1000
	f := newHoldFixture(t)
	sale := f.newSale(t, n, 1, withHold(1))
	orders := reserveMany(t, f, sale, n)
	ctx, stop := context.WithCancel(context.Background())
	var sweepers sync.WaitGroup
	for range 2 {
		sweepers.Go(func() {
			for ctx.Err() == nil {
				if _, err := f.store.ExpireDue(context.Background(), sale, 200); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	paidOK := make([]bool, n)
	var payers sync.WaitGroup
	for i, o := range orders {
		payers.Go(func() {
			// Pay within 30 ms either side of the deadline.
			time.Sleep(time.Until(o.ExpiresAt.Add(time.Duration(mrand.IntN(60)-30) * time.Millisecond)))
			_, err := pay(f, o, "pay-"+o.UserID, "ref")
			switch {
			case err == nil:
				paidOK[i] = true
			case errors.Is(err, order.ErrOrderExpired):
			default:
				t.Errorf("pay %s: %v", o.ID, err)
			}
		})
	}
	payers.Wait()
	time.Sleep(50 * time.Millisecond)
	stop()
	sweepers.Wait()
	// Whatever is still held (a payer that lost track) expires now.
	for {
		e, err := f.store.ExpireDue(context.Background(), sale, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(e.Orders) == 0 {
			break
		}
	}
	var paid, expired int64
	for i, o := range orders {
		got, err := f.store.Order(context.Background(), o.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case got.Status == order.StatusPaid && paidOK[i]:
			paid++
		case got.Status == order.StatusExpired && !paidOK[i]:
			expired++
		default:
			t.Errorf("%s: status %s, payment answered ok=%v", o.ID, got.Status, paidOK[i])
		}
	}
	want := tally{remaining: n - paid, paid: paid, expired: expired, users: paid}
	if got := f.tally(t, sale); got != want || paid+expired != n {
		t.Errorf("units %+v, want %+v (paid %d + expired %d = %d)", got, want, paid, expired, n)
	}
	if paid == 0 || expired == 0 {
		t.Errorf("paid %d expired %d: the race never went both ways", paid, expired)
	}
	t.Logf("%d paid, %d expired", paid, expired)
}

// 1,000 payments race 1,000 cancellations of the same orders: exactly one
// wins each, the loser's answer names the winner, the units count once.
func TestHoldPayCancelRaces(t *testing.T) {
	const n = 1000
	f := newHoldFixture(t)
	sale := f.newSale(t, n, 1, withHold(600))
	orders := reserveMany(t, f, sale, n)
	type result struct{ payErr, cancelErr error }
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, o := range orders {
		wg.Go(func() {
			<-start
			_, results[i].payErr = pay(f, o, "pay-"+o.UserID, "ref")
		})
		wg.Go(func() {
			<-start
			_, results[i].cancelErr = f.store.Cancel(context.Background(), o.ID, o.UserID)
		})
	}
	close(start)
	wg.Wait()
	var paid, cancelled int64
	for i, o := range orders {
		r := results[i]
		got, err := f.store.Order(context.Background(), o.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case r.payErr == nil && errors.Is(r.cancelErr, order.ErrOrderPaid) && got.Status == order.StatusPaid:
			paid++
		case r.cancelErr == nil && errors.Is(r.payErr, order.ErrOrderCancelled) && got.Status == order.StatusCancelled:
			cancelled++
		default:
			t.Errorf("%s: pay %v, cancel %v, status %s: want exactly one winner", o.ID, r.payErr, r.cancelErr, got.Status)
		}
	}
	want := tally{remaining: n - paid, paid: paid, cancelled: cancelled, users: paid}
	if got := f.tally(t, sale); got != want || paid+cancelled != n {
		t.Errorf("units %+v, want %+v", got, want)
	}
	t.Logf("%d paid, %d cancelled", paid, cancelled)
}

// reserveMany accepts n orders of one unit, one per buyer, at once.
func reserveMany(t *testing.T, f *fixture, sale string, n int) []order.Order {
	t.Helper()
	orders := make([]order.Order, n)
	var wg sync.WaitGroup
	for i := range orders {
		wg.Go(func() {
			res, err := f.store.Reserve(context.Background(), order.Request{SaleID: sale, UserID: fmt.Sprintf("u%d", i), IdempotencyKey: "k", Quantity: 1})
			if err != nil || res.Err != nil {
				t.Errorf("reserve %d: %v %v", i, err, res.Err)
				return
			}
			orders[i] = res.Order
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return orders
}

// A sale rebuilt from PostgreSQL gets its holds back: a held order holds
// until its expires_at again and can be paid or expire, a paid one stays
// paid; the units count as they did.
func TestRestoreKeepsHolds(t *testing.T) {
	f := newHoldFixture(t)
	ctx := context.Background()
	sale := f.newSale(t, 10, 5, withHold(60))
	spec := order.SaleSpec{ID: sale, Name: "test sale", Stock: 10, PerUserLimit: 5, StartsAt: time.Now().Add(-time.Hour), HoldSeconds: 60}
	live := f.mustAccept(t, sale, "ann", "k1", 2)
	paidOrder := f.mustAccept(t, sale, "bob", "k1", 3)
	paid, err := pay(f, paidOrder, "p1", "psp")
	if err != nil {
		t.Fatal(err)
	}
	due := f.mustAccept(t, sale, "cat", "k1", 1)
	past := time.Now().Add(-time.Second)
	persisted := []order.Order{live, paid, due}
	persisted[2].ExpiresAt = &past // its window ended while Redis was gone

	stacktest.DeleteSale(f.rdb, sale)
	if err := f.store.Restore(ctx, spec, persisted, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := f.tally(t, sale); got != (tally{remaining: 4, held: 3, paid: 3, users: 6}) {
		t.Errorf("after the rebuild: %+v", got)
	}
	if s := f.sale(t, sale); s.HoldSeconds != 60 {
		t.Errorf("rebuilt sale's window %d, want 60", s.HoldSeconds)
	}
	if e, err := f.store.ExpireDue(ctx, sale, 10); err != nil || len(e.Orders) != 1 || e.Orders[0] != due.ID {
		t.Errorf("sweep after the rebuild: %+v, %v; want the due hold expired", e, err)
	}
	if got, err := pay(f, live, "p1", "psp-ann"); err != nil || got.Status != order.StatusPaid {
		t.Errorf("paying the restored hold: %+v, %v", got, err)
	}
	if got, err := f.store.Order(ctx, paid.ID); err != nil || got.Status != order.StatusPaid {
		t.Errorf("the paid order after the rebuild: %+v, %v", got, err)
	}
	if got := f.tally(t, sale); got != (tally{remaining: 5, paid: 5, expired: 1, users: 5}) {
		t.Errorf("at the end: %+v", got)
	}
}

// A payment's span links to the trace of its order's request (kept on the
// held order when that request was sampled).
func TestPaymentSpanLinksToTheOrder(t *testing.T) {
	f := newHoldFixture(t)
	sale := f.newSale(t, 5, 5, withHold(60))
	rec := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test")

	ctx, orderSpan := tracer.Start(context.Background(), "POST order")
	res, err := f.store.Reserve(ctx, order.Request{SaleID: sale, UserID: "lin", IdempotencyKey: "k1", Quantity: 1})
	orderSpan.End()
	if err != nil || res.Err != nil {
		t.Fatalf("reserve: %+v %v", res, err)
	}
	ctx, paySpan := tracer.Start(context.Background(), "POST payment")
	if _, err := f.store.Pay(ctx, order.Payment{OrderID: res.Order.ID, UserID: "lin", IdempotencyKey: "p", Ref: "r"}); err != nil {
		t.Fatal(err)
	}
	paySpan.End()
	var links []sdktrace.Link
	for _, s := range rec.Ended() {
		if s.Name() == "POST payment" {
			links = s.Links()
		}
	}
	if len(links) != 1 || links[0].SpanContext.TraceID() != orderSpan.SpanContext().TraceID() {
		t.Errorf("payment span links %+v, want one to the order's trace %s", links, orderSpan.SpanContext().TraceID())
	}
}
