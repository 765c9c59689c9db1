package server_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"coderunner"
)

// The amplification tests: a request small to send must not make the
// server read, build or send much. The server tests play the worker, so a
// run can hold what no real program is allowed to write.

// finishedRun starts a run as the loopback guest and finishes it with
// stdout, as a worker would, and returns its id.
func (ts *testServer) finishedRun(t *testing.T, stdout ...string) string {
	t.Helper()
	id := ts.startRun(t, `{language: "python", code: "print('x' * 10**6)"}`)
	ts.work(t, stdout...)
	return id
}

// aliased returns a query reading run(id: $id) { selection } under n aliases.
func aliased(n int, selection string) string {
	var q strings.Builder
	q.WriteString("query($id: ID!) {")
	for i := range n {
		fmt.Fprintf(&q, " r%d: run(id: $id) { %s }", i, selection)
	}
	q.WriteString(" }")
	return q.String()
}

// TestAliasedRunIsReadOnce: a run asked for under many aliases is read
// from the store once, and a run the caller may not see still answers
// exactly like a missing one, under every alias.
func TestAliasedRunIsReadOnce(t *testing.T) {
	ts := newServer(t, options{})
	id := ts.finishedRun(t, "hi\n")
	missing := "00000000-0000-4000-8000-000000000000"
	other := bearerHeader(ts.signUp(t, "other"))
	const aliases = 10
	tests := []struct {
		name     string
		header   http.Header
		id       string
		notFound bool
	}{
		{"the owner", nil, id, false},
		{"another student", other, id, true},
		{"a missing run", other, missing, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.inner.runs.Load()
			b := mustJSON(query(aliased(aliases, "id status stdout"), map[string]any{"id": tt.id}))
			_, out := ts.do(t, http.MethodPost, "/graphql", strings.NewReader(b), tt.header)
			if n := ts.inner.runs.Load() - before; n != 1 {
				t.Errorf("the run was read %d times for %d aliases, want once", n, aliases)
			}
			if !tt.notFound {
				if len(out.Errors) > 0 || strings.Count(string(out.Data), `"stdout":"hi\n"`) != aliases {
					t.Errorf("data %s, errors %+v", out.Data, out.Errors)
				}
				return
			}
			var want *coderunner.Error
			errors.As(coderunner.ErrNoRun(tt.id), &want)
			if len(out.Errors) != aliases {
				t.Fatalf("%d errors, want %d: %+v", len(out.Errors), aliases, out.Errors)
			}
			for _, e := range out.Errors {
				if e.Extensions["code"] != string(coderunner.NotFound) || e.Message != want.Message {
					t.Errorf("error %+v, want NOT_FOUND %q", e, want.Message)
				}
			}
		})
	}
}
