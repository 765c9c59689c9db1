package server

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"time"
)

// Check reports whether one dependency (the store, Redis, Docker) answers.
type Check func(ctx context.Context) error

// HealthRoutes adds the health endpoints to mux: /healthz (the process
// is up), /readyz (every check passes) and /health/NAME (one check).
// Workers, which serve no GraphQL, use it for their own port.
func HealthRoutes(mux *http.ServeMux, checks map[string]Check, log *slog.Logger) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		names := make([]string, 0, len(checks))
		for name := range checks {
			names = append(names, name)
		}
		sort.Strings(names)
		serveChecks(w, r, names, checks, log)
	})
	mux.HandleFunc("GET /health/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if _, ok := checks[name]; !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"status": "unknown", name: "not used by this process"})
			return
		}
		serveChecks(w, r, []string{name}, checks, log)
	})
}

// serveChecks runs the named checks concurrently and answers 200 if all
// pass, 503 if any fails, with each one's result.
func serveChecks(w http.ResponseWriter, r *http.Request, names []string, checks map[string]Check, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	errs := make([]error, len(names))
	done := make(chan struct{})
	for i, name := range names {
		go func() {
			errs[i] = checks[name](ctx)
			done <- struct{}{}
		}()
	}
	for range names {
		<-done
	}
	body := map[string]string{"status": "ok"}
	status := http.StatusOK
	for i, name := range names {
		body[name] = "ok"
		if errs[i] != nil {
			body[name] = errs[i].Error()
			body["status"] = "unavailable"
			status = http.StatusServiceUnavailable
			log.WarnContext(ctx, "not ready", name, errs[i])
		}
	}
	writeJSON(w, status, body)
}
