package coderunner

import (
	"errors"
	"fmt"
)

// Code is a client-facing error class. Every GraphQL error carries one in
// extensions.code; the set is part of the API contract (see README).
type Code string

const (
	Unauthenticated        Code = "UNAUTHENTICATED"
	Forbidden              Code = "FORBIDDEN"
	NotFound               Code = "NOT_FOUND"
	BadUserInput           Code = "BAD_USER_INPUT"
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
