package reservation_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
)

// TestLedgerBytesPerRequest measures what one order request leaves in Redis
// for the idempotency TTL, on a private redis-server: the numbers the memory
// budget of docs/operations.md ("Redis memory") is computed from. It fails
// when the key layout grows past that budget, so the documentation has to
// follow.
func TestLedgerBytesPerRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a private Redis with 20,000 orders")
	}
	const (
		n = 10000
		// docs/operations.md, "Redis memory": the figures the budget uses.
		maxAccepted = 800 // idempotency record + reservation hash + the buyer's count (683 measured)
		maxRecord   = 300 // idempotency record of a remembered rejection (224 measured)
	)
	ctx := context.Background()
	srv := newOOMServer(t)
	srv.setMax(t, "0")
	// No rate limit: its windows live a minute, not the idempotency TTL.
	store, err := reservation.New(srv.rdb, reservation.Config{IdempotencyTTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.UpsertSale(ctx, order.SaleSpec{ID: "mem", Name: "mem", Stock: 10 * n, PerUserLimit: 1,
		StartsAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	measure := func(name string, user func(i int) string, want func(order.Reservation) bool) float64 {
		t.Helper()
		used0, _ := srv.memory(t)
		for i := range n {
			req := order.Request{SaleID: "mem", UserID: user(i), IdempotencyKey: name + "-" + strconv.Itoa(i), Quantity: 1}
			res, err := store.Reserve(ctx, req)
			if err != nil || !want(res) {
				t.Fatalf("%s %d: got %+v, %v", name, i, res, err)
			}
			if res.Err == nil { // as the API does once Kafka acknowledged it
				if err := store.Ack(ctx, "mem", res.Order.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		used1, _ := srv.memory(t)
		per := float64(used1-used0) / n
		t.Logf("%s: %.0f bytes per request (used_memory %d -> %d over %d requests)", name, per, used0, used1, n)
		return per
	}
	buyer := func(i int) string { return "user-" + strconv.Itoa(100000+i) }
	accepted := measure("accepted", buyer, func(r order.Reservation) bool { return r.Err == nil && !r.Replayed })
	limit := measure("limit", buyer, func(r order.Reservation) bool { return order.CodeOf(r.Err) == order.CodePurchaseLimit })
	if accepted > maxAccepted {
		t.Errorf("an accepted order keeps %.0f bytes, want at most %d (update the budget in docs/operations.md)", accepted, maxAccepted)
	}
	if limit > maxRecord {
		t.Errorf("a remembered rejection keeps %.0f bytes, want at most %d (update the budget in docs/operations.md)", limit, maxRecord)
	}
}
