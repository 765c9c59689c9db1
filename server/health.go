package server

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Check reports whether one dependency (the store, Redis, Docker) answers.
type Check func(ctx context.Context) error

// HealthRoutes adds the health endpoints to mux: /healthz and /health
// (the process is up), /readyz (every check passes, with facts about the
// process such as the sandbox mode in effect) and /health/NAME (one
// check). Workers, which serve no GraphQL, use it for their own port.
// facts may be filled in after the call, before the first request.
//
// A failing check answers "unavailable": its error may name internal
// hosts and addresses, and the endpoints are public. The error is logged
// instead, when the check starts failing (or fails differently), and its
// recovery too: not on every probe, which a load balancer sends every few
// seconds.
func HealthRoutes(mux *http.ServeMux, checks map[string]Check, facts map[string]string, log *slog.Logger) {
	h := &health{checks: checks, log: log, failing: map[string]string{}}
	// Liveness runs no check: a dependency that fails makes the process
	// unready, and restarting it would not bring the dependency back.
	// /healthz is the Kubernetes convention, /health the name the
	// operations plan gives it; they mean the same.
	live := func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
	mux.HandleFunc("GET /healthz", live)
	mux.HandleFunc("GET /health", live)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		names := make([]string, 0, len(checks))
		for name := range checks {
			names = append(names, name)
		}
		sort.Strings(names)
		h.serve(w, r, names, facts)
	})
	mux.HandleFunc("GET /health/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if _, ok := checks[name]; !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"status": "unknown", name: "not used by this process"})
			return
		}
		h.serve(w, r, []string{name}, nil)
	})
}

// health answers the health endpoints of one process.
type health struct {
	checks map[string]Check
	log    *slog.Logger

	mu      sync.Mutex
	failing map[string]string // the last error of each failing check
}

// serve runs the named checks concurrently and answers 200 if all pass,
// 503 if any fails, with each one's result and the facts.
func (h *health) serve(w http.ResponseWriter, r *http.Request, names []string, facts map[string]string) {
	checks := h.checks
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
	for k, v := range facts {
		body[k] = v
	}
	status := http.StatusOK
	for i, name := range names {
		body[name] = "ok"
		if errs[i] != nil {
			body[name] = "unavailable"
			body["status"] = "unavailable"
			status = http.StatusServiceUnavailable
		}
		h.record(ctx, name, errs[i])
	}
	writeJSON(w, status, body)
}

// record logs a check's result if it differs from the last one's.
func (h *health) record(ctx context.Context, name string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	last, wasFailing := h.failing[name]
	switch {
	case err == nil && wasFailing:
		delete(h.failing, name)
		h.log.InfoContext(ctx, "ready again", "check", name)
	case err != nil && (!wasFailing || last != err.Error()):
		h.failing[name] = err.Error()
		h.log.WarnContext(ctx, "not ready", "check", name, "err", err)
	}
}
