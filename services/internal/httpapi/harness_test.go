package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/blitzbuy/blitzbuy/services/internal/checkout"
	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/pgstore"
	"github.com/blitzbuy/blitzbuy/services/internal/publish"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/services/internal/telemetry"
	"github.com/blitzbuy/blitzbuy/testkit"
)

// apiHarness is the real order API (chi handler, rueidis Lua on the real
// Redis, franz-go on the real Kafka) behind an httptest server.
type apiHarness struct {
	t        testing.TB
	env      stacktest.Env
	URL      string
	Admin    string
	secret   []byte
	Redis    rueidis.Client
	Store    *reservation.Store
	Producer *publish.Producer
	PG       *pgstore.Store // the durable sale definitions
	pool     *pgxpool.Pool
	Client   *http.Client
	handler  http.Handler
	tail     *stacktest.Tail
	Holds    *checkout.Holds // the checkout window: tests call its Expire
}

type harnessOpts struct {
	rateLimit      int64
	publishTimeout time.Duration
	wrapPublisher  func(checkout.Publisher) checkout.Publisher
	saleCache      time.Duration // Deps.SaleCacheTTL; 0 (off) so reads see each change at once
	authLimit      httpapi.AuthLimit
	noSales        bool   // Deps.Sales nil: definitions in Redis only, as order-api without PostgreSQL
	redisAddr      string // "": the stack's Redis (e.g. stacktest.PrivateRedis's)
}

var saleSeq atomic.Int64

// tracing installs a real (non-exporting) tracer provider once, so server
// spans carry real trace ids as they do in order-api.
var tracing sync.Once

func newHarness(t testing.TB, o harnessOpts) *apiHarness {
	t.Helper()
	tracing.Do(func() {
		if _, err := telemetry.Setup(context.Background(), telemetry.Config{ServiceName: "httpapi-test"}); err != nil {
			t.Fatal(err)
		}
	})
	env := stacktest.Load(t)
	if o.publishTimeout == 0 {
		o.publishTimeout = 5 * time.Second
	}
	if o.redisAddr == "" {
		o.redisAddr = env.RedisAddr
	}
	rdb, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{o.redisAddr}})
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	t.Cleanup(rdb.Close)
	store, err := reservation.New(rdb, reservation.Config{IdempotencyTTL: 24 * time.Hour, RateLimit: o.rateLimit, RateWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := publish.NewProducer(publish.Config{Brokers: env.KafkaBrokers, Topic: "orders", DeliveryTimeout: o.publishTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = prod.Close(ctx)
	})
	if _, err := pgstore.Migrate(context.Background(), env.PostgresURL); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), env.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	h := &apiHarness{t: t, env: env, Admin: testkit.RandHex(16), secret: []byte(testkit.RandHex(32)), Redis: rdb, Store: store, Producer: prod,
		PG: pgstore.New(pool), pool: pool}
	store.WithDefinitions(h.PG) // a sale PostgreSQL defines but Redis lacks answers ledger_rebuilding
	h.tail = stacktest.NewTail(t, env, "orders")
	auth, err := httpapi.NewAuthenticator(string(h.secret), h.Admin)
	if err != nil {
		t.Fatal(err)
	}
	var pub checkout.Publisher = prod
	if o.wrapPublisher != nil {
		pub = o.wrapPublisher(prod)
	}
	deps := httpapi.Deps{
		Ledger: store, Sales: h.PG, Auth: auth, SaleCacheTTL: o.saleCache, AuthLimit: o.authLimit,
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		Middleware: []func(http.Handler) http.Handler{telemetry.ServerSpans},
		Ready: map[string]httpapi.Checker{
			"redis": func(ctx context.Context) error { return rdb.Do(ctx, rdb.B().Ping().Build()).Error() },
			"kafka": prod.Ping,
		},
	}
	if o.noSales {
		deps.Sales = nil
	}
	if testing.Verbose() {
		deps.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	deps.Checkout = checkout.New(store, pub, checkout.Config{ReplayWait: o.publishTimeout + 2*time.Second}, deps.Log)
	h.Holds = checkout.NewHolds(store, prod, deps.Log)
	deps.Holds = h.Holds
	h.handler = httpapi.New(deps).Handler()
	srv := httptest.NewServer(h.handler)
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	h.Client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 0}}
	t.Cleanup(h.Client.CloseIdleConnections)
	return h
}

