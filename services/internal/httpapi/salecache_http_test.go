package httpapi_test

import (
	"net/http"
	"testing"
	"time"
)

// Through the real handler and Redis: the public sale read is served from
// memory within the TTL, and the admin PUT makes the next read fresh.
func TestSaleReadCacheInvalidatedByAdminPut(t *testing.T) {
	h := newHarness(t, harnessOpts{saleCache: time.Minute}) // long: no timing in the test
	sale := h.newSale(10, 1)
	if got := h.sale(sale).Remaining; got != 10 {
		t.Fatalf("remaining %d, want 10", got)
	}
	if r := h.placeOrder(sale, "cache-buyer", "c-1", nil); r.Status != http.StatusAccepted {
		t.Fatalf("order: %d %s", r.Status, r.Body)
	}
	if got := h.sale(sale).Remaining; got != 10 {
		t.Errorf("remaining %d right after an order, want the cached 10", got)
	}
	if r := h.do("PUT", "/v1/admin/sales/"+sale, h.Admin, nil, map[string]any{"name": "renamed", "stock": 10, "per_user_limit": 1}); r.Status != http.StatusOK {
		t.Fatalf("admin PUT: %d %s", r.Status, r.Body)
	}
	if s := h.sale(sale); s.Remaining != 9 || s.Name != "renamed" {
		t.Errorf("after the admin PUT: remaining %d name %q, want a fresh read (9, renamed)", s.Remaining, s.Name)
	}
}
