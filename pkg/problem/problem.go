// Package problem is the one error type of the wallet and its RFC 9457
// rendering. Codes are a wire contract shared by HTTP responses and by the
// reason field of saga events: the list is append-only.
package problem

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Code is a stable, machine-readable error code.
type Code string

// The codes of docs/design.md, and a few HTTP-level ones. Append only.
const (
	InsufficientFunds   Code = "insufficient_funds"
	AccountNotFound     Code = "account_not_found"
	AccountFrozen       Code = "account_frozen"
	AccountClosed       Code = "account_closed"
	CurrencyMismatch    Code = "currency_mismatch"
	InvalidAmount       Code = "invalid_amount"
	InvalidRequest      Code = "invalid_request"
	SameAccount         Code = "same_account"
	IdempotencyConflict Code = "idempotency_conflict"
	Unauthorized        Code = "unauthorized"
	Forbidden           Code = "forbidden"
	NotFound            Code = "not_found"
	MethodNotAllowed    Code = "method_not_allowed"
	PayloadTooLarge     Code = "payload_too_large"
	UnsupportedMedia    Code = "unsupported_media_type"
	AccountNotEmpty     Code = "account_not_empty"
	Unavailable         Code = "unavailable"
	Internal            Code = "internal"
	AccountExists       Code = "account_exists"
	// BalanceLimitExceeded refuses a credit that would take a balance above
	// money.MaxBalance.
	BalanceLimitExceeded Code = "balance_limit_exceeded"
	// AmbiguousTransactionID: transaction ids are scoped to the source
	// account, and a lookup by id alone matched transfers from several.
	AmbiguousTransactionID Code = "ambiguous_transaction_id"
	// InvalidData: the database refused the operation's data (out of
	// range, too long, a constraint), which no retry changes; a saga
	// credit fails with it and the source is refunded.
	InvalidData Code = "invalid_data"
	// RateLimited: the client sent more requests than http.rate_limit
	// allows; Retry-After says when to try again.
	RateLimited Code = "rate_limited"
)

// statuses is the single mapping from codes to HTTP status codes.
var statuses = map[Code]int{
	InsufficientFunds:      http.StatusUnprocessableEntity,
	AccountNotFound:        http.StatusNotFound,
	AccountFrozen:          http.StatusUnprocessableEntity,
	AccountClosed:          http.StatusUnprocessableEntity,
	CurrencyMismatch:       http.StatusUnprocessableEntity,
	InvalidAmount:          http.StatusBadRequest,
	InvalidRequest:         http.StatusBadRequest,
	SameAccount:            http.StatusBadRequest,
	IdempotencyConflict:    http.StatusUnprocessableEntity,
	Unauthorized:           http.StatusUnauthorized,
	Forbidden:              http.StatusForbidden,
	NotFound:               http.StatusNotFound,
	MethodNotAllowed:       http.StatusMethodNotAllowed,
	PayloadTooLarge:        http.StatusRequestEntityTooLarge,
	UnsupportedMedia:       http.StatusUnsupportedMediaType,
	AccountNotEmpty:        http.StatusConflict,
	Unavailable:            http.StatusServiceUnavailable,
	Internal:               http.StatusInternalServerError,
	AccountExists:          http.StatusConflict,
	AmbiguousTransactionID: http.StatusConflict,
	BalanceLimitExceeded:   http.StatusUnprocessableEntity,
	InvalidData:            http.StatusUnprocessableEntity,
	RateLimited:            http.StatusTooManyRequests,
}

// Codes lists every code in a fixed order; a test pins it.
func Codes() []Code {
	return []Code{InsufficientFunds, AccountNotFound, AccountFrozen, AccountClosed,
		CurrencyMismatch, InvalidAmount, InvalidRequest, SameAccount, IdempotencyConflict,
		Unauthorized, Forbidden, NotFound, MethodNotAllowed, PayloadTooLarge,
		UnsupportedMedia, AccountNotEmpty, Unavailable, Internal, AccountExists,
		BalanceLimitExceeded, AmbiguousTransactionID, InvalidData, RateLimited}
}

// Status returns the HTTP status for a code, 500 for unknown ones.
func Status(c Code) int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is a domain error with a stable code. Extra holds members added to the
// problem document, such as available and requested for insufficient_funds.
type Error struct {
	Code   Code
	Detail string
	Extra  map[string]any
	// RetryAfter, if set, is sent as the Retry-After header (whole seconds,
	// at least 1): for unavailable and rate-limited answers.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Detail }

// New returns an *Error with a formatted detail.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// With returns a copy of e with one extra member.
func (e *Error) With(key string, value any) *Error {
	c := *e
	c.Extra = make(map[string]any, len(e.Extra)+1)
	for k, v := range e.Extra {
		c.Extra[k] = v
	}
	c.Extra[key] = value
	return &c
}

// WithRetryAfter returns a copy of e that tells the client when to retry.
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}

// CodeOf returns the code of the first *Error in err's chain, Internal if none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries code.
func Is(err error, code Code) bool { return err != nil && CodeOf(err) == code }
