package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"coderunner"
	"coderunner/report"
)

// This file is the one place where errors become what clients see.

const internalMessage = "internal error: the server could not complete this request; try again later"

// presentError gives every GraphQL error an extensions.code from the
// documented set and a message a person can act on:
//   - a *coderunner.Error keeps its code and message, and adds
//     retryAfterMs (RATE_LIMITED), resetsAt (QUOTA_EXCEEDED), current
//     (CONFLICT) and failures (a content check's BAD_USER_INPUT);
//   - an error gqlgen raised about the request itself (parse, validation,
//     limits, APQ) is BAD_USER_INPUT, except PERSISTED_QUERY_NOT_FOUND;
//   - anything else is our fault: INTERNAL, logged, reported to rep,
//     details withheld.
//
// count, if not nil, is told every error's code (for metrics).
func presentError(log *slog.Logger, rep report.Reporter, count func(coderunner.Code)) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := present(ctx, log, rep, err)
		if count != nil {
			code, _ := gqlErr.Extensions["code"].(string)
			count(coderunner.Code(code))
		}
		return gqlErr
	}
}

func present(ctx context.Context, log *slog.Logger, rep report.Reporter, err error) *gqlerror.Error {
	gqlErr := graphql.DefaultErrorPresenter(ctx, err)
	var domainErr *coderunner.Error
	switch {
	case errors.As(err, &domainErr):
		gqlErr.Message = domainErr.Message
		setCode(gqlErr, domainErr.Code)
		if domainErr.RetryAfter > 0 {
			gqlErr.Extensions["retryAfterMs"] = domainErr.RetryAfter.Milliseconds()
		}
		if !domainErr.ResetsAt.IsZero() {
			gqlErr.Extensions["resetsAt"] = domainErr.ResetsAt.UTC().Format(time.RFC3339)
		}
		if domainErr.Current != nil {
			gqlErr.Extensions["current"] = domainErr.Current
		}
		if domainErr.Failures != nil {
			gqlErr.Extensions["failures"] = domainErr.Failures
		}
	case gqlErr.Err == nil && gqlErr.Extensions["code"] == string(coderunner.PersistedQueryNotFound):
		gqlErr.Message = "PersistedQueryNotFound: send the query text with its hash once, then the hash alone"
	case gqlErr.Err == nil:
		setCode(gqlErr, coderunner.BadUserInput)
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// The client went away mid-request: nothing failed.
		log.DebugContext(ctx, "request abandoned by the client", "path", gqlErr.Path.String())
		gqlErr.Message = internalMessage
		setCode(gqlErr, coderunner.Internal)
	case errors.Is(err, errPanicked):
		gqlErr.Message = internalMessage
		setCode(gqlErr, coderunner.Internal)
	default:
		log.ErrorContext(ctx, "resolver failed", "path", gqlErr.Path.String(), "err", err)
		e := reportEvent(ctx, report.Internal)
		e.Err = gqlErr.Err // without gqlgen's location and path
		rep.Report(e)
		gqlErr.Message = internalMessage
		setCode(gqlErr, coderunner.Internal)
	}
	return gqlErr
}

// recoverPanic turns a panic in a resolver into an INTERNAL error, and
// reports the panic (the error it becomes is not reported again).
func recoverPanic(log *slog.Logger, rep report.Reporter) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "resolver panicked", "panic", p)
		e := reportEvent(ctx, report.Panic)
		e.Panic = p
		rep.Report(e)
		return errPanicked
	}
}

// errPanicked is what a resolver's panic becomes: INTERNAL, already
// reported.
var errPanicked = errors.New("panic in resolver")

// limitError is a request refused by one of our limits before execution.
// Marked as a validation failure, gqlgen answers 422 as for any other
// invalid query, and presentError codes it BAD_USER_INPUT.
func limitError(format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	errcode.Set(err, errcode.ValidationFailed)
	return err
}

// responseTooLarge fails a field that would take its response past the
// budget of max bytes (see budget.go). It is raised during execution, so
// the fields resolved before it stay in the response, with HTTP 200.
func responseTooLarge(max int64) error {
	return coderunner.Errorf(coderunner.BadUserInput,
		"the response would exceed %d bytes: ask for fewer fields or aliases at once (a run's code, stdin, stdout and stderr may each hold a megabyte)", max)
}

func setCode(e *gqlerror.Error, code coderunner.Code) {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions["code"] = string(code)
}

// errorBody is a whole response carrying one coded error, for failures
// outside GraphQL execution (oversized bodies, undecodable requests).
func errorBody(code coderunner.Code, message string) *graphql.Response {
	e := &gqlerror.Error{Message: message}
	setCode(e, code)
	return &graphql.Response{Errors: gqlerror.List{e}}
}
