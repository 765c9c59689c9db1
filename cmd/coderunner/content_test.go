package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker/redis/redistest"
	"coderunner/server"
)

// TestReplicasApplyContentChanges: two api replicas as app wires them, on
// one SQLite file and one Redis. A change A announces drops B's cached
// response within a second, B counts it, and a CDN purge hook hears of it.
func TestReplicasApplyContentChanges(t *testing.T) {
	purged := make(chan struct{}, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		purged <- struct{}{}
	}))
	t.Cleanup(hook.Close)
	env := map[string]string{
		"REDIS_URL":                redistest.Start(t),
		"CODERUNNER_DATA":          t.TempDir(),
		"CODERUNNER_CDN_PURGE_URL": hook.URL,
	}
	replica := func() (*app, *server.Server, *httptest.Server) {
		cfg, err := loadConfig(envOf(env))
		if err != nil {
			t.Fatal(err)
		}
		a, err := newApp(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.close)
		if err := a.seedIfEmpty(t.Context()); err != nil {
			t.Fatal(err)
		}
		api, err := a.apiServer()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(api.CloseSubscriptions)
		ts := httptest.NewServer(api)
		t.Cleanup(ts.Close)
		return a, api, ts
	}
	a, apiA, _ := replica()
	b, _, tsB := replica()

	get := func(etag string) (*http.Response, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet,
			tsB.URL+"/graphql?"+url.Values{"query": {`{ problem(id: "hello-world") { title } }`}}.Encode(), nil)
		req.Header.Set("If-None-Match", etag)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	first, _ := get("")
	etag := first.Header.Get("ETag")

	problems, err := a.store.Problems(t.Context(), []string{"hello-world"})
	if err != nil {
		t.Fatal(err)
	}
	p := problems["hello-world"]
	p.Title = "Say hello (edited)"
	if err := a.store.PutProblem(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	change := coderunner.ContentChange{Problems: []string{"hello-world"}}
	// B subscribes as it starts: announce until it has heard.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := apiA.ContentChanged(t.Context(), change); err != nil {
			t.Fatal(err)
		}
		resp, body := get(etag)
		if resp.StatusCode == http.StatusOK && resp.Header.Get("ETag") != etag && strings.Contains(body, "(edited)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B still answers %d, ETag %q, to the old ETag 10 s after A announced the change", resp.StatusCode, resp.Header.Get("ETag"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	metrics := httptest.NewRecorder()
	b.metrics.Handler().ServeHTTP(metrics, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(metrics.Body.String(), "coderunner_content_changes_applied_total") ||
		strings.Contains(metrics.Body.String(), "coderunner_content_changes_applied_total 0\n") {
		t.Errorf("B's metrics count no content change applied:\n%s", metrics.Body.String())
	}
	select {
	case <-purged:
	case <-time.After(5 * time.Second):
		t.Error("A did not call the CDN purge hook within 5 s")
	}
}
