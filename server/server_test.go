package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/introspection"

	"coderunner"
	"coderunner/accounts"
	"coderunner/broker"
	"coderunner/broker/memory"
	"coderunner/cache"
	"coderunner/content"
	"coderunner/curriculum"
	"coderunner/report"
	"coderunner/runs"
	"coderunner/server"
	"coderunner/store/sqlite"
	"coderunner/submissions"
)

// testServer is the whole HTTP stack over a real SQLite file holding the
// shipped curriculum, behind the read and response caches.
type testServer struct {
	*httptest.Server
	api       *server.Server
	store     *cache.Store     // what the server reads
	responses *cache.Responses // public GET responses
	inner     *countingStore   // under the cache: counts store round trips
	broker    *memory.Broker   // the run queue and events; tests play the worker
	runs      *runs.Service
	subs      *submissions.Service
	content   *content.Service
	accounts  *accounts.Service

	subscriptions    atomic.Int64 // running, as Config.TrackSubscription counts them
	refused, dropped counts       // as Config.CountRefused and CountDropped are told
}

// counts is a concurrent tally by name.
type counts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counts) add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[name]++
}

func (c *counts) get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

type options struct {
	noCache       bool
	loaderWait    time.Duration
	queueMax      int64
	introspection bool
	quotas        bool // budget runs (off: tests may run as much as they like)
	origins       []string
	connections   server.ConnectionLimits
	timeouts      *server.Timeouts // nil: none, as httptest's server has
	trusted       []netip.Prefix
	// db, if not nil, is the store under the caches, shared with other
	// servers; nil: a new SQLite file with the shipped curriculum.
	db coderunner.Store
	// content carries content changes; nil: the server's memory broker.
	content coderunner.ContentChanges
	purge   *server.Purger
	applied *atomic.Int64 // if not nil, counts content changes applied
	// reporter, if not nil, is told of panics and INTERNAL errors.
	reporter report.Reporter
}

