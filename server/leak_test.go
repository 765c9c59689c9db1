package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"coderunner"
	"coderunner/grade"
	"coderunner/graph"
	"coderunner/internal/gqlws"
)

// Markers of a problem's secrets: no answer to a student may contain one.
const (
	hiddenInput  = "hidden-input-7f3a"
	hiddenOutput = "hidden-output-9c1e"
	reference    = "print('reference-5d2b')"
	sampleInput  = "sample-input-42" // shown to students: proves the walk reads test data
)

// leakRoots has the arguments of every root field the walk calls; a new
// root field fails TestNoFieldLeaksHiddenTests until it has a row.
var leakRoots = map[string]string{
	"Query.ageGroups":          ``,
	"Query.levels":             `(ageGroup: "7-9")`,
	"Query.level":              `(id: "explorers-1")`,
	"Query.problem":            `(id: "leaky")`,
	"Query.me":                 ``,
	"Query.user":               `(id: "$student")`,
	"Query.auditLog":           `(first: 100)`,
	"Query.costReport":         `(days: 7)`,
	"Query.run":                `(id: "$run")`,
	"Query.submission":         `(id: "$submission")`,
	"Query.submissions":        `(problemId: "leaky")`,
	"Query.problemForEditing":  `(id: "leaky")`,
	"Query.problemsForEditing": `(levelId: "explorers-1")`,
	"Query.exportCurriculum":   ``,

	"Subscription.runEvents":        `(runId: "$run")`,
	"Subscription.submissionEvents": `(submissionId: "$submission")`,
}

// TestNoFieldLeaksHiddenTests walks the whole schema as a student: every
// field of every type reachable from every root, over a graded submission
// to a problem whose hidden tests' data the program printed back, on
// stdout and stderr, for every test. No answer may hold a hidden test's
// input or output, or the reference solution.
func TestNoFieldLeaksHiddenTests(t *testing.T) {
	f := newAuthzFixture(t)
	ctx := t.Context()
	problem := coderunner.Problem{
		ID: "leaky", LevelID: "explorers-1", Title: "Leaky", Statement: "Print it back.",
		SampleTests:       []coderunner.TestCase{{Input: sampleInput + "\n", Output: sampleInput + "\n"}},
		HiddenTests:       []coderunner.TestCase{{Input: hiddenInput + "\n", Output: hiddenOutput + "\n", Hint: "Read the whole line."}},
		ReferenceSolution: reference,
	}
	if err := f.ts.inner.PutProblem(ctx, problem); err != nil {
		t.Fatal(err)
	}
	token := f.token(t, "student")
	submission := f.gradeAsEchoing(t, token, problem)
	ids := strings.NewReplacer("$student", f.users["student"].ID, "$run", f.studentRun(t), "$submission", submission)

	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	var answers strings.Builder
	for _, root := range []*ast.Definition{schema.Query, schema.Subscription} {
		for _, field := range root.Fields {
			if strings.HasPrefix(field.Name, "__") {
				continue
			}
			args, ok := leakRoots[root.Name+"."+field.Name]
			if !ok {
				t.Errorf("%s.%s: add its arguments to leakRoots", root.Name, field.Name)
				continue
			}
			op := "query"
			if root == schema.Subscription {
				op = "subscription"
			}
			q := fmt.Sprintf("%s { %s%s %s }", op, field.Name, ids.Replace(args), selectAll(schema, field.Type, nil))
			answers.WriteString(f.everything(t, token, op, q))
		}
	}
	all := answers.String()
	for _, secret := range []string{hiddenInput, hiddenOutput, "reference-5d2b"} {
		if strings.Contains(all, secret) {
			t.Errorf("a student's answers contain %q", secret)
		}
	}
	for _, shown := range []string{sampleInput, "Read the whole line.", `"TEST_FINISHED"`} {
		if !strings.Contains(all, shown) {
			t.Errorf("the walk never read %q: it does not reach every field", shown)
		}
	}
}

