package server

import (
	"context"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
)

// The response budget bounds what one response may carry while it is
// built. Complexity bounds the fields a query selects, not what they
// hold: a run keeps up to 1 MiB of output and its code, so a few aliases
// of one run would otherwise make a response of many megabytes, built in
// memory before a byte of it is sent.
//
// Text is what grows: every string a field resolves to is charged as it
// resolves, before it is marshalled; other values are a few bytes each,
// and there are at most MaxFields of them times the lists' lengths, which
// complexity bounds.

// responseBudget is one response's allowance. Sibling fields resolve
// concurrently, so it is charged atomically.
type responseBudget struct {
	max  int64
	used atomic.Int64
}

// charge spends n bytes, or fails with BAD_USER_INPUT once the budget is
// spent. A failed charge is not refunded: once one field is refused,
// every later string is too, and the response holds at most max bytes
// of text, whatever order its fields resolve in.
func (b *responseBudget) charge(n int) error {
	if b.used.Add(int64(n)) > b.max {
		return responseTooLarge(b.max)
	}
	return nil
}

type budgetKey struct{}

// budgetResponses gives every response a budget of max bytes of text.
// gqlgen calls response middleware once per response: once for a query
// or mutation, once per event of a subscription, so that a long
// subscription never spends one budget over its many events.
func budgetResponses(max int64) graphql.ResponseMiddleware {
	return func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		return next(context.WithValue(ctx, budgetKey{}, &responseBudget{max: max}))
	}
}

// chargeText is field middleware: it charges the response's budget for
// each string a field resolves to, and fails the field instead of
// returning a string that would take the response over.
func chargeText(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	var text string
	switch v := res.(type) {
	case string:
		text = v
	case *string:
		if v == nil {
			return res, err
		}
		text = *v
	default:
		return res, err
	}
	// Looked up only for strings: the context of a field deep in a
	// response is a long chain.
	budget, _ := ctx.Value(budgetKey{}).(*responseBudget)
	if err != nil || budget == nil {
		return res, err
	}
	if err := budget.charge(jsonLen(text)); err != nil {
		return nil, err
	}
	return res, nil
}

// jsonLen is how many bytes s takes in a response: quoted as gqlgen
// marshals it (\n, \r, \t, \" and \\ take two bytes, other control
// characters six), then written by the transports with encoding/json,
// which escapes <, > and & and the line separators U+2028 and U+2029 as
// six bytes more. A string of 1 MiB can thus take 6 MiB: counting what is
// written keeps the budget a bound on memory.
func jsonLen(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\n' || c == '\r' || c == '\t' || c == '"' || c == '\\':
			n++
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			n += 5
		case c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9):
			n += 3 // three bytes of UTF-8 become six
		}
	}
	return n
}
