package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/router"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/blitzbuy/blitzbuy/services/internal/checkout"
	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/testkit"
)

// docs/openapi.yaml is the API contract. These tests load it, check that it is
// a valid OpenAPI 3.1 document whose response objects are closed
// (additionalProperties: false, so a renamed or added field is drift), then
// drive the real API through every documented (operation, status) pair and
// validate each real request and response against it.

// spec is the loaded contract plus the record of what the test exercised.
type spec struct {
	model   *v3.Document
	v       validator.Validator
	routes  router.Router
	covered map[string]bool // "METHOD /template STATUS"
}

func loadSpec(t *testing.T) *spec {
	t.Helper()
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatalf("parse docs/openapi.yaml: %v", err)
	}
	if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1") {
		t.Fatalf("openapi %q, want 3.1.x", v)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("build model: %v", err)
	}
	// Format assertions check date-time and uri values; strict mode reports
	// response headers the document does not declare.
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions(), config.WithStrictMode())
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errors.Join(errs...))
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("docs/openapi.yaml is not valid OpenAPI: %s", e.Error())
		}
		t.FailNow()
	}
	return &spec{model: &m.Model, v: v, routes: router.NewRouter(&m.Model, router.WithPathOnlyMatching()),
		covered: map[string]bool{}}
}

// documented lists every (operation, status) the contract declares.
func (s *spec) documented() []string {
	var all []string
	for path, item := range s.model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			for code := range op.Responses.Codes.FromOldest() {
				all = append(all, strings.ToUpper(method)+" "+path+" "+code)
			}
		}
	}
	slices.Sort(all)
	return all
}

func TestOpenAPIDocument(t *testing.T) {
	s := loadSpec(t)
	if len(s.documented()) == 0 {
		t.Fatal("the document declares no responses")
	}
	for _, sc := range []struct{ name, bearerFormat string }{{"userJWT", "JWT"}, {"adminToken", ""}} {
		got, ok := s.model.Components.SecuritySchemes.Get(sc.name)
		if !ok || got.Type != "http" || got.Scheme != "bearer" || got.BearerFormat != sc.bearerFormat {
			t.Errorf("security scheme %s = %+v, want http bearer %q", sc.name, got, sc.bearerFormat)
		}
	}
	// Every code of the domain appears in the Problem schema's enum, and nothing else.
	codes, _ := s.model.Components.Schemas.Get("ErrorCode")
	var got []string
	for _, n := range codes.Schema().Enum {
		got = append(got, n.Value)
	}
	var want []string
	for _, c := range order.Codes {
		want = append(want, string(c))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("ErrorCode enum %v, want the codes of order/errors.go %v", got, want)
	}
	// Response objects are closed, so a field the code adds is caught.
	for path, item := range s.model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			for code, resp := range op.Responses.Codes.FromOldest() {
				for mt, media := range resp.Content.FromOldest() {
					where := strings.ToUpper(method) + " " + path + " " + code + " " + mt
					if media.Schema == nil || !closed(media.Schema.Schema()) {
						t.Errorf("%s: response schema is an open object; add additionalProperties: false", where)
					}
				}
			}
		}
	}
}

// closed reports whether an object schema rejects undeclared properties
// (additionalProperties false, or a schema for map values), directly or
// through one of its allOf members. Non-object schemas are trivially closed.
func closed(s *base.Schema) bool {
	if s == nil {
		return false
	}
	if s.AdditionalProperties != nil && (s.AdditionalProperties.IsA() || !s.AdditionalProperties.B) {
		return true
	}
	for _, m := range s.AllOf {
		if ms := m.Schema(); ms != nil && ms.AdditionalProperties != nil && closed(ms) {
			return true
		}
	}
	isObject := slices.Contains(s.Type, "object") || (s.Properties != nil && s.Properties.Len() > 0)
	return !isObject && len(s.AllOf) == 0
}

