package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// routeFake is the ledger and checkout behind FuzzPathParams: it answers
// every well-formed id from memory and fails the test when it is asked for
// one that cannot name a sale or an order (the handlers must refuse those
// first). Ids starting "gone" are unknown, ids starting "down" fail as an
// unreachable Redis does.
type routeFake struct {
	t      *testing.T
	asked  []string        // the ids the handlers passed on
	made   map[string]bool // the sales UpsertSale defined (they exist, "gone" or not)
	failed bool            // a "down" id was asked: a 503 is the right answer
}

var errFakeDown = errors.New("fake redis: connection refused")

func (f *routeFake) lookup(id string, valid bool) error {
	f.asked = append(f.asked, id)
	if !valid {
		f.t.Errorf("the ledger was asked for %q, which the handler should have refused", id)
	}
	switch {
	case f.made[id]:
		return nil
	case strings.HasPrefix(id, "gone"):
		return order.ErrNotFound
	case strings.HasPrefix(id, "down"):
		f.failed = true
		return errFakeDown
	}
	return nil
}

func (f *routeFake) Order(_ context.Context, id string) (order.Order, error) {
	sale, ok := order.SaleOfOrder(id)
	if err := f.lookup(id, ok); err != nil {
		return order.Order{}, err
	}
	return order.Order{ID: id, SaleID: sale, UserID: "alice", Quantity: 1, Status: order.StatusPending}, nil
}

func (f *routeFake) Sale(_ context.Context, id string, now time.Time) (order.Sale, error) {
	if err := f.lookup(id, order.ValidSaleID(id)); err != nil {
		return order.Sale{}, err
	}
	s := order.Sale{ID: id, Name: "fuzz", Stock: 10, Remaining: 10, PerUserLimit: 1, StartsAt: now.Add(-time.Hour).UTC()}
	s.State = s.StateAt(now)
	return s, nil
}

func (f *routeFake) UpsertSale(_ context.Context, spec order.SaleSpec) (bool, error) {
	if err := f.lookup(spec.ID, order.ValidSaleID(spec.ID)); err != nil && !errors.Is(err, order.ErrNotFound) {
		return false, err
	}
	f.made[spec.ID] = true
	return strings.HasPrefix(spec.ID, "new") || strings.HasPrefix(spec.ID, "gone"), nil
}

func (f *routeFake) UpdateSale(_ context.Context, spec order.SaleSpec) error {
	_, err := f.UpsertSale(context.Background(), spec)
	return err
}

func (f *routeFake) Counters(ctx context.Context, id string, now time.Time) (order.Counters, error) {
	s, err := f.Sale(ctx, id, now)
	return order.Counters{Sale: s}, err
}

func (f *routeFake) Place(_ context.Context, req order.Request) (order.Outcome, error) {
	if err := f.lookup(req.SaleID, order.ValidSaleID(req.SaleID)); err != nil {
		if errors.Is(err, order.ErrNotFound) {
			return order.Outcome{Kind: order.OutcomeRejected, Err: order.ErrNotFound}, nil
		}
		return order.Outcome{}, err
	}
	id, err := order.NewOrderID(req.SaleID)
	if err != nil {
		return order.Outcome{}, err
	}
	o := order.Order{ID: id, SaleID: req.SaleID, UserID: req.UserID, Quantity: req.Quantity, Status: order.StatusPending}
	return order.Outcome{Kind: order.OutcomeAccepted, Order: o}, nil
}

var (
	_ Ledger   = (*routeFake)(nil)
	_ Checkout = (*routeFake)(nil)
)

// The operations FuzzPathParams drives; the segment is the path parameter.
const (
	opGetSale = iota
	opGetCounters
	opPutSale
	opGetOrder
	opPlaceOrder
	opRawPath // "/" + segment: any path at all through the router
	numOps
)

// documentedCodes is docs/api.md's error table: the codes each status may carry.
var documentedCodes = map[int][]order.Code{
	http.StatusBadRequest:            {order.CodeInvalidRequest},
	http.StatusUnauthorized:          {order.CodeUnauthorized},
	http.StatusForbidden:             {order.CodeForbidden},
	http.StatusNotFound:              {order.CodeNotFound},
	http.StatusMethodNotAllowed:      {order.CodeInvalidRequest},
	http.StatusConflict:              {order.CodeSoldOut, order.CodePurchaseLimit, order.CodeSaleNotActive, order.CodeStockBelowSold},
	http.StatusRequestEntityTooLarge: {order.CodeInvalidRequest},
	http.StatusUnsupportedMediaType:  {order.CodeInvalidRequest},
	http.StatusUnprocessableEntity:   {order.CodeIdempotencyKeyReused},
	http.StatusTooManyRequests:       {order.CodeRateLimited},
	http.StatusServiceUnavailable:    {order.CodeUnavailable, order.CodeLedgerRebuilding},
}

