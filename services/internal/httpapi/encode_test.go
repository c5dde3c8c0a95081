package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// httpapi without a stack: a fake checkout answers every Outcome, and these
// tests pin how each one is encoded (status, headers, problem code) and
// counted. The real saga behind the same handler is tested in
// contract_test.go and concurrency_test.go against Redis and Kafka.

type fakeCheckout struct {
	out   order.Outcome
	err   error
	calls int
	got   order.Request
}

func (f *fakeCheckout) Place(_ context.Context, req order.Request) (order.Outcome, error) {
	f.calls++
	f.got = req
	return f.out, f.err
}

// fakeLedger answers reads with err, or a sale "s" / not found.
type fakeLedger struct{ err error }

func (f fakeLedger) Order(context.Context, string) (order.Order, error) {
	if f.err != nil {
		return order.Order{}, f.err
	}
	return order.Order{}, order.ErrNotFound
}

func (f fakeLedger) Sale(_ context.Context, id string, now time.Time) (order.Sale, error) {
	if f.err != nil {
		return order.Sale{}, f.err
	}
	if id != "s" {
		return order.Sale{}, order.ErrNotFound
	}
	return order.Sale{ID: "s", Name: "n", Stock: 1, Remaining: 1, PerUserLimit: 1, StartsAt: now.Add(-time.Hour), State: order.StateActive}, nil
}

func (f fakeLedger) UpsertSale(context.Context, order.SaleSpec) (bool, error) { return false, f.err }
func (f fakeLedger) UpdateSale(context.Context, order.SaleSpec) error         { return f.err }

func (f fakeLedger) Counters(ctx context.Context, id string, now time.Time) (order.Counters, error) {
	s, err := f.Sale(ctx, id, now)
	return order.Counters{Sale: s}, err
}

type unitAPI struct {
	handler  http.Handler
	checkout *fakeCheckout
	reg      *prometheus.Registry
	token    string
}

func newUnitAPI(t *testing.T, ledger fakeLedger) *unitAPI {
	t.Helper()
	secret := strings.Repeat("s", 32)
	auth, err := httpapi.NewAuthenticator(secret, strings.Repeat("a", 16))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := httpapi.SignUserToken([]byte(secret), "u1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	u := &unitAPI{checkout: &fakeCheckout{}, reg: reg, token: tok}
	u.handler = httpapi.New(httpapi.Deps{Checkout: u.checkout, Ledger: ledger, Auth: auth, Metrics: httpapi.NewMetrics(reg),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	return u
}

func (u *unitAPI) post(t *testing.T, path, key, contentType, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+u.token)
	if key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	u.handler.ServeHTTP(w, r)
	return w
}

func (u *unitAPI) order(t *testing.T) *httptest.ResponseRecorder {
	t.Helper()
	return u.post(t, "/v1/sales/s/orders", "k1", "application/json", `{"quantity":2}`)
}

// count reads blitzbuy_orders_total{outcome=kind}.
func (u *unitAPI) count(kind order.OutcomeKind) float64 {
	mfs, err := u.reg.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() != "blitzbuy_orders_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == string(kind) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func problemOf(t *testing.T, w *httptest.ResponseRecorder) httpapi.Problem {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json (status %d, body %s)", ct, w.Code, w.Body)
	}
	var p httpapi.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem %s: %v", w.Body, err)
	}
	return p
}

func accepted(replayed bool) order.Outcome {
	kind := order.OutcomeAccepted
	if replayed {
		kind = order.OutcomeReplayed
	}
	return order.Outcome{Kind: kind, Replayed: replayed, Order: order.Order{ID: "s.0190", SaleID: "s", UserID: "u1", Quantity: 2, Status: order.StatusPending}}
}

func TestEncodeAccepted(t *testing.T) {
	u := newUnitAPI(t, fakeLedger{})
	u.checkout.out = accepted(false)
	w := u.order(t)
	if w.Code != http.StatusAccepted || w.Header().Get("Location") != "/v1/orders/s.0190" {
		t.Fatalf("got %d Location %q, want 202 /v1/orders/s.0190", w.Code, w.Header().Get("Location"))
	}
	if want := `{"order_id":"s.0190","sale_id":"s","user_id":"u1","quantity":2,"status":"pending"}` + "\n"; w.Body.String() != want {
		t.Errorf("body %q, want %q", w.Body, want)
	}
	if h := w.Header().Get("Idempotent-Replayed"); h != "" {
		t.Errorf("Idempotent-Replayed %q on a first acceptance, want none", h)
	}
	if want := (order.Request{SaleID: "s", UserID: "u1", IdempotencyKey: "k1", Quantity: 2}); u.checkout.got != want {
		t.Errorf("Place got %+v, want %+v", u.checkout.got, want)
	}
	if got := u.count(order.OutcomeAccepted); got != 1 {
		t.Errorf("accepted counted %v, want 1", got)
	}
}

