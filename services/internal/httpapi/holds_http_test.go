package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// The checkout window's contract through the real handler, Redis and Kafka:
// hold_seconds on the sale, expires_at on the order, payment and
// cancellation with every answer they give, expiry, and the admin counters.
func TestCheckoutWindowContract(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	sale := h.newSale(10, 2, func(b map[string]any) { b["hold_seconds"] = 60 })
	var s order.Sale
	if err := json.Unmarshal(h.do("GET", "/v1/sales/"+sale, "", nil, nil).Body, &s); err != nil || s.HoldSeconds != 60 {
		t.Fatalf("sale %+v, %v; want hold_seconds 60", s, err)
	}
	ann, bob := h.token("ann"), h.token("bob")
	key := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }
	orderOf := func(r response) httpapi.OrderResponse {
		t.Helper()
		var o httpapi.OrderResponse
		if err := json.Unmarshal(r.Body, &o); err != nil {
			t.Fatalf("%s: %v", r.Body, err)
		}
		return o
	}
	wantProblem := func(name string, r response, status int, code order.Code) {
		t.Helper()
		if r.Status != status || r.problem(t).Code != code {
			t.Errorf("%s: %d %s, want %d %s", name, r.Status, r.Body, status, code)
		}
	}

	placed := h.placeOrder(sale, "ann", "o-1", nil)
	o := orderOf(placed)
	if placed.Status != http.StatusAccepted || o.ExpiresAt == nil || time.Until(*o.ExpiresAt) < 50*time.Second {
		t.Fatalf("order: %d %s, want 202 with expires_at about 60 s ahead", placed.Status, placed.Body)
	}
	pay := "/v1/orders/" + o.OrderID + "/payment"
	wantProblem("payment without a key", h.do("POST", pay, ann, nil, map[string]any{"payment_ref": "r1"}), 400, order.CodeInvalidRequest)
	wantProblem("payment without a reference", h.do("POST", pay, ann, key("p1"), map[string]any{}), 400, order.CodeInvalidRequest)
	wantProblem("payment with a bad reference", h.do("POST", pay, ann, key("p1"), map[string]any{"payment_ref": "has space"}), 400, order.CodeInvalidRequest)
	wantProblem("someone else's payment", h.do("POST", pay, bob, key("p1"), map[string]any{"payment_ref": "r1"}), 404, order.CodeNotFound)
	wantProblem("payment of no order", h.do("POST", "/v1/orders/"+sale+".nope/payment", ann, key("p1"), map[string]any{"payment_ref": "r1"}), 404, order.CodeNotFound)

	r := h.do("POST", pay, ann, key("p1"), map[string]any{"payment_ref": "psp-1"})
	if p := orderOf(r); r.Status != 200 || p.Status != order.StatusPaid || p.PaidAt == nil || p.ExpiresAt == nil {
		t.Fatalf("payment: %d %s, want 200 paid with paid_at", r.Status, r.Body)
	}
	if again := h.do("POST", pay, ann, key("p1"), map[string]any{"payment_ref": "psp-1"}); again.Status != 200 || orderOf(again).Status != order.StatusPaid {
		t.Errorf("the same payment again: %d %s, want the same 200", again.Status, again.Body)
	}
	wantProblem("the key with another body", h.do("POST", pay, ann, key("p1"), map[string]any{"payment_ref": "psp-2"}), 422, order.CodeIdempotencyKeyReused)
	wantProblem("cancel a paid order", h.do("POST", "/v1/orders/"+o.OrderID+"/cancel", ann, nil, nil), 409, order.CodeOrderPaid)
	if got := orderOf(h.do("GET", "/v1/orders/"+o.OrderID, ann, nil, nil)); got.Status != order.StatusPaid || got.PaidAt == nil {
		t.Errorf("read a paid order: %+v, want paid", got)
	}

	c := orderOf(h.placeOrder(sale, "bob", "o-1", nil))
	cancel := "/v1/orders/" + c.OrderID + "/cancel"
	wantProblem("cancel with a body", h.do("POST", cancel, bob, nil, map[string]any{"why": "x"}), 400, order.CodeInvalidRequest)
	wantProblem("someone else's cancel", h.do("POST", cancel, ann, nil, nil), 404, order.CodeNotFound)
	for i := range 2 {
		if r := h.do("POST", cancel, bob, nil, nil); r.Status != 200 || orderOf(r).Status != order.StatusCancelled {
			t.Errorf("cancel #%d: %d %s, want 200 cancelled", i+1, r.Status, r.Body)
		}
	}
	wantProblem("pay a cancelled order", h.do("POST", "/v1/orders/"+c.OrderID+"/payment", bob, key("p1"), map[string]any{"payment_ref": "r"}), 409, order.CodeOrderCancelled)

	// A sale without a window: its orders are final.
	plain := h.newSale(5, 1)
	f := orderOf(h.placeOrder(plain, "cy", "o-1", nil))
	if f.ExpiresAt != nil {
		t.Errorf("order without a window carries expires_at %v", f.ExpiresAt)
	}
	cy := h.token("cy")
	wantProblem("pay without a window", h.do("POST", "/v1/orders/"+f.OrderID+"/payment", cy, key("p1"), map[string]any{"payment_ref": "r"}), 409, order.CodePaymentNotRequired)
	wantProblem("cancel without a window", h.do("POST", "/v1/orders/"+f.OrderID+"/cancel", cy, nil, nil), 409, order.CodePaymentNotRequired)

	// Expiry: a one-second window, swept.
	short := h.newSale(3, 3, func(b map[string]any) { b["hold_seconds"] = 1 })
	e := orderOf(h.placeOrder(short, "dee", "o-1", map[string]any{"quantity": 2}))
	time.Sleep(time.Until(*e.ExpiresAt) + 20*time.Millisecond)
	if _, err := h.Holds.Expire(context.Background(), 100, nil); err != nil {
		t.Fatal(err)
	}
	dee := h.token("dee")
	wantProblem("pay an expired order", h.do("POST", "/v1/orders/"+e.OrderID+"/payment", dee, key("p1"), map[string]any{"payment_ref": "r"}), 409, order.CodeOrderExpired)
	wantProblem("cancel an expired order", h.do("POST", "/v1/orders/"+e.OrderID+"/cancel", dee, nil, nil), 409, order.CodeOrderExpired)
	if got := orderOf(h.do("GET", "/v1/orders/"+e.OrderID, dee, nil, nil)); got.Status != order.StatusExpired {
		t.Errorf("read an expired order: %+v", got)
	}

	var counters order.Counters
	if err := json.Unmarshal(h.do("GET", "/v1/admin/sales/"+sale, h.Admin, nil, nil).Body, &counters); err != nil {
		t.Fatal(err)
	}
	if counters.Held != 0 || counters.Paid != 1 || counters.Cancelled != 1 || counters.Remaining != 9 {
		t.Errorf("counters %+v, want paid 1, cancelled 1, remaining 9", counters)
	}
	if err := json.Unmarshal(h.do("GET", "/v1/admin/sales/"+short, h.Admin, nil, nil).Body, &counters); err != nil {
		t.Fatal(err)
	}
	if counters.Expired != 2 || counters.Remaining != 3 {
		t.Errorf("short sale's counters %+v, want expired 2, remaining 3", counters)
	}
}