// FuzzPathParams sends arbitrary sale and order ids (any bytes a request line
// can carry, percent-encodings, slashes, dots) through the real router
// (Server.Handler) to every operation with a path parameter. Properties: no
// 5xx unless the ledger failed; every error is problem+json with a code the
// error table documents for its status; each operation answers only its
// documented statuses; a 2xx names exactly the id the route received, which
// is a valid one; the ledger is never asked for an id that cannot exist.
func FuzzPathParams(f *testing.F) {
	valid := "spring-phones"
	oid := valid + ".019375a2-8c1e-7d3a-9f4b-2c6e8a1d0b37"
	segs := []string{
		valid, "a", strings.Repeat("a", 64), strings.Repeat("a", 65), "A-_z09", "new-sale", "gone-sale", "down-sale",
		"", "%", "%2", "%zz", "%2F", "a%2Fb", "a/b", "a//b", "a/", "/", "..", ".", "%2e%2e", "%2E", "a%00b", "%00",
		"%ff", "%C3%A9", "é", "a%20b", "a+b", "a;b", "a?b", "a?x=1", "a#b", "%3F", "%23", "~", "%7E", "%41bc",
		"a%252Fb", "x/orders", valid + "/orders", valid + "/orders/x", "sale\\x", "a%5Cb", "*", "'", "\"", "<a>",
		"{saleID}", "%7BsaleID%7D", "null", "0", "-", "_", "a.b", oid, strings.ToUpper(oid), "gone." + oid[len(valid)+1:],
		"down." + oid[len(valid)+1:], valid + ".not-a-uuid", valid + "." + strings.Repeat("0", 36), oid + ".x",
		strings.Repeat("a", 65) + oid[len(valid):], "." + oid[len(valid)+1:], valid + "..019375a2-8c1e-7d3a-9f4b-2c6e8a1d0b37",
		valid + ".{019375a2-8c1e-7d3a-9f4b-2c6e8a1d0b37}", valid + ".urn:uuid:019375a2-8c1e-7d3a-9f4b-2c6e8a1d0b37",
		valid + "%2E019375a2-8c1e-7d3a-9f4b-2c6e8a1d0b37", "v1/sales/x", "healthz", "v1/admin/sales/x", "v1/orders/",
	}
	// Each segment to two operations (the fuzzer varies op itself): every
	// segment to every operation made a corpus whose baseline alone outlasts
	// CI's 5 s budget.
	for i, s := range segs {
		f.Add(uint8(i%numOps), s, uint8(i))
		f.Add(uint8((i+3)%numOps), s, uint8(i/2))
	}
	secret := "fuzz-routes-secret-0123456789abcdef"
	admin := "fuzz-routes-admin-token-0123456789"
	auth, err := NewAuthenticator(secret, admin)
	if err != nil {
		f.Fatal(err)
	}
	alice, _ := SignUserToken([]byte(secret), "alice", time.Hour)
	bob, _ := SignUserToken([]byte(secret), "bob", time.Hour)
	f.Fuzz(func(t *testing.T, op uint8, seg string, who uint8) {
		op %= numOps
		fake := &routeFake{t: t, made: map[string]bool{}}
		h := New(Deps{Checkout: fake, Ledger: fake, Auth: auth, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()

		method, prefix, suffix, bearer, body := http.MethodGet, "", "", "", ""
		switch op {
		case opGetSale:
			prefix = "/v1/sales/"
		case opGetCounters:
			prefix, bearer = "/v1/admin/sales/", admin
		case opPutSale:
			method, prefix, bearer, body = http.MethodPut, "/v1/admin/sales/", admin, `{"name":"n","stock":5,"per_user_limit":1}`
		case opGetOrder:
			prefix, bearer = "/v1/orders/", []string{alice, bob, admin, ""}[who%4]
		case opPlaceOrder:
			method, prefix, suffix, bearer = http.MethodPost, "/v1/sales/", "/orders", alice
		case opRawPath:
			method, prefix, bearer = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete}[who%4], "/", admin
		}
		target := prefix + seg + suffix
		// What net/http hands the router: a request line has no spaces or
		// control bytes, and its target parses (else the server answers 400
		// before any handler runs).
		if strings.ContainsFunc(target, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		req := httptest.NewRequest(method, "/", strings.NewReader(body))
		req.URL, req.RequestURI = u, target
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		req.Header.Set("Idempotency-Key", "fuzz-key-1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		status := rec.Code

		// Never a server error for a bad request; 503 exactly when the ledger failed.
		if status >= 500 && !(status == http.StatusServiceUnavailable && fake.failed) {
			t.Fatalf("%s %q: %d %s", method, target, status, rec.Body)
		}
		if fake.failed && status != http.StatusServiceUnavailable {
			t.Fatalf("%s %q: the ledger failed, answered %d", method, target, status)
		}
		if status >= 400 {
			checkProblem(t, method, target, rec)
		}

		// The route's own answers, when the segment stays one non-empty path
		// segment (an empty one matches no route: 404).
		param, oneSegment := seg, seg != "" && !strings.ContainsAny(seg, "/?#")
		if !oneSegment || op == opRawPath {
			return
		}
		routed := u.Path
		if u.RawPath != "" { // chi routes on the escaped path, so the parameter is the escaped text
			routed = u.RawPath
		}
		param = strings.TrimSuffix(strings.TrimPrefix(routed, prefix), suffix)
		for _, id := range fake.asked {
			if id != param {
				t.Fatalf("%s %q: the ledger was asked for %q, the route's parameter is %q", method, target, id, param)
			}
		}
		var want []int
		switch op {
		case opGetSale, opGetCounters:
			want = []int{http.StatusOK, http.StatusNotFound}
		case opPutSale:
			want = []int{http.StatusOK, http.StatusCreated, http.StatusBadRequest}
			if !order.ValidSaleID(param) && status != http.StatusBadRequest {
				t.Fatalf("PUT %q with an invalid sale id: %d, want 400 (docs/openapi.yaml)", target, status)
			}
		case opGetOrder:
			want = []int{http.StatusOK, http.StatusNotFound, http.StatusUnauthorized}
			if who%4 == 1 && status == http.StatusOK {
				t.Fatalf("GET %q: bob read alice's order", target)
			}
		case opPlaceOrder:
			want = []int{http.StatusAccepted, http.StatusNotFound}
		}
		if fake.failed {
			want = append(want, http.StatusServiceUnavailable)
		}
		if !slices.Contains(want, status) {
			t.Fatalf("%s %q: status %d, want one of %v (%s)", method, target, status, want, rec.Body)
		}
		if status >= 300 {
			return
		}
		var got struct {
			SaleID  string `json:"sale_id"`
			OrderID string `json:"order_id"`
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %q: %d with Content-Type %q", method, target, status, ct)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("%s %q: body %s: %v", method, target, rec.Body, err)
		}
		switch op {
		case opGetOrder:
			if _, ok := order.SaleOfOrder(param); !ok || got.OrderID != param {
				t.Fatalf("GET %q: 200 for order %q, the route's parameter is %q", target, got.OrderID, param)
			}
		case opPlaceOrder:
			loc := rec.Header().Get("Location")
			if !order.ValidSaleID(param) || got.SaleID != param || loc != "/v1/orders/"+got.OrderID || !strings.HasPrefix(got.OrderID, param+".") {
				t.Fatalf("POST %q: 202 sale %q order %q Location %q, the route's parameter is %q", target, got.SaleID, got.OrderID, loc, param)
			}
		default:
			if !order.ValidSaleID(param) || got.SaleID != param {
				t.Fatalf("%s %q: %d for sale %q, the route's parameter is %q", method, target, status, got.SaleID, param)
			}
			if loc := rec.Header().Get("Location"); status == http.StatusCreated && loc != "/v1/sales/"+param {
				t.Fatalf("PUT %q: 201 with Location %q", target, loc)
			}
		}
	})
}

// checkProblem asserts an error answer is a complete problem+json whose code
// the error table documents for its status.
func checkProblem(t *testing.T, method, target string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s %q: %d with Content-Type %q (%s)", method, target, rec.Code, ct, rec.Body)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("%s %q: problem body %s: %v", method, target, rec.Body, err)
	}
	if p.Status != rec.Code || p.Title == "" || p.Detail == "" || p.Type != ProblemTypeBase+string(p.Code) {
		t.Fatalf("%s %q: incomplete problem %+v for status %d", method, target, p, rec.Code)
	}
	if !slices.Contains(documentedCodes[rec.Code], p.Code) {
		t.Fatalf("%s %q: status %d with code %q, docs/api.md gives %v", method, target, rec.Code, p.Code, documentedCodes[rec.Code])
	}
	switch rec.Code {
	case http.StatusUnauthorized:
		if rec.Header().Get("WWW-Authenticate") != `Bearer realm="blitzbuy"` {
			t.Fatalf("%s %q: 401 without WWW-Authenticate", method, target)
		}
	case http.StatusMethodNotAllowed:
		if rec.Header().Get("Allow") == "" {
			t.Fatalf("%s %q: 405 without Allow", method, target)
		}
	case http.StatusServiceUnavailable:
		if rec.Header().Get("Retry-After") == "" {
			t.Fatalf("%s %q: 503 without Retry-After", method, target)
		}
	}
}
