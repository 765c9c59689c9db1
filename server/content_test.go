package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker/redis"
	"coderunner/broker/redis/redistest"
	"coderunner/server"
)

// Queries of the shipped curriculum: hello-world is a problem of
// explorers-1, in age group 7-9; builders-1 (10-12) shares nothing with it.
var (
	problemQuery = url.Values{"query": {`{ problem(id: "hello-world") { title statement } }`}}
	levelQuery   = url.Values{"query": {`{ level(id: "builders-1") { title problems { id title } } }`}}
	levelsQuery  = url.Values{"query": {`{ levels(ageGroup: "7-9") { id title problemCount } }`}}
)

// cachedGet is a public GET's outcome.
type cachedGet struct {
	status        int
	etag, data    string
	surrogateKeys []string
	cacheTag      string
	storeReads    int64 // reads of the store under the caches it cost
}

// fetch GETs params through ts, conditionally on etag if it is not empty.
func (ts *testServer) fetch(t *testing.T, params url.Values, etag string) cachedGet {
	t.Helper()
	header := http.Header{}
	if etag != "" {
		header.Set("If-None-Match", etag)
	}
	before := ts.inner.total()
	resp, out := ts.get(t, params, header)
	if len(out.Errors) > 0 {
		t.Fatalf("GET %s: errors %+v", params.Get("query"), out.Errors)
	}
	return cachedGet{
		status:        resp.StatusCode,
		etag:          resp.Header.Get("ETag"),
		data:          string(out.Data),
		surrogateKeys: strings.Fields(resp.Header.Get("Surrogate-Key")),
		cacheTag:      resp.Header.Get("Cache-Tag"),
		storeReads:    ts.inner.total() - before,
	}
}

// retitleProblem changes hello-world's title in db, behind every cache.
func retitleProblem(t *testing.T, db coderunner.Store, title string) {
	t.Helper()
	problems, err := db.Problems(t.Context(), []string{"hello-world"})
	if err != nil {
		t.Fatal(err)
	}
	p := problems["hello-world"]
	p.Title = title
	if err := db.PutProblem(t.Context(), p); err != nil {
		t.Fatal(err)
	}
}

