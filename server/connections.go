package server

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"coderunner"
)

// This file bounds what one client may hold open: how long each phase of
// an HTTP request may take, how many streams (WebSockets and SSE
// requests) an address may keep, how many subscriptions a connection and
// a user may run, and how long a stream may go without the client reading
// or answering. The WebSocket side of it is in websocket.go.

// Timeouts bound each phase of an HTTP request. A stream outlives Read
// and Write once its request is read, and is held by ConnectionLimits'
// keep-alive and write deadline instead.
type Timeouts struct {
	ReadHeader time.Duration // the request line and headers
	Read       time.Duration // the whole request, body included
	Write      time.Duration // from the end of the headers to the end of the response
	Idle       time.Duration // a kept-alive connection waiting for its next request
}

// DefaultTimeouts fit the API: bodies are at most 1 MiB, and no query or
// mutation takes a minute.
var DefaultTimeouts = Timeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: time.Minute, Idle: 2 * time.Minute}

// NewHTTPServer returns an http.Server for h with timeouts t.
func NewHTTPServer(h http.Handler, t Timeouts) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, WriteTimeout: t.Write, IdleTimeout: t.Idle}
}

// ConnectionLimits bound streams and subscriptions. A zero duration takes
// DefaultConnectionLimits' value; a zero cap is no cap.
type ConnectionLimits struct {
	// InitTimeout is how long a WebSocket may take to send its first
	// message, connection_init; then it is closed with 4408.
	InitTimeout time.Duration
	// KeepAlive is how often a stream is pinged: a graphql-transport-ws
	// ping, a WebSocket ping frame under graphql-ws (whose own keep-alive
	// goes one way only), an SSE comment. A WebSocket that does not answer
	// within KeepAlive more is closed.
	KeepAlive time.Duration
	// WriteTimeout is how long one message to a stream may wait for the
	// client to read; past it the stream is closed, rather than pin the
	// goroutines and buffers that feed it.
	WriteTimeout time.Duration

	MaxStreamsPerAddr         int // open WebSockets and SSE requests from one client address
	MaxSubscriptionsPerConn   int // subscriptions running on one WebSocket
	MaxSubscriptionsPerCaller int // subscriptions of one user (or guest address) on this replica
	// MaxOperationsPerConn bounds the operations of any kind (queries and
	// mutations too) in flight on one WebSocket: gqlgen runs each in a
	// goroutine of its own, holding its response until the client reads
	// it. Past it the connection is closed with 4429.
	MaxOperationsPerConn int
}

// DefaultConnectionLimits leave room for a classroom behind one address
// (each child with the editor open in a tab or two), and for an editor
// following a few runs at once.
var DefaultConnectionLimits = ConnectionLimits{
	InitTimeout:               5 * time.Second,
	KeepAlive:                 10 * time.Second,
	WriteTimeout:              10 * time.Second,
	MaxStreamsPerAddr:         100,
	MaxSubscriptionsPerConn:   10,
	MaxSubscriptionsPerCaller: 20,
	MaxOperationsPerConn:      16,
}

func (l ConnectionLimits) withDefaults() ConnectionLimits {
	def := DefaultConnectionLimits
	if l.InitTimeout <= 0 {
		l.InitTimeout = def.InitTimeout
	}
	if l.KeepAlive <= 0 {
		l.KeepAlive = def.KeepAlive
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = def.WriteTimeout
	}
	return l
}

// The caps that refuse a stream or a subscription, as Config.CountRefused
// is told them.
const (
	RefusedStreamsPerAddr         = "streams_per_address"
	RefusedSubscriptionsPerConn   = "subscriptions_per_connection"
	RefusedSubscriptionsPerCaller = "subscriptions_per_caller"
	RefusedDuplicateID            = "duplicate_id"
	RefusedOperationsPerConn      = "operations_per_connection"
)

// Why the server closed a stream, as Config.CountDropped is told it.
const (
	DroppedInitTimeout  = "init_timeout"  // no connection_init in time
	DroppedPingTimeout  = "ping_timeout"  // no answer to a ping in time
	DroppedWriteTimeout = "write_timeout" // the client stopped reading
)

// retryAfterCap is the retryAfterMs of a refusal by a cap: a slot frees
// when one of the caller's own streams or subscriptions ends, which no
// clock predicts.
const retryAfterCap = 5 * time.Second

// streams counts the long-lived requests of one Server and enforces
// ConnectionLimits on them.
type streams struct {
	limits         ConnectionLimits
	trustedProxies []netip.Prefix
	present        graphql.ErrorPresenterFunc
	refused        func(limit string)
	dropped        func(reason string)

	mu       sync.Mutex
	byAddr   map[string]int // open streams
	byCaller map[string]int // running subscriptions, by coderunner.Caller.Owner
}

