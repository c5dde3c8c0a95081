package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// Interfaces are declared here, where they are consumed; checkout.Service,
// reservation.Store and pgstore.Store implement them.

// Checkout places orders: the whole saga behind POST /v1/sales/{id}/orders.
type Checkout interface {
	Place(ctx context.Context, req order.Request) (order.Outcome, error)
}

// Ledger is the hot ledger's read and admin side (Redis).
type Ledger interface {
	Order(ctx context.Context, orderID string) (order.Order, error)
	Sale(ctx context.Context, saleID string, now time.Time) (order.Sale, error)
	UpsertSale(ctx context.Context, spec order.SaleSpec) (bool, error)
	// UpdateSale updates a sale and refuses to create it (the durable ledger
	// defined it, so a missing one was lost): order.ErrLedgerRebuilding.
	UpdateSale(ctx context.Context, spec order.SaleSpec) error
	Counters(ctx context.Context, saleID string, now time.Time) (order.Counters, error)
}

// OrderStore is the durable ledger (Postgres); nil until the writer exists.
// GET /v1/orders/{id} asks it first, then the Redis reservation.
type OrderStore interface {
	Order(ctx context.Context, orderID string) (order.Order, error)
}

// SaleStore keeps sale definitions durably (PostgreSQL). The admin PUT
// writes it before the ledger, so a ledger that lost its data can be rebuilt
// from it; existed says it already defined the sale; undo puts the previous
// definition back when the ledger refuses.
//
// It also keeps the admin audit: PutSale records each change under actor (a
// Principal's TokenID, never a credential) with the change itself, undo
// deletes that record, and SaleChanges reads them newest first: at most
// limit, with ids below before (0: from the newest); order.ErrNotFound for a
// sale it neither defines nor recorded.
type SaleStore interface {
	PutSale(ctx context.Context, spec order.SaleSpec, actor string) (existed bool, undo func(context.Context) error, err error)
	SaleChanges(ctx context.Context, saleID string, before int64, limit int) ([]order.SaleChange, error)
}

// Checker is a readiness probe of one dependency.
type Checker func(ctx context.Context) error

// Deps are the server's collaborators.
type Deps struct {
	Checkout Checkout
	Ledger   Ledger
	Orders   OrderStore // optional
	Holds    Holds      // optional: without it payment and cancel answer 404
	Sales    SaleStore  // optional: without it sale definitions live in Redis only
	Metrics  *Metrics   // optional
	Auth     *Authenticator
	Log      *slog.Logger
	Ready    map[string]Checker
	// Middleware wraps every route (tracing, metrics); applied outermost first.
	Middleware []func(http.Handler) http.Handler
	// AuthLimit bounds failed authentications per source address (the zero
	// value: no limit).
	AuthLimit AuthLimit
	// SaleCacheTTL: how long GET /v1/sales/{id} is answered from memory
	// (0: every read goes to the ledger; at most MaxSaleCacheTTL).
	SaleCacheTTL time.Duration
}

// Server is the HTTP API.
type Server struct {
	d         Deps
	now       func() time.Time
	sales     *saleCache
	authLimit *authLimiter
}

// New builds the API.
func New(d Deps) *Server {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	s := &Server{d: d, now: time.Now}
	s.authLimit = newAuthLimiter(d.AuthLimit, s.now)
	if d.Metrics != nil {
		s.authLimit.limited = d.Metrics.authLimited
	}
	s.sales = newSaleCache(d.SaleCacheTTL, s.now, func(ctx context.Context, id string, now time.Time) (order.Sale, error) {
		return s.d.Ledger.Sale(ctx, id, now)
	})
	return s
}

// maxBody is the largest request body accepted (413 beyond).
const maxBody = 4 << 10

// Handler returns the routed handler.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	for _, m := range s.d.Middleware {
		r.Use(m)
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.problem(w, r, order.Errorf(order.CodeNotFound, "no route for %s %s", r.Method, r.URL.Path))
	})
	router := r
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut} {
			if router.Match(chi.NewRouteContext(), m, r.URL.Path) {
				allow = append(allow, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.problemStatus(w, r, http.StatusMethodNotAllowed, order.Errorf(order.CodeInvalidRequest, "method %s not allowed here", r.Method))
	})

	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, "application/json", map[string]string{"status": "ok"})
	})
	r.Get("/readyz", s.ready)

	users := s.d.Auth.middleware(true, false, s.authLimit, s.problem)
	admin := s.d.Auth.middleware(false, true, s.authLimit, s.problem)
	either := s.d.Auth.middleware(true, true, s.authLimit, s.problem)

	r.Get("/v1/sales/{saleID}", s.getSale)
	r.With(users).Post("/v1/sales/{saleID}/orders", s.placeOrder)
	r.With(either).Get("/v1/orders/{orderID}", s.getOrder)
	r.With(users).Post("/v1/orders/{orderID}/payment", s.payOrder)
	r.With(users).Post("/v1/orders/{orderID}/cancel", s.cancelOrder)
	r.With(admin).Put("/v1/admin/sales/{saleID}", s.putSale)
	r.With(admin).Get("/v1/admin/sales/{saleID}", s.getCounters)
	r.With(admin).Get("/v1/admin/sales/{saleID}/changes", s.getSaleChanges)
	return r
}

func (s *Server) problem(w http.ResponseWriter, r *http.Request, err error) {
	writeProblem(w, r, s.d.Log, err)
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, failed := http.StatusOK, map[string]string{}
	for name, check := range s.d.Ready {
		if err := check(ctx); err != nil {
			status = http.StatusServiceUnavailable
			failed[name] = "unavailable"
			s.d.Log.WarnContext(r.Context(), "readiness check failed", "dependency", name, "err", err)
		} else {
			failed[name] = "ok"
		}
	}
	if status != http.StatusOK {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, "application/json", failed)
}
