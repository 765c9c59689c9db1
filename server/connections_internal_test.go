package server

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"coderunner"
)

// TestSubscriptionSlotFreesAtItsEnd: a subscription's slot is free again
// by the time its client can know that it ended. gqlgen's WebSocket
// transport reads the operation's responses until nil, writes "complete",
// and only then cancels the operation's context; a client that stops a
// subscription has its context cancelled first, but nothing orders
// context.AfterFunc's goroutine before that "complete".
func TestSubscriptionSlotFreesAtItsEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(cancel context.CancelFunc, responses graphql.ResponseHandler, ctx context.Context)
		// eventually: no end of stream is seen, only the context's end,
		// so the slot frees a little later.
		eventually bool
	}{
		{"it ends by itself", func(_ context.CancelFunc, responses graphql.ResponseHandler, ctx context.Context) {
			drain(ctx, responses)
		}, false},
		{"its client stops it", func(cancel context.CancelFunc, responses graphql.ResponseHandler, ctx context.Context) {
			cancel()
			drain(ctx, responses)
		}, false},
		{"its operation panics", func(cancel context.CancelFunc, _ graphql.ResponseHandler, _ context.Context) {
			cancel() // as gqlgen does after recovering; the stream is never read again
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStreams(Config{Connections: ConnectionLimits{MaxSubscriptionsPerConn: 1, MaxSubscriptionsPerCaller: 1}}, graphql.DefaultErrorPresenter)
			conn := &connection{}
			cancel, responses, ctx := subscribe(t, st, conn)
			if first := responses(ctx); first == nil || len(first.Errors) > 0 {
				t.Fatalf("first subscription: %+v, want its event", first)
			}
			tc.end(cancel, responses, ctx)

			deadline := time.Now().Add(5 * time.Second)
			for {
				_, responses, ctx := subscribe(t, st, conn)
				next := responses(ctx)
				if next != nil && len(next.Errors) == 0 {
					break
				}
				if !tc.eventually || time.Now().After(deadline) {
					t.Fatalf("the next subscription: %+v, want its event", next)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}

// subscribe starts a subscription of one guest through st's caps; its
// stream sends one event, then ends, or ends at once once ctx is done.
func subscribe(t *testing.T, st *streams, conn *connection) (context.CancelFunc, graphql.ResponseHandler, context.Context) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	ctx = context.WithValue(ctx, connectionKey{}, conn)
	ctx = coderunner.WithCaller(ctx, coderunner.Caller{Addr: "192.0.2.1"})
	ctx = graphql.WithOperationContext(ctx, &graphql.OperationContext{Operation: &ast.OperationDefinition{Operation: ast.Subscription}})
	responses := st.capSubscriptions(ctx, func(ctx context.Context) graphql.ResponseHandler {
		sent := false
		return func(ctx context.Context) *graphql.Response {
			if sent || ctx.Err() != nil {
				return nil
			}
			sent = true
			return &graphql.Response{Data: json.RawMessage(`{"runEvents":{}}`)}
		}
	})
	return cancel, responses, ctx
}

// drain reads responses to their end, as a transport does.
func drain(ctx context.Context, responses graphql.ResponseHandler) {
	for responses(ctx) != nil {
	}
}
