package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestGraphiQLOnlyForBrowsers: /graphql answers a browser opening it with
// GraphiQL, and every API client as before.
func TestGraphiQLOnlyForBrowsers(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("api")) })
	for _, tt := range []struct {
		name, method, accept, upgrade string
		page                          bool
	}{
		{"Chromium navigating", "GET", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "", true},
		{"Firefox navigating", "GET", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8", "", true},
		{"curl", "GET", "*/*", "", false},
		{"no Accept", "GET", "", "", false},
		{"a JSON client", "GET", "application/json", "", false},
		{"graphql-response", "GET", "application/graphql-response+json, application/json;q=0.9", "", false},
		{"html as good as JSON", "GET", "text/html, application/json", "", false},
		{"JSON preferred", "GET", "text/html;q=0.5, application/json", "", false},
		{"a WebSocket", "GET", "text/html", "websocket", false},
		{"a POST", "POST", "text/html", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, enabled := range []bool{true, false} {
				h := webRoutes(http.NewServeMux(), api, enabled)
				req := httptest.NewRequest(tt.method, "/graphql?query=%7BageGroups%7Bslug%7D%7D", nil)
				req.Header.Set("Accept", tt.accept)
				req.Header.Set("Upgrade", tt.upgrade)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				gotPage := strings.Contains(rec.Body.String(), "<title>coderunner · GraphiQL</title>")
				if want := tt.page && enabled; gotPage != want {
					t.Errorf("GraphiQL enabled %v: page %v, want %v (%.60q)", enabled, gotPage, want, rec.Body.String())
				}
			}
		})
	}
}