// TestResponsesDependOnWhatTheyRead: each public response lists what it
// read; a change drops exactly the cached responses that read something
// it names, and the others keep their body and ETag without a store read.
func TestResponsesDependOnWhatTheyRead(t *testing.T) {
	ts := newServer(t, options{})
	wantTags := map[string][]string{
		"problem": {"problem:hello-world"},
		"levels":  {"agegroup:7-9", "level:explorers-1", "level:explorers-2", "level:explorers-3", "level:explorers-4"},
	}
	queries := map[string]url.Values{"problem": problemQuery, "level": levelQuery, "levels": levelsQuery}
	first := map[string]cachedGet{}
	for name, q := range queries {
		got := ts.fetch(t, q, "")
		if got.status != http.StatusOK || got.etag == "" {
			t.Fatalf("%s: status %d, ETag %q", name, got.status, got.etag)
		}
		if name == "level" { // its problems are whatever the curriculum has
			if !slices.Contains(got.surrogateKeys, "level:builders-1") || slices.ContainsFunc(got.surrogateKeys, func(k string) bool {
				return strings.HasPrefix(k, "agegroup:")
			}) {
				t.Errorf("%s: Surrogate-Key %v", name, got.surrogateKeys)
			}
		} else if !slices.Equal(got.surrogateKeys, wantTags[name]) {
			t.Errorf("%s: Surrogate-Key %v; want %v", name, got.surrogateKeys, wantTags[name])
		}
		if got.cacheTag != strings.Join(got.surrogateKeys, ",") {
			t.Errorf("%s: Cache-Tag %q; want the Surrogate-Key %v, comma-separated", name, got.cacheTag, got.surrogateKeys)
		}
		first[name] = got
	}
	ts.responses.Wait()

	// The problem changes: only its response goes.
	retitleProblem(t, ts.inner.Store, "Say hello (new)")
	if err := ts.api.ContentChanged(t.Context(), coderunner.ContentChange{Problems: []string{"hello-world"}}); err != nil {
		t.Fatal(err)
	}
	got := ts.fetch(t, problemQuery, first["problem"].etag)
	if got.status != http.StatusOK || got.etag == first["problem"].etag || !strings.Contains(got.data, "(new)") {
		t.Errorf("problem after its change: status %d, ETag %q (was %q), data %s", got.status, got.etag, first["problem"].etag, got.data)
	}
	for _, name := range []string{"level", "levels"} {
		got := ts.fetch(t, queries[name], first[name].etag)
		if got.status != http.StatusNotModified || got.etag != first[name].etag || got.storeReads != 0 {
			t.Errorf("%s after a change to a problem it did not read: status %d, ETag %q (was %q), %d store reads; want 304, the same ETag, none",
				name, got.status, got.etag, first[name].etag, got.storeReads)
		}
	}

	// The problem's level changes (its problem count, say): the list of
	// its age group's levels goes, the problem's response stays.
	ts.responses.Wait()
	problem := ts.fetch(t, problemQuery, "")
	if err := ts.api.ContentChanged(t.Context(), coderunner.ContentChange{Levels: []string{"explorers-1"}}); err != nil {
		t.Fatal(err)
	}
	if got := ts.fetch(t, levelsQuery, ""); got.storeReads == 0 || got.etag != first["levels"].etag {
		t.Errorf("levels after a change to one of them: %d store reads, ETag %q (was %q); want a fresh read, and the same ETag (its content did not change)",
			got.storeReads, got.etag, first["levels"].etag)
	}
	if got := ts.fetch(t, problemQuery, problem.etag); got.status != http.StatusNotModified || got.storeReads != 0 {
		t.Errorf("problem after a change to its level: status %d, %d store reads; want 304 from the cache", got.status, got.storeReads)
	}
}