// exchange is one request the test sends and the status it must get.
type exchange struct {
	name    string
	method  string
	path    string
	bearer  string
	headers map[string]string
	body    string // sent as application/json unless headers say otherwise
	want    int
	// offContract marks a request that breaks the contract on purpose (no
	// token, bad key, bad body): the document must reject it, and only the
	// response is validated.
	offContract bool
}

func (x exchange) request(t *testing.T, base string) *http.Request {
	t.Helper()
	var body io.Reader = http.NoBody
	if x.body != "" {
		body = strings.NewReader(x.body)
	}
	req, err := http.NewRequestWithContext(context.Background(), x.method, base+x.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if x.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+x.bearer)
	}
	if x.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range x.headers {
		req.Header.Set(k, v)
	}
	return req
}

// check sends x to h's server, validates the real exchange against the
// document and returns the response.
func (s *spec) check(t *testing.T, h *apiHarness, x exchange) response {
	t.Helper()
	var got response
	t.Run(x.name, func(t *testing.T) {
		resp, err := h.Client.Do(x.request(t, h.URL))
		if err != nil {
			t.Fatalf("%s %s: %v", x.method, x.path, err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		got = response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
		if got.Status != x.want {
			t.Fatalf("%s %s: status %d, want %d (%s)", x.method, x.path, got.Status, x.want, raw)
		}

		req := x.request(t, h.URL) // a fresh body for the validator to read
		route, err := s.routes.FindRoute(req)
		if err != nil {
			t.Fatalf("%s %s is not in the document: %v", x.method, x.path, err)
		}
		s.covered[x.method+" "+route.Path+" "+strconv.Itoa(got.Status)] = true
		vresp := &http.Response{StatusCode: got.Status, Header: got.Header, Body: io.NopCloser(bytes.NewReader(raw)), Request: req}

		var ok bool
		var verrs []error
		if x.offContract {
			if reqOK, _ := s.v.ValidateHttpRequest(x.request(t, h.URL)); reqOK {
				t.Errorf("the document accepts this request, but the test sends it as off-contract: tighten the document or the case")
			}
			ok, verrs = collect(s.v.ValidateHttpResponse(req, vresp))
		} else {
			ok, verrs = collect(s.v.ValidateHttpRequestResponse(req, vresp))
		}
		if !ok {
			for _, e := range verrs {
				t.Errorf("%s %s → %d disagrees with docs/openapi.yaml: %v", x.method, x.path, got.Status, e)
			}
			t.Logf("response headers %v\nbody %s", got.Header, raw)
		}
	})
	return got
}

func collect[E error](ok bool, errs []E) (bool, []error) {
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return ok && len(errs) == 0, out
}

func TestOpenAPIConformance(t *testing.T) {
	s := loadSpec(t)
	// This test checks shapes, not latency: a generous delivery timeout keeps
	// a slow shared broker from turning an expected 202 into a 503.
	h := newHarness(t, harnessOpts{publishTimeout: 20 * time.Second})
	admin := h.Admin
	alice, bob := h.token("alice-"+testkit.RandHex(3)), h.token("bob-"+testkit.RandHex(3))
	expired, err := httpapi.SignUserToken(h.secret, "alice", -time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }
	now := time.Now().UTC()

	// Admin: create, update, read counters; every refusal.
	id := "oas-" + testkit.RandHex(4)
	t.Cleanup(func() { h.deleteSale(id) })
	salePath, adminPath, orders := "/v1/sales/"+id, "/v1/admin/sales/"+id, "/v1/sales/"+id+"/orders"
	create := `{"name":"Phone","stock":3,"per_user_limit":2,"starts_at":"` + now.Add(-time.Minute).Format(time.RFC3339) + `","ends_at":null}`
	update := `{"name":"Phone X","stock":3,"per_user_limit":2,"ends_at":"` + now.Add(time.Hour).Format(time.RFC3339Nano) + `"}`
	for _, x := range []exchange{
		{name: "put sale without token", method: "PUT", path: adminPath, body: create, want: 401, offContract: true},
		{name: "put sale with a user token", method: "PUT", path: adminPath, bearer: alice, body: create, want: 403},
		{name: "create sale", method: "PUT", path: adminPath, bearer: admin, body: create, want: 201},
		{name: "update sale", method: "PUT", path: adminPath, bearer: admin, body: update, want: 200},
		{name: "put sale without stock", method: "PUT", path: adminPath, bearer: admin, body: `{"name":"x","per_user_limit":1}`, want: 400, offContract: true},
		{name: "put sale over 4 KiB", method: "PUT", path: adminPath, bearer: admin,
			body: `{"name":"` + strings.Repeat("n", 5000) + `","stock":1,"per_user_limit":1}`, want: 413, offContract: true},
		{name: "put sale as text/plain", method: "PUT", path: adminPath, bearer: admin, body: create,
			headers: map[string]string{"Content-Type": "text/plain"}, want: 415, offContract: true},
		{name: "counters", method: "GET", path: adminPath, bearer: admin, want: 200},
		{name: "counters without token", method: "GET", path: adminPath, want: 401, offContract: true},
		{name: "counters with a user token", method: "GET", path: adminPath, bearer: alice, want: 403},
		{name: "counters of an unknown sale", method: "GET", path: "/v1/admin/sales/none-" + testkit.RandHex(4), bearer: admin, want: 404},
		{name: "public sale", method: "GET", path: salePath, want: 200},
		{name: "public unknown sale", method: "GET", path: "/v1/sales/none-" + testkit.RandHex(4), want: 404},
	} {
		s.check(t, h, x)
	}

	// Orders: acceptance, replay, every rejection.
	accepted := s.check(t, h, exchange{name: "place order", method: "POST", path: orders, bearer: alice,
		headers: key("oas-1"), body: `{"quantity":2}`, want: 202})
	replay := s.check(t, h, exchange{name: "replay order", method: "POST", path: orders, bearer: alice,
		headers: key("oas-1"), body: `{"quantity":2}`, want: 202})
	if replay.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(replay.Body, accepted.Body) {
		t.Errorf("replay: Idempotent-Replayed %q body %s, want true and %s", replay.Header.Get("Idempotent-Replayed"), replay.Body, accepted.Body)
	}
	limit := s.check(t, h, exchange{name: "over the per-user limit", method: "POST", path: orders, bearer: alice,
		headers: key("oas-2"), want: 409})
	limitAgain := s.check(t, h, exchange{name: "replayed rejection", method: "POST", path: orders, bearer: alice,
		headers: key("oas-2"), want: 409})
	soldOut := s.check(t, h, exchange{name: "sold out", method: "POST", path: orders, bearer: bob,
		headers: key("oas-1"), body: `{"quantity":2}`, want: 409})
	scheduled := h.newSale(5, 1, func(b map[string]any) { b["starts_at"] = now.Add(time.Hour).Format(time.RFC3339) })
	notActive := s.check(t, h, exchange{name: "sale not active", method: "POST", path: "/v1/sales/" + scheduled + "/orders",
		bearer: bob, headers: key("oas-3"), body: `{}`, want: 409})
	for _, c := range []struct {
		r    response
		want order.Code
	}{{limit, order.CodePurchaseLimit}, {limitAgain, order.CodePurchaseLimit}, {soldOut, order.CodeSoldOut}, {notActive, order.CodeSaleNotActive}} {
		if got := c.r.problem(t).Code; got != c.want {
			t.Errorf("409 code %q, want %q", got, c.want)
		}
	}
	if limitAgain.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("a replayed rejection lacks Idempotent-Replayed: true")
	}
	for _, x := range []exchange{
		{name: "same key, other quantity", method: "POST", path: orders, bearer: alice, headers: key("oas-1"), body: `{"quantity":1}`, want: 422},
		{name: "unknown sale", method: "POST", path: "/v1/sales/none-" + testkit.RandHex(4) + "/orders", bearer: alice, headers: key("oas-4"), want: 404},
		{name: "order without token", method: "POST", path: orders, headers: key("oas-5"), want: 401, offContract: true},
		{name: "order with an expired token", method: "POST", path: orders, bearer: expired, headers: key("oas-5"), want: 401},
		{name: "order without Idempotency-Key", method: "POST", path: orders, bearer: bob, want: 400, offContract: true},
		{name: "order with quantity 0", method: "POST", path: orders, bearer: bob, headers: key("oas-5"), body: `{"quantity":0}`, want: 400, offContract: true},
		{name: "order over 4 KiB", method: "POST", path: orders, bearer: bob, headers: key("oas-5"),
			body: `{"quantity":1,"pad":"` + strings.Repeat("p", 5000) + `"}`, want: 413, offContract: true},
		{name: "order as text/plain", method: "POST", path: orders, bearer: bob,
			headers: map[string]string{"Idempotency-Key": "oas-5", "Content-Type": "text/plain"}, body: `{"quantity":1}`, want: 415, offContract: true},
		{name: "stock below sold", method: "PUT", path: adminPath, bearer: admin, body: `{"name":"Phone","stock":1,"per_user_limit":2}`, want: 409},
	} {
		s.check(t, h, x)
	}

	// The admin audit: the creation and the update above, a page at a time.
	changesPath := adminPath + "/changes"
	page := s.check(t, h, exchange{name: "sale changes", method: "GET", path: changesPath + "?limit=1", bearer: admin, want: 200})
	var firstPage httpapi.SaleChanges
	if err := json.Unmarshal(page.Body, &firstPage); err != nil || firstPage.NextBefore == nil {
		t.Fatalf("first page of changes %s (%v): want a next page", page.Body, err)
	}
	for _, x := range []exchange{
		{name: "sale changes, next page", method: "GET", path: changesPath + "?before=" + strconv.FormatInt(*firstPage.NextBefore, 10), bearer: admin, want: 200},
		{name: "sale changes with limit 0", method: "GET", path: changesPath + "?limit=0", bearer: admin, want: 400, offContract: true},
		{name: "sale changes without token", method: "GET", path: changesPath, want: 401, offContract: true},
		{name: "sale changes with a user token", method: "GET", path: changesPath, bearer: alice, want: 403},
		{name: "sale changes of an unknown sale", method: "GET", path: "/v1/admin/sales/none-" + testkit.RandHex(4) + "/changes", bearer: admin, want: 404},
	} {
		s.check(t, h, x)
	}

	// Reading orders.
	orderPath := accepted.Header.Get("Location")
	for _, x := range []exchange{
		{name: "order by its owner", method: "GET", path: orderPath, bearer: alice, want: 200},
		{name: "order by the admin", method: "GET", path: orderPath, bearer: admin, want: 200},
		{name: "order by someone else", method: "GET", path: orderPath, bearer: bob, want: 404},
		{name: "unknown order", method: "GET", path: "/v1/orders/" + id + ".0190c3c4-0000-7000-8000-000000000000", bearer: alice, want: 404},
		{name: "order without token", method: "GET", path: orderPath, want: 401, offContract: true},
		{name: "healthz", method: "GET", path: "/healthz", want: 200},
		{name: "readyz", method: "GET", path: "/readyz", want: 200},
	} {
		s.check(t, h, x)
	}

	// The checkout window: payment and cancellation of held orders.
	holdSale := h.newSale(5, 2, func(b map[string]any) { b["hold_seconds"] = 60 })
	heldPath := func(user string) string {
		t.Helper()
		r := h.placeOrder(holdSale, user, "hold-1", nil)
		if r.Status != http.StatusAccepted {
			t.Fatalf("held order: %d %s", r.Status, r.Body)
		}
		return r.Header.Get("Location")
	}
	toPay, toCancel := heldPath("alice-"+testkit.RandHex(3)), heldPath("bob-"+testkit.RandHex(3))
	payer, canceller := h.token(mustOwner(t, h, toPay)), h.token(mustOwner(t, h, toCancel))
	for _, x := range []exchange{
		{name: "pay", method: "POST", path: toPay + "/payment", bearer: payer, headers: key("pay-1"), body: `{"payment_ref":"psp-1"}`, want: 200},
		{name: "pay again", method: "POST", path: toPay + "/payment", bearer: payer, headers: key("pay-1"), body: `{"payment_ref":"psp-1"}`, want: 200},
		{name: "pay, key reused", method: "POST", path: toPay + "/payment", bearer: payer, headers: key("pay-1"), body: `{"payment_ref":"psp-2"}`, want: 422},
		{name: "pay without a key", method: "POST", path: toPay + "/payment", bearer: payer, body: `{"payment_ref":"psp-1"}`, want: 400, offContract: true},
		{name: "pay over 4 KiB", method: "POST", path: toPay + "/payment", bearer: payer, headers: key("pay-5"),
			body: `{"payment_ref":"` + strings.Repeat("r", 5000) + `"}`, want: 413, offContract: true},
		{name: "pay as text/plain", method: "POST", path: toPay + "/payment", bearer: payer,
			headers: map[string]string{"Idempotency-Key": "pay-5", "Content-Type": "text/plain"}, body: `{"payment_ref":"r"}`, want: 415, offContract: true},
		{name: "pay without token", method: "POST", path: toPay + "/payment", headers: key("pay-2"), body: `{"payment_ref":"psp-1"}`, want: 401, offContract: true},
		{name: "pay someone else's order", method: "POST", path: toPay + "/payment", bearer: canceller, headers: key("pay-3"), body: `{"payment_ref":"psp-1"}`, want: 404},
		{name: "cancel a paid order", method: "POST", path: toPay + "/cancel", bearer: payer, want: 409},
		{name: "cancel", method: "POST", path: toCancel + "/cancel", bearer: canceller, want: 200},
		{name: "cancel with a body", method: "POST", path: toCancel + "/cancel", bearer: canceller, body: `{"x":1}`, want: 400},
		{name: "cancel without token", method: "POST", path: toCancel + "/cancel", want: 401, offContract: true},
		{name: "cancel someone else's order", method: "POST", path: toCancel + "/cancel", bearer: payer, want: 404},
		{name: "pay a cancelled order", method: "POST", path: toCancel + "/payment", bearer: canceller, headers: key("pay-4"), body: `{"payment_ref":"psp-1"}`, want: 409},
	} {
		s.check(t, h, x)
	}

	// Rate limiting: one order request per user per minute. The sale is empty
	// so the first request (409, with RateLimit headers) needs no broker.
	rl := newHarness(t, harnessOpts{rateLimit: 1})
	rlOrders := "/v1/sales/" + rl.newSale(0, 10) + "/orders"
	carol := rl.token("carol-" + testkit.RandHex(3))
	first := s.check(t, rl, exchange{name: "rate-limited user's first order", method: "POST", path: rlOrders,
		bearer: carol, headers: key("rl-1"), want: 409})
	if first.Header.Get("RateLimit-Limit") != "1" || first.Header.Get("RateLimit-Remaining") != "0" {
		t.Errorf("RateLimit-Limit/Remaining %q/%q, want 1/0", first.Header.Get("RateLimit-Limit"), first.Header.Get("RateLimit-Remaining"))
	}
	s.check(t, rl, exchange{name: "rate limited", method: "POST", path: rlOrders, bearer: carol, headers: key("rl-2"), want: 429})

	// Failed authentications past the per-address limit: every authenticated
	// operation answers 429. Nobody is exempt here (the test client is on
	// loopback), and one failure is the limit.
	al := newHarness(t, harnessOpts{authLimit: httpapi.AuthLimit{Limit: 1, Window: time.Minute}})
	alSale := al.newSale(1, 1)
	s.check(t, al, exchange{name: "a failed authentication", method: "GET", path: "/v1/admin/sales/" + alSale, bearer: "not-the-admin", want: 403})
	for _, x := range []exchange{
		{name: "put sale, address limited", method: "PUT", path: "/v1/admin/sales/" + alSale, bearer: al.Admin, body: create, want: 429},
		{name: "counters, address limited", method: "GET", path: "/v1/admin/sales/" + alSale, bearer: al.Admin, want: 429},
		{name: "sale changes, address limited", method: "GET", path: "/v1/admin/sales/" + alSale + "/changes", bearer: al.Admin, want: 429},
		{name: "order, address limited", method: "POST", path: "/v1/sales/" + alSale + "/orders", bearer: al.token("fay"), headers: key("al-1"), want: 429},
		{name: "read order, address limited", method: "GET", path: orderPath, bearer: al.Admin, want: 429},
		{name: "pay, address limited", method: "POST", path: orderPath + "/payment", bearer: al.token("fay"), headers: key("al-2"), body: `{"payment_ref":"r"}`, want: 429},
		{name: "cancel, address limited", method: "POST", path: orderPath + "/cancel", bearer: al.token("fay"), want: 429},
	} {
		if r := s.check(t, al, x); r.Header.Get("RateLimit-Limit") != "1" || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s: RateLimit-Limit %q Retry-After %q, want 1 and a wait", x.name, r.Header.Get("RateLimit-Limit"), r.Header.Get("Retry-After"))
		}
	}

	// Kafka refuses the order: 503, the reservation is released.
	pf := newHarness(t, harnessOpts{wrapPublisher: func(checkout.Publisher) checkout.Publisher {
		return publisherFunc(func(context.Context, order.Order) error { return errors.New("broker unreachable (injected)") })
	}})
	pfSale := pf.newSale(5, 1)
	s.check(t, pf, exchange{name: "publish fails", method: "POST", path: "/v1/sales/" + pfSale + "/orders",
		bearer: pf.token("dave"), headers: key("pf-1"), want: 503})

	// Redis and PostgreSQL gone: every endpoint that needs them answers 503.
	down := newHarness(t, harnessOpts{})
	down.Redis.Close()
	down.pool.Close() // and PostgreSQL
	for _, x := range []exchange{
		{name: "put sale, Redis down", method: "PUT", path: adminPath, bearer: down.Admin, body: create, want: 503},
		{name: "counters, Redis down", method: "GET", path: adminPath, bearer: down.Admin, want: 503},
		{name: "public sale, Redis down", method: "GET", path: salePath, want: 503},
		{name: "order, Redis down", method: "POST", path: orders, bearer: down.token("erin"), headers: key("d-1"), want: 503},
		{name: "read order, Redis down", method: "GET", path: orderPath, bearer: down.Admin, want: 503},
		{name: "pay, Redis down", method: "POST", path: orderPath + "/payment", bearer: down.token("erin"), headers: key("d-2"), body: `{"payment_ref":"r"}`, want: 503},
		{name: "cancel, Redis down", method: "POST", path: orderPath + "/cancel", bearer: down.token("erin"), want: 503},
		{name: "readyz, Redis down", method: "GET", path: "/readyz", want: 503},
		{name: "sale changes, PostgreSQL down", method: "GET", path: changesPath, bearer: down.Admin, want: 503},
	} {
		s.check(t, down, x)
	}

	// Every documented (operation, status) was produced and validated.
	for _, d := range s.documented() {
		if !s.covered[d] {
			t.Errorf("documented but never exercised: %s", d)
		}
	}
}

// mustOwner reads the user id of the order at path (its Location).
func mustOwner(t *testing.T, h *apiHarness, path string) string {
	t.Helper()
	r := h.do("GET", path, h.Admin, nil, nil)
	var o httpapi.OrderResponse
	if err := json.Unmarshal(r.Body, &o); err != nil || o.UserID == "" {
		t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	return o.UserID
}
