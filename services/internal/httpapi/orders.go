package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
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
}

func orderResponse(o order.Order) OrderResponse {
	return OrderResponse{OrderID: o.ID, SaleID: o.SaleID, UserID: o.UserID, Quantity: o.Quantity, Status: o.Status}
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
// unknown fields or trailing data. An empty body is allowed only when
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
	dec := json.NewDecoder(bytes.NewReader(raw))
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
	switch {
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

func (s *Server) placeOrder(w http.ResponseWriter, r *http.Request) {
	if s.d.Metrics == nil {
		s.placeOrderInner(w, r)
		return
	}
	rec := &outcomeRecorder{ResponseWriter: w}
	s.placeOrderInner(rec, r)
	s.d.Metrics.outcome(rec.outcome())
}

// outcomeRecorder derives the outcome label from what was answered.
type outcomeRecorder struct {
	http.ResponseWriter
	status int
	code   order.Code
}

func (o *outcomeRecorder) setProblemCode(c order.Code) { o.code = c }

func (o *outcomeRecorder) WriteHeader(code int) {
	o.status = code
	o.ResponseWriter.WriteHeader(code)
}

func (o *outcomeRecorder) outcome() string {
	replayed := o.Header().Get("Idempotent-Replayed") == "true"
	switch {
	case o.status == http.StatusAccepted:
		return outcomeOf(nil, replayed)
	case o.status == http.StatusTooManyRequests:
		return OutcomeRateLimited
	case o.status >= 500:
		return OutcomeError
	}
	if o.code != "" {
		return outcomeOf(&order.Error{Code: o.code}, replayed)
	}
	return OutcomeRejected
}

func (s *Server) placeOrderInner(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	user := principalFrom(ctx).UserID
	saleID := chi.URLParam(r, "saleID")
	if !order.ValidSaleID(saleID) {
		s.problem(w, r, order.Errorf(order.CodeNotFound, "no sale %q", saleID))
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if !order.ValidIdempotencyKey(key) {
		s.problem(w, r, order.Errorf(order.CodeInvalidRequest, "the Idempotency-Key header is required: 1 to 255 visible ASCII characters"))
		return
	}
	qty, status, err := DecodeOrderRequest(r.Header.Get("Content-Type"), http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.problemStatus(w, r, status, err)
		return
	}

	if s.d.Limiter != nil {
		d, err := s.d.Limiter.Allow(ctx, user)
		if err != nil {
			s.d.Log.WarnContext(ctx, "rate limiter unavailable", "err", err)
			s.problem(w, r, order.ErrUnavailable)
			return
		}
		if d.Limit > 0 {
			reset := int((d.Reset + time.Second - 1) / time.Second)
			w.Header().Set("RateLimit-Limit", strconv.FormatInt(d.Limit, 10))
			w.Header().Set("RateLimit-Remaining", strconv.FormatInt(d.Remaining, 10))
			w.Header().Set("RateLimit-Reset", strconv.Itoa(reset))
			if !d.Allowed {
				w.Header().Set("Retry-After", strconv.Itoa(max(reset, 1)))
				s.problem(w, r, order.Errorf(order.CodeRateLimited, "too many order requests; retry in %d s", max(reset, 1)))
				return
			}
		}
	}

	res, err := s.d.Reserver.Reserve(ctx, reservation.Request{SaleID: saleID, UserID: user, IdempotencyKey: key, Quantity: qty})
	if err != nil {
		if order.CodeOf(err) == order.CodeInternal {
			s.d.Log.ErrorContext(ctx, "reserve failed", "err", err)
			err = order.ErrUnavailable
		}
		s.problem(w, r, err)
		return
	}
	if res.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if res.Err != nil {
		s.problem(w, r, res.Err)
		return
	}
	o := res.Order
	if res.Replayed {
		if err := s.awaitOriginal(ctx, o); err != nil {
			w.Header().Del("Idempotent-Replayed")
			s.problem(w, r, err)
			return
		}
	} else {
		if s.d.AfterReserve != nil {
			s.d.AfterReserve(o)
		}
		if err := s.publish(ctx, o); err != nil {
			s.problem(w, r, err)
			return
		}
	}
	w.Header().Set("Location", "/v1/orders/"+o.ID)
	writeJSON(w, http.StatusAccepted, "application/json", orderResponse(o))
}

// publish hands the order to Kafka. On failure it releases the reservation
// (stock, user count, idempotency record) and answers 503 — unless a relay
// already owns the order, in which case it will be published and 202 stands.
func (s *Server) publish(ctx context.Context, o order.Order) error {
	perr := s.d.Publisher.Publish(ctx, o)
	if perr == nil {
		// Out of the outbox. Should this fail, the relay re-publishes the order
		// later: a duplicate the writer absorbs, never a loss.
		if err := s.d.Reserver.Ack(context.WithoutCancel(ctx), o.SaleID, o.ID); err != nil {
			s.d.Log.WarnContext(ctx, "ack after publish failed; the relay will re-publish", "order_id", o.ID, "err", err)
		}
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	err := s.d.Reserver.Release(ctx, o, reservation.ReleasePublishFailed)
	switch {
	case err == nil:
		s.d.Log.WarnContext(ctx, "publish failed; reservation released", "order_id", o.ID, "err", perr)
		return order.ErrUnavailable
	case errors.Is(err, reservation.ErrNotOwned):
		s.d.Log.InfoContext(ctx, "publish failed but the relay owns the order", "order_id", o.ID, "err", perr)
		return nil
	default:
		// The reservation stays pending; the relay will publish it. The client
		// hears 503 and its retry with the same key replays the acceptance.
		s.d.Log.ErrorContext(ctx, "publish failed and release failed; the relay will publish", "order_id", o.ID,
			"publish_err", perr, "release_err", err)
		return order.ErrUnavailable
	}
}

// awaitOriginal makes a replay of an accepted order wait until the original
// request's publish settled, so a replay never answers 202 for an order that
// is then released.
func (s *Server) awaitOriginal(ctx context.Context, o order.Order) error {
	deadline := time.Now().Add(s.replayWait)
	for delay := 2 * time.Millisecond; ; delay = min(delay*2, 100*time.Millisecond) {
		stage, err := s.d.Reserver.Stage(ctx, o.ID)
		if err != nil {
			s.d.Log.WarnContext(ctx, "replay: reading the reservation failed", "order_id", o.ID, "err", err)
			return order.ErrUnavailable
		}
		switch stage {
		case reservation.StagePending:
			// the original request is still publishing; wait below
		case reservation.StageReleased:
			return order.ErrUnavailable // its publish failed; a retry reserves anew
		default: // published, persisting, confirmed, failed or expired: it was accepted
			return nil
		}
		if time.Now().After(deadline) {
			return nil // still pending: the relay owns it from here and will publish it
		}
		select {
		case <-ctx.Done():
			return order.ErrUnavailable
		case <-time.After(delay):
		}
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
		s.d.Log.ErrorContext(ctx, "order lookup failed", "err", err)
		s.problem(w, r, order.ErrUnavailable)
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
			return o, nil
		case !errors.Is(err, order.ErrNotFound):
			// The database is unwell: the reservation still knows the order.
			s.d.Log.WarnContext(ctx, "order lookup in postgres failed; asking redis", "order_id", id, "err", err)
		}
	}
	return s.d.Reserver.Order(ctx, id)
}

// problemStatus answers err with an explicit status (413/415/405 share the
// invalid_request code with 400).
func (s *Server) problemStatus(w http.ResponseWriter, r *http.Request, status int, err error) {
	writeProblemStatus(w, r, s.d.Log, status, err)
}
