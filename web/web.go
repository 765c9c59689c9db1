// Package web serves the browser side of coderunner from files embedded in
// the binary: the editor app and GraphiQL. They are built from web/src by
// scripts/web.sh and committed, so that building the binary needs no Node
// and serving them needs no CDN (docs/web.md).
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"
)

//go:embed dist/app dist/graphiql
var dist embed.FS

// App serves the editor app: its page at any path it is mounted at, and
// its files under /assets/.
func App() http.Handler { return &site{dir: "dist/app", assets: "/assets/"} }

// GraphiQL serves GraphiQL's page at any path it is mounted at (the server
// mounts it at /graphql for browsers) and its files under /graphiql/.
func GraphiQL() http.Handler { return &site{dir: "dist/graphiql", assets: "/graphiql/"} }

// site serves one built directory: index.html for the page, the other
// files by name under assets.
type site struct {
	dir    string
	assets string // URL prefix of the files
	once   sync.Once
	files  map[string]*file // by URL path; "" is the page
}

// file is one built file, with its gzipped form made once: the bundles are
// large and never change while the binary runs.
type file struct {
	name     string
	body, gz []byte
	etag     string
}

func (s *site) load() {
	s.files = map[string]*file{}
	entries, err := fs.ReadDir(dist, s.dir)
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	for _, e := range entries {
		body, err := fs.ReadFile(dist, path.Join(s.dir, e.Name()))
		if err != nil {
			panic(err)
		}
		var gz bytes.Buffer
		w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		w.Write(body)
		w.Close()
		sum := sha256.Sum256(body)
		f := &file{name: e.Name(), body: body, gz: gz.Bytes(), etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		if e.Name() == "index.html" {
			s.files[""] = f
		} else {
			s.files[s.assets+e.Name()] = f
		}
	}
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.once.Do(s.load)
	key := ""
	if strings.HasPrefix(r.URL.Path, s.assets) {
		key = r.URL.Path
	}
	f, ok := s.files[key]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", mime.TypeByExtension(path.Ext(f.name)))
	h.Set("Content-Security-Policy", policy(r.Host))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	// Names do not change with the content: browsers ask again each
	// time and get a 304 while the binary is the same.
	h.Set("Cache-Control", "no-cache")
	h.Add("Vary", "Accept-Encoding")
	body, etag := f.body, f.etag
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body, etag = f.gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body)) // no Last-Modified: the ETag says it
}

// host is what may appear in the CSP as a WebSocket source; anything
// else in a Host header is left out rather than written into the header.
var host = regexp.MustCompile(`^[A-Za-z0-9.:\[\]-]+$`)

// policy is the Content-Security-Policy of every response: scripts only
// from this origin (no inline script, so nothing a problem's statement
// could smuggle in would run), connections only to this origin's HTTP and
// WebSocket endpoints. Inline styles are allowed: CodeMirror and GraphiQL
// inject theirs, and a style cannot run script.
func policy(requestHost string) string {
	connect := "'self'"
	if host.MatchString(requestHost) {
		// CSP Level 3 browsers count same-host ws: and wss: as 'self';
		// older ones need them named.
		connect += " ws://" + requestHost + " wss://" + requestHost
	}
	return "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src " + connect +
		"; img-src 'self' data:; font-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(part, ";")
		if strings.TrimSpace(coding) == "gzip" && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
