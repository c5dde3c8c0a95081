// Package httpapi is BlitzBuy's REST front door (go-chi): routing, auth,
// request decoding, and the one place where domain errors become HTTP answers
// (RFC 9457 problem+json).
package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// Problem is an RFC 9457 problem detail with BlitzBuy's `code` extension.
type Problem struct {
	Type   string     `json:"type"`
	Title  string     `json:"title"`
	Status int        `json:"status"`
	Detail string     `json:"detail"`
	Code   order.Code `json:"code"`
}

// problemStatus is the one table from error code to HTTP status.
var problemStatus = map[order.Code]int{
	order.CodeInvalidRequest:       http.StatusBadRequest,
	order.CodeUnauthorized:         http.StatusUnauthorized,
	order.CodeForbidden:            http.StatusForbidden,
	order.CodeNotFound:             http.StatusNotFound,
	order.CodeSoldOut:              http.StatusConflict,
	order.CodePurchaseLimit:        http.StatusConflict,
	order.CodeSaleNotActive:        http.StatusConflict,
	order.CodeStockBelowSold:       http.StatusConflict,
	order.CodeIdempotencyKeyReused: http.StatusUnprocessableEntity,
	order.CodeRateLimited:          http.StatusTooManyRequests,
	order.CodeUnavailable:          http.StatusServiceUnavailable,
	order.CodeLedgerRebuilding:     http.StatusServiceUnavailable,
	order.CodeInternal:             http.StatusInternalServerError,
	order.CodeOrderExpired:         http.StatusConflict,
	order.CodeOrderCancelled:       http.StatusConflict,
	order.CodeOrderPaid:            http.StatusConflict,
	order.CodePaymentNotRequired:   http.StatusConflict,
}

var problemTitle = map[order.Code]string{
	order.CodeInvalidRequest:       "Invalid request",
	order.CodeUnauthorized:         "Unauthorized",
	order.CodeForbidden:            "Forbidden",
	order.CodeNotFound:             "Not found",
	order.CodeSoldOut:              "Sold out",
	order.CodePurchaseLimit:        "Purchase limit reached",
	order.CodeSaleNotActive:        "Sale not active",
	order.CodeStockBelowSold:       "Stock below sold",
	order.CodeIdempotencyKeyReused: "Idempotency key reused",
	order.CodeRateLimited:          "Rate limited",
	order.CodeUnavailable:          "Service unavailable",
	order.CodeLedgerRebuilding:     "Ledger rebuilding",
	order.CodeInternal:             "Internal error",
	order.CodeOrderExpired:         "Order expired",
	order.CodeOrderCancelled:       "Order cancelled",
	order.CodeOrderPaid:            "Order paid",
	order.CodePaymentNotRequired:   "Payment not required",
}

// ProblemTypeBase prefixes every problem `type`; docs/api.md documents each.
const ProblemTypeBase = "urn:blitzbuy:problem:"

// retryAfterUnavailable is what a 503 tells clients to wait;
// retryAfterRebuilding what a sale being rebuilt does (a rebuild drains the
// pipeline first: seconds, not one).
const (
	retryAfterUnavailable = 1 * time.Second
	retryAfterRebuilding  = 2 * time.Second
)

// writeProblem answers err as problem+json with the status of its code.
// It is the one place where an infrastructure failure (any error that is not
// a domain error: Redis, Kafka or PostgreSQL unwell) becomes 503
// `unavailable`; its text is logged, never sent.
func writeProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	writeProblemStatus(w, r, log, 0, err)
}

// writeProblemStatus is writeProblem with an explicit status for the codes
// one status cannot cover (invalid_request is 400, 405, 413 or 415); 0 means
// the code's own status.
func writeProblemStatus(w http.ResponseWriter, r *http.Request, log *slog.Logger, override int, err error) {
	var de *order.Error
	if !errors.As(err, &de) {
		log.ErrorContext(r.Context(), "request failed: dependency unavailable", "err", err, "path", r.URL.Path)
		de = order.ErrUnavailable
	}
	status, ok := problemStatus[de.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	title := problemTitle[de.Code]
	if override != 0 && override != status && de.Code != order.CodeInternal {
		status, title = override, http.StatusText(override)
	}
	if w.Header().Get("Retry-After") == "" {
		switch de.Code {
		case order.CodeUnavailable:
			w.Header().Set("Retry-After", strconv.Itoa(int(retryAfterUnavailable/time.Second)))
		case order.CodeLedgerRebuilding:
			w.Header().Set("Retry-After", strconv.Itoa(int(retryAfterRebuilding/time.Second)))
		}
	}
	if de.Code == order.CodeUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="blitzbuy"`)
	}
	writeJSON(w, status, "application/problem+json", Problem{
		Type: ProblemTypeBase + string(de.Code), Title: title, Status: status,
		Detail: de.Message, Code: de.Code,
	})
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only unsupported types; a programming error
		http.Error(w, `{"code":"internal"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
