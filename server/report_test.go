package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"coderunner"
	"coderunner/accounts"
	"coderunner/report"
	"coderunner/report/reporttest"
)

// The markers stand for what must never reach the error tracker.
const (
	codeMarker   = "print('CODE_MARKER_7f3a')"
	stdinMarker  = "STDIN_MARKER_51c2"
	nameMarker   = "NameMarkerAda"
	cookieMarker = "COOKIE_MARKER_9d0e"
	headerMarker = "HEADER_MARKER_2b6f"
)

// faultyStore fails as a store with a bug would: it panics creating a
// run, and reading the run "broken-run" or the submission "broken-sub"
// fails with an error that quotes what it was given.
type faultyStore struct {
	coderunner.Store
}

func (s faultyStore) CreateRun(ctx context.Context, r coderunner.Run) error {
	panic(fmt.Sprintf("store exploded creating a run of %q with stdin %q", r.Code, r.Stdin))
}

func (s faultyStore) Run(ctx context.Context, id string) (coderunner.Run, error) {
	if id == "broken-run" {
		return coderunner.Run{}, fmt.Errorf("read run %q: %w", id, errors.New("disk on fire"))
	}
	return s.Store.Run(ctx, id)
}

func (s faultyStore) Submission(ctx context.Context, id string) (coderunner.Submission, error) {
	if id == "broken-sub" {
		return coderunner.Submission{}, errors.New("submissions table missing")
	}
	return s.Store.Submission(ctx, id)
}

// TestErrorReporting sends a resolver panic and INTERNAL errors to a fake
// Sentry, each from a signed-in student whose request carries a token, a
// cookie, a custom header, code and stdin: each arrives with its
// operation, ids, role and release, and none of those ever does.
func TestErrorReporting(t *testing.T) {
	sentry := reporttest.Start(t)
	rep, err := report.New(report.Options{DSN: sentry.DSN(), Release: "coderunner@abc123", Environment: "development"})
	if err != nil {
		t.Fatal(err)
	}
	ts := newServer(t, options{db: faultyStore{newDB(t)}, reporter: rep})
	token := ts.signUp(t, nameMarker)
	header := http.Header{
		"Authorization": {"Bearer " + token},
		"Cookie":        {accounts.CookieName + "=" + cookieMarker},
		"X-Debug":       {headerMarker},
	}
	send := func(q string, vars map[string]any) {
		t.Helper()
		b := mustJSON(query(q, vars))
		_, out := ts.do(t, http.MethodPost, "/graphql", strings.NewReader(b), header)
		if codes := out.codes(); len(codes) != 1 || codes[0] != "INTERNAL" {
			t.Fatalf("%s: codes %v, want INTERNAL: %s", q, codes, out.Data)
		}
	}
	send(`mutation StartRun($code: String!, $stdin: String!) { run(input: {language: "python", code: $code, stdin: $stdin}) { id } }`,
		map[string]any{"code": codeMarker, "stdin": stdinMarker})
	send(`query ShowRun { run(id: "broken-run") { id code stdin stdout } }`, nil)
	send(`{ submission(id: "broken-sub") { id code } }`, nil)
	if !rep.Flush(5 * time.Second) {
		t.Fatal("Flush timed out")
	}

	tests := []struct {
		name                  string
		kind, operation, path string
		runID, submissionID   string
	}{
		{"resolver panic", "panic", "StartRun", "run", "", ""},
		{"INTERNAL reading a run", "internal", "ShowRun", "run", "broken-run", ""},
		{"INTERNAL in an anonymous query", "internal", "query submission", "submission", "", "broken-sub"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sentry.WaitFor(t, tt.name, func(e reporttest.Event) bool { return e.Tags["operation"] == tt.operation })
			want := map[string]string{"kind": tt.kind, "role": "api", "operation": tt.operation, "path": tt.path}
			if tt.runID != "" {
				want["run_id"] = tt.runID
			}
			if tt.submissionID != "" {
				want["submission_id"] = tt.submissionID
			}
			if fmt.Sprint(e.Tags) != fmt.Sprint(want) {
				t.Errorf("tags %v, want %v", e.Tags, want)
			}
			if e.Release != "coderunner@abc123" || e.Environment != "development" {
				t.Errorf("release %q, environment %q", e.Release, e.Environment)
			}
			if len(e.Exception) != 1 || e.Exception[0].Value == "" {
				t.Errorf("exception %+v", e.Exception)
			}
			if len(e.Request) > 0 || len(e.User) > 0 && string(e.User) != "{}" || len(e.Breadcrumbs) > 0 {
				t.Errorf("request %s, user %s, breadcrumbs %s sent", e.Request, e.User, e.Breadcrumbs)
			}
		})
	}
	if n := len(sentry.Events()); n != len(tests) {
		t.Errorf("%d events arrived, want %d (a panic is reported once, not again as the error it becomes)", n, len(tests))
	}
	sentry.NeverSent(t, map[string]string{
		"code": "CODE_MARKER_7f3a", "stdin": stdinMarker, "user name": nameMarker, "token": token,
		"cookie": cookieMarker, "header": headerMarker, "Authorization header": "Bearer",
	})
}
