// Package server is coderunner's HTTP face: GraphQL at /graphql over GET,
// POST, WebSocket (graphql-transport-ws and the legacy graphql-ws) and SSE,
// with persisted queries, limits and caching headers, plus the health
// endpoints, the editor app at / and GraphiQL for browsers at /graphql.
package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"coderunner"
	"coderunner/accounts"
	"coderunner/cache"
	"coderunner/content"
	"coderunner/graph"
	"coderunner/loaders"
	"coderunner/report"
	"coderunner/resolvers"
	"coderunner/runs"
	"coderunner/submissions"
)

// Config is what the HTTP server is built from.
type Config struct {
	// Store answers curriculum reads and readiness checks.
	Store coderunner.Store
	// Queries keeps persisted queries by hash (APQ).
	Queries graphql.Cache[string]
	// Responses, if not nil, keeps whole public GET responses.
	Responses *cache.Responses
	// ContentChanges, if not nil, carries content changes between
	// replicas: ContentChanged publishes through it, and the server
	// applies every change it delivers, from any replica, with
	// Invalidate.
	ContentChanges coderunner.ContentChanges
	// Invalidate, if not nil, drops from this replica's caches what a
	// content change reaches: cache.Store.Invalidate, which reaches the
	// responses of a Responses sharing its Versions too.
	Invalidate func(coderunner.ContentChange)
	// CountContentChange, if not nil, is told of each change applied from
	// ContentChanges.
	CountContentChange func()
	// Purge, if not nil, asks a CDN to drop its copies of the responses a
	// change reaches, after ContentChanged.
	Purge  *Purger
	Limits Limits
	// LoaderWait is how long dataloaders collect keys; 0 means
	// loaders.DefaultWait.
	LoaderWait time.Duration
	// Runs starts and follows runs.
	Runs *runs.Service
	// Submissions submits and follows submissions.
	Submissions *submissions.Service
	// Content is how editors change the curriculum.
	Content *content.Service
	// Accounts signs callers in and out and keeps their budgets.
	Accounts *accounts.Service
	// Revocations announces sessions signed out on any replica.
	Revocations coderunner.Revocations
	// TrustedProxies are the proxies whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Checks are readiness checks besides the store's, by name ("redis").
	Checks map[string]Check
	// Facts are reported by /readyz beside the checks ("sandboxMode":
	// "jail"); they may be filled in until the server serves.
	Facts map[string]string
	// Metrics, if not nil, is served at /metrics.
	Metrics http.Handler
	// TrackSubscription, if not nil, is called when a subscription starts
	// and the func it returns when it ends.
	TrackSubscription func() (ended func())
	// CountError, if not nil, is told the code of every GraphQL error answered.
	CountError func(coderunner.Code)
	// Connections bound streams and subscriptions.
	Connections ConnectionLimits
	// CountRefused, if not nil, is told the cap (Refused*) that refused a
	// stream or a subscription; CountDropped why (Dropped*) the server
	// closed a stream.
	CountRefused func(limit string)
	CountDropped func(reason string)
	// Introspection enables __schema and __type queries.
	Introspection bool
	// GraphiQL serves GraphiQL to browsers that open /graphql (its schema
	// docs and completion need Introspection too).
	GraphiQL bool
	// AllowedOrigins are the host patterns (as in path.Match) of web pages
	// that may call the API with credentials and open WebSockets; empty
	// allows any origin, without credentials (and no cookie on a WebSocket).
	AllowedOrigins []string
	// Reporter, if not nil, is told of panics and INTERNAL errors.
	Reporter report.Reporter
	Logger   *slog.Logger
}

