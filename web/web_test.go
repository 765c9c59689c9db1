package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

// The bundle budget (docs/web.md): what a child's browser downloads to
// open the editor, gzipped. GraphiQL, for developers only, has a ceiling
// of its own so that it does not grow unnoticed.
const (
	appBudget      = 300 << 10
	graphiQLBudget = 1 << 20
)

// TestBudget is the size half of the budget check; e2e's browser tests
// check the other half, that no request leaves the origin.
func TestBudget(t *testing.T) {
	for _, tt := range []struct {
		dir    string
		budget int
	}{{"dist/app", appBudget}, {"dist/graphiql", graphiQLBudget}} {
		total := 0
		entries, err := fs.ReadDir(dist, tt.dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			body, _ := fs.ReadFile(dist, path.Join(tt.dir, e.Name()))
			n := gzipped(t, body)
			t.Logf("%s/%s: %d bytes, %d gzipped", tt.dir, e.Name(), len(body), n)
			total += n
		}
		t.Logf("%s: %d KiB gzipped, budget %d KiB", tt.dir, total>>10, tt.budget>>10)
		if total > tt.budget {
			t.Errorf("%s is %d bytes gzipped, over its budget of %d", tt.dir, total, tt.budget)
		}
	}
}

func gzipped(t *testing.T, b []byte) int {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

// TestPagesHaveNoInlineScript: the CSP allows no inline script, so a page
// that had one would break; and it would be a place for content to run.
func TestPagesHaveNoInlineScript(t *testing.T) {
	inline := regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]|\son[a-z]+=`)
	for _, page := range []string{"dist/app/index.html", "dist/graphiql/index.html"} {
		body, err := fs.ReadFile(dist, page)
		if err != nil {
			t.Fatal(err)
		}
		if m := inline.Find(body); m != nil {
			t.Errorf("%s has inline script: %q", page, m)
		}
	}
}

// serve GETs target from h, with header's name-value pairs.
func serve(h http.Handler, target string, header ...string) *http.Response {
	req := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestServe(t *testing.T) {
	app := App()
	get := func(target string, header ...string) *http.Response { return serve(app, target, header...) }

	resp := get("/")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `src="/assets/app.js"`) {
		t.Fatalf("GET /: %d %.80q", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self';", "connect-src 'self' ws://example.com wss://example.com;"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}

	// Gzipped for browsers that take it, and revalidated by ETag.
	resp = get("/assets/app.js", "Accept-Encoding", "gzip, br")
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("app.js: %v", resp.Header)
	}
	etag := resp.Header.Get("ETag")
	if resp = get("/assets/app.js", "Accept-Encoding", "gzip", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %d, want 304", resp.StatusCode)
	}
	if resp = get("/assets/app.js"); resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("ETag") == etag {
		t.Errorf("without gzip: Content-Encoding %q, ETag %q (the gzipped one is %q)", resp.Header.Get("Content-Encoding"), resp.Header.Get("ETag"), etag)
	}

	// A Host that does not look like one stays out of the header.
	req := httptest.NewRequest("GET", "/", nil)
	req.Host = "evil; script-src *"
	rec := httptest.NewRecorder()
	app.ServeHTTP(rec, req)
	if csp := rec.Header().Get("Content-Security-Policy"); strings.Contains(csp, "evil") {
		t.Errorf("CSP %q", csp)
	}

	// The favicon the pages link to (a browser asks for /favicon.ico
	// otherwise, and gets a 404).
	for _, h := range []http.Handler{app, GraphiQL()} {
		page, _ := io.ReadAll(serve(h, "/").Body)
		icon := regexp.MustCompile(`<link rel="icon" href="([^"]+)"`).FindSubmatch(page)
		if icon == nil {
			t.Errorf("the page links no icon: %.300s", page)
			continue
		}
		resp := serve(h, string(icon[1]))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: %d %v", icon[1], resp.StatusCode, resp.Header)
		}
	}

	if resp = get("/assets/nothing.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a missing asset: %d, want 404", resp.StatusCode)
	}
}
