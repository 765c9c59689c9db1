package coderunner

import (
	"errors"
	"fmt"
	"time"
)

// Code is a client-facing error class. Every GraphQL error carries one in
// extensions.code; the set is part of the API contract (see README).
type Code string

const (
	Unauthenticated        Code = "UNAUTHENTICATED"
	Forbidden              Code = "FORBIDDEN"
	NotFound               Code = "NOT_FOUND"
	BadUserInput           Code = "BAD_USER_INPUT"
	Conflict               Code = "CONFLICT"
	RateLimited            Code = "RATE_LIMITED"
	QuotaExceeded          Code = "QUOTA_EXCEEDED"
	QueueFull              Code = "QUEUE_FULL"
	PersistedQueryNotFound Code = "PERSISTED_QUERY_NOT_FOUND"
	Internal               Code = "INTERNAL"
)

// Error is an error a client may see: its Message is safe to show and says
// what to do. Anything that is not an *Error reaches clients as INTERNAL with
// a generic message; the detail stays in the logs.
type Error struct {
	Code    Code
	Message string
	// RetryAfter, for RATE_LIMITED, is when trying again may succeed
	// (extensions.retryAfterMs).
	RetryAfter time.Duration
	// ResetsAt, for QUOTA_EXCEEDED, is when the budget is renewed
	// (extensions.resetsAt).
	ResetsAt time.Time
	// Current, for the CONFLICT of an editing write, is the object as it
	// is now (extensions.current): the editor merges and tries again.
	Current any
	// Failures, for the BAD_USER_INPUT of a problem's sandbox check, lists
	// each failing test as data (extensions.failures), for an editor UI
	// to show rather than parse the message.
	Failures any
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or Internal.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// ErrRateLimited is RATE_LIMITED with the wait before trying again.
func ErrRateLimited(retryAfter time.Duration, format string, args ...any) *Error {
	e := Errorf(RateLimited, format, args...)
	e.RetryAfter = retryAfter
	return e
}

// ErrQuotaExceeded is QUOTA_EXCEEDED with the time the budget renews.
func ErrQuotaExceeded(resetsAt time.Time, format string, args ...any) *Error {
	e := Errorf(QuotaExceeded, format, args...)
	e.ResetsAt = resetsAt
	return e
}

// ErrStale is the CONFLICT of an editing write that named a version of
// what (such as "problem") id other than the stored one: someone else
// changed it since the caller read it.
func ErrStale(what, id string, stored int64) *Error {
	return Errorf(Conflict, "%s %q was changed by someone else since you read it: it is now at version %d; reload it and make your change again", what, id, stored)
}
