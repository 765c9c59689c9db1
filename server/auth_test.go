package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"coderunner"
	"coderunner/accounts"
	"coderunner/internal/gqlws"
)

// signUp creates a student through the API and returns its token.
func (ts *testServer) signUp(t *testing.T, name string) string {
	t.Helper()
	_, out := ts.post(t, query(`mutation($n: String!) { signUp(name: $n, password: "correct horse") { token user { name role } } }`, map[string]any{"n": name}))
	var data struct{ SignUp struct{ Token string } }
	if err := json.Unmarshal(out.Data, &data); err != nil || len(out.Errors) > 0 {
		t.Fatalf("signUp: %s %+v", out.Data, out.Errors)
	}
	return data.SignUp.Token
}

func bearerHeader(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

func (ts *testServer) postAs(t *testing.T, header http.Header, q string) (*http.Response, gqlResponse) {
	t.Helper()
	b, _ := json.Marshal(query(q, nil))
	return ts.do(t, http.MethodPost, "/graphql", strings.NewReader(string(b)), header)
}

func TestMeAndBadTokens(t *testing.T) {
	ts := newServer(t, options{})
	ts.get(t, url.Values{"query": {"{ageGroups{slug}}"}}, nil) // into the response cache
	ts.responses.Wait()
	token := ts.signUp(t, "Ada")
	if _, out := ts.postAs(t, bearerHeader(token), `{ me { name role quota { runsPerMinute runsToday resetsAt } } }`); !strings.Contains(string(out.Data), `"name":"Ada","role":"STUDENT"`) {
		t.Fatalf("me with a token: %s %+v", out.Data, out.Errors)
	}
	if _, out := ts.postAs(t, bearerHeader(token), `{ me { quota { submitsPerMinute submitsPerDay submitsToday } } }`); string(out.Data) != `{"me":{"quota":{"submitsPerMinute":10,"submitsPerDay":200,"submitsToday":0}}}` {
		t.Fatalf("me's submission budget: %s %+v", out.Data, out.Errors)
	}
	if _, out := ts.postAs(t, nil, `{ me { name } }`); string(out.Data) != `{"me":null}` {
		t.Fatalf("me as a guest: %s %+v, want null", out.Data, out.Errors)
	}
	revoked := ts.signUp(t, "Bob")
	if _, out := ts.postAs(t, bearerHeader(revoked), `mutation { signOut }`); len(out.Errors) > 0 {
		t.Fatalf("signOut: %+v", out.Errors)
	}
	for name, header := range map[string]http.Header{
		"signed out":     bearerHeader(revoked),
		"malformed":      bearerHeader("not a token"),
		"unknown":        bearerHeader("crt_" + strings.Repeat("A", 43)),
		"another scheme": {"Authorization": {"Basic " + token}},
	} {
		t.Run(name, func(t *testing.T) {
			for _, method := range []string{http.MethodPost, http.MethodGet} {
				var resp *http.Response
				var out gqlResponse
				if method == http.MethodPost {
					resp, out = ts.postAs(t, header, `{ ageGroups { slug } }`)
				} else {
					resp, out = ts.do(t, method, "/graphql?query="+`%7Bme%7Bname%7D%7D`, nil, header)
				}
				if resp.StatusCode != http.StatusUnauthorized || strings.Join(out.codes(), ",") != "UNAUTHENTICATED" {
					t.Errorf("%s: status %d, codes %v; want 401 UNAUTHENTICATED", method, resp.StatusCode, out.codes())
				}
			}
			// Even a response the cache holds is refused.
			if resp, _ := ts.do(t, http.MethodGet, "/graphql?query=%7BageGroups%7Bslug%7D%7D", nil, header); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("a cached public GET: status %d, want 401", resp.StatusCode)
			}
			token, isBearer := strings.CutPrefix(header.Get("Authorization"), "Bearer ")
			if !isBearer {
				return
			}
			for _, protocol := range []string{gqlws.TransportWS, gqlws.LegacyWS} {
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				c, err := gqlws.DialAs(ctx, ts.URL+"/graphql", protocol, token)
				if err == nil {
					c.Close()
					t.Errorf("%s: a WebSocket with the token was accepted", protocol)
				} else if !strings.Contains(err.Error(), "sign in again") {
					t.Errorf("%s: refused with %v; want the reason", protocol, err)
				}
			}
		})
	}
}