func newServer(t testing.TB, opt options) *testServer {
	t.Helper()
	db := opt.db
	if db == nil {
		db = newDB(t)
	}
	ts := &testServer{inner: &countingStore{Store: db}}
	ts.broker = memory.New(broker.Options{MaxWaiting: opt.queueMax})
	t.Cleanup(func() { ts.broker.Close() })
	ts.accounts = &accounts.Service{Store: db, Broker: ts.broker, Config: accounts.Config{
		Guests: true, Quotas: accounts.DefaultQuotas, GuestQuota: accounts.DefaultGuestQuota,
	}}
	ts.runs = &runs.Service{Store: ts.inner, Broker: ts.broker, CancelWait: 100 * time.Millisecond}
	ts.subs = &submissions.Service{Store: ts.inner, Broker: ts.broker}
	// No worker runs here: only drafts, which are not checked in the
	// sandbox, can be created or published through it.
	ts.content = &content.Service{Store: ts.inner, Checker: &content.Checker{Submissions: ts.subs, Timeout: time.Second}}
	if opt.quotas {
		ts.runs.Quotas, ts.subs.Quotas = ts.accounts, ts.accounts
	}
	queries, err := cache.NewQueries(1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{
		Store:          ts.inner,
		Queries:        queries,
		Limits:         server.DefaultLimits,
		Introspection:  opt.introspection,
		LoaderWait:     opt.loaderWait,
		Runs:           ts.runs,
		Submissions:    ts.subs,
		Content:        ts.content,
		Accounts:       ts.accounts,
		Revocations:    ts.broker,
		AllowedOrigins: opt.origins,
		TrustedProxies: opt.trusted,
		Connections:    opt.connections,
		TrackSubscription: func() func() {
			ts.subscriptions.Add(1)
			return func() { ts.subscriptions.Add(-1) }
		},
		CountRefused:   ts.refused.add,
		CountDropped:   ts.dropped.add,
		ContentChanges: opt.content,
		Purge:          opt.purge,
		Reporter:       opt.reporter,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if cfg.ContentChanges == nil {
		cfg.ContentChanges = ts.broker
	}
	if opt.applied != nil {
		cfg.CountContentChange = func() { opt.applied.Add(1) }
	}
	if !opt.noCache {
		ts.store, err = cache.NewStore(ts.inner, 16<<20, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		ts.responses, err = cache.NewResponses(16<<20, time.Minute, ts.store.Versions())
		if err != nil {
			t.Fatal(err)
		}
		cfg.Store, cfg.Responses, cfg.Invalidate = ts.store, ts.responses, ts.store.Invalidate
	}
	ts.api = server.New(cfg)
	ts.content.Changed = ts.api.ContentChanged
	ts.Server = httptest.NewUnstartedServer(ts.api)
	if opt.timeouts != nil {
		ts.Server.Config = server.NewHTTPServer(ts.api, *opt.timeouts)
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

// newDB returns a new SQLite store holding the shipped curriculum.
func newDB(t testing.TB) coderunner.Store {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "coderunner.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := curriculum.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	if err := curriculum.Seed(t.Context(), db, c); err != nil {
		t.Fatal(err)
	}
	return db
}

// countingStore counts calls to each read method.
type countingStore struct {
	coderunner.Store
	ageGroups, levelsIn, levels, problemsIn, problems atomic.Int64
	runs                                              atomic.Int64
}

func (s *countingStore) Run(ctx context.Context, id string) (coderunner.Run, error) {
	s.runs.Add(1)
	return s.Store.Run(ctx, id)
}

func (s *countingStore) AgeGroups(ctx context.Context) ([]coderunner.AgeGroup, error) {
	s.ageGroups.Add(1)
	return s.Store.AgeGroups(ctx)
}
func (s *countingStore) LevelsInAgeGroups(ctx context.Context, slugs []string) (map[string][]coderunner.Level, error) {
	s.levelsIn.Add(1)
	return s.Store.LevelsInAgeGroups(ctx, slugs)
}
func (s *countingStore) Levels(ctx context.Context, ids []string) (map[string]coderunner.Level, error) {
	s.levels.Add(1)
	return s.Store.Levels(ctx, ids)
}
func (s *countingStore) ProblemsInLevels(ctx context.Context, ids []string) (map[string][]coderunner.Problem, error) {
	s.problemsIn.Add(1)
	return s.Store.ProblemsInLevels(ctx, ids)
}
func (s *countingStore) Problems(ctx context.Context, ids []string) (map[string]coderunner.Problem, error) {
	s.problems.Add(1)
	return s.Store.Problems(ctx, ids)
}

func (s *countingStore) total() int64 {
	return s.ageGroups.Load() + s.levelsIn.Load() + s.levels.Load() + s.problemsIn.Load() + s.problems.Load()
}

// gqlResponse is a decoded GraphQL response.
type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

func (r gqlResponse) codes() []string {
	var codes []string
	for _, e := range r.Errors {
		code, _ := e.Extensions["code"].(string)
		codes = append(codes, code)
	}
	return codes
}

// post sends a GraphQL POST and decodes the answer.
func (ts *testServer) post(t testing.TB, body any) (*http.Response, gqlResponse) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return ts.do(t, http.MethodPost, "/graphql", bytes.NewReader(b), nil)
}

// get sends a GraphQL GET with the given URL parameters.
func (ts *testServer) get(t *testing.T, params url.Values, header http.Header) (*http.Response, gqlResponse) {
	t.Helper()
	return ts.do(t, http.MethodGet, "/graphql?"+params.Encode(), nil, header)
}

func (ts *testServer) do(t testing.TB, method, path string, body io.Reader, header http.Header) (*http.Response, gqlResponse) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out gqlResponse
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: status %d, body is not JSON: %q", method, path, resp.StatusCode, raw)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	return resp, out
}

func query(q string, vars map[string]any) map[string]any {
	return map[string]any{"query": q, "variables": vars}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestQueries(t *testing.T) {
	ts := newServer(t, options{})
	tests := []struct {
		name  string
		query string
		vars  map[string]any
		want  string // a JSON fragment the data must contain
	}{
		{"ageGroups", `{ ageGroups { slug title position } }`, nil, `{"slug":"7-9","title":"Explorers","position":1}`},
		{"ageGroups with levels", `{ ageGroups { slug levels { id position } } }`, nil, `"levels":[{"id":"explorers-1","position":1}`},
		{"levels", `query($g: String!) { levels(ageGroup: $g) { id ageGroup { slug } problemCount problems { id position } } }`,
			map[string]any{"g": "7-9"}, `{"id":"explorers-1","ageGroup":{"slug":"7-9"},"problemCount":3,"problems":[{"id":"hello-world","position":1}`},
		{"level", `{ level(id: "explorers-1") { id title problems { id } } }`, nil, `"problems":[{"id":"hello-world"}`},
		{"problem", `{ problem(id: "hello-world") { id title level { id } timeLimitMs memoryMb sampleTests { input output } } }`, nil,
			`"level":{"id":"explorers-1"},"timeLimitMs":2000,"memoryMb":64,"sampleTests":[{"input":`},
		{"problem statement and starter code", `{ problem(id: "hello-world") { statement starterCode } }`, nil, `"starterCode":"`},
		// The whole curriculum and the README's examples stay within the
		// complexity limit, which counts list fields five times over.
		{"whole curriculum", `{ ageGroups { slug levels { id title problems { id title } } } }`, nil, `"problems":[{"id":"hello-world","title":`},
		{"whole curriculum with sample tests", `{ ageGroups { slug title levels { id title problemCount problems { id title statement starterCode timeLimitMs memoryMb sampleTests { input output } } } } }`,
			nil, `"sampleTests":[{"input":`},
		{"README: levels", `query($g: String!) { levels(ageGroup: $g) { id title problemCount problems { id title } } }`,
			map[string]any{"g": "7-9"}, `"problemCount":3,"problems":[{"id":"hello-world"`},
		{"README: age groups", `{ ageGroups { slug title levels { id } } }`, nil, `"levels":[{"id":"explorers-1"}`},
		{"README: problem", `{ problem(id: "hello-world") { title statement starterCode sampleTests { input output } timeLimitMs memoryMb level { id } } }`,
			nil, `"level":{"id":"explorers-1"}`},
		{"README: persisted query", `query Levels($g: String!) { levels(ageGroup: $g) { id title problems { id title } } }`,
			map[string]any{"g": "7-9"}, `"problems":[{"id":"hello-world"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := ts.post(t, query(tt.query, tt.vars))
			if resp.StatusCode != http.StatusOK || len(out.Errors) > 0 {
				t.Fatalf("status %d, errors %+v", resp.StatusCode, out.Errors)
			}
			if !strings.Contains(string(out.Data), tt.want) {
				t.Errorf("data %s\ndoes not contain %s", out.Data, tt.want)
			}
		})
	}
}

// TestProblemCountMatchesProblems checks the maintained count against the
// problems actually listed, for every level.
func TestProblemCountMatchesProblems(t *testing.T) {
	ts := newServer(t, options{})
	_, out := ts.post(t, query(`{ ageGroups { levels { id problemCount problems { id } } } }`, nil))
	var data struct {
		AgeGroups []struct {
			Levels []struct {
				ID           string
				ProblemCount int
				Problems     []struct{ ID string }
			}
		}
	}
	if err := json.Unmarshal(out.Data, &data); err != nil {
		t.Fatal(err)
	}
	levels := 0
	for _, g := range data.AgeGroups {
		for _, l := range g.Levels {
			levels++
			if l.ProblemCount != len(l.Problems) || l.ProblemCount == 0 {
				t.Errorf("level %s: problemCount %d, %d problems listed", l.ID, l.ProblemCount, len(l.Problems))
			}
		}
	}
	if levels < 9 {
		t.Errorf("%d levels, want at least 9", levels)
	}
}

// TestStoreRoundTripsAreBounded is the N+1 guard: the whole curriculum,
// nested four deep, costs one store call per kind of list, however many
// levels and problems there are. The loaders' batching window is widened
// so that a machine busy with other tests cannot split a batch: what is
// tested is which calls the loaders make, not the scheduler's timing.
func TestStoreRoundTripsAreBounded(t *testing.T) {
	var aliased strings.Builder
	for i, id := range []string{"hello-world", "add-two", "even-or-odd", "count-up", "times-table"} {
		fmt.Fprintf(&aliased, "p%d: problem(id: %q) { id level { id ageGroup { slug } } } ", i, id)
	}
	tests := []struct {
		name      string
		query     string
		wantItems int // problems in the response, to show the query is big
		// At most this many calls of each read; one batch per list, and
		// lists prime the loaders that ageGroup and level read with.
		limits map[string]int64
	}{
		{"whole curriculum, nested", `{ ageGroups { slug levels { id ageGroup { slug } problems { id level { id problemCount } } } } }`, 30,
			map[string]int64{"AgeGroups": 1, "LevelsInAgeGroups": 1, "ProblemsInLevels": 1, "Levels": 0, "Problems": 0}},
		{"problems by id, with their levels", "{ " + aliased.String() + "}", 5,
			map[string]int64{"AgeGroups": 1, "LevelsInAgeGroups": 0, "ProblemsInLevels": 0, "Levels": 1, "Problems": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, options{noCache: true, loaderWait: 50 * time.Millisecond})
			resp, out := ts.post(t, query(tt.query, nil))
			if resp.StatusCode != http.StatusOK || len(out.Errors) > 0 {
				t.Fatalf("status %d, errors %+v", resp.StatusCode, out.Errors)
			}
			if n := strings.Count(string(out.Data), `"level":{`); n < tt.wantItems {
				t.Fatalf("response lists %d problems, want at least %d", n, tt.wantItems)
			}
			counts := map[string]int64{
				"AgeGroups":         ts.inner.ageGroups.Load(),
				"LevelsInAgeGroups": ts.inner.levelsIn.Load(),
				"ProblemsInLevels":  ts.inner.problemsIn.Load(),
				"Levels":            ts.inner.levels.Load(),
				"Problems":          ts.inner.problems.Load(),
			}
			for name, n := range counts {
				if n > tt.limits[name] {
					t.Errorf("%s called %d times, want at most %d", name, n, tt.limits[name])
				}
			}
		})
	}
}

// TestCurriculumCache checks that a repeated read is served from the cache
// and that a content change is visible at once, through the HTTP stack.
func TestCurriculumCache(t *testing.T) {
	ts := newServer(t, options{})
	q := `{ problem(id: "hello-world") { title } level(id: "explorers-1") { problemCount } }`
	read := func() string {
		t.Helper()
		_, out := ts.post(t, query(q, nil))
		if len(out.Errors) > 0 {
			t.Fatalf("errors %+v", out.Errors)
		}
		return string(out.Data)
	}
	first := read()
	ts.store.Wait()
	before := ts.inner.total()
	if again := read(); again != first {
		t.Fatalf("second read %s differs from first %s", again, first)
	}
	if n := ts.inner.total() - before; n != 0 {
		t.Errorf("cached read made %d store calls, want 0", n)
	}

	p, err := ts.store.Problems(t.Context(), []string{"hello-world"})
	if err != nil {
		t.Fatal(err)
	}
	changed := p["hello-world"]
	changed.Title = "Say hello, changed"
	if err := ts.store.PutProblem(t.Context(), changed); err != nil {
		t.Fatal(err)
	}
	if got := read(); !strings.Contains(got, "Say hello, changed") {
		t.Errorf("after PutProblem, read %s", got)
	}
}

// TestWebSocketReadsFreshCurriculum sends two queries on one WebSocket with
// a content change between them: each operation has its own loaders, so
// the second sees the change although the connection's first operation
// loaded the problem already.
func TestWebSocketReadsFreshCurriculum(t *testing.T) {
	ts := newServer(t, options{})
	c := dialWS(t, ts, "graphql-transport-ws")
	title := func(id string) string {
		t.Helper()
		c.subscribe(id, `{ problem(id: "hello-world") { title } }`, nil)
		m := c.read()
		var p struct {
			Data   struct{ Problem struct{ Title string } }
			Errors []json.RawMessage
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil || m.Type != "next" || len(p.Errors) > 0 {
			t.Fatalf("query on the socket: %s message %s, %v", m.Type, m.Payload, err)
		}
		if m := c.read(); m.Type != "complete" {
			t.Fatalf("after the result: %s message, want complete", m.Type)
		}
		return p.Data.Problem.Title
	}

	before := title("1")
	p, err := ts.store.Problems(t.Context(), []string{"hello-world"})
	if err != nil {
		t.Fatal(err)
	}
	changed := p["hello-world"]
	changed.Title = before + ", changed"
	if err := ts.store.PutProblem(t.Context(), changed); err != nil {
		t.Fatal(err)
	}
	if after := title("2"); after != changed.Title {
		t.Errorf("after PutProblem, the same socket reads title %q, want %q", after, changed.Title)
	}
}

// TestPersistedQueries walks Apollo's APQ sequence over GET, with the HTTP
// caching each step must carry.
func TestPersistedQueries(t *testing.T) {
	ts := newServer(t, options{})
	q := `query Levels($g: String!) { levels(ageGroup: $g) { id title problems { id title } } }`
	ext := `{"persistedQuery":{"version":1,"sha256Hash":"` + sha256Hex(q) + `"}}`
	hashOnly := url.Values{"extensions": {ext}, "variables": {`{"g":"10-12"}`}}

	// 1. The server has never seen the hash.
	resp, out := ts.get(t, hashOnly, nil)
	if got := out.codes(); len(got) != 1 || got[0] != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("hash-only GET of an unknown query: codes %v, want [PERSISTED_QUERY_NOT_FOUND]", got)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("PersistedQueryNotFound: Cache-Control %q, want no-store", cc)
	}

	// 2. The client registers it with a POST of query and hash.
	resp, out = ts.post(t, map[string]any{"query": q, "variables": map[string]any{"g": "10-12"},
		"extensions": json.RawMessage(ext)})
	if resp.StatusCode != http.StatusOK || len(out.Errors) > 0 {
		t.Fatalf("POST with query and hash: status %d, errors %+v", resp.StatusCode, out.Errors)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("POST: Cache-Control %q, want no-store", cc)
	}

	// 3. The hash alone now works and is publicly cacheable.
	resp, out = ts.get(t, hashOnly, nil)
	if resp.StatusCode != http.StatusOK || len(out.Errors) > 0 {
		t.Fatalf("hash-only GET: status %d, errors %+v", resp.StatusCode, out.Errors)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=60, stale-while-revalidate=300" {
		t.Errorf("hash-only GET: Cache-Control %q", cc)
	}
	etag := resp.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 10 {
		t.Fatalf("ETag %q is not a strong entity tag", etag)
	}
	if !strings.Contains(string(out.Data), `"id":"`) {
		t.Errorf("data %s has no levels", out.Data)
	}

	// 4. A conditional GET with that tag is answered 304, without a body.
	resp, _ = ts.get(t, hashOnly, http.Header{"If-None-Match": {etag}})
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("conditional GET: status %d, want 304", resp.StatusCode)
	}
	if body, _ := io.ReadAll(resp.Body); len(body) != 0 {
		t.Errorf("304 has a body: %q", body)
	}
	if got := resp.Header.Get("ETag"); got != etag {
		t.Errorf("304 ETag %q, want %q", got, etag)
	}

	// 5. Another tag gets the full answer again, with the same tag.
	resp, _ = ts.get(t, hashOnly, http.Header{"If-None-Match": {`"stale"`}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") != etag {
		t.Errorf("GET with a stale tag: status %d, ETag %q; want 200 and %q", resp.StatusCode, resp.Header.Get("ETag"), etag)
	}

	// 6. When content changes, the tag changes.
	levels, err := ts.store.LevelsInAgeGroups(t.Context(), []string{"10-12"})
	if err != nil || len(levels["10-12"]) == 0 {
		t.Fatalf("levels of 10-12: %v, %v", levels, err)
	}
	level := levels["10-12"][0]
	level.Title += " (new)"
	if err := ts.store.PutLevel(t.Context(), level); err != nil {
		t.Fatal(err)
	}
	resp, out = ts.get(t, hashOnly, http.Header{"If-None-Match": {etag}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag || !strings.Contains(string(out.Data), "(new)") {
		t.Errorf("after a content change: status %d, ETag %q (was %q), data %s", resp.StatusCode, resp.Header.Get("ETag"), etag, out.Data)
	}
}

// TestCacheControl checks the header on every kind of response.
func TestCacheControl(t *testing.T) {
	ts := newServer(t, options{introspection: true})
	tests := []struct {
		name  string
		query string
		want  string
	}{
		{"public query", `{ ageGroups { slug levels { id } } }`, "public, max-age=60, stale-while-revalidate=300"},
		{"public query with fragments", `{ ageGroups { ...G } } fragment G on AgeGroup { slug ... on AgeGroup { title } __typename }`, "public, max-age=60, stale-while-revalidate=300"},
		{"query with an error", `{ level(id: "no-such-level") { id } }`, "no-store"},
		{"introspection", `{ __schema { queryType { name } } }`, "no-store"},
		{"invalid query", `{ nope }`, "no-store"},
		{"the caller's progress", `{ problem(id: "hello-world") { title myProgress { solved } } }`, "no-store"},
		{"the caller's progress in a fragment", `{ level(id: "explorers-1") { ...L } } fragment L on Level { myProgress { completed } }`, "no-store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := ts.get(t, url.Values{"query": {tt.query}}, nil)
			if got := resp.Header.Get("Cache-Control"); got != tt.want {
				t.Errorf("Cache-Control %q, want %q", got, tt.want)
			}
			if tt.want == "no-store" && resp.Header.Get("ETag") != "" {
				t.Errorf("uncacheable response has ETag %q", resp.Header.Get("ETag"))
			}
		})
	}
}

// TestHiddenDataNeverReachesStudents puts a problem whose hidden tests and
// reference solution carry markers, then reads it every way the API allows.
func TestHiddenDataNeverReachesStudents(t *testing.T) {
	ts := newServer(t, options{introspection: true})
	secret := coderunner.Problem{
		ID: "secret-problem", LevelID: "explorers-1", Position: 99, Title: "Secret",
		Statement:         "Print the input.",
		StarterCode:       "print(input())\n",
		SampleTests:       []coderunner.TestCase{{Input: "visible-in\n", Output: "visible-out\n"}},
		HiddenTests:       []coderunner.TestCase{{Input: "HIDDEN-INPUT-MARKER\n", Output: "HIDDEN-OUTPUT-MARKER\n"}},
		ReferenceSolution: "REFERENCE-SOLUTION-MARKER = 1\n",
	}
	if err := ts.store.PutProblem(t.Context(), secret); err != nil {
		t.Fatal(err)
	}
	all := `id position title statement starterCode sampleTests { input output } timeLimitMs memoryMb`
	queries := []string{
		`{ problem(id: "secret-problem") { ` + all + ` level { id } } }`,
		`{ level(id: "explorers-1") { problems { ` + all + ` } } }`,
		`{ ageGroups { levels { problems { ` + all + ` } } } }`,
		`{ levels(ageGroup: "7-9") { problems { ` + all + ` } } }`,
		`{ __type(name: "Problem") { fields { name } } }`,
		// The schema has these field names on EditableProblem, which only
		// editors get (TestNoFieldLeaksHiddenTests walks it): the types a
		// student reads must not.
		`{ __type(name: "TestCase") { fields { name } } }`,
		`{ problem(id: "secret-problem") { hiddenTests { input } } }`,
		`{ problem(id: "secret-problem") { referenceSolution } }`,
	}
	for _, q := range queries {
		for _, method := range []string{"POST", "GET"} {
			var resp *http.Response
			if method == "POST" {
				resp, _ = ts.post(t, query(q, nil))
			} else {
				resp, _ = ts.get(t, url.Values{"query": {q}}, nil)
			}
			body, _ := io.ReadAll(resp.Body)
			for _, marker := range []string{"HIDDEN-INPUT-MARKER", "HIDDEN-OUTPUT-MARKER", "REFERENCE-SOLUTION-MARKER", "hiddenTests", "referenceSolution\""} {
				if strings.Contains(string(body), marker) && !strings.Contains(q, marker) {
					t.Errorf("%s %s: response contains %s: %s", method, q, marker, body)
				}
			}
			if strings.Contains(q, "hiddenTests") || strings.Contains(q, "referenceSolution") {
				if !strings.Contains(string(body), "Cannot query field") {
					t.Errorf("%s %s: want a validation error, got %s", method, q, body)
				}
			}
		}
	}
}

// TestErrors checks that bad requests get a clear message and a code.
func TestErrors(t *testing.T) {
	ts := newServer(t, options{})
	deep := `{ problem(id: "hello-world") { level { problems { level { problems { level { problems { level { id } } } } } } } } }`
	aliases := "{ " + strings.Repeat("a: ageGroups { slug } ", 1) + func() string {
		var b strings.Builder
		for i := range 40 {
			b.WriteString("a" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ": ageGroups { slug } ")
		}
		return b.String()
	}() + "}"
	// Lists nested in lists: within the depth, alias and field limits, 3 KB
	// of query text that would answer 5 MB.
	var complex strings.Builder
	complex.WriteString("{ ")
	for i := range 30 {
		fmt.Fprintf(&complex, "a%d: ageGroups { levels { problems { level { problems { level { problems { statement } } } } } } } ", i)
	}
	complex.WriteString("}")
	// Each fragment spreads the next twice: 2^30 fields once expanded, in
	// 2 KB of query text.
	var bomb strings.Builder
	bomb.WriteString("{ ...F0 }\n")
	for i := range 30 {
		fmt.Fprintf(&bomb, "fragment F%d on Query { ...F%d ...G%d }\nfragment G%d on Query { ...F%d }\n", i, i+1, i, i, i+1)
	}
	bomb.WriteString("fragment F30 on Query { ageGroups { slug } }\n")
	tests := []struct {
		name       string
		method     string
		body       string // POST body, or the query for GET
		wantStatus int
		wantCode   string
		wantInMsg  string
	}{
		{"unknown problem", "POST", `{"query":"{ problem(id: \"nope\") { id } }"}`, 200, "NOT_FOUND", `no problem with id "nope"`},
		{"unknown level", "POST", `{"query":"{ level(id: \"nope\") { id } }"}`, 200, "NOT_FOUND", `no level with id "nope"`},
		{"unknown age group", "POST", `{"query":"{ levels(ageGroup: \"99-100\") { id } }"}`, 200, "NOT_FOUND", `no age group with id "99-100"`},
		{"malformed query", "POST", `{"query":"{ ageGroups { slug "}`, 422, "BAD_USER_INPUT", "Expected Name"},
		{"unknown field", "POST", `{"query":"{ ageGroups { nope } }"}`, 422, "BAD_USER_INPUT", `Cannot query field "nope"`},
		{"missing argument", "POST", `{"query":"{ levels { id } }"}`, 422, "BAD_USER_INPUT", "ageGroup"},
		{"too deep", "POST", mustJSON(map[string]string{"query": deep}), 422, "BAD_USER_INPUT", "levels deep; the limit is 8"},
		{"too many aliases", "POST", mustJSON(map[string]string{"query": aliases}), 422, "BAD_USER_INPUT", "aliases; the limit is 30"},
		{"too complex", "POST", mustJSON(map[string]string{"query": complex.String()}), 422, "BAD_USER_INPUT", "exceeds the limit of 3000"},
		{"too complex, one list in lists", "POST", mustJSON(map[string]string{"query": `{ ageGroups { levels { problems { level { problems { level { problems { statement } } } } } } } }`}),
			422, "BAD_USER_INPUT", "exceeds the limit of 3000"},
		{"too deep beside introspection", "POST", mustJSON(map[string]string{"query": strings.Replace(deep, "{", "{ __schema { queryType { name } } ", 1)}),
			422, "BAD_USER_INPUT", "levels deep; the limit is 8"},
		{"fragment bomb", "POST", mustJSON(map[string]string{"query": bomb.String()}), 422, "BAD_USER_INPUT", "more than 500 fields"},
		{"too many tokens", "POST", mustJSON(map[string]string{"query": "{ " + strings.Repeat("__typename ", 16000) + "}"}), 422, "BAD_USER_INPUT", "token limit"},
		{"body not JSON", "POST", `{"query": `, 400, "BAD_USER_INPUT", "could not be decoded"},
		{"body too large", "POST", `{"query":"{ ageGroups { slug } }","variables":{"x":"` + strings.Repeat("x", 2<<20) + `"}}`, 413, "BAD_USER_INPUT", "larger than the limit"},
		{"mutation over GET", "GET", `mutation { cancelRun(id: "x") { id } }`, 406, "BAD_USER_INPUT", "GET requests only allow query"},
		{"bad variables over GET", "GET", `{ ageGroups { slug } }&variables={`, 400, "BAD_USER_INPUT", "variables"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			var out gqlResponse
			start := time.Now()
			defer func() {
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("rejecting it took %v", d)
				}
			}()
			if tt.method == "GET" {
				q, rest, _ := strings.Cut(tt.body, "&")
				params, _ := url.ParseQuery(rest)
				params.Set("query", q)
				resp, out = ts.get(t, params, nil)
			} else {
				resp, out = ts.do(t, "POST", "/graphql", strings.NewReader(tt.body), nil)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if len(out.Errors) == 0 {
				t.Fatalf("no errors in the response")
			}
			for _, e := range out.Errors {
				if code, _ := e.Extensions["code"].(string); code != tt.wantCode {
					t.Errorf("error %q has code %q, want %q", e.Message, code, tt.wantCode)
				}
			}
			if !strings.Contains(out.Errors[0].Message, tt.wantInMsg) {
				t.Errorf("message %q does not mention %q", out.Errors[0].Message, tt.wantInMsg)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
		})
	}
}

// TestIntrospectionSwitch sends a small introspection query and the full
// one that GraphiQL and code generators send (gqlgen's copy nests ofType 8
// times, one more than graphql-js's): both answer when introspection is
// on, neither when it is off.
func TestIntrospectionSwitch(t *testing.T) {
	queries := map[string]string{
		"small":    `{ __schema { types { name } } }`,
		"standard": introspection.Query,
		"by type":  `{ __type(name: "Problem") { ...T } } fragment T on __Type { name fields { name type { kind ofType { kind ofType { kind ofType { name } } } } } }`,
	}
	for _, on := range []bool{true, false} {
		ts := newServer(t, options{introspection: on})
		for name, q := range queries {
			resp, out := ts.post(t, query(q, nil))
			if got := len(out.Errors) == 0; got != on {
				t.Errorf("introspection %v, %s query: answered %v, status %d, errors %+v", on, name, got, resp.StatusCode, out.Errors)
			}
			if on && !strings.Contains(string(out.Data), `"Problem"`) {
				t.Errorf("%s query: data %.200s… does not name the Problem type", name, out.Data)
			}
		}
	}
}

// TestSelectionCap sends queries that repeat one field many times, within
// the token limit: gqlgen's validation compares fields pairwise, so they
// must be refused before it runs.
func TestSelectionCap(t *testing.T) {
	ts := newServer(t, options{})
	tests := []struct {
		name     string
		query    string
		wantCode string // "" for an answer without errors
	}{
		{"repeated field", "{ ageGroups { " + strings.Repeat("slug ", 14980) + "} }", "BAD_USER_INPUT"},
		{"repeated __typename", "{ " + strings.Repeat("__typename ", 14990) + "}", "BAD_USER_INPUT"},
		{"repeated in a fragment", "{ ageGroups { ...G } } fragment G on AgeGroup { " + strings.Repeat("title ", 600) + "}", "BAD_USER_INPUT"},
		{"ordinary query", `{ ageGroups { slug levels { id title problems { id title } } } }`, ""},
		{"query with fragments", `{ ageGroups { ...G } level(id: "explorers-1") { ageGroup { ...G } } } fragment G on AgeGroup { slug title }`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // the second time, a good query comes from gqlgen's cache
				start := time.Now()
				resp, out := ts.post(t, query(tt.query, nil))
				// Validating these in full took 25 s; refused early, they
				// take milliseconds. The bound leaves room for a loaded CI.
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("answering took %v", d)
				}
				if tt.wantCode == "" {
					if resp.StatusCode != http.StatusOK || len(out.Errors) > 0 {
						t.Fatalf("status %d, errors %+v", resp.StatusCode, out.Errors)
					}
					continue
				}
				if got := out.codes(); resp.StatusCode != http.StatusUnprocessableEntity || len(got) != 1 || got[0] != tt.wantCode {
					t.Fatalf("status %d, codes %v; want 422 and [%s]", resp.StatusCode, got, tt.wantCode)
				}
				if msg := out.Errors[0].Message; !strings.Contains(msg, "the limit is 500: ask for fewer") {
					t.Errorf("message %q does not give the limit", msg)
				}
			}
		})
	}
}

// TestPublicResponsesVaryOnAccept: the Content-Type of a public response
// follows Accept, so the response says so (Vary) and each Content-Type has
// its own entity tag.
func TestPublicResponsesVaryOnAccept(t *testing.T) {
	ts := newServer(t, options{})
	params := url.Values{"query": {`{ ageGroups { slug } }`}}
	etags := map[string]string{}
	for _, accept := range []string{"application/json", "application/graphql-response+json"} {
		for _, from := range []string{"GraphQL", "the response cache"} {
			resp, _ := ts.get(t, params, http.Header{"Accept": {accept}})
			ts.responses.Wait()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") == "no-store" {
				t.Fatalf("Accept %s, from %s: status %d, Cache-Control %q", accept, from, resp.StatusCode, resp.Header.Get("Cache-Control"))
			}
			if got := strings.Join(resp.Header.Values("Vary"), ", "); got != "Origin, Accept" {
				t.Errorf("Accept %s, from %s: Vary %q, want Origin, Accept", accept, from, got)
			}
			if got := resp.Header.Get("Content-Type"); got != accept {
				t.Errorf("Accept %s, from %s: Content-Type %q", accept, from, got)
			}
			if prev, ok := etags[accept]; ok && prev != resp.Header.Get("ETag") {
				t.Errorf("Accept %s: ETag %q from %s, %q before", accept, resp.Header.Get("ETag"), from, prev)
			}
			etags[accept] = resp.Header.Get("ETag")
		}
	}
	jsonTag := etags["application/json"]
	if jsonTag == etags["application/graphql-response+json"] {
		t.Fatalf("both Content-Types have ETag %s", jsonTag)
	}
	// A client holding the application/json representation asks for the
	// other one: it gets it, not a 304.
	resp, _ := ts.get(t, params, http.Header{"Accept": {"application/graphql-response+json"}, "If-None-Match": {jsonTag}})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("If-None-Match with the other Content-Type's tag: status %d, want 200", resp.StatusCode)
	}
	resp, _ = ts.get(t, params, http.Header{"Accept": {"application/json"}, "If-None-Match": {jsonTag}})
	if vary := strings.Join(resp.Header.Values("Vary"), ", "); resp.StatusCode != http.StatusNotModified || vary != "Origin, Accept" {
		t.Errorf("If-None-Match with its own tag: status %d, Vary %q; want 304 and Origin, Accept", resp.StatusCode, vary)
	}
}

func TestHealth(t *testing.T) {
	ts := newServer(t, options{})
	for _, path := range []string{"/healthz", "/health", "/readyz"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status":"ok"`) {
			t.Errorf("%s: status %d, body %s", path, resp.StatusCode, body)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