// gradeAsEchoing submits to problem as the student and plays a worker
// whose program printed back, on stdout and stderr, its input and the
// expected output of every test: the worst a program could learn.
func (f *authzFixture) gradeAsEchoing(t *testing.T, token string, problem coderunner.Problem) string {
	t.Helper()
	out := f.postAs(t, token, `mutation { submit(problemId: "leaky", code: "import sys; print(sys.stdin.read())") { id } }`, nil)
	var data struct{ Submit struct{ ID string } }
	if err := json.Unmarshal(out.Data, &data); err != nil || len(out.Errors) > 0 {
		t.Fatalf("submit: %s %+v", out.Data, out.Errors)
	}
	ctx := t.Context()
	claim, err := f.ts.broker.Claim(ctx, "test-worker")
	if err != nil {
		t.Fatal(err)
	}
	subs := f.ts.subs
	sub, err := subs.Store.Submission(ctx, claim.Job().SubmissionID)
	if err != nil {
		t.Fatal(err)
	}
	if sub, _, err = subs.Start(ctx, sub, time.Now()); err != nil {
		t.Fatal(err)
	}
	g := problem.Grading()
	for i, tc := range g.Tests {
		echo := tc.Input + tc.Output
		result := coderunner.RunResult{Status: coderunner.StatusRuntimeError, ExitCode: 1, Stdout: echo, Stderr: echo}
		if sub, _, err = subs.RecordTest(ctx, sub, grade.Result(i, i < g.SampleCount, tc, g.Checker, result)); err != nil {
			t.Fatal(err)
		}
	}
	sub.Verdict, sub.Passed = grade.Overall(sub.Tests), grade.Passed(sub.Tests)
	if ok, err := subs.Finish(ctx, sub); !ok || err != nil {
		t.Fatalf("Finish = %v, %v", ok, err)
	}
	return data.Submit.ID
}

// everything returns every answer to q: the response of a query, every
// message of a subscription until it completes or goes quiet (a run
// nobody works on never finishes).
func (f *authzFixture) everything(t *testing.T, token, op, q string) string {
	t.Helper()
	if op == "query" {
		out := f.postAs(t, token, q, nil)
		b, _ := json.Marshal(out)
		return string(b)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := gqlws.DialAs(ctx, f.ts.URL+"/graphql", gqlws.TransportWS, token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe("1", q, nil); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for {
		m, err := c.Next(time.Now().Add(time.Second))
		if err != nil {
			return all.String()
		}
		all.Write(m.Payload)
		if m.Type == "complete" || m.Type == "error" {
			return all.String()
		}
	}
}

// selectAll is a selection of every field of typ, recursively, skipping
// types already on the path (so that it ends) and fields that need
// arguments.
func selectAll(schema *ast.Schema, typ *ast.Type, path []string) string {
	def := schema.Types[typ.Name()]
	if def.Kind != ast.Object {
		return ""
	}
	path = append(path, def.Name)
	var fields []string
	for _, f := range def.Fields {
		if strings.HasPrefix(f.Name, "__") || requiredArgs(f) {
			continue
		}
		sub := schema.Types[f.Type.Name()]
		if sub.Kind == ast.Object && contains(path, sub.Name) {
			continue
		}
		fields = append(fields, f.Name+" "+selectAll(schema, f.Type, path))
	}
	return "{ " + strings.Join(fields, " ") + " }"
}

func requiredArgs(f *ast.FieldDefinition) bool {
	for _, a := range f.Arguments {
		if a.Type.NonNull && a.DefaultValue == nil {
			return true
		}
	}
	return false
}

func contains(path []string, name string) bool {
	for _, p := range path {
		if p == name {
			return true
		}
	}
	return false
}

// TestSubmissionOutlivesItsProblem: deleting a problem keeps its
// submissions readable, with problem null.
func TestSubmissionOutlivesItsProblem(t *testing.T) {
	f := newAuthzFixture(t)
	p := draftProblem("doomed", "explorers-1")
	p.Draft = false
	if err := f.ts.inner.PutProblem(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	student := f.token(t, "student")
	out := f.postAs(t, student, `mutation { submit(problemId: "doomed", code: "print(input())") { id } }`, nil)
	var submitted struct{ Submit struct{ ID string } }
	if err := json.Unmarshal(out.Data, &submitted); err != nil || len(out.Errors) > 0 {
		t.Fatalf("submit: %s %+v", out.Data, out.Errors)
	}
	out = f.postAs(t, f.token(t, "editor"), `mutation { deleteProblem(id: "doomed", version: 0) }`, nil)
	if len(out.Errors) > 0 {
		t.Fatalf("deleteProblem: %+v", out.Errors)
	}
	out = f.postAs(t, student, `query($id: ID!) { submission(id: $id) { id code status problem { id } } }`, map[string]any{"id": submitted.Submit.ID})
	var read struct {
		Submission struct {
			ID, Code string
			Problem  *struct{ ID string }
		}
	}
	if err := json.Unmarshal(out.Data, &read); err != nil || len(out.Errors) > 0 {
		t.Fatalf("submission after its problem was deleted: %s %+v", out.Data, out.Errors)
	}
	if read.Submission.ID != submitted.Submit.ID || read.Submission.Code != "print(input())" || read.Submission.Problem != nil {
		t.Errorf("submission after its problem was deleted: %+v; want it whole, with problem null", read.Submission)
	}
}
