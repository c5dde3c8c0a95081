package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// OrderRequest is the body of POST /v1/sales/{saleID}/orders.
type OrderRequest struct {
	Quantity *int64 `json:"quantity"`
}

// OrderResponse is the body of an accepted order (and of GET /v1/orders/{id}).
type OrderResponse struct {
	OrderID  string       `json:"order_id"`
	SaleID   string       `json:"sale_id"`
	UserID   string       `json:"user_id"`
	Quantity int64        `json:"quantity"`
	Status   order.Status `json:"status"`
	// ExpiresAt: the end of the checkout window (absent without one);
	// PaidAt once paid.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	PaidAt    *time.Time `json:"paid_at,omitempty"`
}

func orderResponse(o order.Order) OrderResponse {
	return OrderResponse{OrderID: o.ID, SaleID: o.SaleID, UserID: o.UserID, Quantity: o.Quantity, Status: o.Status,
		ExpiresAt: o.ExpiresAt, PaidAt: o.PaidAt}
}

// maxQuantity caps one order; larger numbers are a client bug, not a purchase.
const maxQuantity = 1_000_000

// DecodeOrderRequest validates an order request's headers and body; the body
// may be empty (quantity 1). Errors are *order.Error with code invalid_request;
// their HTTP status is returned alongside (400, 413 or 415).
func DecodeOrderRequest(contentType string, body io.Reader) (qty int64, status int, err error) {
	var req OrderRequest
	empty, status, err := decodeBody(contentType, body, &req, true)
	if err != nil {
		return 0, status, err
	}
	if empty || req.Quantity == nil {
		return 1, 0, nil
	}
	if *req.Quantity < 1 || *req.Quantity > maxQuantity {
		return 0, http.StatusBadRequest, order.Errorf(order.CodeInvalidRequest, "quantity must be between 1 and %d", maxQuantity)
	}
	return *req.Quantity, 0, nil
}

// decodeJSON decodes a required JSON body into v with the same rules as
// order requests (Content-Type, size, unknown fields, one object only).
func decodeJSON(contentType string, body io.Reader, v any) (status int, err error) {
	_, status, err = decodeBody(contentType, body, v, false)
	return status, err
}

// decodeBody is the one place request bodies are decoded: 413 beyond the
// size limit, 415 for a non-JSON Content-Type, 400 for malformed JSON,
// unknown fields (names match exactly), duplicate keys, a non-integral
// number for an integer, or trailing data (exactJSON). An empty body is allowed only when
// allowEmpty (it then reports empty and leaves v untouched).
func decodeBody(contentType string, body io.Reader, v any, allowEmpty bool) (empty bool, status int, err error) {
	raw, err := io.ReadAll(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return false, http.StatusRequestEntityTooLarge, order.Errorf(order.CodeInvalidRequest, "the body exceeds %d bytes", maxBody)
		}
		return false, http.StatusBadRequest, order.Errorf(order.CodeInvalidRequest, "the body could not be read")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		if allowEmpty {
			return true, 0, nil
		}
		return false, http.StatusBadRequest, order.Errorf(order.CodeInvalidRequest, "a JSON body is required")
	}
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/json" {
		return false, http.StatusUnsupportedMediaType, order.Errorf(order.CodeInvalidRequest, "Content-Type must be application/json")
	}
	// One JSON object, as the schemas say: `null` decodes into a struct as
	// nothing at all, and an order body of null was a 202 for one unit.
	if bytes.TrimLeft(raw, " \t\r\n")[0] != '{' {
		return false, http.StatusBadRequest, order.Errorf(order.CodeInvalidRequest, "the body must be a JSON object")
	}
	clean, err := exactJSON(raw, reflect.TypeOf(v))
	switch {
	case err == errTrailing:
		return false, http.StatusBadRequest, order.Errorf(order.CodeInvalidRequest, "the body must hold exactly one JSON object")
	case err != nil:
		return false, http.StatusBadRequest, order.Errorf(order.CodeInvalidRequest, "malformed JSON body: %s", jsonErrorDetail(err))
	}
	dec := json.NewDecoder(bytes.NewReader(clean))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return false, http.StatusBadRequest, order.Errorf(order.CodeInvalidRequest, "malformed JSON body: %s", jsonErrorDetail(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return false, http.StatusBadRequest, order.Errorf(order.CodeInvalidRequest, "the body must hold exactly one JSON object")
	}
	return false, 0, nil
}

// jsonErrorDetail describes a decoding error without echoing input back.
func jsonErrorDetail(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var rule *bodyError
	switch {
	case errors.As(err, &rule):
		return rule.msg
	case errors.As(err, &syn):
		return "syntax error at byte " + strconv.FormatInt(syn.Offset, 10)
	case errors.As(err, &typ):
		return "field " + strconv.Quote(typ.Field) + " must be " + typ.Type.String()
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected end of input"
	default:
		if msg := err.Error(); len(msg) < 120 && bytes.HasPrefix([]byte(msg), []byte("json: unknown field")) {
			return msg[len("json: "):]
		}
		return "invalid JSON"
	}
}

