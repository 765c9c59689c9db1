package server_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"coderunner"
)

// The amplification tests: a request small to send must not make the
// server read, build or send much. The server tests play the worker, so a
// run can hold what no real program is allowed to write.

// megabyteOfOutput is 1 MiB of stdout, the most a run may keep, in lines,
// as a program writes it.
var megabyteOfOutput = strings.Repeat("0123456789abcde\n", 1<<16)

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
			b := mustJSON(query(aliased(aliases, "id status"), map[string]any{"id": tt.id}))
			_, out := ts.do(t, http.MethodPost, "/graphql", strings.NewReader(b), tt.header)
			if n := ts.inner.runs.Load() - before; n != 1 {
				t.Errorf("the run was read %d times for %d aliases, want once", n, aliases)
			}
			if !tt.notFound {
				if len(out.Errors) > 0 || strings.Count(string(out.Data), `"status":"COMPLETED"`) != aliases {
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

// TestResponseSizeIsBounded reads a run holding 1 MiB of stdout under
// aliases. Up to the byte budget the response is whole; past it the
// fields that would go over fail with BAD_USER_INPUT, and a query asking
// for more large fields than the complexity limit allows is refused
// before anything is read. Either way no request builds tens of MiB.
func TestResponseSizeIsBounded(t *testing.T) {
	ts := newServer(t, options{})
	id := ts.finishedRun(t, megabyteOfOutput)
	twoWholeRuns := `query($id: ID!) { a: run(id: $id) { code stdin stdout stderr } b: run(id: $id) { code stdin stdout stderr } }`
	tests := []struct {
		name       string
		query      string
		wantStatus int
		// wantWhole: no errors and every alias's stdout; otherwise
		// BAD_USER_INPUT errors, and at most maxBytes in the body.
		wantWhole bool
		maxBytes  int
	}{
		{"one alias", aliased(1, "id stdout"), 200, true, 0},
		{"3 aliases, within the budget", aliased(3, "id stdout"), 200, true, 0},
		{"5 aliases, over the budget", aliased(5, "id stdout"), 200, false, 4<<20 + 64<<10},
		{"30 aliases, over the complexity limit", aliased(30, "id stdout"), 422, false, 64 << 10},
		{"two whole runs, over the complexity limit", twoWholeRuns, 422, false, 64 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			resp, out := ts.post(t, query(tt.query, map[string]any{"id": id}))
			runtime.ReadMemStats(&after)
			raw, _ := io.ReadAll(resp.Body) // do read it whole already
			body := len(raw)
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("status %d, %d bytes, %d errors, %d MiB allocated", resp.StatusCode, body, len(out.Errors), allocated>>20)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantWhole {
				aliases := strings.Count(tt.query, "run(id:")
				if len(out.Errors) > 0 || strings.Count(string(out.Data), `"stdout":"0123456789abcde\n0123`) != aliases {
					t.Errorf("want every alias's stdout and no error; errors %+v", out.Errors)
				}
				return
			}
			if len(out.Errors) == 0 {
				t.Fatalf("%d bytes and no error, want BAD_USER_INPUT", body)
			}
			for _, e := range out.Errors {
				if e.Extensions["code"] != string(coderunner.BadUserInput) {
					t.Errorf("error %+v, want BAD_USER_INPUT", e)
				}
			}
			if body > tt.maxBytes {
				t.Errorf("the response is %d bytes, want at most %d", body, tt.maxBytes)
			}
			// Loose: the test's reading and decoding of the body count too,
			// and the race detector doubles it. Without a budget, 30
			// aliases allocated about 300 MiB.
			if allocated > 100<<20 {
				t.Errorf("the request allocated %d MiB, want at most 100", allocated>>20)
			}
		})
	}
}

// TestSubscriptionBudgetIsPerEvent: each event of a subscription is a
// response of its own, so a long run's output, event after event, never
// spends one budget.
func TestSubscriptionBudgetIsPerEvent(t *testing.T) {
	ts := newServer(t, options{})
	chunk := megabyteOfOutput[:1<<20-1<<10]
	chunks := []string{chunk, chunk, chunk, chunk, chunk, chunk} // 6 MiB in all
	id := ts.finishedRun(t, chunks...)
	c := dialWS(t, ts, "graphql-transport-ws")
	c.subscribe("1", `subscription($id: ID!) { runEvents(runId: $id) { seq type text run { status } } }`, map[string]any{"id": id})
	var stdout int
	for {
		m := c.read()
		if m.Type == "complete" {
			break
		}
		if m.Type == "error" || strings.Contains(string(m.Payload), `"errors"`) {
			t.Fatalf("message %s: %.300s", m.Type, m.Payload)
		}
		if e := c.decode(m)[0]; e.Type == "STDOUT" {
			if e.Text == nil || *e.Text != chunk {
				t.Fatalf("event %d: the text is not the chunk sent", e.Seq)
			}
			stdout++
		}
	}
	if stdout != len(chunks) {
		t.Errorf("%d STDOUT events, want %d", stdout, len(chunks))
	}
}
