package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"coderunner/report"
	"coderunner/report/reporttest"
)

// TestRecoverHTTP: a handler's panic is reported with the method and path
// only, and panics on, so that net/http drops the connection as before.
func TestRecoverHTTP(t *testing.T) {
	sentry := reporttest.Start(t)
	rep, err := report.New(report.Options{DSN: sentry.DSN(), Release: "coderunner@test"})
	if err != nil {
		t.Fatal(err)
	}
	h := recoverHTTP(rep, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("handler broke") }))
	r := httptest.NewRequest(http.MethodGet, "/readyz?query=SECRET_QUERY", nil)
	r.Header.Set("Authorization", "Bearer SECRET_TOKEN")
	func() {
		defer func() {
			if p := recover(); p != "handler broke" {
				t.Errorf("recovered %v, want the handler's panic again", p)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), r)
	}()
	rep.Flush(5 * time.Second)
	e := sentry.WaitFor(t, "the handler's panic", func(e reporttest.Event) bool { return e.Tags["operation"] == "GET /readyz" })
	if e.Tags["kind"] != "panic" || e.Tags["role"] != "api" || e.Level != "fatal" {
		t.Errorf("event %s", e.Raw)
	}
	sentry.NeverSent(t, map[string]string{"query": "SECRET_QUERY", "token": "SECRET_TOKEN"})
}