// TestContentChangeReachesEveryReplica: two api replicas over one store and
// one Redis. A change published through A drops B's cached copy within a
// second: a conditional GET with the old ETag through B answers 200 with a
// new ETag, while an untouched level's ETag stays.
func TestContentChangeReachesEveryReplica(t *testing.T) {
	url := redistest.Start(t)
	db := newDB(t)
	var appliedByB atomic.Int64
	a := newServer(t, options{db: db, content: openRedis(t, url)})
	b := newServer(t, options{db: db, content: openRedis(t, url), applied: &appliedByB})

	// B listens from some moment after New: wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for appliedByB.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("replica B applied no content change within 10 s")
		}
		if err := a.api.ContentChanged(t.Context(), coderunner.ContentChange{Problems: []string{"warm-up"}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	oldProblem, oldLevel := b.fetch(t, problemQuery, ""), b.fetch(t, levelQuery, "")
	b.responses.Wait()
	if again := b.fetch(t, problemQuery, oldProblem.etag); again.status != http.StatusNotModified || again.storeReads != 0 {
		t.Fatalf("B did not cache the problem: status %d, %d store reads", again.status, again.storeReads)
	}

	retitleProblem(t, db, "Say hello (edited on A)")
	published := time.Now()
	if err := a.api.ContentChanged(t.Context(), coderunner.ContentChange{Problems: []string{"hello-world"}}); err != nil {
		t.Fatal(err)
	}
	for {
		got := b.fetch(t, problemQuery, oldProblem.etag)
		if got.status == http.StatusOK {
			if got.etag == oldProblem.etag || !strings.Contains(got.data, "(edited on A)") {
				t.Fatalf("B after the change: ETag %q (was %q), data %s", got.etag, oldProblem.etag, got.data)
			}
			t.Logf("B served the change %v after A published it", time.Since(published))
			break
		}
		if time.Since(published) > time.Second {
			t.Fatalf("B still answers %d to the old ETag a second after A published the change", got.status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := b.fetch(t, levelQuery, oldLevel.etag); got.status != http.StatusNotModified || got.etag != oldLevel.etag {
		t.Errorf("untouched level through B: status %d, ETag %q (was %q); want 304, unchanged", got.status, got.etag, oldLevel.etag)
	}
	if got := a.fetch(t, problemQuery, oldProblem.etag); got.status != http.StatusOK || !strings.Contains(got.data, "(edited on A)") {
		t.Errorf("A after its own change: status %d, data %s", got.status, got.data)
	}
}

func openRedis(t *testing.T, url string) *redis.Broker {
	t.Helper()
	b, err := redis.Open(url, redis.Config{Prefix: "content-test:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// purgeHook is a CDN purge endpoint that answers with statuses in turn
// (the last one from then on) and records the tags it was asked to purge.
type purgeHook struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	requests [][]string
	got      chan []string
}

func newPurgeHook(t *testing.T, statuses ...int) *purgeHook {
	h := &purgeHook{statuses: statuses, got: make(chan []string, 10)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Tags []string `json:"tags"`
		}
		raw, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(raw, &body) != nil {
			t.Errorf("purge request: %s, Content-Type %q, body %q", r.Method, r.Header.Get("Content-Type"), raw)
		}
		h.mu.Lock()
		h.requests = append(h.requests, body.Tags)
		status := h.statuses[min(len(h.requests), len(h.statuses))-1]
		h.mu.Unlock()
		w.WriteHeader(status)
		if status/100 == 2 {
			h.got <- body.Tags
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *purgeHook) attempts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.requests)
}

func TestPurger(t *testing.T) {
	tags := []string{"level:explorers-1", "problem:hello-world"}
	tests := []struct {
		name     string
		statuses []int
		want     string
		attempts int
	}{
		{"at once", []int{http.StatusNoContent}, "ok", 1},
		{"after a 503 and a 429", []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusOK}, "ok", 3},
		{"a 5xx every time", []int{http.StatusBadGateway}, "failed", 3},
		{"a 4xx is not retried", []int{http.StatusForbidden}, "failed", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hook := newPurgeHook(t, tt.statuses...)
			var results counts
			p := &server.Purger{URL: hook.URL, Backoff: 10 * time.Millisecond, Count: results.add}
			err := p.Purge(t.Context(), tags)
			if (err == nil) != (tt.want == "ok") || results.get(tt.want) != 1 || hook.attempts() != tt.attempts {
				t.Errorf("Purge: %v, counted %v, %d attempts; want %s after %d", err, results.n, hook.attempts(), tt.want, tt.attempts)
			}
			if tt.want == "ok" {
				if got := <-hook.got; !slices.Equal(got, append(tags, server.WideTag)) {
					t.Errorf("purged %v; want %v and %s", got, tags, server.WideTag)
				}
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		hook := newPurgeHook(t, http.StatusOK)
		hook.Close()
		var results counts
		p := &server.Purger{URL: hook.URL, Backoff: 10 * time.Millisecond, Timeout: time.Second, Count: results.add}
		if err := p.Purge(t.Context(), tags); err == nil || results.get("failed") != 1 {
			t.Errorf("Purge of a closed server: %v, counted %v", err, results.n)
		}
	})
}

// TestContentChangedPurges: the replica that publishes a change asks the
// CDN to purge its tags, after the delay.
func TestContentChangedPurges(t *testing.T) {
	hook := newPurgeHook(t, http.StatusOK)
	var results counts
	ts := newServer(t, options{purge: &server.Purger{URL: hook.URL, Delay: 50 * time.Millisecond, Count: results.add}})
	change := coderunner.ContentChange{Problems: []string{"hello-world"}, Levels: []string{"explorers-1"}}
	if err := ts.api.ContentChanged(context.Background(), change); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-hook.got:
		if want := append(change.Tags(), server.WideTag); !slices.Equal(got, want) {
			t.Errorf("purged %v; want %v", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no purge within 5 s")
	}
}
