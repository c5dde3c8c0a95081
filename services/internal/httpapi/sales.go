package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

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
	// HoldSeconds is the checkout window, 0-86400 (absent: 0, none).
	HoldSeconds *int64 `json:"hold_seconds"`
}

// MaxHoldSeconds bounds a sale's checkout window: a day.
const MaxHoldSeconds = 86_400

func (s *Server) putSale(w http.ResponseWriter, r *http.Request) {
	saleID := chi.URLParam(r, "saleID")
	if !order.ValidSaleID(saleID) {
		s.problem(w, r, order.Errorf(order.CodeInvalidRequest, "sale ids are 1-64 characters of [A-Za-z0-9_-]"))
		return
	}
	spec, status, err := decodeSaleRequest(r.Header.Get("Content-Type"), http.MaxBytesReader(w, r.Body, maxBody), saleID, s.now())
	if err != nil {
		s.problemStatus(w, r, status, err)
		return
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
	status = http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/sales/"+saleID)
	}
	writeJSON(w, status, "application/json", sale)
}

// Bounds of a sale definition (docs/openapi.yaml, SaleRequest).
const (
	maxSaleName  = 200
	maxSaleStock = 1_000_000_000
)

// decodeSaleRequest reads the body of PUT /v1/admin/sales/{saleID} into the
// definition it sets, with the rules of docs/openapi.yaml's SaleRequest:
// name 1-200 characters (code points, as JSON Schema's maxLength counts)
// without U+0000, stock 0 to 1e9, per_user_limit at least 1, starts_at
// absent or null for now, ends_at absent or null for never, else after
// starts_at and after the Unix epoch; times in UTC, to the millisecond. Errors are *order.Error with code invalid_request,
// their HTTP status alongside (400, 413 or 415).
func decodeSaleRequest(contentType string, body io.Reader, saleID string, now time.Time) (order.SaleSpec, int, error) {
	var req SaleRequest
	if status, err := decodeJSON(contentType, body, &req); err != nil {
		return order.SaleSpec{}, status, err
	}
	invalid := func(msg string) (order.SaleSpec, int, error) {
		return order.SaleSpec{}, http.StatusBadRequest, order.Errorf(order.CodeInvalidRequest, "%s", msg)
	}
	switch {
	case req.Name == "" || utf8.RuneCountInString(req.Name) > maxSaleName:
		return invalid("name is required (at most 200 characters)")
	case strings.ContainsRune(req.Name, 0): // PostgreSQL's text cannot hold it
		return invalid("name may not contain U+0000")
	case req.Stock == nil || *req.Stock < 0 || *req.Stock > maxSaleStock:
		return invalid("stock is required, between 0 and 1000000000")
	case req.PerUserLimit == nil || *req.PerUserLimit < 1:
		return invalid("per_user_limit is required and at least 1")
	case req.HoldSeconds != nil && (*req.HoldSeconds < 0 || *req.HoldSeconds > MaxHoldSeconds):
		return invalid("hold_seconds must be between 0 and 86400")
	}
	// The ledger keeps times in Unix milliseconds: what is checked here is
	// what it stores and answers.
	spec := order.SaleSpec{ID: saleID, Name: req.Name, Stock: *req.Stock, PerUserLimit: *req.PerUserLimit,
		StartsAt: now.UTC().Truncate(time.Millisecond)}
	if req.StartsAt != nil {
		spec.StartsAt = req.StartsAt.UTC().Truncate(time.Millisecond)
	}
	if req.HoldSeconds != nil {
		spec.HoldSeconds = *req.HoldSeconds
	}
	if req.EndsAt != nil {
		e := req.EndsAt.UTC().Truncate(time.Millisecond)
		switch {
		case e.UnixMilli() <= 0: // the ledger's ends_ms 0 means "never ends"
			return invalid("ends_at must be after 1970-01-01T00:00:00Z")
		case !e.After(spec.StartsAt):
			return invalid("ends_at must be after starts_at")
		}
		spec.EndsAt = &e
	}
	return spec, 0, nil
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