func TestSessionCookie(t *testing.T) {
	ts := newServer(t, options{})
	ts.signUp(t, "Ada")
	resp, out := ts.postAs(t, nil, `mutation { signIn(name: "ada", password: "correct horse", setCookie: true) { user { name } } }`)
	if len(out.Errors) > 0 {
		t.Fatal(out.Errors)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == accounts.CookieName {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteLaxMode || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Set-Cookie %v, Cache-Control %q: want an HttpOnly, Secure, SameSite=Lax session cookie on a no-store response", resp.Header["Set-Cookie"], resp.Header.Get("Cache-Control"))
	}
	withCookie := http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}
	if _, out := ts.postAs(t, withCookie, `{ me { name } }`); string(out.Data) != `{"me":{"name":"Ada"}}` {
		t.Fatalf("me with the cookie: %s %+v", out.Data, out.Errors)
	}
	resp, out = ts.postAs(t, withCookie, `mutation { signOut }`)
	if len(out.Errors) > 0 || !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") && !strings.Contains(resp.Header.Get("Set-Cookie"), "Expires=Thu, 01 Jan 1970") {
		t.Fatalf("signOut: %+v, Set-Cookie %q: want the cookie cleared", out.Errors, resp.Header.Get("Set-Cookie"))
	}
	// A stale cookie makes a guest, not an error: the browser could not
	// otherwise sign in again.
	if resp, out := ts.postAs(t, withCookie, `{ me { name } }`); resp.StatusCode != http.StatusOK || string(out.Data) != `{"me":null}` {
		t.Fatalf("me with a signed-out cookie: %d %s %+v, want null", resp.StatusCode, out.Data, out.Errors)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := gqlws.Dial(ctx, ts.URL+"/graphql", gqlws.TransportWS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Subscribe("1", `mutation { signIn(name: "Ada", password: "correct horse", setCookie: true) { token } }`, nil)
	m, err := c.Next(time.Now().Add(5 * time.Second))
	if err != nil || !strings.Contains(string(m.Payload), "BAD_USER_INPUT") {
		t.Fatalf("setCookie over a WebSocket: %s %s, %v; want BAD_USER_INPUT", m.Type, m.Payload, err)
	}
}

// TestSignOutEndsSubscriptions checks that signing out ends, within 2 s,
// the subscriptions the session holds open over WebSocket (both
// subprotocols) and SSE.
func TestSignOutEndsSubscriptions(t *testing.T) {
	ts := newServer(t, options{})
	token := ts.signUp(t, "Ada")
	_, out := ts.postAs(t, bearerHeader(token), `mutation { run(input: {language: "python", code: "input()"}) { id } }`)
	var data struct{ Run struct{ ID string } }
	if err := json.Unmarshal(out.Data, &data); err != nil || data.Run.ID == "" {
		t.Fatalf("run: %s %+v", out.Data, out.Errors)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var conns []*gqlws.Conn
	for _, protocol := range []string{gqlws.TransportWS, gqlws.LegacyWS} {
		c, err := gqlws.DialAs(ctx, ts.URL+"/graphql", protocol, token)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.SubscribeRunEvents("1", data.Run.ID, 0); err != nil {
			t.Fatal(err)
		}
		if m, err := c.Next(time.Now().Add(5 * time.Second)); err != nil || !m.IsData() {
			t.Fatalf("%s: first message %+v, %v", protocol, m, err)
		}
		conns = append(conns, c)
	}
	body, _ := json.Marshal(query(gqlws.RunEventsQuery, map[string]any{"id": data.Run.ID, "after": 0}))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/graphql", strings.NewReader(string(body)))
	req.Header = bearerHeader(token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	sse, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sse.Body.Close()
	sseLines := bufio.NewScanner(sse.Body)
	if !sseLines.Scan() {
		t.Fatal("the SSE stream ended before its first event")
	}

	signedOut := time.Now()
	if _, out := ts.postAs(t, bearerHeader(token), `mutation { signOut }`); len(out.Errors) > 0 {
		t.Fatal(out.Errors)
	}
	for _, c := range conns {
		for {
			m, err := c.Next(signedOut.Add(2 * time.Second))
			if err != nil {
				if strings.Contains(err.Error(), "timeout") {
					t.Fatalf("%s: still open 2 s after signOut", c.Protocol)
				}
				break // closed
			}
			if m.Type == "complete" || m.Type == "connection_error" || m.Type == "error" {
				continue // the close follows
			}
		}
	}
	sseDone := make(chan struct{})
	go func() {
		for sseLines.Scan() {
		}
		close(sseDone)
	}()
	select {
	case <-sseDone:
	case <-time.After(time.Until(signedOut.Add(2 * time.Second))):
		t.Fatal("SSE: still open 2 s after signOut")
	}
}

func TestRunOverQuotaIsRefusedAndNotStored(t *testing.T) {
	ts := newServer(t, options{quotas: true})
	token := ts.signUp(t, "Ada")
	max := accounts.DefaultQuotas[coderunner.RoleStudent].MaxActiveRuns
	runQ := `mutation { run(input: {language: "python", code: "print(1)"}) { id } }`
	for range max {
		if _, out := ts.postAs(t, bearerHeader(token), runQ); len(out.Errors) > 0 {
			t.Fatal(out.Errors)
		}
	}
	_, out := ts.postAs(t, bearerHeader(token), runQ)
	if len(out.Errors) != 1 || out.codes()[0] != "RATE_LIMITED" || out.Errors[0].Extensions["retryAfterMs"] == nil {
		t.Fatalf("run %d while %d wait: %+v, want RATE_LIMITED with retryAfterMs", max+1, max, out.Errors)
	}
	// Another user is unaffected.
	if _, out := ts.postAs(t, bearerHeader(ts.signUp(t, "Bob")), runQ); len(out.Errors) > 0 {
		t.Fatalf("another user: %+v", out.Errors)
	}
	unfinished, err := ts.runs.Store.UnfinishedRuns(t.Context(), time.Now().Add(time.Hour), coderunner.RunCursor{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(unfinished) != max+1 {
		t.Fatalf("%d runs stored, want %d: a refused run must store nothing", len(unfinished), max+1)
	}

	zero := 0
	admin, err := ts.accounts.Bootstrap(t.Context(), "root", "correct horse", coderunner.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.accounts.SetRoleQuota(t.Context(), coderunner.Caller{User: &admin}, coderunner.RoleStudent, coderunner.QuotaOverride{ExecSecondsPerDay: &zero}); err != nil {
		t.Fatal(err)
	}
	_, out = ts.postAs(t, bearerHeader(ts.signUp(t, "Cyd")), runQ)
	if len(out.Errors) != 1 || out.codes()[0] != "QUOTA_EXCEEDED" || out.Errors[0].Extensions["resetsAt"] == nil {
		t.Fatalf("a run with no exec seconds left: %+v, want QUOTA_EXCEEDED with resetsAt", out.Errors)
	}
}

func TestCORS(t *testing.T) {
	ts := newServer(t, options{origins: []string{"app.example.com"}})
	tests := []struct {
		origin, wantAllow, wantCredentials string
	}{
		{"https://app.example.com", "https://app.example.com", "true"},
		{"https://evil.example.net", "", ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodOptions, ts.URL+"/graphql", nil)
		req.Header.Set("Origin", tt.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if h.Get("Access-Control-Allow-Origin") != tt.wantAllow || h.Get("Access-Control-Allow-Credentials") != tt.wantCredentials {
			t.Errorf("preflight from %s: allow %q credentials %q, want %q %q", tt.origin, h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Allow-Credentials"), tt.wantAllow, tt.wantCredentials)
		}
		if tt.wantAllow != "" && !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("preflight allows headers %q, want Authorization among them", h.Get("Access-Control-Allow-Headers"))
		}
	}
}

// TestWebSocketSeesRoleChanges checks that a role changed while a
// WebSocket is open applies to its next operation: a demoted admin's old
// connection can no longer act as admin.
func TestWebSocketSeesRoleChanges(t *testing.T) {
	ts := newServer(t, options{})
	ctx := t.Context()
	root, err := ts.accounts.Bootstrap(ctx, "root", "correct horse", coderunner.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.accounts.Bootstrap(ctx, "deputy", "correct horse", coderunner.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	signIn := func(name string) string {
		_, out := ts.postAs(t, nil, `mutation { signIn(name: "`+name+`", password: "correct horse") { token user { id } } }`)
		var data struct{ SignIn struct{ Token string } }
		if err := json.Unmarshal(out.Data, &data); err != nil || data.SignIn.Token == "" {
			t.Fatalf("signIn %s: %s %+v", name, out.Data, out.Errors)
		}
		return data.SignIn.Token
	}
	deputy := signIn("deputy")
	wsCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := gqlws.DialAs(wsCtx, ts.URL+"/graphql", gqlws.TransportWS, deputy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	users, err := ts.accounts.UserByName(ctx, "deputy")
	if err != nil {
		t.Fatal(err)
	}
	if _, out := ts.postAs(t, bearerHeader(signIn("root")), `mutation { setRole(userId: "`+users.ID+`", role: STUDENT) { role } }`); len(out.Errors) > 0 {
		t.Fatal(out.Errors)
	}
	c.Subscribe("1", `mutation { setRole(userId: "`+root.ID+`", role: STUDENT) { role } }`, nil)
	m, err := c.Next(time.Now().Add(5 * time.Second))
	if err != nil || !strings.Contains(string(m.Payload), "FORBIDDEN") {
		t.Fatalf("setRole over the demoted admin's old WebSocket: %s %s, %v; want FORBIDDEN", m.Type, m.Payload, err)
	}
}
