package order

import (
	"errors"
	"fmt"
)

// Code is a stable, documented error code; clients switch on it. The HTTP
// layer maps each code to a status in exactly one table (httpapi).
type Code string

// The codes of the API contract (docs/api.md).
const (
	CodeInvalidRequest       Code = "invalid_request"
	CodeUnauthorized         Code = "unauthorized"
	CodeForbidden            Code = "forbidden"
	CodeNotFound             Code = "not_found"
	CodeSoldOut              Code = "sold_out"
	CodePurchaseLimit        Code = "purchase_limit_reached"
	CodeSaleNotActive        Code = "sale_not_active"
	CodeIdempotencyKeyReused Code = "idempotency_key_reused"
	CodeStockBelowSold       Code = "stock_below_sold"
	CodeRateLimited          Code = "rate_limited"
	CodeUnavailable          Code = "unavailable"
	CodeLedgerRebuilding     Code = "ledger_rebuilding"
	CodeInternal             Code = "internal"
)

// The checkout window's codes (issue #14).
const (
	CodeOrderExpired       Code = "order_expired"
	CodeOrderCancelled     Code = "order_cancelled"
	CodeOrderPaid          Code = "order_paid"
	CodePaymentNotRequired Code = "payment_not_required"
)

// Codes lists every code of the contract (the OpenAPI test checks the
// document's ErrorCode enum against it).
var Codes = []Code{CodeInvalidRequest, CodeUnauthorized, CodeForbidden, CodeNotFound, CodeSoldOut,
	CodePurchaseLimit, CodeSaleNotActive, CodeIdempotencyKeyReused, CodeStockBelowSold, CodeRateLimited,
	CodeUnavailable, CodeLedgerRebuilding, CodeInternal,
	CodeOrderExpired, CodeOrderCancelled, CodeOrderPaid, CodePaymentNotRequired}

// Error is a domain error with a code and a message safe to show a client.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is makes errors.Is(err, ErrSoldOut) match any *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf builds an *Error with a formatted client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinel errors for errors.Is.
var (
	ErrNotFound             = &Error{Code: CodeNotFound, Message: "not found"}
	ErrSoldOut              = &Error{Code: CodeSoldOut, Message: "the sale is sold out"}
	ErrPurchaseLimit        = &Error{Code: CodePurchaseLimit, Message: "this order would exceed the per-user purchase limit"}
	ErrSaleNotActive        = &Error{Code: CodeSaleNotActive, Message: "the sale is not active"}
	ErrIdempotencyKeyReused = &Error{Code: CodeIdempotencyKeyReused, Message: "the Idempotency-Key was already used with a different request"}
	ErrStockBelowSold       = &Error{Code: CodeStockBelowSold, Message: "stock cannot be set below what is already sold"}
	ErrUnavailable          = &Error{Code: CodeUnavailable, Message: "the service is temporarily unavailable, retry later"}
	ErrLedgerRebuilding     = &Error{Code: CodeLedgerRebuilding, Message: "this sale's live ledger is being rebuilt from the durable one; retry shortly with the same Idempotency-Key"}

	ErrOrderExpired       = &Error{Code: CodeOrderExpired, Message: "the order's checkout window ended before it was paid; its units went back to the sale"}
	ErrOrderCancelled     = &Error{Code: CodeOrderCancelled, Message: "the order was cancelled"}
	ErrOrderPaid          = &Error{Code: CodeOrderPaid, Message: "the order is paid and can no longer be cancelled"}
	ErrPaymentNotRequired = &Error{Code: CodePaymentNotRequired, Message: "this sale has no checkout window: the order is final without payment"}
)

// CodeOf returns the code of err, or CodeInternal for errors that are not
// domain errors (their text must never reach a client).
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