// Server is the HTTP handler for every route.
type Server struct {
	mux     *http.ServeMux
	handler http.Handler // mux, panics reported
	// subscriptions is the parent of every WebSocket and SSE request's
	// context: http.Server.Shutdown neither waits for nor ends hijacked
	// connections, so CloseSubscriptions cancels it.
	subscriptions      context.Context
	closeSubscriptions context.CancelFunc

	accounts       *accounts.Service
	content        contentChanges
	countErr       func(coderunner.Code)
	present        graphql.ErrorPresenterFunc
	sessions       *sessionWatch
	streams        *streams
	trustedProxies []netip.Prefix
	allowedOrigins []string
	report         report.Reporter
	log            *slog.Logger
}

// New returns the Server for cfg.
func New(cfg Config) *Server {
	if cfg.LoaderWait == 0 {
		cfg.LoaderWait = loaders.DefaultWait
	}
	cfg.Reporter = report.WithRole(cfg.Reporter, "api")
	present := presentError(cfg.Logger, cfg.Reporter, cfg.CountError)
	s := &Server{
		present:        present,
		streams:        newStreams(cfg, present),
		mux:            http.NewServeMux(),
		accounts:       cfg.Accounts,
		content:        newContentChanges(cfg),
		countErr:       cfg.CountError,
		sessions:       newSessionWatch(),
		trustedProxies: cfg.TrustedProxies,
		allowedOrigins: cfg.AllowedOrigins,
		report:         cfg.Reporter,
		log:            cfg.Logger,
	}
	s.handler = recoverHTTP(cfg.Reporter, s.mux)
	s.subscriptions, s.closeSubscriptions = context.WithCancel(context.Background())
	go s.sessions.run(s.subscriptions, cfg.Revocations, cfg.Accounts.Valid, cfg.Logger)
	if cfg.ContentChanges != nil && cfg.Invalidate != nil {
		go s.content.follow(s.subscriptions)
	}
	mux := s.mux
	// Streams are admitted first (the cheapest refusal), and
	// authentication comes before the response cache, so that a bad token
	// is refused even for a response the cache holds.
	api := cors(cfg.AllowedOrigins, s.streams.admit(s.authenticate(&httpFront{
		next:         s.endOnClose(s.graphQL(cfg)),
		maxBodyBytes: cfg.Limits.MaxBodyBytes,
		responses:    cfg.Responses,
	})))
	mux.Handle("/graphql", webRoutes(mux, api, cfg.GraphiQL))
	checks := map[string]Check{"store": cfg.Store.Ping}
	for name, check := range cfg.Checks {
		checks[name] = check
	}
	HealthRoutes(mux, checks, cfg.Facts, cfg.Logger)
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// countError counts an error answered outside GraphQL execution.
func (s *Server) countError(code coderunner.Code) {
	if s.countErr != nil {
		s.countErr(code)
	}
}

// CloseSubscriptions ends every open subscription; clients reconnect (to
// another replica) with the last seq they saw. Call it when shutting down:
// it also stops listening for signed-out sessions and content changes.
func (s *Server) CloseSubscriptions() { s.closeSubscriptions() }

// endOnClose makes long-lived requests end when CloseSubscriptions is
// called, and SSE streams then end without another word, as WebSockets do
// (wsConn.WriteJSON): gqlgen's SSE transport would send the "complete"
// of a subscription that did not complete.
func (s *Server) endOnClose(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isSubscription(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(s.subscriptions, cancel)
		defer stop()
		if r.Method == http.MethodPost { // SSE; a WebSocket's writes bypass w
			w = silencedOnShutdown{w, s.subscriptions}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// silencedOnShutdown is a ResponseWriter that writes nothing once the
// server has begun shutting down.
type silencedOnShutdown struct {
	http.ResponseWriter
	shutdown context.Context
}

func (w silencedOnShutdown) Write(p []byte) (int, error) {
	if w.shutdown.Err() != nil {
		return 0, errShuttingDown
	}
	return w.ResponseWriter.Write(p)
}

func (w silencedOnShutdown) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && w.shutdown.Err() == nil {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the writer underneath.
func (w silencedOnShutdown) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// isSubscription reports whether r opens a WebSocket or an SSE stream, as
// gqlgen's transports would take it.
func isSubscription(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet:
		return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	case http.MethodPost:
		// Exactly the requests gqlgen's SSE transport takes; any other
		// goes through the HTTP front, which codes its errors.
		return transport.SSE{}.Supports(r)
	}
	return false
}

func init() {
	// A query over the complexity limit is rejected before execution, like
	// an invalid one: answer 422, not 200.
	errcode.RegisterErrorType("COMPLEXITY_LIMIT_EXCEEDED", errcode.KindProtocol)
}

// graphQL builds gqlgen's handler.
func (s *Server) graphQL(cfg Config) *handler.Server {
	srv := handler.New(graph.NewExecutableSchema(graph.Config{
		Resolvers: &resolvers.Resolver{Runs: cfg.Runs, Submissions: cfg.Submissions, Content: cfg.Content, Accounts: cfg.Accounts,
			Usage: cfg.Store, TrackSubscription: cfg.TrackSubscription},
		Directives: graph.DirectiveRoot{Auth: authDirective},
		Complexity: fieldComplexity(),
	}))
	keepAlive := s.streams.limits.KeepAlive
	srv.AddTransport(transport.Websocket{
		Implementation: websockets{streams: s.streams, shutdown: s.subscriptions, options: websocket.AcceptOptions{
			InsecureSkipVerify: len(cfg.AllowedOrigins) == 0,
			OriginPatterns:     cfg.AllowedOrigins,
		}},
		// graphql-ws (legacy) clients expect keep-alive messages;
		// graphql-transport-ws clients answer pings, and a client that
		// stops answering is dropped after twice the interval.
		KeepAlivePingInterval: keepAlive,
		PingPongInterval:      keepAlive,
		InitFunc:              s.wsInit,
	})
	srv.AddTransport(transport.SSE{KeepAlivePingInterval: keepAlive})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	queryCache := lru.New[*ast.QueryDocument](1000)
	srv.SetQueryCache(queryCache)
	srv.SetParserTokenLimit(cfg.Limits.MaxTokens)
	srv.SetErrorPresenter(s.present)
	srv.SetRecoverFunc(recoverPanic(cfg.Logger, cfg.Reporter))
	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	}
	// selectionCap before validation, whose cost grows with the square of
	// the fields, and before APQ, so that a rejected query is not stored.
	srv.Use(selectionCap{max: cfg.Limits.MaxFields, maxTokens: cfg.Limits.MaxTokens, validated: queryCache})
	srv.Use(extension.AutomaticPersistedQuery{Cache: cfg.Queries})
	// shapeLimit first: it bounds the work of the complexity walk.
	srv.Use(shapeLimit{maxDepth: cfg.Limits.MaxDepth, maxAliases: cfg.Limits.MaxAliases, maxFields: cfg.Limits.MaxFields})
	srv.Use(extension.FixedComplexityLimit(cfg.Limits.MaxComplexity))
	srv.AroundResponses(decidePolicy)
	// A budget per response, charged by every string field as it
	// resolves: the complexity limit counts fields, not their size.
	srv.AroundResponses(budgetResponses(cfg.Limits.MaxResponseBytes))
	srv.AroundFields(chargeText)
	srv.AroundOperations(s.streams.capSubscriptions)
	// Fresh loaders for every operation, not every HTTP request: a
	// WebSocket carries many operations over its life, and loaders cache
	// what they read for as long as they live.
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		return next(loaders.NewContext(ctx, loaders.New(cfg.Store, cfg.Runs, cfg.Store, cfg.LoaderWait)))
	})
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if ctx.Value(webSocketKey{}) == nil {
			return next(ctx)
		}
		ctx, err := s.refreshCaller(ctx)
		if err != nil {
			return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{s.present(ctx, err)}})
		}
		return next(ctx)
	})
	return srv
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", noStore)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
