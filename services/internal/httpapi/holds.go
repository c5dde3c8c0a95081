package httpapi

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// Holds pays and cancels held orders (checkout.Holds): the checkout window
// of issue #14.
type Holds interface {
	Pay(ctx context.Context, p order.Payment) (order.Order, error)
	Cancel(ctx context.Context, orderID, userID string) (order.Order, error)
}

// PaymentRequest is the body of POST /v1/orders/{orderID}/payment.
type PaymentRequest struct {
	PaymentRef *string `json:"payment_ref"`
}

// payOrder is POST /v1/orders/{orderID}/payment: the owner pays a held
// order. 200 once OrderPaid is in Kafka; 404 for an order that is not the
// caller's; 409 order_expired, order_cancelled, payment_not_required; 422
// for a key reused with another body; 503 (retry with the same key).
func (s *Server) payOrder(w http.ResponseWriter, r *http.Request) {
	id, ok := s.holdTarget(w, r)
	if !ok {
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if !order.ValidIdempotencyKey(key) {
		s.problem(w, r, order.Errorf(order.CodeInvalidRequest, "the Idempotency-Key header is required: 1 to 255 visible ASCII characters"))
		return
	}
	var req PaymentRequest
	if status, err := decodeJSON(r.Header.Get("Content-Type"), http.MaxBytesReader(w, r.Body, maxBody), &req); err != nil {
		s.problemStatus(w, r, status, err)
		return
	}
	if req.PaymentRef == nil || !order.ValidPaymentRef(*req.PaymentRef) {
		s.problem(w, r, order.Errorf(order.CodeInvalidRequest, "payment_ref is required: 1 to 128 visible ASCII characters"))
		return
	}
	o, err := s.d.Holds.Pay(r.Context(), order.Payment{OrderID: id, UserID: principalFrom(r.Context()).UserID,
		IdempotencyKey: key, Ref: *req.PaymentRef})
	s.holdAnswer(w, r, id, o, err)
}

// cancelOrder is POST /v1/orders/{orderID}/cancel: the owner gives a held
// order's units back. 200 (again 200 when already cancelled); 404; 409
// order_paid, order_expired, payment_not_required (no window: final).
func (s *Server) cancelOrder(w http.ResponseWriter, r *http.Request) {
	id, ok := s.holdTarget(w, r)
	if !ok {
		return
	}
	if r.ContentLength > 0 {
		s.problem(w, r, order.Errorf(order.CodeInvalidRequest, "cancel takes no body"))
		return
	}
	o, err := s.d.Holds.Cancel(r.Context(), id, principalFrom(r.Context()).UserID)
	s.holdAnswer(w, r, id, o, err)
}

// holdTarget reads the order id of a payment or cancellation: 404 when it
// cannot name an order.
func (s *Server) holdTarget(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := chi.URLParam(r, "orderID")
	if _, ok := order.SaleOfOrder(id); !ok || s.d.Holds == nil {
		s.problem(w, r, order.Errorf(order.CodeNotFound, "no order %q", id))
		return "", false
	}
	return id, true
}

func (s *Server) holdAnswer(w http.ResponseWriter, r *http.Request, id string, o order.Order, err error) {
	switch {
	case order.CodeOf(err) == order.CodeNotFound:
		s.problem(w, r, order.Errorf(order.CodeNotFound, "no order %q", id))
	case err != nil:
		s.problem(w, r, err)
	default:
		writeJSON(w, http.StatusOK, "application/json", orderResponse(o))
	}
}
