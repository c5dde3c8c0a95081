package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/checkout"
	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/testkit"
)

// traceresponse is W3C's form with a non-zero trace id (an all-zero id would
// mean no tracer provider is installed and nothing could be looked up).
var traceresponse = regexp.MustCompile(`^00-(?:[0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$`)

func validTraceresponse(v string) bool {
	return traceresponse.MatchString(v) && v[3:35] != "00000000000000000000000000000000"
}

// One test per row of the contract table in docs/api.md.

func TestContractAdminSales(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	id := "adm-" + testkit.RandHex(4)
	t.Cleanup(func() { h.deleteSale(id) })
	body := map[string]any{"name": "Phone", "stock": 10, "per_user_limit": 2}

	tests := []struct {
		name       string
		bearer     string
		body       any
		wantStatus int
		wantCode   order.Code
	}{
		{"no token", "", body, http.StatusUnauthorized, order.CodeUnauthorized},
		{"user token is not admin", h.token("u1"), body, http.StatusForbidden, order.CodeForbidden},
		{"wrong admin token", "not-the-admin-token", body, http.StatusForbidden, order.CodeForbidden},
		{"create", h.Admin, body, http.StatusCreated, ""},
		{"update", h.Admin, map[string]any{"name": "Phone", "stock": 12, "per_user_limit": 2}, http.StatusOK, ""},
		{"missing stock", h.Admin, map[string]any{"name": "x", "per_user_limit": 1}, http.StatusBadRequest, order.CodeInvalidRequest},
		{"unknown field", h.Admin, map[string]any{"name": "x", "stock": 1, "per_user_limit": 1, "colour": "red"}, http.StatusBadRequest, order.CodeInvalidRequest},
		{"trailing data after the object", h.Admin, `{"name":"x","stock":1,"per_user_limit":1} {}`, http.StatusBadRequest, order.CodeInvalidRequest},
		{"empty body", h.Admin, "", http.StatusBadRequest, order.CodeInvalidRequest},
		// PostgreSQL's text cannot hold U+0000: refused before it, not a 503 from it.
		{"NUL in the name", h.Admin, `{"name":"a\u0000b","stock":1,"per_user_limit":1}`, http.StatusBadRequest, order.CodeInvalidRequest},
		{"ends before start", h.Admin, map[string]any{"name": "x", "stock": 1, "per_user_limit": 1,
			"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}, http.StatusBadRequest, order.CodeInvalidRequest},
		// Redis keeps ends_ms 0 for "never ends": an end before the epoch was stored as that.
		{"ends before the epoch", h.Admin, map[string]any{"name": "x", "stock": 1, "per_user_limit": 1,
			"starts_at": "1900-01-01T00:00:00Z", "ends_at": "1901-01-01T00:00:00Z"}, http.StatusBadRequest, order.CodeInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("PUT", "/v1/admin/sales/"+id, tc.bearer, nil, tc.body)
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d (%s)", r.Status, tc.wantStatus, r.Body)
			}
			if tc.wantCode != "" {
				if got := r.problem(t).Code; got != tc.wantCode {
					t.Errorf("code %q, want %q", got, tc.wantCode)
				}
				if tc.wantStatus == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q, want Bearer", r.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
	if r := h.do("PUT", "/v1/admin/sales/"+id, h.Admin, map[string]string{"Content-Type": "text/plain"}, body); r.Status != http.StatusUnsupportedMediaType || r.problem(t).Code != order.CodeInvalidRequest {
		t.Errorf("PUT as text/plain: %d %s, want 415 invalid_request", r.Status, r.Body)
	}
	if s := h.sale(id); s.Stock != 12 || s.Remaining != 12 || s.State != order.StateActive || s.PerUserLimit != 2 {
		t.Errorf("sale after update %+v, want stock 12 remaining 12 active", s)
	}

	// Stock changes are deltas and never go below what is sold.
	for i := 0; i < 2; i++ {
		if r := h.placeOrder(id, "buyer-"+strconv.Itoa(i), "k", `{"quantity":2}`); r.Status != http.StatusAccepted {
			t.Fatalf("order: %d %s", r.Status, r.Body)
		}
	}
	r := h.do("PUT", "/v1/admin/sales/"+id, h.Admin, nil, map[string]any{"name": "Phone", "stock": 3, "per_user_limit": 2})
	if r.Status != http.StatusConflict || r.problem(t).Code != order.CodeStockBelowSold {
		t.Errorf("stock below sold: %d %s, want 409 stock_below_sold", r.Status, r.Body)
	}
	// The definition is durable in PostgreSQL, written before Redis; Redis's
	// refusal (4 units sold, none persisted yet) put the previous one back.
	if d, err := h.PG.SaleSpec(context.Background(), id); err != nil || d.Stock != 12 || d.Name != "Phone" || d.PerUserLimit != 2 {
		t.Errorf("durable definition after a refused write: %+v, %v; want stock 12", d, err)
	}
	r = h.do("PUT", "/v1/admin/sales/"+id, h.Admin, nil, map[string]any{"name": "Phone", "stock": 20, "per_user_limit": 2})
	if r.Status != http.StatusOK {
		t.Fatalf("raise stock: %d %s", r.Status, r.Body)
	}
	if d, err := h.PG.SaleSpec(context.Background(), id); err != nil || d.Stock != 20 {
		t.Errorf("durable definition after raising the stock: %+v, %v; want stock 20", d, err)
	}
	if s := h.sale(id); s.Stock != 20 || s.Remaining != 16 {
		t.Errorf("after raising stock to 20 with 4 sold: stock %d remaining %d, want 20/16", s.Stock, s.Remaining)
	}

	// Live counters for operators.
	r = h.do("GET", "/v1/admin/sales/"+id, h.Admin, nil, nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"sold":4`) {
		t.Errorf("counters: %d %s, want sold 4", r.Status, r.Body)
	}
}

func TestContractGetSale(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	now := time.Now().UTC()
	tests := []struct {
		name  string
		stock int64
		start time.Time
		end   *time.Time
		want  order.SaleState
	}{
		{"scheduled", 5, now.Add(time.Hour), nil, order.StateScheduled},
		{"active", 5, now.Add(-time.Minute), nil, order.StateActive},
		{"sold out", 0, now.Add(-time.Minute), nil, order.StateSoldOut},
		{"ended", 5, now.Add(-time.Hour), ptr(now.Add(-time.Minute)), order.StateEnded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := h.newSale(tc.stock, 1, func(b map[string]any) {
				b["starts_at"] = tc.start.Format(time.RFC3339Nano)
				if tc.end != nil {
					b["ends_at"] = tc.end.Format(time.RFC3339Nano)
				}
			})
			r := h.do("GET", "/v1/sales/"+id, "", nil, nil)
			if r.Status != http.StatusOK {
				t.Fatalf("status %d", r.Status)
			}
			for _, field := range []string{"sale_id", "name", "stock", "remaining", "per_user_limit", "starts_at", "ends_at", "state"} {
				if !strings.Contains(string(r.Body), `"`+field+`":`) {
					t.Errorf("body %s lacks %q", r.Body, field)
				}
			}
			if got := h.sale(id).State; got != tc.want {
				t.Errorf("state %q, want %q", got, tc.want)
			}
		})
	}
	r := h.do("GET", "/v1/sales/no-such-sale-"+testkit.RandHex(4), "", nil, nil)
	if r.Status != http.StatusNotFound || r.problem(t).Code != order.CodeNotFound {
		t.Errorf("unknown sale: %d %s, want 404 not_found", r.Status, r.Body)
	}
}

func TestContractPlaceOrder(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	sale := h.newSale(3, 2)

	r := h.placeOrder(sale, "alice", "order-1", `{"quantity":2}`)
	if r.Status != http.StatusAccepted {
		t.Fatalf("place: %d %s", r.Status, r.Body)
	}
	o := r.order(t)
	if o.SaleID != sale || o.UserID != "alice" || o.Quantity != 2 || o.Status != order.StatusPending || o.OrderID == "" {
		t.Errorf("accepted body %+v", o)
	}
	if got, want := r.Header.Get("Location"), "/v1/orders/"+o.OrderID; got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	if !validTraceresponse(r.Header.Get("traceresponse")) {
		t.Errorf("traceresponse %q is not W3C", r.Header.Get("traceresponse"))
	}
	if r.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("first answer carries Idempotent-Replayed")
	}

	t.Run("replay: same status and body, replayed header", func(t *testing.T) {
		again := h.placeOrder(sale, "alice", "order-1", `{"quantity":2}`)
		if again.Status != http.StatusAccepted || string(again.Body) != string(r.Body) {
			t.Errorf("replay %d %s, want 202 %s", again.Status, again.Body, r.Body)
		}
		if again.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("Idempotent-Replayed %q, want true", again.Header.Get("Idempotent-Replayed"))
		}
		if !validTraceresponse(again.Header.Get("traceresponse")) {
			t.Errorf("replay lacks traceresponse")
		}
		if got := h.sale(sale).Remaining; got != 1 {
			t.Errorf("remaining %d after replay, want 1", got)
		}
	})

	t.Run("same key, different body", func(t *testing.T) {
		x := h.placeOrder(sale, "alice", "order-1", `{"quantity":1}`)
		if x.Status != http.StatusUnprocessableEntity || x.problem(t).Code != order.CodeIdempotencyKeyReused {
			t.Errorf("%d %s, want 422 idempotency_key_reused", x.Status, x.Body)
		}
	})

	t.Run("same key, another user is another request", func(t *testing.T) {
		x := h.placeOrder(sale, "bob", "order-1", `{"quantity":1}`)
		if x.Status != http.StatusAccepted || x.order(t).OrderID == o.OrderID {
			t.Errorf("%d %s, want a new 202", x.Status, x.Body)
		}
	})

	t.Run("sold out", func(t *testing.T) {
		x := h.placeOrder(sale, "carol", "c-1", nil)
		if x.Status != http.StatusConflict || x.problem(t).Code != order.CodeSoldOut {
			t.Errorf("%d %s, want 409 sold_out", x.Status, x.Body)
		}
		// Not remembered: the retry is a fresh attempt, answered anew.
		again := h.placeOrder(sale, "carol", "c-1", nil)
		if again.Status != http.StatusConflict || again.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("retry: %d Idempotent-Replayed %q, want 409 without it (a sold-out answer is not remembered)", again.Status, again.Header.Get("Idempotent-Replayed"))
		}
	})

	t.Run("per-user limit", func(t *testing.T) {
		s2 := h.newSale(10, 2)
		if x := h.placeOrder(s2, "dave", "d-1", `{"quantity":2}`); x.Status != http.StatusAccepted {
			t.Fatalf("%d %s", x.Status, x.Body)
		}
		x := h.placeOrder(s2, "dave", "d-2", nil)
		if x.Status != http.StatusConflict || x.problem(t).Code != order.CodePurchaseLimit {
			t.Errorf("%d %s, want 409 purchase_limit_reached", x.Status, x.Body)
		}
	})

	t.Run("before start and after end", func(t *testing.T) {
		future := h.newSale(10, 1, func(b map[string]any) { b["starts_at"] = time.Now().Add(time.Hour).Format(time.RFC3339) })
		past := h.newSale(10, 1, func(b map[string]any) {
			b["starts_at"] = time.Now().Add(-2 * time.Hour).Format(time.RFC3339)
			b["ends_at"] = time.Now().Add(-time.Hour).Format(time.RFC3339)
		})
		for _, s := range []string{future, past} {
			x := h.placeOrder(s, "erin", "e-1", nil)
			if x.Status != http.StatusConflict || x.problem(t).Code != order.CodeSaleNotActive {
				t.Errorf("sale %s: %d %s, want 409 sale_not_active", s, x.Status, x.Body)
			}
		}
	})

	t.Run("unknown sale", func(t *testing.T) {
		x := h.placeOrder("nope-"+testkit.RandHex(4), "frank", "f-1", nil)
		if x.Status != http.StatusNotFound || x.problem(t).Code != order.CodeNotFound {
			t.Errorf("%d %s, want 404 not_found", x.Status, x.Body)
		}
	})
}

// Redis loses a sale PostgreSQL defines: its orders, reads and admin updates
// answer 503 ledger_rebuilding (never 404, never a re-created sale offering
// its sold units again) until it is restored; then a key answered 202 before
// the loss replays the same order.
func TestContractLostSale(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	sale := h.newSale(3, 1)
	first := h.placeOrder(sale, "alice", "a-1", nil)
	if first.Status != http.StatusAccepted {
		t.Fatalf("order: %d %s", first.Status, first.Body)
	}
	stacktest.DeleteSale(h.Redis, sale) // Redis forgot the sale

	rebuilding := func(name string, r response) {
		t.Helper()
		if r.Status != http.StatusServiceUnavailable || r.problem(t).Code != order.CodeLedgerRebuilding || r.Header.Get("Retry-After") != "2" {
			t.Errorf("%s: %d %s Retry-After %q, want 503 ledger_rebuilding with Retry-After 2", name, r.Status, r.Body, r.Header.Get("Retry-After"))
		}
	}
	rebuilding("order", h.placeOrder(sale, "bob", "b-1", nil))
	rebuilding("replay", h.placeOrder(sale, "alice", "a-1", nil))
	rebuilding("public read", h.do("GET", "/v1/sales/"+sale, "", nil, nil))
	rebuilding("counters", h.do("GET", "/v1/admin/sales/"+sale, h.Admin, nil, nil))
	rebuilding("admin update", h.do("PUT", "/v1/admin/sales/"+sale, h.Admin, nil, map[string]any{"name": "test sale", "stock": 3, "per_user_limit": 1}))
	if r := h.placeOrder("never-"+testkit.RandHex(4), "bob", "b-2", nil); r.Status != http.StatusNotFound {
		t.Errorf("a sale nobody defines: %d %s, want 404", r.Status, r.Body)
	}

	// The rebuild (what blitzctl reconcile --repair does once the pipeline
	// drained; here alice's order is taken as persisted).
	snap, err := h.PG.SaleSnapshot(ctx, sale)
	if err != nil {
		t.Fatal(err)
	}
	persisted := first.order(t)
	if _, err := h.Store.Order(ctx, persisted.OrderID); err == nil {
		t.Fatalf("the lost reservation %s is still in Redis", persisted.OrderID)
	}
	o := order.Order{ID: persisted.OrderID, SaleID: sale, UserID: "alice", Quantity: 1, IdempotencyKey: "a-1",
		ReservedAt: time.Now().Add(-time.Second), Status: order.StatusConfirmed}
	if err := h.Store.Restore(ctx, snap.Spec, []order.Order{o}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := h.placeOrder(sale, "alice", "a-1", nil); r.Status != http.StatusAccepted || r.order(t).OrderID != persisted.OrderID {
		t.Errorf("alice's retry after the rebuild: %d %s, want the 202 of %s", r.Status, r.Body, persisted.OrderID)
	}
	if s := h.sale(sale); s.Remaining != 2 {
		t.Errorf("remaining after the rebuild %d, want 2", s.Remaining)
	}
}

func TestContractRateLimit(t *testing.T) {
	h := newHarness(t, harnessOpts{rateLimit: 2})
	sale := h.newSale(100, 100)
	user := "rl-" + testkit.RandHex(4)
	for i := 0; i < 2; i++ {
		r := h.placeOrder(sale, user, "k"+strconv.Itoa(i), nil)
		if r.Status != http.StatusAccepted {
			t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
		}
		if got, want := r.Header.Get("RateLimit-Remaining"), strconv.Itoa(1-i); got != want {
			t.Errorf("RateLimit-Remaining %q, want %q", got, want)
		}
	}
	r := h.placeOrder(sale, user, "k3", nil)
	if r.Status != http.StatusTooManyRequests || r.problem(t).Code != order.CodeRateLimited {
		t.Fatalf("%d %s, want 429 rate_limited", r.Status, r.Body)
	}
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After %q, want 1..60 seconds", r.Header.Get("Retry-After"))
	}
	for _, hd := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
		if r.Header.Get(hd) == "" {
			t.Errorf("429 lacks %s", hd)
		}
	}
	if r.Header.Get("RateLimit-Limit") != "2" || r.Header.Get("RateLimit-Remaining") != "0" {
		t.Errorf("RateLimit-Limit/Remaining %q/%q, want 2/0", r.Header.Get("RateLimit-Limit"), r.Header.Get("RateLimit-Remaining"))
	}
	if got := h.sale(sale).Remaining; got != 98 {
		t.Errorf("remaining %d, want 98: a rate-limited request must not touch stock", got)
	}
	// The window is per (sale, user): the same user has a fresh one in another sale.
	if r := h.placeOrder(h.newSale(100, 100), user, "k4", nil); r.Status != http.StatusAccepted || r.Header.Get("RateLimit-Remaining") != "1" {
		t.Errorf("other sale: %d RateLimit-Remaining %q, want 202 with 1 left", r.Status, r.Header.Get("RateLimit-Remaining"))
	}
	// An unknown sale is 404 before the limit: nothing counted, no headers.
	if r := h.placeOrder("nope-"+testkit.RandHex(4), user, "k5", nil); r.Status != http.StatusNotFound || r.Header.Get("RateLimit-Limit") != "" {
		t.Errorf("unknown sale: %d RateLimit-Limit %q, want 404 without rate-limit headers", r.Status, r.Header.Get("RateLimit-Limit"))
	}
}

func TestContractAuthAndInput(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	sale := h.newSale(10, 5)
	path := "/v1/sales/" + sale + "/orders"
	good := h.token("ivan")
	expired, _ := httpapi.SignUserToken(h.secret, "ivan", -time.Hour)
	otherSecret, _ := httpapi.SignUserToken([]byte(testkit.RandHex(32)), "ivan", time.Hour)
	key := map[string]string{"Idempotency-Key": "in-1"}

	tests := []struct {
		name       string
		bearer     string
		headers    map[string]string
		body       any
		wantStatus int
		wantCode   order.Code
	}{
		{"missing token", "", key, nil, http.StatusUnauthorized, order.CodeUnauthorized},
		{"garbage token", "abc.def.ghi", key, nil, http.StatusUnauthorized, order.CodeUnauthorized},
		{"expired token", expired, key, nil, http.StatusUnauthorized, order.CodeUnauthorized},
		{"token of another secret", otherSecret, key, nil, http.StatusUnauthorized, order.CodeUnauthorized},
		{"missing Idempotency-Key", good, nil, nil, http.StatusBadRequest, order.CodeInvalidRequest},
		{"Idempotency-Key too long", good, map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, nil, http.StatusBadRequest, order.CodeInvalidRequest},
		{"Idempotency-Key with a space", good, map[string]string{"Idempotency-Key": "a b"}, nil, http.StatusBadRequest, order.CodeInvalidRequest},
		{"malformed JSON", good, key, `{"quantity":`, http.StatusBadRequest, order.CodeInvalidRequest},
		{"unknown field", good, key, `{"quantity":1,"price":0}`, http.StatusBadRequest, order.CodeInvalidRequest},
		{"quantity zero", good, key, `{"quantity":0}`, http.StatusBadRequest, order.CodeInvalidRequest},
		{"quantity negative", good, key, `{"quantity":-1}`, http.StatusBadRequest, order.CodeInvalidRequest},
		{"quantity not a number", good, key, `{"quantity":"1"}`, http.StatusBadRequest, order.CodeInvalidRequest},
		{"two objects", good, key, `{"quantity":1}{"quantity":1}`, http.StatusBadRequest, order.CodeInvalidRequest},
		{"body over 4 KiB", good, key, `{"quantity":1` + strings.Repeat(" ", 5000) + `}`, http.StatusRequestEntityTooLarge, order.CodeInvalidRequest},
		{"wrong Content-Type", good, map[string]string{"Idempotency-Key": "in-1", "Content-Type": "text/plain"}, `{"quantity":1}`, http.StatusUnsupportedMediaType, order.CodeInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("POST", path, tc.bearer, tc.headers, tc.body)
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d (%s)", r.Status, tc.wantStatus, r.Body)
			}
			if got := r.problem(t).Code; got != tc.wantCode {
				t.Errorf("code %q, want %q", got, tc.wantCode)
			}
			if tc.wantStatus == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q, want Bearer", r.Header.Get("WWW-Authenticate"))
			}
			if !validTraceresponse(r.Header.Get("traceresponse")) {
				t.Errorf("traceresponse %q missing on an order response", r.Header.Get("traceresponse"))
			}
		})
	}
	if got := h.sale(sale).Remaining; got != 10 {
		t.Errorf("remaining %d, want 10: rejected requests must not touch stock", got)
	}
}

func TestContractGetOrder(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	sale := h.newSale(10, 5)
	r := h.placeOrder(sale, "owner", "g-1", `{"quantity":3}`)
	if r.Status != http.StatusAccepted {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	id := r.order(t).OrderID
	tests := []struct {
		name       string
		bearer     string
		id         string
		wantStatus int
	}{
		{"owner", h.token("owner"), id, http.StatusOK},
		{"admin", h.Admin, id, http.StatusOK},
		{"someone else", h.token("intruder"), id, http.StatusNotFound},
		{"no token", "", id, http.StatusUnauthorized},
		{"unknown id", h.token("owner"), sale + ".0190c3c4-0000-7000-8000-000000000000", http.StatusNotFound},
		{"malformed id", h.token("owner"), "not-an-order", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := h.do("GET", "/v1/orders/"+tc.id, tc.bearer, nil, nil)
			if g.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d (%s)", g.Status, tc.wantStatus, g.Body)
			}
			if g.Status != http.StatusOK {
				g.problem(t)
				return
			}
			o := g.order(t)
			if o.OrderID != id || o.UserID != "owner" || o.Quantity != 3 || o.Status != order.StatusPending {
				t.Errorf("order %+v", o)
			}
		})
	}
}

func TestContractMethodNotAllowed(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := h.do("DELETE", "/v1/sales/any", "", nil, nil)
	if r.Status != http.StatusMethodNotAllowed || r.problem(t).Code != order.CodeInvalidRequest {
		t.Errorf("%d %s, want 405 invalid_request", r.Status, r.Body)
	}
	if r.Header.Get("Allow") == "" {
		t.Errorf("405 without an Allow header")
	}
}

func TestContractHealth(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, p := range []string{"/healthz", "/readyz"} {
		r := h.do("GET", p, "", nil, nil)
		if r.Status != http.StatusOK {
			t.Errorf("%s: %d %s", p, r.Status, r.Body)
		}
		if r.Header.Get("traceresponse") != "" {
			t.Errorf("%s is traced; probes must not be", p)
		}
	}
}

// A publish failure releases the reservation (stock, user count, key) and
// answers 503 unavailable with Retry-After; the same key then works again.
func TestContractPublishFailureReleases(t *testing.T) {
	fail := true
	h := newHarness(t, harnessOpts{wrapPublisher: func(p checkout.Publisher) checkout.Publisher {
		return publisherFunc(func(ctx context.Context, o order.Order) error {
			if fail {
				return errors.New("broker unreachable (injected)")
			}
			return p.Publish(ctx, o)
		})
	}})
	sale := h.newSale(5, 1)
	r := h.placeOrder(sale, "unlucky", "u-1", nil)
	if r.Status != http.StatusServiceUnavailable || r.problem(t).Code != order.CodeUnavailable {
		t.Fatalf("%d %s, want 503 unavailable", r.Status, r.Body)
	}
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	if got := h.sale(sale).Remaining; got != 5 {
		t.Errorf("remaining %d after a failed publish, want 5 (no stock leaked)", got)
	}
	c, err := h.Store.Counters(context.Background(), sale, time.Now())
	if err != nil || c.Pending != 0 || c.Buyers != 0 {
		t.Errorf("counters %+v (%v): want nothing pending and no buyer held", c, err)
	}
	fail = false
	r = h.placeOrder(sale, "unlucky", "u-1", nil)
	if r.Status != http.StatusAccepted || r.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("retry with the same key: %d %s (replayed %q), want a fresh 202", r.Status, r.Body, r.Header.Get("Idempotent-Replayed"))
	}
}

// Redis unavailable: 503 unavailable, nothing else.
func TestContractRedisUnavailable(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	sale := h.newSale(5, 1)
	h.Redis.Close() // the API's only Redis client is gone: every call fails
	r := h.placeOrder(sale, "u", "k", nil)
	if r.Status != http.StatusServiceUnavailable || r.problem(t).Code != order.CodeUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("%d %s, want 503 unavailable with Retry-After", r.Status, r.Body)
	}
	if g := h.do("GET", "/readyz", "", nil, nil); g.Status != http.StatusServiceUnavailable {
		t.Errorf("/readyz %d with Redis gone, want 503", g.Status)
	}
}

type publisherFunc func(ctx context.Context, o order.Order) error

func (f publisherFunc) Publish(ctx context.Context, o order.Order) error { return f(ctx, o) }

func ptr[T any](v T) *T { return &v }
