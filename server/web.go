package server

import (
	"net/http"
	"strconv"
	"strings"

	"coderunner/web"
)

// webRoutes serves the editor app at / and, if graphiQL, GraphiQL to
// browsers that open /graphql; it returns the /graphql handler to mount.
func webRoutes(mux *http.ServeMux, api http.Handler, graphiQL bool) http.Handler {
	app := web.App()
	mux.Handle("GET /{$}", app)
	mux.Handle("GET /assets/", app)
	if !graphiQL {
		return api
	}
	page := web.GraphiQL()
	mux.Handle("GET /graphiql/", page)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept")
		if wantsPage(r) {
			page.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// wantsPage reports whether r is a browser opening /graphql: a GET, not a
// WebSocket, whose Accept prefers text/html to every JSON type. API
// clients' GETs (queries, persisted queries) ask for JSON or for anything
// (*/*), and keep getting JSON.
func wantsPage(r *http.Request) bool {
	if r.Method != http.MethodGet || r.Header.Get("Upgrade") != "" {
		return false
	}
	html, json := 0.0, 0.0
	for _, part := range strings.Split(strings.Join(r.Header.Values("Accept"), ","), ",") {
		mediaType, params, _ := strings.Cut(part, ";")
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				q, _ = strconv.ParseFloat(v, 64)
			}
		}
		switch strings.ToLower(strings.TrimSpace(mediaType)) {
		case "text/html":
			html = max(html, q)
		case "application/json", "application/graphql-response+json":
			json = max(json, q)
		}
	}
	return html > json
}
