package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
)

// TestOrderAtRedisMaxmemoryIs503AndRetrySucceeds: the real handler over a
// private Redis at its maxmemory (noeviction). The buyer hears 503
// unavailable with Retry-After, nothing is held, and the same
// Idempotency-Key is accepted once memory is free (docs/operations.md,
// "Redis memory").
func TestOrderAtRedisMaxmemoryIs503AndRetrySucceeds(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the stack's Kafka and PostgreSQL")
	}
	addr := stacktest.PrivateRedis(t, "--maxmemory", "64mb", "--maxmemory-policy", "noeviction")
	h := newHarness(t, harnessOpts{rateLimit: 5, redisAddr: addr}) // order-api's default rate limit
	ctx := context.Background()
	sale := h.newSale(10, 1)
	configSet := func(v string) {
		t.Helper()
		if err := h.Redis.Do(ctx, h.Redis.B().ConfigSet().ParameterValue().ParameterValue("maxmemory", v).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Redis.Do(ctx, h.Redis.B().Set().Key("filler").Value(strings.Repeat("x", 9<<20)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	configSet("8mb") // below what the server holds: Redis is at its limit
	before, err := h.Store.Counters(ctx, sale, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys := func() int64 {
		n, err := h.Redis.Do(ctx, h.Redis.B().Dbsize().Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	wantKeys := keys()

	r := h.placeOrder(sale, "alice", "at-the-limit", `{"quantity":1}`)
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("order at maxmemory: status %d %s, want 503", r.Status, r.Body)
	}
	if p := r.problem(t); p.Code != order.CodeUnavailable {
		t.Errorf("order at maxmemory: code %q, want %q", p.Code, order.CodeUnavailable)
	}
	if got := r.Header.Get("Retry-After"); got != "1" {
		t.Errorf("order at maxmemory: Retry-After %q, want 1", got)
	}
	if strings.Contains(string(r.Body), "OOM") || strings.Contains(string(r.Body), "maxmemory") {
		t.Errorf("order at maxmemory: body %s names the internal error", r.Body)
	}
	if after, err := h.Store.Counters(ctx, sale, time.Now()); err != nil || after != before {
		t.Errorf("counters after the 503: got %+v (%v), want %+v", after, err, before)
	}
	if got := keys(); got != wantKeys {
		t.Errorf("keys after the 503: got %d, want %d (nothing written)", got, wantKeys)
	}

	configSet("64mb")
	r = h.placeOrder(sale, "alice", "at-the-limit", `{"quantity":1}`)
	if r.Status != http.StatusAccepted {
		t.Fatalf("the same key once memory is free: status %d %s, want 202", r.Status, r.Body)
	}
	id := r.order(t).OrderID
	if after, err := h.Store.Counters(ctx, sale, time.Now()); err != nil || after.Remaining != before.Remaining-1 {
		t.Errorf("counters after the 202: got %+v (%v), want remaining %d", after, err, before.Remaining-1)
	}
	if got := h.published(map[string]bool{id: true}, 10*time.Second); len(got[id]) == 0 {
		t.Errorf("order %s: never published", id)
	}
}
