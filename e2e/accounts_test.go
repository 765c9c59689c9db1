package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"coderunner/internal/gqlws"
)

// createUser creates an account with the command line, as an operator
// creates the first admin.
func (c *cluster) createUser(t *testing.T, name, role string) {
	t.Helper()
	cmd := exec.Command(binary, "user", "create", "--name", name, "--role", role, "--password-stdin")
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(name + " password\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "created "+role) {
		t.Fatalf("coderunner user create: %v\n%s", err, out)
	}
}

// signIn signs in on api and returns the token and the user's id.
func signIn(t *testing.T, api *proc, name string) (token, id string) {
	t.Helper()
	var data struct {
		SignIn struct {
			Token string
			User  struct{ ID string }
		}
	}
	graphqlAs(t, api, "", `mutation($n: String!, $p: String!) { signIn(name: $n, password: $p) { token user { id } } }`,
		map[string]any{"n": name, "p": name + " password"}, &data)
	return data.SignIn.Token, data.SignIn.User.ID
}

// setQuota sets a user's quota overrides (a QuotaInput literal) as admin.
func setQuota(t *testing.T, api *proc, adminToken, userID, input string) {
	t.Helper()
	var data struct{ SetQuota struct{ RunsPerMinute int } }
	graphqlAs(t, api, adminToken, `mutation($u: ID!) { setQuota(userId: $u, input: `+input+`) { runsPerMinute } }`, map[string]any{"u": userID}, &data)
}

const runMutation = `mutation($code: String!) { run(input: {language: "python", code: $code}) { id status } }`

// TestQuotaAcrossAPIs checks that two api replicas together admit no more
// than a user's budget: 50 runs at once, split across both, with 10 a
// minute allowed, admit exactly 10. A user whose CPU seconds for the day
// are spent is refused QUOTA_EXCEEDED, and another user is unaffected.
func TestQuotaAcrossAPIs(t *testing.T) {
	c := startCluster(t, 2, 1)
	a, b := c.apis[0], c.apis[1]
	for _, u := range []struct{ name, role string }{{"root", "ADMIN"}, {"ada", "STUDENT"}, {"bob", "STUDENT"}, {"cyd", "STUDENT"}} {
		c.createUser(t, u.name, u.role)
	}
	admin, _ := signIn(t, a, "root")
	ada, adaID := signIn(t, b, "ada")
	setQuota(t, a, admin, adaID, `{runsPerMinute: 10, maxActiveRuns: 100}`)

	const n = 50
	codes := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		api := c.apis[i%2]
		wg.Go(func() {
			status, _, errs, err := post(api, ada, runMutation, map[string]any{"code": "print(1)"})
			switch {
			case err != nil:
				codes[i] = err.Error()
			case len(errs) == 0 && status == http.StatusOK:
				codes[i] = "admitted"
			case len(errs) == 1:
				codes[i] = errs[0].code()
				if codes[i] == "RATE_LIMITED" && errs[0].Extensions["retryAfterMs"] == nil {
					codes[i] = "RATE_LIMITED without retryAfterMs"
				}
			default:
				codes[i] = "unexpected answer"
			}
		})
	}
	wg.Wait()
	count := map[string]int{}
	for _, code := range codes {
		count[code]++
	}
	if count["admitted"] != 10 || count["RATE_LIMITED"] != n-10 {
		t.Fatalf("50 runs at once across two apis with runsPerMinute=10: %v; want 10 admitted, 40 RATE_LIMITED", count)
	}
	refused := a.metric(t, `coderunner_errors_total{code="RATE_LIMITED"}`) + b.metric(t, `coderunner_errors_total{code="RATE_LIMITED"}`)
	if refused != n-10 {
		t.Errorf("the apis' coderunner_errors_total{code=\"RATE_LIMITED\"} add up to %v, want %d", refused, n-10)
	}

	// Bob's busy loop runs until its CPU limit ends it; its CPU time is
	// charged when it finishes. Then his day's budget is set to what he
	// has used: spent.
	bob, bobID := signIn(t, a, "bob")
	var spin struct{ Run run }
	graphqlAs(t, b, bob, runMutation, map[string]any{"code": "while True: pass"}, &spin)
	eventually(t, 60*time.Second, "bob's busy loop finishes", func() error {
		var data struct{ Run run }
		graphqlAs(t, a, bob, `query($id: ID!) { run(id: $id) { status } }`, map[string]any{"id": spin.Run.ID}, &data)
		if data.Run.Status != "TIME_LIMIT_EXCEEDED" {
			return fmt.Errorf("status %s", data.Run.Status)
		}
		return nil
	})
	var me struct {
		Me struct {
			Quota struct{ ExecSecondsToday float64 }
		}
	}
	graphqlAs(t, b, bob, `{ me { quota { execSecondsToday } } }`, nil, &me)
	used := me.Me.Quota.ExecSecondsToday
	if used < 0.3 {
		t.Fatalf("bob's execSecondsToday = %v after a busy loop, want its CPU time charged", used)
	}
	setQuota(t, a, admin, bobID, fmt.Sprintf(`{execSecondsPerDay: %d}`, int(used)))
	for _, api := range c.apis {
		_, _, errs, err := post(api, bob, runMutation, map[string]any{"code": "print(1)"})
		if err != nil || len(errs) != 1 || errs[0].code() != "QUOTA_EXCEEDED" || errs[0].Extensions["resetsAt"] == nil {
			t.Fatalf("%s: bob's run after his CPU seconds are spent: %v %+v; want QUOTA_EXCEEDED with resetsAt", api.name, err, errs)
		}
	}

	cyd, _ := signIn(t, b, "cyd")
	var ok struct{ Run run }
	graphqlAs(t, a, cyd, runMutation, map[string]any{"code": "print(1)"}, &ok)
}

