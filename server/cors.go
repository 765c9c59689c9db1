package server

import (
	"net/http"
	"net/url"
	"path"
)

// cors lets the web pages of allowed origins call the API from a browser,
// with credentials (the session cookie) — and only them. With no origins
// configured (development), any page may call without credentials.
// Origins are host patterns as in path.Match ("app.example.com",
// "*.example.com"), the same as the WebSocket origin check uses.
func cors(allowed []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		switch {
		case origin == "":
		case len(allowed) == 0:
			h.Set("Access-Control-Allow-Origin", "*")
		case originAllowed(origin, allowed):
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if h.Get("Access-Control-Allow-Origin") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept")
				h.Set("Access-Control-Max-Age", "600")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func originAllowed(origin string, allowed []string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	for _, pattern := range allowed {
		if ok, _ := path.Match(pattern, u.Host); ok {
			return true
		}
	}
	return false
}