func TestEncodeReplayed(t *testing.T) {
	u := newUnitAPI(t, fakeLedger{})
	u.checkout.out = accepted(true)
	w := u.order(t)
	if w.Code != http.StatusAccepted || w.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("got %d Idempotent-Replayed %q, want 202 true", w.Code, w.Header().Get("Idempotent-Replayed"))
	}
	if got := u.count(order.OutcomeReplayed); got != 1 {
		t.Errorf("replayed counted %v, want 1", got)
	}
}

func TestEncodeRejections(t *testing.T) {
	tests := []struct {
		name       string
		out        order.Outcome
		wantStatus int
		wantCode   order.Code
		wantReplay string
	}{
		{name: "sold out", out: order.Outcome{Kind: order.OutcomeSoldOut, Err: order.ErrSoldOut}, wantStatus: 409, wantCode: order.CodeSoldOut},
		{name: "sold out replayed", out: order.Outcome{Kind: order.OutcomeSoldOut, Err: order.ErrSoldOut, Replayed: true}, wantStatus: 409, wantCode: order.CodeSoldOut, wantReplay: "true"},
		{name: "limit", out: order.Outcome{Kind: order.OutcomeLimit, Err: order.ErrPurchaseLimit}, wantStatus: 409, wantCode: order.CodePurchaseLimit},
		{name: "not active", out: order.Outcome{Kind: order.OutcomeNotActive, Err: order.ErrSaleNotActive}, wantStatus: 409, wantCode: order.CodeSaleNotActive},
		{name: "unknown sale", out: order.Outcome{Kind: order.OutcomeRejected, Err: order.ErrNotFound}, wantStatus: 404, wantCode: order.CodeNotFound},
		{name: "key reused", out: order.Outcome{Kind: order.OutcomeRejected, Err: order.ErrIdempotencyKeyReused}, wantStatus: 422, wantCode: order.CodeIdempotencyKeyReused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := newUnitAPI(t, fakeLedger{})
			u.checkout.out = tc.out
			w := u.order(t)
			if p := problemOf(t, w); w.Code != tc.wantStatus || p.Code != tc.wantCode || p.Status != tc.wantStatus {
				t.Errorf("got %d %q, want %d %q", w.Code, p.Code, tc.wantStatus, tc.wantCode)
			}
			if h := w.Header().Get("Idempotent-Replayed"); h != tc.wantReplay {
				t.Errorf("Idempotent-Replayed %q, want %q", h, tc.wantReplay)
			}
			if got := u.count(tc.out.Kind); got != 1 {
				t.Errorf("%s counted %v, want 1", tc.out.Kind, got)
			}
		})
	}
}

func TestEncodeRateLimited(t *testing.T) {
	u := newUnitAPI(t, fakeLedger{})
	u.checkout.out = order.Outcome{Kind: order.OutcomeRateLimited, Err: order.Errorf(order.CodeRateLimited, "too many order requests; retry in 2 s"),
		RateLimit: order.RateLimit{Limit: 5, Remaining: 0, Reset: 1500 * time.Millisecond}}
	w := u.order(t)
	if p := problemOf(t, w); w.Code != http.StatusTooManyRequests || p.Code != order.CodeRateLimited {
		t.Fatalf("got %d %q, want 429 rate_limited", w.Code, p.Code)
	}
	for h, want := range map[string]string{"RateLimit-Limit": "5", "RateLimit-Remaining": "0", "RateLimit-Reset": "2", "Retry-After": "2"} {
		if got := w.Header().Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}

func TestEncodeRateLimitHeadersOnAcceptance(t *testing.T) {
	u := newUnitAPI(t, fakeLedger{})
	u.checkout.out = accepted(false)
	u.checkout.out.RateLimit = order.RateLimit{Allowed: true, Limit: 5, Remaining: 4, Reset: 12 * time.Second}
	w := u.order(t)
	if w.Header().Get("RateLimit-Remaining") != "4" || w.Header().Get("RateLimit-Reset") != "12" || w.Header().Get("Retry-After") != "" {
		t.Errorf("headers %v, want RateLimit-Remaining 4, Reset 12 and no Retry-After", w.Header())
	}
}

// The one place infrastructure failures become 503: whatever the error says,
// the buyer hears `unavailable` with Retry-After, never the error's text.
func TestEncodeInfrastructureFailure(t *testing.T) {
	u := newUnitAPI(t, fakeLedger{})
	u.checkout.out = order.Outcome{Kind: order.OutcomeError, Replayed: true, RateLimit: order.RateLimit{Allowed: true, Limit: 5, Remaining: 2}}
	u.checkout.err = errors.New("reserve: dial tcp 127.0.0.1:6379: connection refused")
	w := u.order(t)
	p := problemOf(t, w)
	if w.Code != http.StatusServiceUnavailable || p.Code != order.CodeUnavailable || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("got %d %q Retry-After %q, want 503 unavailable 1", w.Code, p.Code, w.Header().Get("Retry-After"))
	}
	if strings.Contains(w.Body.String(), "6379") || p.Detail != order.ErrUnavailable.Message {
		t.Errorf("detail %q leaks or differs, want %q", p.Detail, order.ErrUnavailable.Message)
	}
	if h := w.Header().Get("Idempotent-Replayed"); h != "" {
		t.Errorf("Idempotent-Replayed %q on a failure, want none", h)
	}
	if w.Header().Get("RateLimit-Remaining") != "2" {
		t.Errorf("RateLimit-Remaining %q, want 2 (the limiter answered)", w.Header().Get("RateLimit-Remaining"))
	}
	if got := u.count(order.OutcomeError); got != 1 {
		t.Errorf("error counted %v, want 1", got)
	}
}

