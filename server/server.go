// Package server is coderunner's HTTP face: GraphQL at /graphql with its
// transports, persisted queries, limits and caching headers, plus the
// health endpoints.
package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"coderunner"
	"coderunner/cache"
	"coderunner/graph"
	"coderunner/loaders"
	"coderunner/resolvers"
)

// Config is what the HTTP server is built from.
type Config struct {
	// Store answers curriculum reads and readiness checks.
	Store coderunner.Store
	// Queries keeps persisted queries by hash (APQ).
	Queries graphql.Cache[string]
	// Responses, if not nil, keeps whole public GET responses; Generation
	// must then report the content generation they are valid for.
	Responses  *cache.Responses
	Generation Generation
	Limits     Limits
	// LoaderWait is how long dataloaders collect keys; 0 means
	// loaders.DefaultWait.
	LoaderWait time.Duration
	// Introspection enables __schema and __type queries.
	Introspection bool
	Logger        *slog.Logger
}

// New returns the HTTP handler for every route.
func New(cfg Config) http.Handler {
	if cfg.LoaderWait == 0 {
		cfg.LoaderWait = loaders.DefaultWait
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", loaders.Middleware(cfg.Store, cfg.LoaderWait, &httpFront{
		next:         graphQL(cfg),
		maxBodyBytes: cfg.Limits.MaxBodyBytes,
		responses:    cfg.Responses,
		generation:   cfg.Generation,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := cfg.Store.Ping(ctx); err != nil {
			cfg.Logger.WarnContext(ctx, "not ready", "store", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "store": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "store": "ok"})
	})
	return mux
}

func init() {
	// A query over the complexity limit is rejected before execution, like
	// an invalid one: answer 422, not 200.
	errcode.RegisterErrorType("COMPLEXITY_LIMIT_EXCEEDED", errcode.KindProtocol)
}

// graphQL builds gqlgen's handler.
func graphQL(cfg Config) *handler.Server {
	srv := handler.New(graph.NewExecutableSchema(graph.Config{
		Resolvers: &resolvers.Resolver{},
	}))
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(cfg.Limits.MaxTokens)
	srv.SetErrorPresenter(presentError(cfg.Logger))
	srv.SetRecoverFunc(recoverPanic(cfg.Logger))
	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: cfg.Queries})
	srv.Use(extension.FixedComplexityLimit(cfg.Limits.MaxComplexity))
	srv.Use(shapeLimit{maxDepth: cfg.Limits.MaxDepth, maxAliases: cfg.Limits.MaxAliases})
	srv.AroundResponses(decidePolicy)
	return srv
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", noStore)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
