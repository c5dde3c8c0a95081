package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/sourceaddr"
)

// Through the real handler: a source address past its failed-authentication
// limit is answered 429 rate_limited with Retry-After, whatever it sends
// next; other addresses and the exempt loopback are unaffected.
func TestFailedAuthenticationLimitedPerAddress(t *testing.T) {
	h := newHarness(t, harnessOpts{authLimit: httpapi.AuthLimit{Limit: 3, Window: time.Minute, Exempt: sourceaddr.Loopback}})
	sale := h.newSale(10, 1)
	send := func(remote, token, path string) *httptest.ResponseRecorder {
		method := "POST"
		if path == "" {
			method, path = "GET", "/v1/admin/sales/"+sale
		}
		req := httptest.NewRequest(method, path, nil)
		req.RemoteAddr = remote
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Idempotency-Key", "al-"+strconv.FormatInt(time.Now().UnixNano(), 36))
		w := httptest.NewRecorder()
		h.handler.ServeHTTP(w, req)
		return w
	}
	orders := "/v1/sales/" + sale + "/orders"
	const attacker, bystander = "198.51.100.7:40000", "198.51.100.8:40000"

	for i, tc := range []struct{ token, path string }{{"garbage", orders}, {"", orders}, {"not-the-admin-token", ""}} {
		if w := send(attacker, tc.token, tc.path); w.Code != http.StatusUnauthorized && w.Code != http.StatusForbidden {
			t.Fatalf("failure %d: %d, want 401/403", i+1, w.Code)
		}
	}
	for _, token := range []string{"garbage", h.token("honest-after-all"), h.Admin} {
		w := send(attacker, token, orders)
		var p httpapi.Problem
		_ = json.Unmarshal(w.Body.Bytes(), &p)
		ra, _ := strconv.Atoi(w.Header().Get("Retry-After"))
		if w.Code != http.StatusTooManyRequests || p.Code != order.CodeRateLimited || ra < 1 || ra > 60 {
			t.Errorf("past the limit: %d %s Retry-After %q, want 429 rate_limited with Retry-After 1..60", w.Code, w.Body, w.Header().Get("Retry-After"))
		}
	}
	if w := send(bystander, h.token("bystander"), orders); w.Code != http.StatusAccepted {
		t.Errorf("another address: %d %s, want 202", w.Code, w.Body)
	}
	for range 10 {
		send("127.0.0.1:5555", "garbage", orders)
	}
	if w := send("127.0.0.1:5555", "garbage", orders); w.Code != http.StatusUnauthorized {
		t.Errorf("loopback after 11 failures: %d, want 401 (exempt)", w.Code)
	}
}