// TestSignOutAcrossAPIs checks that signing out on one replica ends, within
// 2 s, a subscription the same token holds on the other, and that the
// token is refused everywhere afterwards.
func TestSignOutAcrossAPIs(t *testing.T) {
	c := startCluster(t, 2, 0)
	a, b := c.apis[0], c.apis[1]
	c.createUser(t, "ada", "STUDENT")
	token, _ := signIn(t, a, "ada")
	var started struct{ Run run }
	graphqlAs(t, a, token, runMutation, map[string]any{"code": "input()"}, &started)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := gqlws.DialAs(ctx, b.url("/graphql"), gqlws.TransportWS, token)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SubscribeRunEvents("1", started.Run.ID, 0); err != nil {
		t.Fatal(err)
	}
	if m, err := conn.Next(time.Now().Add(5 * time.Second)); err != nil || !m.IsData() {
		t.Fatalf("first event on %s: %+v, %v", b.name, m, err)
	}

	var out struct{ SignOut bool }
	signedOut := time.Now()
	graphqlAs(t, a, token, `mutation { signOut }`, nil, &out)
	for {
		m, err := conn.Next(signedOut.Add(2 * time.Second))
		if err != nil {
			if strings.Contains(err.Error(), "timeout") {
				t.Fatalf("the subscription on %s is still open 2 s after signOut on %s", b.name, a.name)
			}
			t.Logf("the subscription on %s ended %v after signOut on %s", b.name, time.Since(signedOut).Round(time.Millisecond), a.name)
			break
		}
		if m.IsData() {
			t.Fatalf("an event after signOut: %s", m.Payload)
		}
	}
	for _, api := range c.apis {
		status, _, errs, err := post(api, token, `{ me { name } }`, nil)
		if err != nil || status != http.StatusUnauthorized || len(errs) != 1 || errs[0].code() != "UNAUTHENTICATED" {
			t.Errorf("%s: the signed-out token got %d %+v %v; want 401 UNAUTHENTICATED", api.name, status, errs, err)
		}
	}
}
