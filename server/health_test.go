package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"coderunner/server"
)

// TestLivenessIgnoresDependencies: the health mux a worker serves on its
// own port (and the api beside /graphql), with Redis down. /healthz and
// /health, the two names of the liveness probe, still answer 200 — an
// orchestrator restarting the process would not bring Redis back —
// while readiness and the check itself say Redis is unavailable.
func TestLivenessIgnoresDependencies(t *testing.T) {
	checks := map[string]server.Check{
		"redis": func(context.Context) error { return errors.New("dial tcp 10.0.0.5:6379: connect: connection refused") },
		"store": func(context.Context) error { return nil },
	}
	mux := http.NewServeMux()
	server.HealthRoutes(mux, checks, map[string]string{"sandboxMode": "jail"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	hs := httptest.NewServer(mux)
	defer hs.Close()
	tests := []struct {
		path       string
		wantStatus int
		wantBody   string
	}{
		{"/healthz", http.StatusOK, `{"status":"ok"}`},
		{"/health", http.StatusOK, `{"status":"ok"}`},
		{"/readyz", http.StatusServiceUnavailable, `{"redis":"unavailable","sandboxMode":"jail","status":"unavailable","store":"ok"}`},
		{"/health/redis", http.StatusServiceUnavailable, `{"redis":"unavailable","status":"unavailable"}`},
		{"/health/store", http.StatusOK, `{"status":"ok","store":"ok"}`},
		{"/health/docker", http.StatusNotFound, `{"docker":"not used by this process","status":"unknown"}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(hs.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := strings.TrimSpace(string(body)); resp.StatusCode != tt.wantStatus || got != tt.wantBody {
				t.Errorf("GET %s: %d %s; want %d %s", tt.path, resp.StatusCode, got, tt.wantStatus, tt.wantBody)
			}
		})
	}
}