func TestDecodeFailuresNeverReachCheckout(t *testing.T) {
	tests := []struct {
		name, path, key, contentType, body string
		wantStatus                         int
		wantCode                           order.Code
	}{
		{name: "sale id out of the set", path: "/v1/sales/no%20such/orders", key: "k", contentType: "application/json", body: `{}`, wantStatus: 404, wantCode: order.CodeNotFound},
		{name: "no Idempotency-Key", path: "/v1/sales/s/orders", contentType: "application/json", body: `{}`, wantStatus: 400, wantCode: order.CodeInvalidRequest},
		{name: "not JSON", path: "/v1/sales/s/orders", key: "k", contentType: "text/plain", body: `quantity=1`, wantStatus: 415, wantCode: order.CodeInvalidRequest},
		{name: "body too large", path: "/v1/sales/s/orders", key: "k", contentType: "application/json", body: `{"quantity":1}` + strings.Repeat(" ", 5000), wantStatus: 413, wantCode: order.CodeInvalidRequest},
		{name: "quantity zero", path: "/v1/sales/s/orders", key: "k", contentType: "application/json", body: `{"quantity":0}`, wantStatus: 400, wantCode: order.CodeInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := newUnitAPI(t, fakeLedger{})
			w := u.post(t, tc.path, tc.key, tc.contentType, tc.body)
			if p := problemOf(t, w); w.Code != tc.wantStatus || p.Code != tc.wantCode {
				t.Errorf("got %d %q, want %d %q", w.Code, p.Code, tc.wantStatus, tc.wantCode)
			}
			if u.checkout.calls != 0 {
				t.Errorf("checkout called %d times, want 0", u.checkout.calls)
			}
			if got := u.count(order.OutcomeRejected); got != 1 {
				t.Errorf("rejected counted %v, want 1", got)
			}
		})
	}
}

func TestSaleReadsWhenTheLedgerIsDown(t *testing.T) {
	u := newUnitAPI(t, fakeLedger{err: errors.New("redis: i/o timeout")})
	for _, path := range []string{"/v1/sales/s", "/v1/orders/s.0190a8a1-7e4c-7b7a-9c3e-2b3c4d5e6f70"} {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+u.token)
		w := httptest.NewRecorder()
		u.handler.ServeHTTP(w, r)
		if p := problemOf(t, w); w.Code != http.StatusServiceUnavailable || p.Code != order.CodeUnavailable {
			t.Errorf("GET %s: %d %q, want 503 unavailable", path, w.Code, p.Code)
		}
	}
}

func TestSaleReadNotFound(t *testing.T) {
	u := newUnitAPI(t, fakeLedger{})
	w := httptest.NewRecorder()
	u.handler.ServeHTTP(w, httptest.NewRequest("GET", "/v1/sales/other", nil))
	if p := problemOf(t, w); w.Code != http.StatusNotFound || p.Code != order.CodeNotFound {
		t.Errorf("GET /v1/sales/other: %d %q, want 404 not_found", w.Code, p.Code)
	}
}