func newStreams(cfg Config, present graphql.ErrorPresenterFunc) *streams {
	st := &streams{
		limits:         cfg.Connections.withDefaults(),
		trustedProxies: cfg.TrustedProxies,
		present:        present,
		refused:        cfg.CountRefused,
		dropped:        cfg.CountDropped,
		byAddr:         map[string]int{},
		byCaller:       map[string]int{},
	}
	if st.refused == nil {
		st.refused = func(string) {}
	}
	if st.dropped == nil {
		st.dropped = func(string) {}
	}
	return st
}

// take counts one more against key in counts, unless that would pass max
// (0: no cap).
func (st *streams) take(counts map[string]int, key string, max int) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if max > 0 && counts[key] >= max {
		return false
	}
	counts[key]++
	return true
}

func (st *streams) give(counts map[string]int, key string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if counts[key]--; counts[key] <= 0 {
		delete(counts, key)
	}
}

// connection is one stream's count of running subscriptions.
type connection struct{ subscriptions atomic.Int64 }

type connectionKey struct{}

// admit lets a stream through if its address has room for it, and
// answers 429 RATE_LIMITED if not. A stream outlives http.Server's
// timeouts, which bound whole requests: once its request is read (under
// them: httpFront reads an SSE body whole), net/http lifts the read
// deadline, and hijacking a WebSocket lifts both; an SSE stream replaces
// the write deadline with one per write (sseWriter).
func (st *streams) admit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isSubscription(r) {
			next.ServeHTTP(w, r)
			return
		}
		addr := clientAddr(r, st.trustedProxies)
		if !st.take(st.byAddr, addr, st.limits.MaxStreamsPerAddr) {
			st.refused(RefusedStreamsPerAddr)
			err := coderunner.ErrRateLimited(retryAfterCap, "too many open connections from your address (at most %d): close some, or try again later", st.limits.MaxStreamsPerAddr)
			w.Header().Set("Retry-After", "5")
			writeJSON(w, http.StatusTooManyRequests, &graphql.Response{Errors: gqlerror.List{st.present(r.Context(), err)}})
			return
		}
		defer st.give(st.byAddr, addr)
		if r.Method == http.MethodPost {
			w = &sseWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: st.limits.WriteTimeout, dropped: st.dropped}
		}
		ctx := context.WithValue(r.Context(), connectionKey{}, &connection{})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// capSubscriptions refuses a subscription past the caps of its connection
// and of its caller, with RATE_LIMITED, and counts it until it ends.
func (st *streams) capSubscriptions(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	op := graphql.GetOperationContext(ctx).Operation
	if op == nil || op.Operation != ast.Subscription {
		return next(ctx)
	}
	refuse := func(limit, format string, max int) graphql.ResponseHandler {
		st.refused(limit)
		err := coderunner.ErrRateLimited(retryAfterCap, format, max)
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{st.present(ctx, err)}})
	}
	conn, _ := ctx.Value(connectionKey{}).(*connection)
	if conn != nil {
		max := st.limits.MaxSubscriptionsPerConn
		if n := conn.subscriptions.Add(1); max > 0 && n > int64(max) {
			conn.subscriptions.Add(-1)
			return refuse(RefusedSubscriptionsPerConn, "too many subscriptions on this connection (at most %d): complete one first", max)
		}
	}
	owner := coderunner.CallerFrom(ctx).Owner()
	if !st.take(st.byCaller, owner, st.limits.MaxSubscriptionsPerCaller) {
		if conn != nil {
			conn.subscriptions.Add(-1)
		}
		return refuse(RefusedSubscriptionsPerCaller, "too many subscriptions open at once (at most %d): complete one first", st.limits.MaxSubscriptionsPerCaller)
	}
	release := sync.OnceFunc(func() {
		if conn != nil {
			conn.subscriptions.Add(-1)
		}
		st.give(st.byCaller, owner)
	})
	// The slot frees when the responses end (nil), before the transport
	// writes "complete": a client told its subscription completed may
	// subscribe again at once. The context's end alone comes too late:
	// gqlgen cancels it after writing "complete", and when a client's
	// stop cancels it first, AfterFunc's goroutine still races the
	// "complete". It remains the release of a stream that never ends
	// (its resolver panicked).
	context.AfterFunc(ctx, release)
	responses := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		r := responses(ctx)
		if r == nil {
			release()
		}
		return r
	}
}

// sseWriter gives each write of an SSE stream a deadline: a client that
// stops reading fails the write, which ends the request (net/http cancels
// its context) and with it the subscription.
type sseWriter struct {
	http.ResponseWriter
	rc       *http.ResponseController
	timeout  time.Duration
	dropped  func(reason string)
	timedOut atomic.Bool
}

func (w *sseWriter) Write(p []byte) (int, error) {
	w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	n, err := w.ResponseWriter.Write(p)
	w.check(err)
	return n, err
}

// Flush is what gqlgen's SSE transport calls after each event.
func (w *sseWriter) Flush() {
	w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	w.check(w.rc.Flush())
}

func (w *sseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *sseWriter) check(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) && w.timedOut.CompareAndSwap(false, true) {
		w.dropped(DroppedWriteTimeout)
	}
}
