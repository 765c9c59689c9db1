package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"coderunner"
	"coderunner/accounts"
	"coderunner/report"
)

// This file establishes who is calling, on every transport: a bearer
// token (POST, GET, SSE, or a WebSocket's connection_init payload), the
// session cookie of a browser, or else a guest known by its address. What
// a caller may do is decided by the @auth directive (authDirective) and by
// the services, with coderunner.Caller's policy.

// authenticate puts the caller in the request's context. A request with a
// token that is malformed, unknown, expired or signed out is refused
// UNAUTHENTICATED (401), so that a client never mistakes itself for a
// guest; a bad cookie is dropped instead, since a browser would otherwise
// be stuck with it. A subscription held open by an SSE request ends when
// its session does.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller := coderunner.Caller{Addr: clientAddr(r, s.trustedProxies)}
		token, fromCookie := requestToken(r)
		if fromCookie && len(s.allowedOrigins) == 0 && r.Method == http.MethodGet && isSubscription(r) {
			// Without an origin check any web page could open a WebSocket
			// with the browser's cookie: only a token counts there.
			token = ""
		}
		ctx := r.Context()
		if token != "" {
			authed, expires, err := s.accounts.Authenticate(ctx, token)
			switch {
			case err == nil:
				authed.Addr = caller.Addr
				caller = authed
				if isSubscription(r) {
					var release func()
					ctx, release = s.sessions.hold(ctx, caller.TokenHash, expires)
					defer release()
					ctx = sessionEndedReason(ctx)
				}
			case fromCookie && coderunner.ErrorCode(err) == coderunner.Unauthenticated:
				http.SetCookie(w, &http.Cookie{Name: accounts.CookieName, Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
			default:
				s.writeAuthError(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(coderunner.WithCaller(ctx, caller)))
	})
}

func (s *Server) writeAuthError(w http.ResponseWriter, r *http.Request, err error) {
	code := coderunner.ErrorCode(err)
	s.countError(code)
	if code != coderunner.Unauthenticated {
		s.log.ErrorContext(r.Context(), "authenticate", "err", err)
		s.report.Report(report.Event{Kind: report.Internal, Operation: "authenticate", Err: err})
		writeError(w, http.StatusServiceUnavailable, coderunner.Internal, internalMessage)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	writeError(w, http.StatusUnauthorized, code, err.Error())
}

// requestToken returns the session token of r: from its Authorization
// header, else from the session cookie (fromCookie).
func requestToken(r *http.Request) (token string, fromCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		return bearer(h), false
	}
	if c, err := r.Cookie(accounts.CookieName); err == nil && c.Value != "" {
		return c.Value, true
	}
	return "", false
}

// bearer returns the token of an Authorization value "Bearer TOKEN"; any
// other value is returned whole, and fails authentication.
func bearer(h string) string {
	if scheme, token, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(token)
	}
	return h
}

// wsInit authenticates a WebSocket by the authorization of its
// connection_init payload, if it has one: a bad token closes the
// connection (code 4401) with the error as its reason. The connection ends
// when the session does.
func (s *Server) wsInit(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	ctx = context.WithValue(ctx, webSocketKey{}, true)
	h := payload.Authorization()
	if h == "" {
		return ctx, nil, nil
	}
	caller, expires, err := s.accounts.Authenticate(ctx, bearer(h))
	if err != nil {
		code := coderunner.ErrorCode(err)
		s.countError(code)
		if code != coderunner.Unauthenticated {
			s.log.ErrorContext(ctx, "authenticate a WebSocket", "err", err)
			err = errors.New(internalMessage)
		}
		return transport.WithWebsocketCloseCode(transport.AppendCloseReason(ctx, err.Error()), closeUnauthorized), nil, err
	}
	caller.Addr = coderunner.CallerFrom(ctx).Addr
	// The connection outlives this call: its hold is released when the
	// connection's context ends, which the hold's own end also causes.
	ctx, release := s.sessions.hold(ctx, caller.TokenHash, expires)
	context.AfterFunc(ctx, release)
	return sessionEndedReason(coderunner.WithCaller(ctx, caller)), nil, nil
}

// webSocketKey marks the context of a WebSocket's operations.
type webSocketKey struct{}

// closeUnauthorized is the WebSocket close code of a refused token, in
// the application range, as graphql-ws clients use 4401 for it.
const closeUnauthorized = 4401

// sessionEndedReason makes gqlgen close a WebSocket whose session ended
// with a reason that says so (the legacy subprotocol sends it as a
// connection_error) — and only then: a connection closed for any other
// cause, such as a deploy, is not told to sign in again. gqlgen reads the
// reason from the context when the connection closes.
func sessionEndedReason(ctx context.Context) context.Context {
	return reasonCtx{ctx, transport.AppendCloseReason(context.Background(), "the session ended: sign in again")}
}

type reasonCtx struct {
	context.Context
	reason context.Context // holds gqlgen's close reason, and nothing else
}

func (c reasonCtx) Value(key any) any {
	if v := c.reason.Value(key); v != nil {
		if errors.Is(context.Cause(c.Context), errSessionEnded) {
			return v
		}
		return nil
	}
	return c.Context.Value(key)
}

// refreshCaller re-reads the user of a long-lived connection before each
// of its operations, so that a role or quota changed since the connection
// was authenticated applies at once (a request authenticates afresh
// anyway). Installed around WebSocket operations.
func (s *Server) refreshCaller(ctx context.Context) (context.Context, error) {
	caller := coderunner.CallerFrom(ctx)
	if caller.User == nil {
		return ctx, nil
	}
	u, err := s.accounts.User(ctx, caller.User.ID)
	if err != nil {
		return ctx, err
	}
	caller.User = &u
	return coderunner.WithCaller(ctx, caller), nil
}

// authDirective implements @auth(role): the one gate of role-restricted
// fields.
func authDirective(ctx context.Context, _ any, next graphql.Resolver, role coderunner.Role) (any, error) {
	if err := coderunner.CallerFrom(ctx).Require(role); err != nil {
		return nil, err
	}
	return next(ctx)
}

// clientAddr is the address r came from. Behind trusted proxies it is the
// last address in X-Forwarded-For that is not a trusted proxy; anything a
// client wrote further left is ignored. An IPv6 address is cut to its /64,
// which one client usually holds whole: a guest's budget must not be
// multiplied by its addresses.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if isTrusted(addr, trusted) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop := strings.TrimSpace(hops[i])
			parsed, ok := parseHop(hop)
			if !ok {
				// What a trusted proxy wrote that is no address
				// ("unknown", an obfuscated name) still tells clients
				// apart better than the proxy's own address.
				if hop != "" && len(hop) <= 64 {
					return hop
				}
				break
			}
			addr = parsed
			if !isTrusted(addr, trusted) {
				break
			}
		}
	}
	if addr.Is6() {
		addr = netip.PrefixFrom(addr, 64).Masked().Addr()
	}
	return addr.String()
}

// parseHop reads an X-Forwarded-For entry: an address, possibly with a
// port ("192.0.2.1:4711", "[2001:db8::1]:4711").
func parseHop(hop string) (netip.Addr, bool) {
	if addr, err := netip.ParseAddr(hop); err == nil {
		return addr.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