// placeOrder is POST /v1/sales/{saleID}/orders: decode the request, let
// checkout decide its fate, encode the outcome. The outcome metric is the
// Outcome's Kind (rejected for a request that does not decode).
func (s *Server) placeOrder(w http.ResponseWriter, r *http.Request) {
	req, status, err := decodePlaceOrder(w, r)
	if err != nil {
		s.d.Metrics.outcome(order.OutcomeRejected)
		s.problemStatus(w, r, status, err)
		return
	}
	out, err := s.d.Checkout.Place(r.Context(), req)
	s.d.Metrics.outcome(out.Kind)
	setRateLimitHeaders(w.Header(), out.RateLimit)
	switch {
	case err != nil: // the system failed the buyer (503 in problem)
		s.problem(w, r, err)
		return
	case out.Replayed:
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if out.Err != nil {
		s.problem(w, r, out.Err)
		return
	}
	w.Header().Set("Location", "/v1/orders/"+out.Order.ID)
	writeJSON(w, http.StatusAccepted, "application/json", orderResponse(out.Order))
}

// decodePlaceOrder reads an order request: the sale id (404 when it cannot
// name a sale), the Idempotency-Key (400) and the body (400, 413, 415), in
// that order; the caller is the authenticated user.
func decodePlaceOrder(w http.ResponseWriter, r *http.Request) (order.Request, int, error) {
	saleID := chi.URLParam(r, "saleID")
	if !order.ValidSaleID(saleID) {
		return order.Request{}, 0, order.Errorf(order.CodeNotFound, "no sale %q", saleID)
	}
	key := r.Header.Get("Idempotency-Key")
	if !order.ValidIdempotencyKey(key) {
		return order.Request{}, 0, order.Errorf(order.CodeInvalidRequest, "the Idempotency-Key header is required: 1 to 255 visible ASCII characters")
	}
	qty, status, err := DecodeOrderRequest(r.Header.Get("Content-Type"), http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return order.Request{}, status, err
	}
	return order.Request{SaleID: saleID, UserID: principalFrom(r.Context()).UserID, IdempotencyKey: key, Quantity: qty}, 0, nil
}

// setRateLimitHeaders writes the RateLimit-* headers of a limited request,
// and Retry-After when it was refused.
func setRateLimitHeaders(h http.Header, rl order.RateLimit) {
	if rl.Limit <= 0 {
		return
	}
	h.Set("RateLimit-Limit", strconv.FormatInt(rl.Limit, 10))
	h.Set("RateLimit-Remaining", strconv.FormatInt(rl.Remaining, 10))
	h.Set("RateLimit-Reset", strconv.Itoa(rl.ResetSeconds()))
	if !rl.Allowed {
		h.Set("Retry-After", strconv.Itoa(rl.RetryAfterSeconds()))
	}
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principalFrom(ctx)
	id := chi.URLParam(r, "orderID")
	notFound := order.Errorf(order.CodeNotFound, "no order %q", id)
	if _, ok := order.SaleOfOrder(id); !ok {
		s.problem(w, r, notFound)
		return
	}
	o, err := s.lookupOrder(ctx, id)
	if errors.Is(err, order.ErrNotFound) {
		s.problem(w, r, notFound)
		return
	}
	if err != nil {
		s.problem(w, r, err)
		return
	}
	if !p.Admin && o.UserID != p.UserID { // someone else's order does not exist for you
		s.problem(w, r, notFound)
		return
	}
	writeJSON(w, http.StatusOK, "application/json", orderResponse(o))
}

// lookupOrder asks the durable ledger first (confirmed), then the Redis
// reservation (pending or failed).
func (s *Server) lookupOrder(ctx context.Context, id string) (order.Order, error) {
	if s.d.Orders != nil {
		o, err := s.d.Orders.Order(ctx, id)
		switch {
		case err == nil:
			return s.freshHold(ctx, o), nil
		case !errors.Is(err, order.ErrNotFound):
			// The database is unwell: the reservation still knows the order.
			s.d.Log.WarnContext(ctx, "order lookup in postgres failed; asking redis", "order_id", id, "err", err)
		}
	}
	return s.d.Ledger.Order(ctx, id)
}

// freshHold lets the hot ledger answer for a held order's window: a
// payment, cancellation or expiry reaches PostgreSQL through Kafka, a moment
// after Redis decided it.
func (s *Server) freshHold(ctx context.Context, o order.Order) order.Order {
	if o.Hold != order.HoldHeld {
		return o
	}
	if r, err := s.d.Ledger.Order(ctx, o.ID); err == nil && r.Hold != order.HoldHeld {
		if st, ended := r.Hold.Status(); ended {
			o.Hold, o.Status, o.PaidAt = r.Hold, st, r.PaidAt
		}
	}
	return o
}

// problemStatus answers err with an explicit status (413/415/405 share the
// invalid_request code with 400).
func (s *Server) problemStatus(w http.ResponseWriter, r *http.Request, status int, err error) {
	writeProblemStatus(w, r, s.d.Log, status, err)
}