// newSale creates a sale with a unique id through the admin API.
func (h *apiHarness) newSale(stock, limit int64, mutate ...func(map[string]any)) string {
	h.t.Helper()
	id := fmt.Sprintf("t%d-%s", saleSeq.Add(1), testkit.RandHex(4))
	body := map[string]any{"name": "test sale " + id, "stock": stock, "per_user_limit": limit}
	for _, m := range mutate {
		m(body)
	}
	resp := h.do("PUT", "/v1/admin/sales/"+id, h.Admin, nil, body)
	if resp.Status != http.StatusCreated {
		h.t.Fatalf("create sale: status %d, body %s", resp.Status, resp.Body)
	}
	h.t.Cleanup(func() { h.deleteSale(id) })
	return id
}

// deleteSale removes every key of a test sale, and its durable definition.
func (h *apiHarness) deleteSale(id string) {
	stacktest.DeleteSale(h.Redis, id)
	_, _ = h.pool.Exec(context.Background(), `DELETE FROM sales WHERE sale_id = $1`, id)
	_, _ = h.pool.Exec(context.Background(), `DELETE FROM sale_changes WHERE sale_id = $1`, id)
}

func (h *apiHarness) token(user string) string {
	tok, err := httpapi.SignUserToken(h.secret, user, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) problem(t testing.TB) httpapi.Problem {
	t.Helper()
	var p httpapi.Problem
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json (status %d, body %s)", ct, r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("problem body %s: %v", r.Body, err)
	}
	if p.Status != r.Status || p.Type == "" || p.Title == "" || p.Detail == "" || p.Code == "" {
		t.Fatalf("incomplete problem %+v for status %d", p, r.Status)
	}
	return p
}

func (r response) order(t testing.TB) httpapi.OrderResponse {
	t.Helper()
	var o httpapi.OrderResponse
	if err := json.Unmarshal(r.Body, &o); err != nil {
		t.Fatalf("order body %s: %v", r.Body, err)
	}
	return o
}

// do sends a request; body is JSON-encoded unless it is a string or []byte.
func (h *apiHarness) do(method, path, bearer string, headers map[string]string, body any) response {
	h.t.Helper()
	var rdr io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rdr = strings.NewReader(b)
	case []byte:
		rdr = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rdr = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.URL+path, rdr)
	if err != nil {
		h.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if rdr != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		h.t.Errorf("%s %s: %v", method, path, err)
		return response{}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// placeOrder posts an order as user with an Idempotency-Key.
func (h *apiHarness) placeOrder(sale, user, key string, body any) response {
	return h.do("POST", "/v1/sales/"+sale+"/orders", h.token(user), map[string]string{"Idempotency-Key": key}, body)
}

func (h *apiHarness) sale(id string) order.Sale {
	h.t.Helper()
	r := h.do("GET", "/v1/sales/"+id, "", nil, nil)
	if r.Status != http.StatusOK {
		h.t.Fatalf("GET sale %s: %d %s", id, r.Status, r.Body)
	}
	var s order.Sale
	if err := json.Unmarshal(r.Body, &s); err != nil {
		h.t.Fatal(err)
	}
	return s
}

// published consumes `orders` from where the harness started until every id
// in want was seen (or the timeout), and returns each order id's events.
func (h *apiHarness) published(want map[string]bool, timeout time.Duration) map[string][]order.OrderPlaced {
	h.t.Helper()
	seen := map[string][]order.OrderPlaced{}
	missing := len(want)
	h.tail.Read(h.t, timeout, func(r *kgo.Record) {
		e, err := order.DecodeOrderPlaced(r.Value)
		if err != nil {
			return // other tests' records may share the topic
		}
		if want[e.OrderID] && len(seen[e.OrderID]) == 0 {
			missing--
		}
		seen[e.OrderID] = append(seen[e.OrderID], e)
	}, func() bool { return missing == 0 })
	return seen
}
