package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
)

// Redis loses a sale mid-sale (its keys gone, as after a restart without
// the AOF): order-api answers ledger_rebuilding, rebuilds the sale from
// PostgreSQL by itself once the writer has caught up, and resumes; a key
// answered 202 before the loss replays the same order after it, and no unit
// is sold twice.
func TestLostSaleIsRebuiltAndResumes(t *testing.T) {
	s := startSystem(t)
	rdb, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{s.env.RedisAddr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rdb.Close)
	sale := s.newSale(t, 5)
	t.Cleanup(func() { stacktest.DeleteSale(rdb, sale) })

	before := map[string]string{} // user -> order id
	for _, u := range []string{"u1", "u2", "u3"} {
		resp, body := s.order(t, sale, u)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("order %s: %d %s", u, resp.StatusCode, body)
		}
		var o struct {
			OrderID string `json:"order_id"`
		}
		if err := json.Unmarshal(body, &o); err != nil {
			t.Fatal(err)
		}
		before[u] = o.OrderID
	}
	for u, id := range before {
		s.waitConfirmed(t, id, u)
	}

	stacktest.DeleteSale(rdb, sale) // Redis forgot the sale
	resp, body := s.order(t, sale, "u4")
	if resp.StatusCode != http.StatusServiceUnavailable || !json.Valid(body) || problemCode(body) != string(order.CodeLedgerRebuilding) {
		t.Fatalf("order right after the loss: %d %s, want 503 ledger_rebuilding", resp.StatusCode, body)
	}
	start := time.Now()
	for {
		resp, body = s.order(t, sale, "u4")
		if resp.StatusCode == http.StatusAccepted {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || problemCode(body) != string(order.CodeLedgerRebuilding) {
			t.Fatalf("order while rebuilding: %d %s, want 503 ledger_rebuilding or 202", resp.StatusCode, body)
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the sale was not rebuilt within 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("the sale answered again %s after its first order following the loss", time.Since(start).Round(time.Millisecond))

	resp, body = s.order(t, sale, "u1")
	var replay struct {
		OrderID string `json:"order_id"`
	}
	_ = json.Unmarshal(body, &replay)
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Idempotent-Replayed") != "true" || replay.OrderID != before["u1"] {
		t.Errorf("u1's retry after the rebuild: %d %s (replayed %q), want the 202 of %s", resp.StatusCode, body, resp.Header.Get("Idempotent-Replayed"), before["u1"])
	}
	if resp, body := s.order(t, sale, "u5"); resp.StatusCode != http.StatusAccepted {
		t.Errorf("u5, the 5th unit: %d %s, want 202", resp.StatusCode, body)
	}
	if resp, body := s.order(t, sale, "u6"); resp.StatusCode != http.StatusConflict || problemCode(body) != string(order.CodeSoldOut) {
		t.Errorf("u6, past the stock of 5: %d %s, want 409 sold_out (no unit sold twice)", resp.StatusCode, body)
	}
}

func problemCode(body []byte) string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &p)
	return p.Code
}

// waitConfirmed polls the order until the writer persisted it.
func (s *system) waitConfirmed(t *testing.T, orderID, user string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, body := s.call(t, "GET", "/v1/orders/"+orderID, s.admin, nil, nil)
		var o struct {
			Status string `json:"status"`
		}
		_ = json.Unmarshal(body, &o)
		if resp.StatusCode == http.StatusOK && o.Status == string(order.StatusConfirmed) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s of %s not confirmed within 30 s: %d %s", orderID, user, resp.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
