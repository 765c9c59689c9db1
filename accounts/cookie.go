package accounts

import (
	"context"
	"net/http"
	"time"

	"coderunner"
)

// CookieName is the session cookie a browser may sign in with instead of
// an Authorization header.
const CookieName = "coderunner_session"

type cookieWriterKey struct{}

// WithCookieWriter returns ctx through which resolvers can set cookies on
// the HTTP response; the server provides it on plain HTTP requests, where
// a response can still carry headers (not on WebSocket or SSE).
func WithCookieWriter(ctx context.Context, set func(*http.Cookie)) context.Context {
	return context.WithValue(ctx, cookieWriterKey{}, set)
}

// CanSetCookie reports whether the response to ctx's request can carry a cookie.
func CanSetCookie(ctx context.Context) bool {
	_, ok := ctx.Value(cookieWriterKey{}).(func(*http.Cookie))
	return ok
}

// SetSessionCookie sets a's token as the session cookie, if it can.
func SetSessionCookie(ctx context.Context, a Auth) error {
	return setCookie(ctx, a.Token, a.ExpiresAt)
}

// ClearSessionCookie tells the browser to drop the session cookie, if it can.
func ClearSessionCookie(ctx context.Context) {
	setCookie(ctx, "", time.Unix(0, 0))
}

func setCookie(ctx context.Context, value string, expires time.Time) error {
	set, ok := ctx.Value(cookieWriterKey{}).(func(*http.Cookie))
	if !ok {
		return coderunner.Errorf(coderunner.BadUserInput, "a cookie can only be set over HTTP POST, not a WebSocket or event stream")
	}
	set(&http.Cookie{
		Name: CookieName, Value: value, Path: "/", Expires: expires,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	})
	return nil
}
