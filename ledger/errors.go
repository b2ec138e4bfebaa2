package ledger

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. The API maps each code to
// an HTTP status in one table; clients switch on the code, never on text.
type Code string

const (
	CodeInvalidRequest        Code = "invalid_request"
	CodeInvalidAmount         Code = "invalid_amount"
	CodeInvalidAccount        Code = "invalid_account"
	CodeUnbalanced            Code = "unbalanced_transaction"
	CodeInsufficientBalance   Code = "insufficient_balance"
	CodeAccountNotFound       Code = "account_not_found"
	CodeAccountExists         Code = "account_exists"
	CodeAccountFrozen         Code = "account_frozen"
	CodeAccountClosed         Code = "account_closed"
	CodeNotFound              Code = "not_found"
	CodeForbidden             Code = "forbidden"
	CodeConflict              Code = "conflict"
	CodeIdempotencyConflict   Code = "idempotency_conflict"
	CodeIdempotencyKeyMissing Code = "idempotency_key_required"
	CodePendingResolved       Code = "pending_already_resolved"
	CodePendingExpired        Code = "pending_expired"
	CodeNotPending            Code = "not_pending"
	CodeAlreadyReversed       Code = "already_reversed"
	CodeLimitExceeded         Code = "limit_exceeded"
	CodeManagedAsset          Code = "managed_asset"
	CodeCommitUnknown         Code = "commit_outcome_unknown"
	CodeUnavailable           Code = "unavailable"
	CodeInternal              Code = "internal"
)

// Error is a domain error with a stable code. Field names the offending
// input where there is one ("postings[2].amount").
type Error struct {
	Code   Code
	Msg    string
	Field  string
	Detail map[string]string
	cause  error
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Msg, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Msg)
}

func (e *Error) Unwrap() error { return e.cause }

// Errf builds a domain error.
func Errf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// At returns a copy of e naming the field it concerns.
func (e *Error) At(field string) *Error {
	c := *e
	c.Field = field
	return &c
}

// ErrorCode returns the code of a domain error, or CodeInternal.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// AsError returns err as a domain error when it is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
