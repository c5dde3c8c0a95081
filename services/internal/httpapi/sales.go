package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// SaleRequest is the body of PUT /v1/admin/sales/{saleID}.
type SaleRequest struct {
	Name         string     `json:"name"`
	Stock        *int64     `json:"stock"`
	PerUserLimit *int64     `json:"per_user_limit"`
	StartsAt     *time.Time `json:"starts_at"`
	EndsAt       *time.Time `json:"ends_at"`
}

func (s *Server) putSale(w http.ResponseWriter, r *http.Request) {
	saleID := chi.URLParam(r, "saleID")
	if !order.ValidSaleID(saleID) {
		s.problem(w, r, order.Errorf(order.CodeInvalidRequest, "sale ids are 1-64 characters of [A-Za-z0-9_-]"))
		return
	}
	var req SaleRequest
	if status, err := decodeJSON(r.Header.Get("Content-Type"), http.MaxBytesReader(w, r.Body, maxBody), &req); err != nil {
		s.problemStatus(w, r, status, err)
		return
	}
	now := s.now().UTC()
	spec := order.SaleSpec{ID: saleID, Name: req.Name, StartsAt: now, EndsAt: req.EndsAt}
	switch {
	case req.Name == "" || len(req.Name) > 200:
		s.problem(w, r, order.Errorf(order.CodeInvalidRequest, "name is required (at most 200 bytes)"))
		return
	case req.Stock == nil || *req.Stock < 0 || *req.Stock > 1_000_000_000:
		s.problem(w, r, order.Errorf(order.CodeInvalidRequest, "stock is required, between 0 and 1000000000"))
		return
	case req.PerUserLimit == nil || *req.PerUserLimit < 1:
		s.problem(w, r, order.Errorf(order.CodeInvalidRequest, "per_user_limit is required and at least 1"))
		return
	}
	spec.Stock, spec.PerUserLimit = *req.Stock, *req.PerUserLimit
	if req.StartsAt != nil {
		spec.StartsAt = req.StartsAt.UTC()
	}
	if spec.EndsAt != nil {
		e := spec.EndsAt.UTC()
		spec.EndsAt = &e
		if !e.After(spec.StartsAt) {
			s.problem(w, r, order.Errorf(order.CodeInvalidRequest, "ends_at must be after starts_at"))
			return
		}
	}
	created, err := s.upsertSale(r.Context(), spec, principalFrom(r.Context()).TokenID)
	s.sales.forget(saleID)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	sale, err := s.d.Ledger.Sale(r.Context(), saleID, s.now())
	if err != nil {
		s.problem(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/sales/"+saleID)
	}
	writeJSON(w, status, "application/json", sale)
}

// upsertSale writes the definition to PostgreSQL first (when configured),
// then to the hot ledger. A ledger that refuses (stock below what it has
// sold, persisted or in flight) gets PostgreSQL's previous definition put
// back; a ledger that fails leaves PostgreSQL ahead, and the admin's retry of
// the same PUT — idempotent — brings Redis level with it.
//
// A sale PostgreSQL already defined is only updated in Redis, never created:
// if Redis lacks it, Redis lost it, and creating it afresh would offer its
// sold units again (503 ledger_rebuilding; the rebuild applies the new
// definition).
//
// PostgreSQL records the change under actor (the caller's token id) in the
// same transaction, and undo deletes the record with the write it undoes.
func (s *Server) upsertSale(ctx context.Context, spec order.SaleSpec, actor string) (created bool, err error) {
	var existed bool
	var undo func(context.Context) error
	if s.d.Sales != nil {
		if existed, undo, err = s.d.Sales.PutSale(ctx, spec, actor); err != nil {
			return false, err
		}
	}
	if existed {
		err = s.d.Ledger.UpdateSale(ctx, spec)
	} else {
		created, err = s.d.Ledger.UpsertSale(ctx, spec)
	}
	if undo != nil && order.CodeOf(err) == order.CodeStockBelowSold {
		if uerr := undo(context.WithoutCancel(ctx)); uerr != nil {
			s.d.Log.ErrorContext(ctx, "the ledger refused a sale definition that PostgreSQL kept", "sale_id", spec.ID, "err", uerr)
		}
	}
	return created, err
}

func (s *Server) getSale(w http.ResponseWriter, r *http.Request) {
	serveSale(s, w, r, s.sales.Sale)
}

func (s *Server) getCounters(w http.ResponseWriter, r *http.Request) {
	serveSale(s, w, r, s.d.Ledger.Counters)
}

// serveSale answers a read of one sale: 404 for an invalid or unknown sale
// id, 503 when the ledger is unreachable, else 200 with what read returned.
func serveSale[T any](s *Server, w http.ResponseWriter, r *http.Request, read func(context.Context, string, time.Time) (T, error)) {
	saleID := chi.URLParam(r, "saleID")
	notFound := order.Errorf(order.CodeNotFound, "no sale %q", saleID)
	if !order.ValidSaleID(saleID) {
		s.problem(w, r, notFound)
		return
	}
	v, err := read(r.Context(), saleID, s.now())
	switch {
	case errors.Is(err, order.ErrNotFound):
		s.problem(w, r, notFound)
	case err != nil:
		s.problem(w, r, err)
	default:
		writeJSON(w, http.StatusOK, "application/json", v)
	}
}
